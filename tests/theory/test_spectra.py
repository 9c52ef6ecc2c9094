"""The free-probability spectrum of the Jacobian against closed forms (the moments of Pennington
et al. 2017, the Fuss-Catalan law's top edge) and against the singular values of Jacobians of
sampled random networks, computed here by explicit products (not by weightinit.diagnostics)."""

import math

import numpy as np
import pytest
import torch

from weightinit.theory.critical import critical_point
from weightinit.theory.spectra import d2_moments, jacobian_spectrum, spectrum_moments

TANH = critical_point("tanh", 0.05)  # sigma_w² = 1.761, q* = 0.57: D² spread enough to matter


def _sampled(activation: str, sigma_w2: float, sigma_b2: float, q_star: float, depth: int, width: int, weights: str,
             draws: int, seed: int = 0) -> np.ndarray:
    """Squared singular values of J = prod D_l W_l of ``draws`` random networks, inputs at q*."""
    g = torch.Generator().manual_seed(seed)
    phi = {"tanh": torch.tanh, "linear": lambda h: h}[activation]
    dphi = {"tanh": lambda h: 1 - torch.tanh(h) ** 2, "linear": torch.ones_like}[activation]
    out = []
    for _ in range(draws):
        x = phi(math.sqrt(q_star) * torch.randn(width, generator=g, dtype=torch.float64))
        jac = torch.eye(width, dtype=torch.float64)
        for _ in range(depth):
            if weights == "gaussian":
                w = torch.randn(width, width, generator=g, dtype=torch.float64) * math.sqrt(sigma_w2 / width)
            else:
                q, r = torch.linalg.qr(torch.randn(width, width, generator=g, dtype=torch.float64))
                w = q * torch.sign(torch.diagonal(r)) * math.sqrt(sigma_w2)
            h = w @ x + math.sqrt(sigma_b2) * torch.randn(width, generator=g, dtype=torch.float64)
            jac, x = (dphi(h)[:, None] * w) @ jac, phi(h)
        out.append(torch.linalg.svdvals(jac) ** 2)
    return torch.cat(out).numpy()


def _numeric_moments(spectrum) -> tuple[float, float]:
    lam, rho = np.asarray(spectrum.lam), np.asarray(spectrum.density)
    m1, m2 = np.trapezoid(lam * rho, lam), np.trapezoid(lam * lam * rho, lam)
    return m1, m2 - m1 * m1


@pytest.mark.parametrize("weights", ["gaussian", "orthogonal"])
def test_density_has_the_closed_form_moments(weights):
    # the density, solved from the S-transforms, integrates to E[lambda] = chi_1^L = 1 and the paper's variance
    spectrum = jacobian_spectrum("tanh", TANH.sigma_w2, TANH.sigma_b2, 10, weights, points=500, lam_range=(1e-12, 80.0))
    mu1, mu2 = d2_moments("tanh", TANH.q_star)
    expected_var = 10 * (mu2 / mu1 ** 2 - 1 + (1 if weights == "gaussian" else 0))
    assert spectrum.mean == pytest.approx(1.0, abs=1e-6)  # on the critical line
    assert spectrum.variance == pytest.approx(expected_var, rel=1e-9)
    mean, var = _numeric_moments(spectrum)
    assert mean == pytest.approx(1.0, abs=0.01)  # the grid's trapezoids, eta = 1e-6, the grid ending at 80 (edge 39)
    assert var == pytest.approx(expected_var, rel=0.03)


