r"""The critical line, the edge of chaos: the weight variance :math:`\sigma_w^2` at which
:math:`\chi_1 = \sigma_w^2 E_z[\phi'(\sqrt{q^*}z)^2] = 1` for a bias variance :math:`\sigma_b^2`
(Poole et al. 2016; Schoenholz et al. 2017, Figure 1). There :math:`\xi_c` diverges: signals
and gradients travel arbitrarily deep.

Closed forms where they exist: ReLU :math:`\sigma_w^2 = 2` (He et al. 2015's init, with
:math:`\sigma_b = 0`; for :math:`\sigma_b > 0` its :math:`q^*` is unbounded there), linear
:math:`\sigma_w^2 = 1`, and every odd activation with :math:`\phi'(0) = 1` (tanh, softsign)
meets :math:`\sigma_b = 0` at :math:`\sigma_w^2 = 1`, :math:`q^* = 0`. Elsewhere the line is found
by bisection on :math:`\chi_1(\sigma_w^2) - 1`, each :math:`\chi_1` at its own :math:`q^*`; for tanh it
passes :math:`\sigma_w^2 \approx 1.76` at :math:`\sigma_b^2 = 0.05`, the critical point of
Schoenholz et al.'s Figure 5.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import torch

from .._checks import check_number
from ..errors import UserError
from .activations import theory_activation
from .meanfield import chi_1, fixed_point_q

__all__ = ["CriticalPoint", "critical_sigma_w2", "critical_point", "SCHEME_SIGMA_B2", "scheme_point",
           "MAX_SIGMA_W2"]

MAX_SIGMA_W2 = 16.0  # the bisection's upper end; the quadrature keeps 1e-6 up to q* ~ 16 (sigmoid's line lies beyond)
SCHEME_SIGMA_B2 = 0.05  # the bias variance of the "critical" scheme where q* stays finite (Schoenholz et al.'s)
_BISECTIONS = 60


@dataclass(frozen=True)
class CriticalPoint:
    """A point of the critical line: the activation, :math:`\\sigma_w^2`, :math:`\\sigma_b^2` and the
    fixed point :math:`q^*` of the pre-activations' variance there (``inf``: none)."""

    activation: str
    sigma_w2: float
    sigma_b2: float
    q_star: float

    @property
    def sigma_w(self) -> float:
        """:math:`\\sigma_w`: the gain of an orthogonal draw, :math:`\\sqrt{\\sigma_w^2}`."""
        return math.sqrt(self.sigma_w2)

    @property
    def sigma_b(self) -> float:
        return math.sqrt(self.sigma_b2)

    def text(self) -> str:
        """The point in words, as the plan of the ``critical`` scheme shows it."""
        return (f"{self.activation} critical: sigma_w²={self.sigma_w2:.4g}, sigma_b²={self.sigma_b2:.4g}, "
                f"q*={self.q_star:.4g}")


def critical_sigma_w2(activation: str, sigma_b2) -> torch.Tensor:
    r"""The critical :math:`\sigma_w^2` (where :math:`\chi_1 = 1`) at each bias variance in
    ``sigma_b2`` (a number or a tensor), by bisection on :math:`(0, 16]` (:data:`MAX_SIGMA_W2`).

    Examples:
        >>> round(float(critical_sigma_w2("relu", 0.0)), 6)
        2.0
    """
    act = theory_activation(activation)
    b2 = torch.as_tensor(sigma_b2, dtype=torch.float64)
    if bool((b2 < 0).any()) or not bool(torch.isfinite(b2).all()):
        raise UserError(f"sigma_b2 must be finite and >= 0, got {sigma_b2!r}")

    def excess(w2: torch.Tensor) -> torch.Tensor:
        return chi_1(act, w2, fixed_point_q(act, w2, b2)) - 1.0

    lo, hi = torch.full_like(b2, 1e-6), torch.full_like(b2, MAX_SIGMA_W2)
    if bool((excess(hi) < 0).any()):
        raise UserError(f"activation={activation!r} has no critical point with sigma_w² <= {MAX_SIGMA_W2:g} at "
                        f"sigma_b²={sigma_b2!r}")
    for _ in range(_BISECTIONS):
        mid = (lo + hi) / 2
        above = excess(mid) > 0
        lo, hi = torch.where(above, lo, mid), torch.where(above, mid, hi)
    w2 = (lo + hi) / 2
    missed = excess(w2).abs() > 1e-6  # chi_1 jumped across 1: q* changed branch (a second fixed point)
    if bool(missed.any()):
        where = b2.expand_as(w2)[missed].tolist()
        raise UserError(f"activation={activation!r} has no critical point at sigma_b²={where}: chi_1 jumps across 1 "
                        "where its fixed point q* changes branch; choose another sigma_b2")
    return w2


def critical_point(activation: str, sigma_b2: float = 0.0) -> CriticalPoint:
    r"""The point of the critical line at bias variance ``sigma_b2``, with its :math:`q^*`.

    Examples:
        >>> critical_point("tanh", 0.05).text()
        'tanh critical: sigma_w²=1.76, sigma_b²=0.05, q*=0.5695'
    """
    b2 = check_number("sigma_b2", sigma_b2, minimum=0)
    w2 = critical_sigma_w2(activation, b2)
    q = fixed_point_q(activation, w2, b2)
    return CriticalPoint(activation, float(w2), b2, float(q))


@cache
def scheme_point(activation: str) -> CriticalPoint:
    """Where the ``critical`` scheme puts a layer followed by ``activation``: at
    :data:`SCHEME_SIGMA_B2` where :math:`q^*` is finite there (tanh, erf, sigmoid, softsign), else
    at :math:`\\sigma_b = 0` (ReLU, linear and the other unbounded activations, whose variance
    grows without bound on the line once there is a bias)."""
    point = critical_point(activation, SCHEME_SIGMA_B2)
    return point if math.isfinite(point.q_star) else critical_point(activation, 0.0)
