"""A block's fill run on any piece of its tensor, its random draws taken from the block streams.

The rules of :mod:`weightinit.modelinit.rules` fill a block with a closure, ``fill(tensor,
generator)``, whose formula (a bound, a std, a truncation) was fixed when the plan was made.
:func:`streamed_fill` runs that closure unchanged on a piece of the tensor (a rank's shard, a
meta-built parameter now on the CPU) under a ``TorchDispatchMode`` that sees every aten
operation it makes:

* an in-place random draw (``uniform_``, ``normal_``, ``bernoulli_``, ...) on a tensor of the
  piece's shape (the piece itself, or a scratch tensor made in its image, as
  :func:`weightinit.init.trunc_normal_` draws its candidates) is replaced by the same draw
  from the block streams of :mod:`.streams`, for the elements of the piece: the ``i``-th draw
  of the fill is stream ``op = i``; a draw of real values is made in a scratch block that
  stays in the core's cache, then copied in (on a bfloat16 or float16 tensor: drawn in float32
  and rounded; torch's own bfloat16 ``normal_`` is 1.7x slower);
* pointwise arithmetic, copies, fills and scalar reads (a rejection loop's ``any()``) run as
  they are, on the piece: they give each element what they would give it in the whole tensor;
* anything else (a QR decomposition, a sort, an index into rows, a reduction that feeds back
  into values, a broadcast of a non-scalar) means the fill needs the whole matrix:
  :class:`NeedsWholeTensor` is raised, and :func:`streamed_fill` draws the whole block instead
  (CPU, one generator seeded from the block's name), then keeps the piece's part. That costs
  the block's full size in memory and its full draw on every rank that holds a piece of it:
  orthogonal matrices, :func:`~weightinit.init.sparse_`, an embedding's zeroed padding row.

So which fills are elementwise is not a list kept by hand: it is read off what each fill does.
A fill whose number of draws depends on its values (a rejection loop) must make that loop its
last draw, as weightinit's ``trunc_normal_`` does; otherwise the draws after it would be
numbered differently on different pieces.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from .streams import BLOCK_SIZE, Box, fill_box, stream_seed

__all__ = ["NeedsWholeTensor", "StreamedDraws", "FillResult", "streamed_fill"]

aten = torch.ops.aten

# operations with no elementwise tag that still act element by element, or only read a scalar
_ALLOWED = {
    aten.copy_.default, aten.zero_.default, aten.fill_.Scalar, aten.fill_.Tensor,
    aten.empty_like.default, aten.empty.memory_format, aten.new_empty.default, aten.zeros_like.default,
    aten.ones_like.default, aten.full_like.default, aten.clone.default, aten._to_copy.default,
    aten.detach.default, aten.alias.default, aten.lift_fresh.default, aten.lift_fresh_copy.default,
    aten.scalar_tensor.default, aten._local_scalar_dense.default, aten.any.default, aten.is_nonzero.default,
}


# A draw of real values is made in a scratch block, which stays in the core's cache while torch's
# normal_ makes its two passes over it, then copied into place, so a parameter's fresh pages are
# first touched once, by the copy (1.15x faster in float32). A 16-bit tensor's block is drawn in
# float32 and rounded: torch's own bfloat16 normal_ is 1.7x slower, and gives the same values.
_FLOAT_DRAWS = {aten.normal_, aten.uniform_, aten.log_normal_, aten.exponential_, aten.cauchy_}
_spare: dict[torch.dtype, list[torch.Tensor]] = {}  # scratch blocks between draws: one per thread drawing at once
_spare_lock = threading.Lock()


@contextmanager
def _scratch(numel: int, dtype: torch.dtype) -> Iterator[torch.Tensor]:
    """A buffer of ``numel`` elements in which to draw a block of a ``dtype`` tensor (float32 for
    a 16-bit one), taken from the spares and given back after: the threads that draw blocks are
    new for every tensor, and a fresh megabyte per block would fault its pages in every time."""
    dtype = torch.float32 if dtype in (torch.bfloat16, torch.float16) else dtype
    with _spare_lock:
        spares = _spare.setdefault(dtype, [])
        buffer = spares.pop() if spares else None
    if buffer is None or buffer.numel() < numel:
        buffer = torch.empty(max(numel, BLOCK_SIZE), dtype=dtype)
    try:
        yield buffer[:numel]
    finally:
        if buffer.numel() <= BLOCK_SIZE:  # a larger block_size's buffers are not kept for good
            with _spare_lock:
                _spare[dtype].append(buffer)


class NeedsWholeTensor(Exception):
    """A fill made an operation that is not element by element on its tensor."""


@dataclass
class FillResult:
    """How one piece was filled: ``"streams"`` (its draws from the block streams),
    ``"deterministic"`` (no draw at all: a constant, zeros, ones) or ``"whole"`` (the block drawn
    whole, for ``reason``)."""

    kind: str
    draws: int = 0
    reason: str = ""


class StreamedDraws(TorchDispatchMode):
    """The dispatch mode of :func:`streamed_fill`: in-place random draws on tensors of
    ``local_shape`` come from the streams of ``seed``, for the ``box`` of the block of ``shape``."""

    def __init__(self, local_shape: Sequence[int], seed: int, shape: Sequence[int], box: Box, *,
                 block_size: int = BLOCK_SIZE, threads: int = 1) -> None:
        super().__init__()
        self.local_shape = tuple(local_shape)
        self.seed, self.shape, self.box = seed, tuple(shape), list(box)
        self.block_size, self.threads = block_size, threads
        self.draws = 0

    def _fits(self, value: object) -> bool:
        return not isinstance(value, torch.Tensor) or value.dim() == 0 or tuple(value.shape) == self.local_shape

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", str(func))
        if torch.Tag.nondeterministic_seeded in func.tags:
            target = args[0] if args else None
            if not (torch.Tag.inplace in func.tags and isinstance(target, torch.Tensor)
                    and tuple(target.shape) == self.local_shape):
                raise NeedsWholeTensor(f"{name} on a tensor of another shape")
            op, self.draws = self.draws, self.draws + 1
            rest = args[1:]

            def draw(t: torch.Tensor, g: torch.Generator) -> None:
                if t.is_floating_point() and func.overloadpacket in _FLOAT_DRAWS:  # in a cached block, then copied
                    with _scratch(t.numel(), t.dtype) as block:
                        t.copy_(func(block, *rest, **{**kwargs, "generator": g}))
                else:
                    func(t, *rest, **{**kwargs, "generator": g})

            fill_box(target, draw, stream_seed(self.seed, op), self.shape, self.box, block_size=self.block_size,
                     threads=self.threads)
            return target
        if torch.Tag.pointwise not in func.tags and func not in _ALLOWED:
            raise NeedsWholeTensor(name)
        if not all(self._fits(leaf) for leaf in tree_leaves((args, kwargs))):
            raise NeedsWholeTensor(f"{name} broadcasts a tensor of another shape")
        out = func(*args, **kwargs)
        if not all(self._fits(leaf) for leaf in tree_leaves(out)):
            raise NeedsWholeTensor(f"{name} gives a tensor of another shape")
        return out


Fill = Callable[[torch.Tensor, "torch.Generator | None"], object]


def streamed_fill(fill: Fill, piece: torch.Tensor, seed: int, shape: Sequence[int], box: Box | None = None, *,
                  block_size: int = BLOCK_SIZE, threads: int = 1) -> FillResult:
    """Run ``fill(piece, None)`` with its random draws from the block streams of ``seed``, where
    ``piece`` holds the elements ``box`` (None: all) of a block of ``shape``; if the fill needs
    the whole block, fill a whole CPU block from a generator seeded by ``seed`` and copy the
    piece's part. Returns what was done.

    Examples:
        >>> half = torch.empty(2, 4)
        >>> streamed_fill(lambda t, g: t.uniform_(-1, 1, generator=g), half, 5, (4, 4), [(2, 4), (0, 4)]).kind
        'streams'
    """
    shape = tuple(int(n) for n in shape)
    box = [(0, n) for n in shape] if box is None else [tuple(b) for b in box]
    if piece.numel() == 0:
        return FillResult("deterministic")
    mode = StreamedDraws(piece.shape, seed, shape, box, block_size=block_size, threads=threads)
    try:
        with torch.no_grad(), mode:
            fill(piece, None)
        return FillResult("streams" if mode.draws else "deterministic", mode.draws)
    except NeedsWholeTensor as reason:
        whole = torch.empty(shape, dtype=piece.dtype)
        with torch.no_grad():
            fill(whole, torch.Generator().manual_seed(stream_seed(seed, "whole")))
            piece.copy_(whole[tuple(slice(a, b) for a, b in box)])
        return FillResult("whole", reason=str(reason))
