r"""Mean-field signal propagation through a deep random network (Poole et al. 2016,
"Exponential expressivity in deep neural networks through transient chaos"; Schoenholz et al.
2017, "Deep information propagation").

A fully connected layer :math:`h^{l} = W^{l}\phi(h^{l-1}) + b^{l}` with
:math:`W_{ij} \sim N(0, \sigma_w^2/N)` and :math:`b_i \sim N(0, \sigma_b^2)`, wide: the
pre-activations of one input are Gaussian with variance :math:`q^l`, those of two inputs with
correlation :math:`c^l`, and

.. math::
    q^{l} = \sigma_w^2\,E_z\big[\phi(\sqrt{q^{l-1}}z)^2\big] + \sigma_b^2, \qquad
    c^{l} = \frac{\sigma_w^2\,E\big[\phi(u_1)\phi(u_2)\big] + \sigma_b^2}{q^*}

(:math:`u_{1,2}` at variance :math:`q^*` and correlation :math:`c^{l-1}`). The variance map has a
fixed point :math:`q^*`; the slope of the correlation map at :math:`c = 1`,

.. math::
    \chi_1 = \sigma_w^2\,E_z\big[\phi'(\sqrt{q^*}z)^2\big],

splits the ordered phase (:math:`\chi_1 < 1`: all inputs converge to one, :math:`c^* = 1`) from
the chaotic one (:math:`\chi_1 > 1`: nearby inputs decorrelate to :math:`c^* < 1`); it is also
the factor by which a gradient's squared norm grows per layer. Deviations from the fixed points
decay as :math:`e^{-l/\xi}` with the depth scales

.. math::
    \xi_q^{-1} = -\ln\Big(\chi_1 + \sigma_w^2 E_z\big[\phi''(\sqrt{q^*}z)\,\phi(\sqrt{q^*}z)\big]\Big),
    \qquad \xi_c^{-1} = -\ln \chi_{c^*}, \quad
    \chi_{c^*} = \sigma_w^2 E\big[\phi'(u_1)\phi'(u_2)\big]_{c^*}

(Schoenholz et al. eq. 5 and 8–9; the first slope is :math:`dq^{l}/dq^{l-1}` at :math:`q^*`,
computed as :math:`\sigma_w^2 E[\phi(\sqrt q z)\phi'(\sqrt q z) z]/\sqrt q` by Stein's lemma, so
no second derivative is needed). :math:`\xi_c` diverges on the critical line
:math:`\chi_1 = 1` (:mod:`weightinit.theory.critical`), and a network trains only if it is
shallower than about :math:`6\xi_c` (their Figure 5).

Every function takes tensors (or numbers) and broadcasts them; the integrals are
:mod:`weightinit.theory.quadrature`'s. ReLU's and erf's closed forms check them
(``tests/theory/test_meanfield.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .._checks import check_number
from .activations import TheoryActivation, theory_activation
from .quadrature import gaussian_mean, gaussian_pair_mean

__all__ = ["MeanField", "mean_field", "q_map", "c_map", "fixed_point_q", "fixed_point_c", "chi_1", "chi_c",
           "depth_scales", "Q_UNBOUNDED", "Q_VANISHING"]

Q_UNBOUNDED = 1e12  # a variance beyond this grows without bound (ReLU with sigma_w² >= 2 and a bias)
Q_VANISHING = 1e-12  # a fixed point q* = 0 is evaluated here: the limit q -> 0+ (ReLU's slope, tanh's linear regime)
_BISECTIONS = 64  # halvings of a bracket: to float64's resolution from a bracket of width 1e4
ORDERED_TOL = 1e-9  # chi_1 within this of 1 counts as critical


def _tensor(value) -> torch.Tensor:
    return torch.as_tensor(value, dtype=torch.float64)


def _act(activation: str | TheoryActivation) -> TheoryActivation:
    return activation if isinstance(activation, TheoryActivation) else theory_activation(activation)


def q_map(activation: str, q, sigma_w2, sigma_b2) -> torch.Tensor:
    r"""One layer of the variance map: :math:`\sigma_w^2 E_z[\phi(\sqrt q z)^2] + \sigma_b^2`."""
    act = _act(activation)
    return _tensor(sigma_w2) * gaussian_mean(lambda h: act.phi(h) ** 2, _tensor(q)) + _tensor(sigma_b2)


def c_map(activation: str, c, q, sigma_w2, sigma_b2) -> torch.Tensor:
    r"""One layer of the correlation map at variance ``q`` (the fixed point :math:`q^*`):
    :math:`(\sigma_w^2 E[\phi(u_1)\phi(u_2)] + \sigma_b^2) / q`."""
    act = _act(activation)
    q = _tensor(q)
    pair = gaussian_pair_mean(lambda a, b: act.phi(a) * act.phi(b), q, _tensor(c))
    return (_tensor(sigma_w2) * pair + _tensor(sigma_b2)) / q


def fixed_point_q(activation: str, sigma_w2, sigma_b2) -> torch.Tensor:
    r"""The fixed point :math:`q^*` of :func:`q_map`, by bisection on :math:`q_{map}(q) - q`:
    0 where the map pulls every variance to 0 (tanh with :math:`\sigma_b = 0,\ \sigma_w^2 \le 1`),
    ``inf`` where it grows without bound (beyond :data:`Q_UNBOUNDED`)."""
    act = _act(activation)
    w2, b2 = torch.broadcast_tensors(_tensor(sigma_w2), _tensor(sigma_b2))

    def excess(q: torch.Tensor) -> torch.Tensor:
        return q_map(act, q, w2, b2) - q

    lo = torch.full_like(w2, 1e-12)
    hi = torch.maximum(w2 + b2, torch.ones_like(w2))
    for _ in range(40):  # double until the map falls below the diagonal
        grow = (excess(hi) > 0) & (hi < Q_UNBOUNDED)
        if not bool(grow.any()):
            break
        hi = torch.where(grow, 2 * hi, hi)
    unbounded = excess(hi) > 0
    vanishes = excess(lo) <= 0
    for _ in range(_BISECTIONS + 40):
        mid = (lo + hi) / 2
        above = excess(mid) > 0
        lo, hi = torch.where(above, mid, lo), torch.where(above, hi, mid)
    q = (lo + hi) / 2
    q = torch.where(vanishes, torch.zeros_like(q), q)
    return torch.where(unbounded, torch.full_like(q, math.inf), q)


def chi_1(activation: str, sigma_w2, q) -> torch.Tensor:
    r""":math:`\chi_1 = \sigma_w^2 E_z[\phi'(\sqrt q z)^2]` at variance ``q`` (:math:`q^*`); an
    unbounded ``q`` is evaluated at :data:`Q_UNBOUNDED` (exact for ReLU, whose slope does not
    depend on q)."""
    act = _act(activation)
    q = torch.clamp(_tensor(q), min=Q_VANISHING, max=Q_UNBOUNDED)
    return _tensor(sigma_w2) * gaussian_mean(lambda h: act.dphi(h) ** 2, q)


def chi_c(activation: str, sigma_w2, q, c) -> torch.Tensor:
    r""":math:`\sigma_w^2 E[\phi'(u_1)\phi'(u_2)]`: the slope of :func:`c_map` at correlation ``c``."""
    act = _act(activation)
    return _tensor(sigma_w2) * gaussian_pair_mean(lambda a, b: act.dphi(a) * act.dphi(b), _tensor(q), _tensor(c))


def fixed_point_c(activation: str, sigma_w2, sigma_b2, q) -> torch.Tensor:
    r"""The fixed point :math:`c^*` of :func:`c_map` that inputs near :math:`c = 1` flow to: 1 in the
    ordered phase (:math:`\chi_1 \le 1`), else the root of :math:`c_{map}(c) - c` below 1, by
    bisection (in the chaotic phase the map lies below the diagonal just under 1 and at or above
    it at -1). NaN where :math:`q^*` is unbounded."""
    act = _act(activation)
    w2, b2, q = torch.broadcast_tensors(_tensor(sigma_w2), _tensor(sigma_b2), _tensor(q))
    finite = torch.isfinite(q)
    qs = torch.where(finite, q.clamp(min=Q_VANISHING), torch.ones_like(q))
    chaotic = (chi_1(act, w2, qs) > 1 + ORDERED_TOL) & finite
    c = torch.ones_like(qs)
    if bool(chaotic.any()):  # bisection on the chaotic points only
        w2c, b2c, qc = w2[chaotic], b2[chaotic], qs[chaotic]
        lo, hi = torch.full_like(qc, -1.0 + 1e-9), torch.full_like(qc, 1.0 - 1e-10)
        for _ in range(_BISECTIONS):
            mid = (lo + hi) / 2
            above = c_map(act, mid, qc, w2c, b2c) > mid
            lo, hi = torch.where(above, mid, lo), torch.where(above, hi, mid)
        c[chaotic] = (lo + hi) / 2
    return torch.where(finite, c, torch.full_like(c, math.nan))


def depth_scales(activation: str, sigma_w2, sigma_b2, q, c) -> tuple[torch.Tensor, torch.Tensor]:
    r"""``(xi_q, xi_c)`` at the fixed points ``q`` and ``c`` (the module's formulas); ``inf`` at
    criticality, where a slope is 1."""
    act = _act(activation)
    w2, q = torch.broadcast_tensors(_tensor(sigma_w2), _tensor(q))
    qs = torch.clamp(q, min=Q_VANISHING, max=Q_UNBOUNDED)
    z_weighted = gaussian_mean(lambda h: act.phi(h) * act.dphi(h) * h, qs) / qs  # E[phi phi' z]/sqrt(q) = this
    slope_q = w2 * z_weighted
    slope_c = chi_c(act, w2, qs, c)
    return _xi(slope_q), _xi(slope_c)


def _xi(slope: torch.Tensor) -> torch.Tensor:
    """-1 / ln(slope): the depth over which a deviation decays by e (inf at slope 1)."""
    with torch.no_grad():
        log = torch.log(slope)
        return torch.where(log.abs() < 1e-12, math.inf, torch.where(log < 0, -1.0 / log, math.nan))


@dataclass(frozen=True)
class MeanField:
    """The mean-field fixed points and depth scales of one ``(activation, sigma_w2, sigma_b2)``.

    ``phase`` is "ordered" (:math:`\\chi_1 < 1`), "chaotic" (:math:`\\chi_1 > 1`), "critical" (within
    1e-9 of 1) or "unbounded" (:math:`q^*` infinite: no fixed point to be ordered about)."""

    activation: str
    sigma_w2: float
    sigma_b2: float
    q_star: float
    chi_1: float
    c_star: float
    chi_c: float
    xi_q: float
    xi_c: float
    phase: str

    def summary(self) -> str:
        """One line: the point, its fixed points and depth scales."""
        return (f"{self.activation} at sigma_w²={self.sigma_w2:.4g}, sigma_b²={self.sigma_b2:.4g}: {self.phase}, "
                f"q*={self.q_star:.4g}, chi_1={self.chi_1:.4g}, c*={self.c_star:.4g}, xi_q={self.xi_q:.4g}, "
                f"xi_c={self.xi_c:.4g} layers")


def mean_field(activation: str, sigma_w2: float, sigma_b2: float) -> MeanField:
    r"""The fixed points :math:`q^*`, :math:`c^*`, the slopes :math:`\chi_1`, :math:`\chi_{c^*}` and
    the depth scales :math:`\xi_q`, :math:`\xi_c` of a deep random network with ``activation``
    (:data:`~weightinit.theory.activations.THEORY_ACTIVATIONS`), weight variance
    :math:`\sigma_w^2/N` and bias variance :math:`\sigma_b^2` (Schoenholz et al. 2017).

    Examples:
        >>> mean_field("relu", 1.5, 0.1).q_star  # sigma_b² / (1 - sigma_w²/2)
        0.4
    """
    act = theory_activation(activation)
    w2 = check_number("sigma_w2", sigma_w2, minimum=0, strictly=True)
    b2 = check_number("sigma_b2", sigma_b2, minimum=0)
    q = fixed_point_q(act, w2, b2)
    slope = chi_1(act, w2, q)
    c = fixed_point_c(act, w2, b2, q)
    finite = bool(torch.isfinite(q))
    slope_c = chi_c(act, w2, q, c) if finite else torch.tensor(math.nan)
    xi_q, xi_c = depth_scales(act, w2, b2, q, c) if finite else (torch.tensor(math.nan),) * 2
    if abs(float(slope) - 1) <= ORDERED_TOL:
        phase = "critical"
    elif not math.isfinite(float(q)):
        phase = "unbounded"
    else:
        phase = "ordered" if float(slope) < 1 else "chaotic"
    if phase == "critical":
        xi_c = torch.tensor(math.inf)
    return MeanField(activation, w2, b2, float(q), float(slope), float(c), float(slope_c), float(xi_q), float(xi_c),
                     phase)
