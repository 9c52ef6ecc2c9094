"""The matrix-multiply floor: a training step's matrix products timed alone, in the same run.

A step cannot take less time than its matrix products take by themselves, so their time alone,
measured in the same process, at the same shapes, dtype, memory layout and thread count, with
plain ``torch.addmm``/``mm``/``baddbmm``/``bmm``, is the floor a benchmark's epoch is compared
with. FLOP count: a product of an (m, k) by a (k, n) matrix is

.. math::
    \\text{FLOPs} = 2\\,m\\,k\\,n

(one multiply and one add per term); a batched product of R such pairs is R times that. Only
the products are counted: bias additions (m n), activations, the loss, the optimizer and the
data gathering are the "rest" that the share leaves outside the floor. The floor's operands
are reused from one call to the next (they stay in cache, as a step's weights do), so it is a
lower bound on the products' time inside a step.

Used by ``bench_train.py`` and ``bench_rbm.py`` (run from the repository root; the script's
own folder is on ``sys.path``, which is how ``import _floor`` finds this file).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

__all__ = ["REST", "Product", "Floor", "Interleaved", "mlp_products", "cd1_products", "verdict", "floor_line"]


@dataclass(frozen=True)
class Product:
    """One matrix product of a step, ``(m, k) @ (k, n)``, laid out as the code under test lays it out.

    ``a_t``: the left operand is a transposed view of a contiguous (k, m) tensor; ``b_t``: the
    right operand is a transposed view of a contiguous (n, k) tensor (``x @ W.T`` with W stored
    (out, in)); ``bias``: ``addmm``/``baddbmm`` with a broadcast row of n; ``runs`` > 1: a
    batched product (``bmm``/``baddbmm``) over that many independent pairs.
    """

    what: str
    m: int
    k: int
    n: int
    a_t: bool = False
    b_t: bool = False
    bias: bool = False
    runs: int = 1

    @property
    def flops(self) -> int:
        """2 · runs · m · k · n."""
        return 2 * self.runs * self.m * self.k * self.n

    def call(self, dtype: torch.dtype) -> Callable[[], torch.Tensor]:
        """A function that runs this product once on fixed random operands of ``dtype``."""
        lead = (self.runs,) if self.runs > 1 else ()
        a = torch.rand(*lead, self.k, self.m).to(dtype).transpose(-1, -2) if self.a_t \
            else torch.rand(*lead, self.m, self.k).to(dtype)
        b = torch.rand(*lead, self.n, self.k).to(dtype).transpose(-1, -2) if self.b_t \
            else torch.rand(*lead, self.k, self.n).to(dtype)
        if not self.bias:
            return (lambda: torch.bmm(a, b)) if self.runs > 1 else (lambda: torch.mm(a, b))
        if self.runs > 1:
            c = torch.rand(self.runs, 1, self.n).to(dtype)
            return lambda: torch.baddbmm(c, a, b)
        c = torch.rand(self.n).to(dtype)
        return lambda: torch.addmm(c, a, b)


def mlp_products(widths: Sequence[int], batch: int, runs: int = 1) -> list[Product]:
    """The products of one training step (forward and backward) of an MLP of Linear layers
    ``widths[0] -> ... -> widths[-1]`` on a batch of ``batch`` rows; ``runs`` > 1: that many
    MLPs stacked as in ``weightinit.training``'s batched sweep (``baddbmm`` per layer).

    Layer l (in -> out) costs 2·B·in·out FLOPs forward (``addmm(b, x, W.T)``) and, backward,
    2·B·in·out for the weight gradient (gᵀ x) plus 2·B·in·out for the input gradient (g W),
    which autograd skips for the first layer (the data needs no gradient). Per step:

        FLOPs = runs · Σ_l 2·B·in_l·out_l · (2 + [l > 1])
    """
    products = []
    for layer, (fan_in, fan_out) in enumerate(zip(widths[:-1], widths[1:]), 1):
        name = f"layer {layer} {fan_in}x{fan_out}"
        products.append(Product(f"{name} forward x W^T", batch, fan_in, fan_out, b_t=True, bias=True, runs=runs))
        if runs == 1:  # addmm's backward as autograd runs it for W.T: gᵀ (out, B) x (B, in)
            products.append(Product(f"{name} weight grad g^T x", fan_out, batch, fan_in, a_t=True))
        else:  # baddbmm's: xᵀ (R, in, B) g (R, B, out)
            products.append(Product(f"{name} weight grad x^T g", fan_in, batch, fan_out, a_t=True, runs=runs))
        if layer > 1:
            products.append(Product(f"{name} input grad g W", batch, fan_out, fan_in, runs=runs))
    return products


def cd1_products(n_visible: int, n_hidden: int, batch: int) -> list[Product]:
    """The products of one CD-1 (or PCD-1) update of an RBM with W of shape (H, V) on a batch
    of B rows, as ``weightinit.boltzmann.cd.cd_statistics`` runs them: h0 = σ(v0 Wᵀ + c),
    v1 = σ(h W + b), h1 = σ(v1 Wᵀ + c), and the two gradient outer products h0ᵀv0 − h1ᵀv1 as
    one product [h0; h1]ᵀ [v0; −v1] of inner size 2B. Per update:

        FLOPs = 3 · 2·B·V·H + 2·(2B)·H·V = 10·B·V·H

    (scikit-learn's PCD-1 runs the same five B x V x H products, as five calls.)
    """
    return [
        Product("v0 W^T", batch, n_visible, n_hidden, b_t=True, bias=True),
        Product("h W", batch, n_hidden, n_visible, bias=True),
        Product("v1 W^T", batch, n_visible, n_hidden, b_t=True, bias=True),
        Product("[h0;h1]^T [v0;-v1]", n_hidden, 2 * batch, n_visible, a_t=True),
    ]


NOISY = 2.0  # slowest / fastest sample above which a floor is flagged as measured on a busy machine


class Floor:
    """The matrix-product floor of an epoch: ``products`` (one step's) in ``dtype``, timed alone.

    Call :meth:`sample` inside or between the timed runs of a benchmark (:class:`Interleaved`
    does it every few batches): each sample times ``sample_steps`` steps' worth of products (the
    first after a warm-up step, which builds oneDNN's kernels). The floor is the mean sample
    scaled to ``steps_per_epoch`` steps: a run's epoch is a sum over its batches, so the mean of
    samples spread through it meets the machine's noise (other processes on the shared cores)
    as the run does, where the median would compare a noisy run with a quiet floor. Where the
    row's time is the median of several timed epochs (or fits), :meth:`close_group` ends each
    one's samples and the floor is the median group's mean likewise. Threads: PyTorch's current
    setting, the one the runs use.
    """

    spent = 0.0  # wall seconds all floors have taken in this process (operands, warm-ups, samples)

    def __init__(self, products: Sequence[Product], dtype: torch.dtype, steps_per_epoch: int,
                 sample_steps: int = 60) -> None:
        self.products, self.dtype = list(products), dtype
        self.steps_per_epoch, self.sample_steps = steps_per_epoch, sample_steps
        self._calls: list[Callable[[], torch.Tensor]] | None = None
        self.samples: list[float] = []  # seconds per step
        self.groups: list[float] = []  # mean seconds per step of each closed group of samples
        self._open = 0  # the first sample not yet in a group

    @property
    def flops_per_epoch(self) -> int:
        return self.steps_per_epoch * sum(p.flops for p in self.products)

    def sample(self) -> None:
        """Time ``sample_steps`` steps' products once more (with torch's current thread count)."""
        began = time.perf_counter()
        if self._calls is None:
            self._calls = [p.call(self.dtype) for p in self.products]
            for call in self._calls:  # warm-up
                call()
        start = time.perf_counter()
        for _ in range(self.sample_steps):
            for call in self._calls:
                call()
        end = time.perf_counter()
        self.samples.append((end - start) / self.sample_steps)
        Floor.spent += end - began

    def close_group(self) -> None:
        """End the samples of one timed epoch (or fit), to be set against that epoch's time."""
        if len(self.samples) > self._open:
            self.groups.append(statistics.fmean(self.samples[self._open :]))
            self._open = len(self.samples)

    @property
    def seconds_per_epoch(self) -> float:
        """The median group's mean sample where groups were closed, else the mean sample, per epoch."""
        if not self.samples:
            self.sample()
        per_step = statistics.median(self.groups) if self.groups else statistics.fmean(self.samples)
        return per_step * self.steps_per_epoch

    @property
    def gflops(self) -> float:
        """GFLOP/s of the products alone at these shapes, over the mean sample (the fastest
        sample's, the top of :meth:`spread`, is the quiet machine's peak)."""
        return self.flops_per_epoch / self.seconds_per_epoch / 1e9

    def spread(self) -> str:
        """The slowest and the fastest sample's GFLOP/s: a wide spread means a noisy machine."""
        step = self.flops_per_epoch / self.steps_per_epoch
        if not self.samples:
            self.sample()
        return f"{step / max(self.samples) / 1e9:.0f}-{step / min(self.samples) / 1e9:.0f} GFLOP/s"

    @property
    def noisy(self) -> bool:
        """Whether the slowest sample took over NOISY times the fastest: the cores were busy with other work
        (on an idle machine the spread stays under 1.5x)."""
        return len(self.samples) > 1 and max(self.samples) > NOISY * min(self.samples)


class Interleaved:
    """An ``on_batch`` callback that samples ``floor`` every ``every`` batches, inside the timed
    loop, so that the floor meets the machine's noise as the run meets it. ``seconds``: the time
    the samples took, which the caller subtracts from the run's measured time."""

    def __init__(self, floor: Floor, every: int = 100) -> None:
        self.floor, self.every = floor, every
        self.batches, self.seconds = 0, 0.0

    def __call__(self) -> None:
        self.batches += 1
        if self.batches % self.every == 0:
            start = time.perf_counter()
            self.floor.sample()
            self.seconds += time.perf_counter() - start

    def excluded(self, timed: Callable[..., float], *args: Any, **kwargs: Any) -> float:
        """Call ``timed(*args, **kwargs)`` (a timed epoch that calls this probe and returns its
        seconds) and return those seconds less the time the samples took inside it; its samples
        form one group of the floor's (:meth:`Floor.close_group`)."""
        before = self.seconds
        seconds = timed(*args, **kwargs)
        self.floor.close_group()
        return seconds - (self.seconds - before)


REST = "element-wise work, parameter updates, data gathering and per-call overhead"
"""What a step does besides its matrix products: where the time above the floor goes."""


def verdict(share: float) -> str:
    """What a share of the floor (floor seconds / measured seconds) says about where the time goes."""
    if share > 1.05:
        return "faster than the products alone: the floor's samples met more machine noise than the run"
    if share >= 0.8:
        return "little left to gain without cheaper products (fewer FLOPs or a faster dtype)"
    if share >= 0.5:
        return f"the products dominate; the other {1 - share:.0%} is the most a faster rest could save"
    return f"{1 - share:.0%} of the time is outside the products: room to gain there"


def floor_line(name: str, seconds_per_epoch: float, floor: Floor) -> str:
    """One row that runs ``floor``'s products: seconds per epoch, GFLOP/s reached (the floor's
    FLOPs per epoch / its seconds), the products-alone GFLOP/s, the share and a verdict."""
    share = floor.seconds_per_epoch / seconds_per_epoch
    return (f"{name}: {seconds_per_epoch:.3f} s/epoch, {floor.flops_per_epoch / seconds_per_epoch / 1e9:.0f} GFLOP/s; "
            f"{str(floor.dtype).removeprefix('torch.')} products alone {floor.gflops:.0f} GFLOP/s "
            f"({floor.seconds_per_epoch:.3f} s/epoch; {len(floor.samples)} samples, {floor.spread()}): "
            f"at {share:.2f} of the matmul floor: {verdict(share)}"
            f"{'; the samples spread widely (busy cores): rerun on a quieter machine' if floor.noisy else ''}")
