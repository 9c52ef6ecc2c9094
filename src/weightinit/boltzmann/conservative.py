"""A conservative estimate of an RBM's log-likelihood: RAISE, reverse annealed importance
sampling (Burda, Grosse & Salakhutdinov 2015, "Accurate and conservative estimates of MRF
log-likelihood using reverse annealing").

AIS (:mod:`.partition`) underestimates log Z in expectation, so the log-likelihood it gives
errs high: a model can look better than it is. RAISE errs low. It defines the *annealed
model*, a normalized distribution one can sample exactly: draw :math:`v_0` from the base-rate
model :math:`p_0` of AIS, then :math:`v_k \\sim T_k(\\cdot | v_{k-1})` for k = 1..K (the Gibbs
steps of AIS, :math:`T_K` at β = 1), and output :math:`v_K`. As K grows it approaches the RBM.
Its likelihood of a test image v is estimated by importance sampling with the *reverse*
chain, started at :math:`v_K = v` and run down the temperatures,
:math:`v_{k-1} \\sim T_k(\\cdot | v_k)`; each Gibbs step is reversible, so the weight is

.. math::
    \\log w = \\log p_0(v_0) + \\sum_{k=1}^{K} \\big[\\log p^*_{\\beta_k}(v_k)
    - \\log p^*_{\\beta_k}(v_{k-1})\\big],

with :math:`E[w] = p_{\\text{ann}}(v)`, so that :math:`E[\\log w] \\le \\log p_{\\text{ann}}(v)`
(Jensen): a stochastic lower bound. The unnormalized :math:`p^*_\\beta` need no Z: each one's
constant cancels in its ratio. Reported beside AIS, the two estimates sandwich the truth
when both are accurate, and their gap shows when they are not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .._checks import check_positive_int
from .partition import annealed_gibbs, base_visible_bias, beta_schedule, log_marginal
from .rbm import RBM, check_visible

__all__ = ["RAISEResult", "raise_log_likelihood"]


@dataclass
class RAISEResult:
    """RAISE's stochastic lower bound on the average test log-likelihood (Burda et al. 2015)."""

    log_likelihood: float  # mean over the images of the lower bound log w (nats per image)
    std_err: float  # standard error of that mean over the images
    n_images: int
    n_steps: int


@torch.no_grad()
def raise_log_likelihood(
    rbm: RBM, v: torch.Tensor, *, data: torch.Tensor | None = None, n_steps: int = 14_500,
    generator: torch.Generator | None = None, per_image: bool = False,
) -> RAISEResult | tuple[RAISEResult, torch.Tensor]:
    """RAISE's stochastic lower bound on the mean log-likelihood of the rows of ``v``, one
    reverse chain per row (so it costs what AIS with ``len(v)`` chains costs).

    Args:
        v: test images, of shape (M, n_visible).
        data: the training data the base-rate model is fitted to (as for
            :func:`~weightinit.boltzmann.partition.ais_log_partition`; use the same).
        n_steps: intermediate temperatures (the schedule of
            :func:`~weightinit.boltzmann.partition.beta_schedule`); fewer give a looser bound.
        per_image: also return each row's log w, of shape (M,), float64.

    Examples:
        >>> result = raise_log_likelihood(rbm, test_x[:100], data=train_x)  # doctest: +SKIP
    """
    check_positive_int("n_steps", n_steps)
    v = check_visible(v, rbm.n_visible, rbm.visible, "v", like=rbm.W)
    betas = beta_schedule(n_steps)
    base = base_visible_bias(rbm, data)
    hidden_in = torch.addmm(rbm.b_h, v, rbm.W.T)  # (M, H)
    log_w = torch.zeros(len(v), dtype=torch.float64, device=v.device)
    for k in range(len(betas) - 1, 0, -1):  # v_k -> v_{k-1} by T_k, reversible w.r.t. p*_{β_k}
        beta = float(betas[k])
        log_w += log_marginal(rbm, base, v, hidden_in, beta)
        v, hidden_in = annealed_gibbs(rbm, base, v, hidden_in, beta, generator)
        log_w -= log_marginal(rbm, base, v, hidden_in, beta)
    # log p_0(v_0): the base-rate model's normalized marginal (its hidden units are independent of v)
    if rbm.visible == "bernoulli":
        log_w += (v @ base).double() - F.softplus(base.double()).sum()
    else:
        log_w += -0.5 * ((v - base) ** 2).sum(1).double() - 0.5 * rbm.n_visible * math.log(2 * math.pi)
    std_err = (log_w.std() / math.sqrt(len(log_w))).item() if len(log_w) > 1 else float("inf")
    result = RAISEResult(log_w.mean().item(), std_err, len(log_w), len(betas) - 1)
    return (result, log_w) if per_image else result
