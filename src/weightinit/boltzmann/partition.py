"""The partition function of an RBM, exactly for tiny models and by Annealed Importance
Sampling (AIS) for real ones, and the average log-likelihood it gives.

:math:`\\log p(v) = -F(v) - \\log Z`. Reconstruction error and pseudo-likelihood are easy to
compute but are not the likelihood; with log Z estimated, a test set's average
log-likelihood compares models honestly (Salakhutdinov & Murray 2008, "On the quantitative
analysis of deep belief networks").

AIS anneals from a base-rate RBM A (no weights, no hidden bias, visible bias fitted to the
data: its log Z_A is known in closed form) to the model B through the marginals

.. math::
    \\log p^*_\\beta(v) = -(1-\\beta) E_A(v) - \\beta\\, b_B\\text{-term}(v)
    + \\sum_j \\mathrm{softplus}(\\beta (W_j v + c_j)) + \\text{const},

with Gibbs transitions that leave each intermediate distribution invariant, and averages the
importance weights :math:`w = \\prod_k p^*_{\\beta_k}(v_k) / p^*_{\\beta_{k-1}}(v_k)`:
:math:`\\hat Z_B = Z_A \\cdot \\mathrm{mean}(w)`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .._checks import check_positive_int
from ..errors import UserError
from .cd import draw_bernoulli
from .rbm import RBM, check_visible

__all__ = ["log_partition_exact", "AISResult", "ais_log_partition", "beta_schedule", "average_log_likelihood",
           "base_visible_bias", "log_marginal", "annealed_gibbs", "MAX_EXACT_HIDDEN"]

MAX_EXACT_HIDDEN = 20


@torch.no_grad()
def log_partition_exact(rbm: RBM, chunk: int = 1 << 14) -> float:
    """log Z by summing over all :math:`2^H` hidden configurations (H <= 20), in float64.

    Bernoulli: :math:`\\log Z = \\log\\sum_h e^{c^\\top h} \\prod_i (1 + e^{b_i + W_{:,i}^\\top h})`;
    Gaussian: :math:`\\log Z = \\tfrac D2 \\log 2\\pi + \\log\\sum_h e^{c^\\top h + \\frac12\\|b + W^\\top h\\|^2
    - \\frac12\\|b\\|^2}`.
    """
    if rbm.n_hidden > MAX_EXACT_HIDDEN:
        raise UserError("exact log Z enumerates 2^n_hidden states; "
                        f"n_hidden={rbm.n_hidden} > {MAX_EXACT_HIDDEN}, use AIS")
    W, b, c = rbm.W.double().cpu(), rbm.b_v.double().cpu(), rbm.b_h.double().cpu()
    H = rbm.n_hidden
    bits = 2 ** torch.arange(H)
    terms = []
    for start in range(0, 2**H, chunk):
        index = torch.arange(start, min(start + chunk, 2**H))
        h = ((index[:, None] & bits) > 0).double()  # (n, H)
        visible_in = h @ W + b  # (n, D)
        if rbm.visible == "bernoulli":
            terms.append(h @ c + F.softplus(visible_in).sum(1))
        else:
            terms.append(h @ c + 0.5 * (visible_in**2).sum(1) - 0.5 * (b @ b))
    log_z = torch.logsumexp(torch.cat(terms), 0).item()
    if rbm.visible == "gaussian":
        log_z += 0.5 * rbm.n_visible * math.log(2 * math.pi)
    return log_z


def beta_schedule(n_steps: int = 14_500) -> torch.Tensor:
    """Inverse temperatures 0 = β_0 < ... < β_K = 1, spaced as in Salakhutdinov & Murray
    (2008): 500 steps to 0.5, 4,000 to 0.9, 10,000 to 1, scaled to ``n_steps`` in all."""
    check_positive_int("n_steps", n_steps)
    if n_steps < 3:
        return torch.linspace(0.0, 1.0, n_steps + 1, dtype=torch.float64)
    parts = [(0.5, 500), (0.9, 4_000), (1.0, 10_000)]
    counts = [max(1, round(n * n_steps / 14_500)) for _, n in parts]
    counts[-1] = max(1, n_steps - sum(counts[:-1]))
    pieces, start = [], 0.0
    for (end, _), count in zip(parts, counts):
        pieces.append(torch.linspace(start, end, count + 1, dtype=torch.float64)[:-1])
        start = end
    return torch.cat([*pieces, torch.tensor([1.0], dtype=torch.float64)])


@dataclass
class AISResult:
    """An AIS estimate of log Z (Salakhutdinov & Murray 2008), with its +-3 standard-error band."""

    log_z: float  # the estimate of log Z_B
    log_z_low: float  # log(mean(w) - 3 std err): how far down the estimate may be
    log_z_high: float  # log(mean(w) + 3 std err)
    log_z_base: float  # exact log Z_A of the base-rate model
    n_chains: int
    n_steps: int


def base_visible_bias(rbm: RBM, data: torch.Tensor | None) -> torch.Tensor:
    """The visible bias of AIS's base-rate model A, fitted to ``data``: log(p/(1-p)) of its
    mean clipped to [0.001, 0.999] (Bernoulli) or its mean (Gaussian); 0 without data."""
    if data is None:
        return torch.zeros_like(rbm.b_v)
    mean = check_visible(data, rbm.n_visible, rbm.visible, "data").to(rbm.W.device).mean(0)
    if rbm.visible == "bernoulli":
        p = mean.clamp(1e-3, 1 - 1e-3)
        return torch.log(p / (1 - p))
    return mean


def log_marginal(rbm: RBM, base: torch.Tensor, v: torch.Tensor, hidden_in: torch.Tensor, beta: float) -> torch.Tensor:
    """:math:`\\log p^*_\\beta(v)` up to a constant, of shape (M,), float64: the visible part
    of the path from the base-rate model (β = 0) to ``rbm`` (β = 1) plus
    :math:`\\sum_j \\mathrm{softplus}(\\beta (W_j v + c_j))`, with ``hidden_in`` = W v + c."""
    if rbm.visible == "bernoulli":
        visible = (1 - beta) * (v @ base) + beta * (v @ rbm.b_v)
    else:
        visible = -(1 - beta) * 0.5 * ((v - base) ** 2).sum(1) - beta * 0.5 * ((v - rbm.b_v) ** 2).sum(1)
    return visible.double() + F.softplus(beta * hidden_in.double()).sum(1)


def annealed_gibbs(rbm: RBM, base: torch.Tensor, v: torch.Tensor, hidden_in: torch.Tensor, beta: float,
                   generator: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
    """One Gibbs step v -> h -> v' that leaves :math:`p^*_\\beta` invariant (and is reversible
    with respect to it); returns v' and its hidden input W v' + c."""
    h = draw_bernoulli(torch.sigmoid(beta * hidden_in), generator)
    visible_in = (1 - beta) * base + beta * torch.addmm(rbm.b_v, h, rbm.W)
    if rbm.visible == "bernoulli":
        v = draw_bernoulli(torch.sigmoid(visible_in), generator)
    else:
        v = visible_in + torch.randn(v.shape, generator=generator, device=v.device)
    return v, torch.addmm(rbm.b_h, v, rbm.W.T)


@torch.no_grad()
def ais_log_partition(
    rbm: RBM,
    *,
    data: torch.Tensor | None = None,
    n_chains: int = 100,
    n_steps: int = 14_500,
    generator: torch.Generator | None = None,
) -> AISResult:
    """Estimate log Z of ``rbm`` by AIS with ``n_chains`` independent runs of ``n_steps``.

    The base-rate model's visible bias is fitted to ``data`` (log(p/(1-p)) of its clipped
    mean for Bernoulli units, its mean for Gaussian ones); without data it is 0. A base
    close to the data makes the estimate far less variable.

    By Jensen's inequality :math:`E[\\log \\hat Z] \\le \\log Z`: AIS tends to underestimate
    log Z, and so to overestimate the log-likelihood; :func:`weightinit.boltzmann.conservative.
    raise_log_likelihood` errs the other way.
    """
    check_positive_int("n_chains", n_chains)
    betas = beta_schedule(n_steps)
    device = rbm.W.device
    bernoulli = rbm.visible == "bernoulli"
    base = base_visible_bias(rbm, data)
    H, D = rbm.n_hidden, rbm.n_visible

    if bernoulli:
        log_z_base = F.softplus(base.double()).sum().item() + H * math.log(2.0)
        v = draw_bernoulli(torch.sigmoid(base).expand(n_chains, D).contiguous(), generator)
    else:
        log_z_base = 0.5 * D * math.log(2 * math.pi) + H * math.log(2.0)
        v = base + torch.randn(n_chains, D, generator=generator, device=device)

    log_w = torch.zeros(n_chains, dtype=torch.float64, device=device)
    hidden_in = torch.addmm(rbm.b_h, v, rbm.W.T)  # (M, H)
    for k in range(1, len(betas)):
        beta_prev, beta = float(betas[k - 1]), float(betas[k])
        # weight: log p*_k(v_k) - log p*_{k-1}(v_k), with v_k drawn by T_{k-1}
        log_w += log_marginal(rbm, base, v, hidden_in, beta) - log_marginal(rbm, base, v, hidden_in, beta_prev)
        if k == len(betas) - 1:
            break
        v, hidden_in = annealed_gibbs(rbm, base, v, hidden_in, beta, generator)  # T_k

    log_mean_w = (torch.logsumexp(log_w, 0) - math.log(n_chains)).item()
    w = torch.exp(log_w - log_w.max())
    std_err = (w.std() / math.sqrt(n_chains) / w.mean()).item() if n_chains > 1 else float("inf")
    log_z = log_z_base + log_mean_w
    low = log_z + math.log(1 - 3 * std_err) if 3 * std_err < 1 else float("-inf")
    high = log_z + math.log(1 + 3 * std_err)
    return AISResult(log_z, low, high, log_z_base, n_chains, len(betas) - 1)


@torch.no_grad()
def average_log_likelihood(rbm: RBM, v: torch.Tensor, log_z: float) -> float:
    """Mean of log p(v) = -F(v) - log Z over the rows of ``v`` (nats)."""
    v = check_visible(v, rbm.n_visible, rbm.visible).to(rbm.W.device)
    return float(-rbm.free_energy(v).double().mean() - log_z)