def test_linear_networks_fuss_catalan_and_isometry():
    # Gaussian: the Fuss-Catalan law, variance L and top edge (L+1)^(L+1)/L^L; orthogonal: all at sigma_w^(2L)
    for depth in (3, 10):
        mean, var = spectrum_moments("linear", 1.0, 0.0, depth, "gaussian")
        assert (mean, var) == pytest.approx((1.0, float(depth)))
        spectrum = jacobian_spectrum("linear", 1.0, 0.0, depth, "gaussian", points=800, lam_range=(1e-6, 60.0))
        edge = (depth + 1) ** (depth + 1) / depth ** depth
        assert spectrum.lambda_max == pytest.approx(edge, rel=0.02)  # the density is 0 above it (grid step 1.7%)
    orthogonal = jacobian_spectrum("linear", 1.44, 0.0, 7, "orthogonal")
    assert orthogonal.atom == pytest.approx(1.44 ** 7) and orthogonal.variance == 0
    assert orthogonal.share_within() == 0.0 and orthogonal.spread() == 1.0  # every s is 1.2^7 = 3.6 > 2
    assert jacobian_spectrum("linear", 1.0, 0.0, 7, "orthogonal").share_within() == 1.0


def test_gaussian_spread_grows_with_depth_orthogonal_stays_small():
    means, gaussian, orthogonal = [], [], []
    for depth in (10, 40):
        mean_g, var_g = spectrum_moments("tanh", TANH.sigma_w2, TANH.sigma_b2, depth, "gaussian")
        _, var_o = spectrum_moments("tanh", TANH.sigma_w2, TANH.sigma_b2, depth, "orthogonal")
        means.append(mean_g)
        gaussian.append(var_g)
        orthogonal.append(var_o)
    assert means == pytest.approx([1.0, 1.0], abs=1e-5)
    assert gaussian[1] / gaussian[0] == pytest.approx(4.0)  # linear in L
    assert orthogonal[0] < gaussian[0] / 3  # what D² varies only: 0.34 L against 1.34 L
    small = critical_point("tanh", 1e-5)  # q* = 0.02: D² nearly constant, nearly isometric at 200 layers
    assert spectrum_moments("tanh", small.sigma_w2, small.sigma_b2, 200, "orthogonal")[1] < 1
    assert spectrum_moments("tanh", small.sigma_w2, small.sigma_b2, 200, "gaussian")[1] > 199
    deep = jacobian_spectrum("tanh", small.sigma_w2, small.sigma_b2, 200, "orthogonal", points=300)
    assert deep.share_within() > 0.8 and deep.lambda_max < 5


@pytest.mark.parametrize("weights,depth", [("gaussian", 10), ("orthogonal", 10), ("gaussian", 30),
                                           ("orthogonal", 30)])
def test_density_matches_sampled_jacobians(weights, depth):
    # 200 units, 3 draws: 600 eigenvalues. The distance allowed, 0.04 in the distribution function,
    # is 3x the largest measured at 300 units (0.013, tanh orthogonal at depth 50; the finite-width
    # correction grows as L/N); Gaussian and orthogonal swapped are >= 0.2 apart.
    lam = _sampled("tanh", TANH.sigma_w2, TANH.sigma_b2, TANH.q_star, depth, 200, weights, draws=3)
    spectrum = jacobian_spectrum("tanh", TANH.sigma_w2, TANH.sigma_b2, depth, weights, points=400)
    grid = np.geomspace(1e-3, 50 * depth, 200)  # float64 resolves lambda down to 1e-16 of the largest: stay above
    measured = np.searchsorted(np.sort(lam), grid, side="right") / len(lam)
    assert np.abs(measured - spectrum.cdf(grid)).max() < 0.04
    other = jacobian_spectrum("tanh", TANH.sigma_w2, TANH.sigma_b2, depth,
                              "orthogonal" if weights == "gaussian" else "gaussian", points=400)
    assert np.abs(measured - other.cdf(grid)).max() > 0.1
    share = ((lam >= 0.25) & (lam <= 4)).mean()
    assert share == pytest.approx(spectrum.share_within(), abs=0.05)
    assert lam.max() < 1.5 * spectrum.lambda_max  # nothing measured far beyond the predicted edge


def test_refusals():
    with pytest.raises(ValueError, match="weights"):
        jacobian_spectrum("tanh", 1.0, 0.0, 3, "uniform")
    with pytest.raises(ValueError, match="activation"):
        jacobian_spectrum("cosine", 1.0, 0.0, 3)
    with pytest.raises(ValueError, match="depth"):
        spectrum_moments("tanh", 1.0, 0.0, 0)
