"""Counter-based, block-wise random streams: the values of a tensor that do not depend on how it
is made.

A tensor's elements, read in row-major (flattened) order, are cut into stream blocks of
``block_size`` elements (2^18 by default: 1 MB of float32, which stays in a core's L2 cache while
torch's ``normal_`` makes its two passes over it; the last one shorter). Stream block ``k`` of a
draw is filled by the draw itself (``tensor.normal_(0, std, generator=g)``, ``uniform_``, ...) on its
own CPU ``torch.Generator``, seeded by

.. math::
    s_k = \\text{blake2b}(\\text{seed}, \\text{key}, \\text{op}, k) \\bmod 2^{63}

where ``key`` names the tensor (a parameter's qualified name and its block of rows/columns) and
``op`` counts the draws made on it. So every value is a function of the seed, the name, the
shape and the draw alone: any box of the tensor (a rank's shard, a column block) is generated
without the rest, in any order, on any number of threads, with the same bits. A box that is one
contiguous run of the flattened tensor (a shard along the first dimension) is drawn in place,
whole stream blocks straight into the output; any other box (a shard along a later dimension)
gathers its elements from the stream blocks it meets.

Python's ``hash()`` is salted per process and never used here. The generator is the CPU's
(mt19937) whatever the tensor's device, so the values are the device's too; a tensor elsewhere
gets its blocks copied in.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import torch

__all__ = ["BLOCK_SIZE", "Draw", "Box", "stream_seed", "stream_generator", "contiguous_span", "fill_box"]

BLOCK_SIZE = 1 << 18  # elements per stream block: 1 MB of float32, in L2 while normal_ makes its two passes

# draw(out, generator): fill the 1-d contiguous CPU tensor ``out`` in place from ``generator``
Draw = Callable[[torch.Tensor, torch.Generator], object]
Box = Sequence[tuple[int, int]]  # (start, stop) per dimension


def stream_seed(seed: int, *parts: str | int) -> int:
    """A 63-bit seed from ``seed`` and ``parts`` by blake2b: stable across processes, machines
    and Python versions (never Python's salted ``hash()``).

    Examples:
        >>> stream_seed(0, "layer.weight", 0, 3) == stream_seed(0, "layer.weight", 0, 3)
        True
    """
    digest = hashlib.blake2b(digest_size=8, person=b"weightinit")
    for part in (int(seed), *parts):
        digest.update(f"{type(part).__name__}:{part}".encode())
        digest.update(b"\x00")
    return int.from_bytes(digest.digest(), "little") >> 1


def stream_generator(seed: int, k: int) -> torch.Generator:
    """The CPU generator of stream block ``k`` of the draw seeded by ``seed``."""
    return torch.Generator().manual_seed(stream_seed(seed, k))


def contiguous_span(shape: Sequence[int], box: Box) -> tuple[int, int] | None:
    """``(lo, hi)``: the box as one run of the flattened tensor, or None if it is not one (a box
    is a run when the dimensions after its first partial one are whole and those before it have
    length 1)."""
    dims = len(shape)
    d = dims - 1
    while d >= 0 and tuple(box[d]) == (0, shape[d]):
        d -= 1
    if any(box[i][1] - box[i][0] != 1 for i in range(d)):
        return None
    strides = [math.prod(shape[i + 1:]) for i in range(dims)]
    lo = sum(box[i][0] * strides[i] for i in range(dims))
    return lo, lo + math.prod(b - a for a, b in box)


def _map(function: Callable, jobs: list, threads: int) -> None:
    if threads <= 1 or len(jobs) <= 1:
        for job in jobs:
            function(job)
        return
    saved = torch.get_num_threads()
    try:  # each worker runs its ops on one thread: two workers each forking torch's 2 threads would oversubscribe
        with ThreadPoolExecutor(min(threads, len(jobs)), initializer=torch.set_num_threads, initargs=(1,)) as pool:
            list(pool.map(function, jobs))  # each block writes its own slice: no order to keep
    finally:
        torch.set_num_threads(saved)  # the workers' setting is partly process-wide: put back


def _draw_block(draw: Draw, seed: int, k: int, length: int, dtype: torch.dtype) -> torch.Tensor:
    values = torch.empty(length, dtype=dtype)
    draw(values, stream_generator(seed, k))
    return values


def _fill_span(flat: torch.Tensor, draw: Draw, seed: int, numel: int, span: tuple[int, int], block_size: int,
               threads: int) -> None:
    """Elements ``span`` of the flattened tensor into the 1-d contiguous CPU tensor ``flat``."""
    lo, hi = span
    jobs = [k for k in range(lo // block_size, (hi - 1) // block_size + 1)]

    def one(k: int) -> None:
        start, stop = k * block_size, min((k + 1) * block_size, numel)
        a, b = max(start, lo), min(stop, hi)
        if (a, b) == (start, stop):  # the whole stream block lies in the box: drawn in place
            draw(flat[a - lo:b - lo], stream_generator(seed, k))
        else:  # a shard's edge: the whole block drawn aside (its values depend on its length), then cut
            flat[a - lo:b - lo].copy_(_draw_block(draw, seed, k, stop - start, flat.dtype)[a - start:b - start])

    _map(one, jobs, threads)


def _fill_gather(out: torch.Tensor, draw: Draw, seed: int, shape: Sequence[int], box: Box,
                 block_size: int) -> None:
    """Any box, into the contiguous CPU tensor ``out`` of its shape: the flat index of each
    element, a slab of rows at a time, and the stream blocks it falls in (the last two kept)."""
    numel = math.prod(shape)
    strides = [math.prod(shape[i + 1:]) for i in range(len(shape))]
    rest = torch.zeros((), dtype=torch.int64)
    for (a, b), stride in zip(box[1:], strides[1:]):  # offsets of one row's elements, (extent_1 * ...,)
        rest = (rest.unsqueeze(-1) + torch.arange(a, b, dtype=torch.int64) * stride)
    rest = rest.reshape(-1)
    rows = out.view(box[0][1] - box[0][0], -1)
    per_slab = max(1, block_size // max(1, rest.numel()))
    cache: dict[int, torch.Tensor] = {}
    for r0 in range(0, rows.shape[0], per_slab):
        r = torch.arange(box[0][0] + r0, min(box[0][1], box[0][0] + r0 + per_slab), dtype=torch.int64)
        index = (r.unsqueeze(1) * strides[0] + rest.unsqueeze(0)).reshape(-1)  # flat indices of the slab
        target = rows[r0:r0 + len(r)].reshape(-1)
        which = index // block_size
        for k in range(int(which.min()), int(which.max()) + 1):
            mask = which == k
            if not bool(mask.any()):
                continue
            if k not in cache:
                if len(cache) >= 2:
                    cache.pop(next(iter(cache)))
                cache[k] = _draw_block(draw, seed, k, min(block_size, numel - k * block_size), out.dtype)
            target[mask] = cache[k][index[mask] - k * block_size]  # a view of out's rows: written through


def fill_box(out: torch.Tensor, draw: Draw, seed: int, shape: Sequence[int], box: Box | None = None, *,
             block_size: int = BLOCK_SIZE, threads: int = 1) -> torch.Tensor:
    """Fill ``out`` with the elements ``box`` of the tensor of ``shape`` that ``draw`` would give
    block by block from the streams of ``seed``; returns ``out``.

    Args:
        out: a tensor of the box's shape (any device, any layout), written in place.
        draw: ``draw(t, g)`` fills a 1-d contiguous CPU tensor from generator ``g``
            (``lambda t, g: t.normal_(0, 0.02, generator=g)``).
        seed: the draw's seed (:func:`stream_seed` of the run's seed, the tensor's name, the draw).
        shape: the whole tensor's shape, which fixes the stream blocks.
        box: ``(start, stop)`` per dimension; None for the whole tensor.
        block_size: elements per stream block (the same for every piece of one tensor).
        threads: stream blocks drawn at once (each on its own generator: the values do not
            depend on it).

    Examples:
        >>> normal = lambda t, g: t.normal_(generator=g)
        >>> whole = fill_box(torch.empty(6, 4), normal, 7, (6, 4), block_size=5)
        >>> bool((fill_box(torch.empty(2, 4), normal, 7, (6, 4), [(3, 5), (0, 4)], block_size=5) == whole[3:5]).all())
        True
    """
    shape = tuple(int(n) for n in shape)
    box = [(0, n) for n in shape] if box is None else [(int(a), int(b)) for a, b in box]
    if len(box) != len(shape) or any(not 0 <= a <= b <= n for (a, b), n in zip(box, shape)):
        raise ValueError(f"box {box} does not lie in shape {shape}")
    extents = tuple(b - a for a, b in box)
    if tuple(out.shape) != extents:
        raise ValueError(f"out has shape {tuple(out.shape)}, the box {extents}")
    if out.numel() == 0:
        return out
    if len(shape) == 0:  # a scalar: one element, the flattened tensor of one
        shape, box = (1,), [(0, 1)]
    span = contiguous_span(shape, box)
    direct = out.device.type == "cpu" and out.is_contiguous()
    work = out if direct else torch.empty(extents, dtype=out.dtype)
    with torch.no_grad():
        if span is not None:
            _fill_span(work.view(-1), draw, seed, math.prod(shape), span, block_size, threads)
        else:
            _fill_gather(work, draw, seed, shape, box, block_size)
        if not direct:
            out.copy_(work)
    return out
