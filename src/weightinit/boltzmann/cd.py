"""The tensor maths of one contrastive-divergence update, as pure functions of tensors.

:class:`weightinit.boltzmann.trainer.RBMTrainer` draws an update's random numbers first (from its seeded
``torch.Generator``, in a fixed order) and hands them to :func:`cd_statistics`, then applies
:func:`momentum_update`. Because neither function draws anything, both can be fused by
``torch.compile`` (``RBMConfig.compile``): the dozen element-wise operations around the five
matrix products (casts, sigmoids, comparisons with the uniforms, sums, the momentum step)
become a few generated loops, while the random stream, and so reproducibility, stays the
seeded generator's.

CD-k (Hinton 2002) / PCD-k (Tieleman 2008) statistics, for a batch :math:`v_0`:

.. math::
    \\nabla W = p(h|v_0)^\\top v_0 - p(h|v_k)^\\top v_k,\\quad
    \\nabla b = \\textstyle\\sum v_0 - \\sum v_k,\\quad
    \\nabla c = \\textstyle\\sum p(h|v_0) - \\sum p(h|v_k)

with :math:`v_k` the end of a k-step Gibbs chain started at the data (CD) or at the
persistent chains' hidden states (PCD).
"""

from __future__ import annotations

import shutil
import warnings
from collections.abc import Callable, Sequence

import torch

__all__ = ["cd_statistics", "momentum_update", "cd_update", "noise_shapes", "sample_bernoulli", "draw_bernoulli",
           "fused"]


def noise_shapes(batch: int, n_visible: int, n_hidden: int, *, k: int, persistent: bool, chain_ready: bool,
                 sample_visible: bool) -> list[tuple[str, tuple[int, int]]]:
    """The random numbers one update consumes, in the order they are drawn: ``("uniform" or
    "visible", shape)``, where "visible" means the visible layer's noise (uniform for
    Bernoulli units, normal for Gaussian ones). A sampled hidden layer takes B x H uniforms
    (the data's, unless PCD's chains carry on), and each of the k Gibbs steps a visible sample
    (unless mean-field) and a hidden one (except CD's last step)."""
    shapes = [] if persistent and chain_ready else [("uniform", (batch, n_hidden))]
    for step in range(k):
        if sample_visible:
            shapes.append(("visible", (batch, n_visible)))
        if step < k - 1 or persistent:
            shapes.append(("uniform", (batch, n_hidden)))
    return shapes


