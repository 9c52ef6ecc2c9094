r"""The spectrum of the input-output Jacobian of a deep random network, from free probability
(Pennington, Schoenholz & Ganguli 2017, "Resurrecting the sigmoid in deep learning through
dynamical isometry: theory and practice").

A network :math:`x^l = \phi(h^l)`, :math:`h^l = W^l x^{l-1} + b^l` of width N has the Jacobian
:math:`J = \partial x^L/\partial x^0 = \prod_{l=1}^{L} D^l W^l` with
:math:`D^l = \mathrm{diag}(\phi'(h^l))`. With the pre-activations at the fixed point :math:`q^*`
(:mod:`weightinit.theory.meanfield`) every :math:`(D^l)^2` has the same spectral distribution,
that of :math:`d = \phi'(\sqrt{q^*}z)^2`, and in the wide limit the factors are free, so the
S-transforms multiply:

.. math::
    S_{JJ^T}(z) = \big(S_{D^2}(z)\,S_{W^TW}(z)\big)^L, \qquad
    S_{W^TW}(z) = \frac{1}{\sigma_w^2 (1 + z)}\ \text{(Gaussian)}, \quad \frac{1}{\sigma_w^2}\ \text{(orthogonal)}.

With :math:`\psi_X(z) = \sum_{k\ge1} m_k z^k` (the moment generating function) and
:math:`S_X(z) = \frac{1+z}{z}\psi_X^{-1}(z)`, the Green's function :math:`G(x) = (1 + t)/x` of
:math:`JJ^T` follows from :math:`t = \psi_{JJ^T}(1/x)`, which solves, with :math:`u =
\psi_{D^2}^{-1}(t)` and the unknown :math:`w` defined by :math:`x e^w = (1+t)/t`,

.. math::
    t = \frac{1}{x e^w - 1}, \qquad
    u = \begin{cases}\sigma_w^2 e^{w/L}\,t & \text{Gaussian}\\
        \sigma_w^2 e^{w/L}/(x e^w) & \text{orthogonal}\end{cases}, \qquad
    \psi_{D^2}(u) = E_z\Big[\frac{u\,d}{1 - u\,d}\Big] = t.

This one equation in :math:`w` is solved by Newton's method at :math:`x = \lambda + i\eta` for every
:math:`\lambda` of a grid at once, following each solution in from :math:`\eta` large (where
:math:`w = -L\ln\chi_1`) to :math:`\eta = 10^{-6}\lambda`, so that it stays on the branch of the
physical Green's function; the density of the squared singular values is
:math:`\rho(\lambda) = -\mathrm{Im}\,G(\lambda + i\eta)/\pi`. The expectation over :math:`d` is
Gauss-Hermite quadrature (:mod:`weightinit.theory.quadrature`'s nodes).

The first two moments have closed forms (Pennington et al., eq. 17-18, from the series of the
S-transforms): with :math:`\mu_k = E[d^k]` and :math:`\chi_1 = \sigma_w^2\mu_1`,

.. math::
    E[\lambda] = \chi_1^L, \qquad
    \frac{\mathrm{Var}[\lambda]}{E[\lambda]^2} = L\Big(\frac{\mu_2}{\mu_1^2} - 1 - s_1\Big),
    \quad s_1 = -1\ \text{(Gaussian)},\ 0\ \text{(orthogonal)}

(exactly: for free variables the relative variances add, :math:`s_1` being minus the relative
variance of :math:`W^TW`). At criticality :math:`E[\lambda] = 1` at any depth; Gaussian
weights spread the spectrum in proportion to L, orthogonal ones only by what :math:`D^2` varies
(nothing for a linear network: every singular value is exactly :math:`\sigma_w^L`). A linear
Gaussian network's spectrum is the Fuss-Catalan law, whose top edge is
:math:`(L+1)^{L+1}/L^L` (``tests/theory/test_spectra.py`` checks both, and the densities against
the singular values of sampled Jacobians).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from .._checks import check_choice, check_number, check_positive_int
from .activations import theory_activation
from .meanfield import Q_UNBOUNDED, Q_VANISHING, mean_field

__all__ = ["JacobianSpectrum", "jacobian_spectrum", "spectrum_moments", "d2_moments", "WEIGHTS",
           "ISOMETRY_FACTOR"]

WEIGHTS = ("gaussian", "orthogonal")
ISOMETRY_FACTOR = 2.0  # "near 1": a singular value within this factor of 1 (the spread's share)
_NODES = 96  # Gauss-Hermite nodes for the law of d = phi'(sqrt(q*) z)²: the densities agree with 160 to 1e-6
_PATH = 90  # steps of the continuation in eta, from far above the real axis down to it
_NEWTON = 6  # Newton iterations per step
_ETA = 1e-6  # the final imaginary part, relative to lambda: the density is smoothed on that scale


def _d2_law(activation: str, q_star: float, nodes: int = _NODES) -> tuple[torch.Tensor, torch.Tensor]:
    """The law of :math:`d = \\phi'(\\sqrt{q^*}z)^2` as quadrature atoms: (values, weights)."""
    act = theory_activation(activation)
    z, w = np.polynomial.hermite_e.hermegauss(nodes)
    h = math.sqrt(max(q_star, Q_VANISHING)) * torch.from_numpy(z)  # q* = 0: the limit (ReLU's d is [z > 0])
    return act.dphi(h) ** 2, torch.from_numpy(w / math.sqrt(2.0 * math.pi))


def d2_moments(activation: str, q_star: float) -> tuple[float, float]:
    r""":math:`(\mu_1, \mu_2) = (E[d], E[d^2])` of :math:`d = \phi'(\sqrt{q^*}z)^2`."""
    d, p = _d2_law(activation, q_star, 160)
    return float((p * d).sum()), float((p * d * d).sum())


def spectrum_moments(activation: str, sigma_w2: float, sigma_b2: float, depth: int,
                     weights: str = "gaussian") -> tuple[float, float]:
    r"""``(mean, variance)`` of the squared singular values :math:`\lambda` of the depth-``depth``
    Jacobian, exact in the wide limit: :math:`E[\lambda] = \chi_1^L` and
    :math:`\mathrm{Var}[\lambda] = E[\lambda]^2\,L\,(v_D + v_W)`, where
    :math:`v_D = \mu_2/\mu_1^2 - 1` is the relative variance of :math:`D^2` and :math:`v_W` that of
    :math:`W^TW` (1 Gaussian, 0 orthogonal): for free variables, means multiply and relative
    variances add (the paper's :math:`L(\mu_2/\mu_1^2 - 1 - s_1)`).

    Examples:
        >>> spectrum_moments("linear", 1.0, 0.0, 10, "gaussian")  # the Fuss-Catalan law's: mean 1, variance L
        (1.0, 10.0)
    """
    check_choice("weights", weights, WEIGHTS)
    check_positive_int("depth", depth)
    field = mean_field(activation, sigma_w2, sigma_b2)
    mu1, mu2 = d2_moments(activation, min(field.q_star, Q_UNBOUNDED))
    mean = (sigma_w2 * mu1) ** depth
    v_w = 1.0 if weights == "gaussian" else 0.0
    return mean, mean ** 2 * depth * (mu2 / mu1 ** 2 - 1.0 + v_w)


@dataclass(frozen=True)
class JacobianSpectrum:
    """The predicted density of the squared singular values :math:`\\lambda = \\sigma^2` of the
    input-output Jacobian: ``density[i]`` at ``lam[i]`` (a log-spaced grid), with the setting it is
    for and the closed-form ``mean`` and ``variance``. ``mass`` is the density's integral over the
    grid (1 less what lies outside it, e.g. ReLU's atom at 0)."""

    activation: str
    weights: str
    depth: int
    sigma_w2: float
    sigma_b2: float
    q_star: float
    chi_1: float
    lam: list[float]
    density: list[float]
    mean: float
    variance: float
    atom: float | None = None  # all of the spectrum at this one value (an orthogonal linear network: sigma_w^(2L))

    def _above(self) -> tuple[np.ndarray, np.ndarray]:
        """The grid and the predicted share of :math:`\\lambda` above each grid point (trapezoids from the top)."""
        lam, rho = np.asarray(self.lam), np.asarray(self.density)
        steps = np.diff(lam) * (rho[1:] + rho[:-1]) / 2
        return lam, np.concatenate([np.cumsum(steps[::-1])[::-1], [0.0]])

    @property
    def mass(self) -> float:
        """The share of the spectrum on the grid (the rest lies below it: a Gaussian network's
        spectrum has a share of tiny singular values that grows with depth, ReLU's an atom at 0)."""
        if self.atom is not None:
            return 1.0
        return float(self._above()[1][0])

    def cdf(self, lam: float | np.ndarray) -> np.ndarray:
        """The predicted share of :math:`\\lambda` at or below ``lam``: 1 less the density's integral
        above it (so exact on the grid whatever lies below it)."""
        if self.atom is not None:
            return (np.asarray(lam) >= self.atom).astype(float)
        grid, above = self._above()
        return np.clip(1.0 - np.interp(np.log(lam), np.log(grid), above, left=1.0, right=0.0), 0.0, 1.0)

    def quantile(self, p: float | np.ndarray) -> np.ndarray:
        """The :math:`\\lambda` below which a share ``p`` of the predicted spectrum lies (the grid's
        lowest point if that share lies below the grid)."""
        if self.atom is not None:
            return np.full(np.shape(p), self.atom)
        grid, above = self._above()
        return np.exp(np.interp(1.0 - np.asarray(p), above[::-1], np.log(grid[::-1])))

    def singular_value_density(self) -> tuple[list[float], list[float]]:
        """``(s, p(s))``: the density of the singular values :math:`s = \\sqrt\\lambda`,
        :math:`p(s) = 2s\\,\\rho(s^2)`."""
        s = np.sqrt(np.asarray(self.lam))
        return s.tolist(), (2 * s * np.asarray(self.density)).tolist()

    def share_within(self, factor: float = ISOMETRY_FACTOR) -> float:
        """The predicted share of singular values within ``factor`` of 1."""
        return float(self.cdf(factor ** 2) - self.cdf(factor ** -2))

    def spread(self, tail: float = 0.01) -> float:
        """The ratio of the singular values at the ``1 - tail`` and ``tail`` quantiles (the max/min
        of a spectrum without its extreme ``tail`` at each end; the prediction's min is 0 for
        Gaussian weights). A lower bound where more than ``tail`` of the spectrum lies below the grid
        (see :attr:`mass`)."""
        low, high = self.quantile([tail, 1 - tail])
        return float(math.sqrt(high / low))

    @property
    def lambda_max(self) -> float:
        """The top edge of the predicted spectrum: the largest :math:`\\lambda` with a share 1e-5
        of the spectrum above it."""
        return float(self.quantile(1.0 - 1e-5))

    def summary(self) -> str:
        return (f"{self.weights} {self.activation}, depth {self.depth}, sigma_w²={self.sigma_w2:.4g}, "
                f"sigma_b²={self.sigma_b2:.4g}: mean λ {self.mean:.4g}, var λ {self.variance:.4g}, "
                f"λ_max {self.lambda_max:.4g}, {100 * self.share_within():.0f}% of singular values within x2 of 1, "
                f"spread (99%/1%) {self.spread():.3g}")


def _psi(u: torch.Tensor, d: torch.Tensor, p: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """:math:`\\psi_{D^2}(u) = E[ud/(1-ud)]` and its derivative :math:`E[d/(1-ud)^2]`."""
    denominator = 1.0 - u.unsqueeze(-1) * d  # (G, nodes)
    return (p * u.unsqueeze(-1) * d / denominator).sum(-1), (p * d / denominator ** 2).sum(-1)


def _solve(lam: torch.Tensor, depth: int, sigma_w2: float, orthogonal: bool, chi: float,
           d: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """:math:`t = \\psi_{JJ^T}(1/x)` at :math:`x = \\lambda(1 + i\\eta)`, each followed in from far
    above the real axis (imaginary part :math:`10^4\\lambda_{max}`), where :math:`w = -L\\ln\\chi_1`."""
    w = torch.full(lam.shape, -depth * math.log(chi), dtype=torch.complex128)
    final = _ETA * lam
    for height in np.geomspace(1e4 * float(lam.max()), float(final.min()), _PATH):
        x = lam + 1j * torch.clamp(final, min=float(height))
        for _ in range(_NEWTON):
            e = torch.exp(w)
            t = 1.0 / (x * e - 1.0)
            dt = -x * e * t * t
            if orthogonal:
                u = sigma_w2 * torch.exp(w / depth - w) / x
                du = u * (1.0 / depth - 1.0)
            else:
                u = sigma_w2 * torch.exp(w / depth) * t
                du = u / depth + sigma_w2 * torch.exp(w / depth) * dt
            psi, dpsi = _psi(u, d, p)
            step = (psi - t) / (dpsi * du - dt)
            w = w - _limit(torch.where(torch.isfinite(step), step, torch.zeros_like(step)), 2.0)
    return 1.0 / ((lam + 1j * final) * torch.exp(w) - 1.0)


def _limit(step: torch.Tensor, most: float) -> torch.Tensor:
    """``step`` shortened to modulus ``most`` at most (a damped Newton step)."""
    size = step.abs()
    return torch.where(size > most, step * (most / size.clamp(min=1e-300)), step)


def jacobian_spectrum(activation: str, sigma_w2: float, sigma_b2: float, depth: int, weights: str = "gaussian", *,
                      points: int = 400, lam_range: tuple[float, float] | None = None) -> JacobianSpectrum:
    r"""The free-probability density of the squared singular values of the input-output Jacobian
    of a depth-``depth`` network with ``activation`` (:data:`~weightinit.theory.activations.THEORY_ACTIVATIONS`),
    weights :math:`N(0, \sigma_w^2/N)` or :math:`\sigma_w` times an orthogonal matrix
    (``weights``), bias :math:`N(0, \sigma_b^2)`, inputs at the fixed point :math:`q^*` (module
    docstring; an unbounded :math:`q^*` is taken at :data:`~weightinit.theory.meanfield.Q_UNBOUNDED`,
    exact for ReLU and linear, whose :math:`\phi'` does not depend on it). ``points`` grid points
    log-spaced over ``lam_range`` (default: wide enough for the spectrum, from its closed-form
    moments).

    Examples:
        >>> spectrum = jacobian_spectrum("tanh", 1.0395, 1e-5, 16, "orthogonal")  # critical, q* = 0.02
        >>> round(spectrum.mean, 2), spectrum.share_within() > 0.99
        (1.0, True)
    """
    check_choice("weights", weights, WEIGHTS)
    check_positive_int("depth", depth)
    check_positive_int("points", points)
    field = mean_field(activation, sigma_w2, sigma_b2)
    mean, variance = spectrum_moments(activation, sigma_w2, sigma_b2, depth, weights)
    if lam_range is None:
        relative = math.sqrt(variance) / mean if mean > 0 else 1.0
        high = mean * max(8.0, 4 * math.e * (1 + relative ** 2))  # above the top edge (Fuss-Catalan: e(L+1))
        low = mean * (1e-10 if relative > 1 else min(1e-2, 1e-3 / (1 + relative ** 2) ** 2))  # deep Gaussian: tiny s
        lam_range = (low, high)
    low, high = (check_number("lam_range", v, minimum=0, strictly=True) for v in lam_range)
    if variance <= 1e-12 * mean ** 2:  # no spread: every lambda is the mean (orthogonal, linear)
        return JacobianSpectrum(activation, weights, depth, float(sigma_w2), float(sigma_b2), field.q_star,
                                field.chi_1, [mean], [math.inf], mean, 0.0, atom=mean)
    d, p = _d2_law(activation, min(field.q_star, Q_UNBOUNDED))  # unbounded q*: ReLU's and linear's d need no q
    lam = torch.from_numpy(np.geomspace(low, high, points))
    t = _solve(lam, depth, sigma_w2, weights == "orthogonal", max(field.chi_1, 1e-300), d, p)
    x = lam + 1j * _ETA * lam
    density = (-((1.0 + t) / x).imag / math.pi).clamp(min=0.0)
    return JacobianSpectrum(activation, weights, depth, float(sigma_w2), float(sigma_b2), field.q_star, field.chi_1,
                            lam.tolist(), density.tolist(), mean, variance)