def sample_bernoulli(p: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Bernoulli samples 0./1. with P(1) = p from uniforms u, in p's dtype."""
    return (u < p).to(p.dtype)


def draw_bernoulli(p: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """0./1. samples with P(1) = p, in p's dtype. Uniforms are drawn in float32 (24-bit
    resolution) into a fresh buffer and compared: about 3x faster than torch.bernoulli on CPU."""
    return sample_bernoulli(p, torch.rand(p.shape, device=p.device, generator=generator))


def cd_statistics(
    w: torch.Tensor, b_v: torch.Tensor, b_h: torch.Tensor, v0: torch.Tensor, chain: torch.Tensor | None,
    noise: Sequence[torch.Tensor], *, k: int, persistent: bool, sample_visible: bool, gaussian: bool,
    dtype: torch.dtype,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """The CD-k / PCD-k statistics summed over the batch ``v0`` (already in ``dtype``).

    Args:
        w, b_v, b_h: the RBM's float32 parameters; the products run in ``dtype`` (float32, or
            bfloat16 inputs with float32 accumulation).
        chain: PCD's hidden states (B, H), or None (CD; or PCD's first update).
        noise: the update's random numbers, as :func:`noise_shapes` lists them.

    Returns:
        (∇W in ``dtype``, ∇b, ∇c in float32, PCD's new chain or None).
    """
    w, b_v, b_h = w.to(dtype), b_v.to(dtype), b_h.to(dtype)
    draws = iter(noise)
    h0 = torch.sigmoid(torch.addmm(b_h, v0, w.T))
    h = chain if chain is not None else sample_bernoulli(h0, next(draws))
    for step in range(k):
        x = torch.addmm(b_v, h, w)
        if gaussian:
            vk = x + next(draws).to(x.dtype) if sample_visible else x
        else:
            vk = sample_bernoulli(torch.sigmoid(x), next(draws)) if sample_visible else torch.sigmoid(x)
        hk = torch.sigmoid(torch.addmm(b_h, vk, w.T))
        if step < k - 1 or persistent:
            h = sample_bernoulli(hk, next(draws))
    # positive minus negative statistics in one product: [h0, hk]ᵀ [v0, -vk]
    grad_w = torch.cat([h0, hk]).T @ torch.cat([v0, -vk])
    grad_b_v = v0.sum(0, dtype=torch.float32) - vk.sum(0, dtype=torch.float32)
    grad_b_h = h0.sum(0, dtype=torch.float32) - hk.sum(0, dtype=torch.float32)
    return grad_w, grad_b_v, grad_b_h, h if persistent else None


def momentum_update(params: Sequence[torch.Tensor], velocities: Sequence[torch.Tensor],
                    grads: Sequence[torch.Tensor], scale: torch.Tensor, momentum: torch.Tensor, *,
                    use_velocity: bool, decay: torch.Tensor | None) -> None:
    """In place, for each parameter θ with velocity u and summed statistic g (scale = η / B):

    :math:`u \\leftarrow \\mu u + \\text{scale}\\cdot g - \\eta\\lambda\\theta` (the last term for
    the weights alone, ``decay`` = -ηλ), then :math:`\\theta \\leftarrow \\theta + u`.
    Without ``use_velocity`` (no momentum, no decay): :math:`\\theta \\leftarrow \\theta +
    \\text{scale}\\cdot g`. The hyperparameters are 0-d tensors, so that a compiled version
    serves every value; ``addcmul_`` computes in the parameters' float32 whatever g's dtype."""
    for i, (param, velocity, grad) in enumerate(zip(params, velocities, grads)):
        if not use_velocity:
            param.addcmul_(grad, scale)
            continue
        velocity.mul_(momentum).addcmul_(grad, scale)
        if decay is not None and i == 0:
            velocity.addcmul_(param, decay)
        param.add_(velocity)


def cd_update(params: Sequence[torch.Tensor], velocities: Sequence[torch.Tensor], v0: torch.Tensor,
              chain: torch.Tensor | None, noise: Sequence[torch.Tensor], scale: torch.Tensor, momentum: torch.Tensor,
              *, use_velocity: bool, decay: torch.Tensor | None, **statistics) -> torch.Tensor | None:
    """:func:`cd_statistics` then :func:`momentum_update` (one process: nothing to reduce in
    between), as one function so that torch.compile fuses across the two; returns PCD's chain."""
    *grads, chain = cd_statistics(*params, v0, chain, noise, **statistics)
    momentum_update(params, velocities, grads, scale, momentum, use_velocity=use_velocity, decay=decay)
    return chain


def fused(fn: Callable, enabled: bool) -> Callable:
    """``fn`` compiled by torch.compile (inductor) when ``enabled``, else ``fn`` itself. The
    compiled version is built on its first call (seconds, once per shape) and falls back to
    ``fn`` with a warning where compiling fails (no C++ compiler, an unsupported platform)."""
    if not enabled:
        return fn
    if shutil.which("c++") is None and shutil.which("g++") is None and shutil.which("clang++") is None:
        warnings.warn("compile=True needs a C++ compiler for torch.compile on the CPU; none found, running "
                      "uncompiled", RuntimeWarning, stacklevel=2)
        return fn
    compiled = torch.compile(fn, dynamic=False)
    broken = False

    def call(*args, **kwargs):
        nonlocal broken
        if not broken:
            try:
                return compiled(*args, **kwargs)
            except Exception as error:  # noqa: BLE001 - inductor/dynamo may raise anything: stay correct, run eagerly
                broken = True
                warnings.warn(f"torch.compile failed ({type(error).__name__}: {str(error).splitlines()[0][:200]}); "
                              "running uncompiled", RuntimeWarning, stacklevel=2)
        return fn(*args, **kwargs)

    return call
