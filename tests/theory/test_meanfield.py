"""The mean-field maps, fixed points and depth scales against their closed forms: ReLU's
arc-cosine kernel (Cho & Saul 2009) and erf's arcsine kernel (Williams 1997), to 1e-4 (they
agree to about 1e-8); tanh's against an independent integration by scipy."""

import math

import pytest
import torch
from scipy import integrate

from weightinit.errors import UserError
from weightinit.theory import mean_field
from weightinit.theory.meanfield import c_map, chi_1, chi_c, depth_scales, fixed_point_c, fixed_point_q, q_map

TOL = 1e-4


def relu_pair(q, c):  # E[relu(u1) relu(u2)], variance q, correlation c
    return q / (2 * math.pi) * (math.sqrt(1 - c * c) + (math.pi - math.acos(c)) * c)


def erf_pair(q, c):  # E[erf(u1) erf(u2)]
    return 2 / math.pi * math.asin(2 * q * c / (1 + 2 * q))


@pytest.mark.parametrize("w2,b2", [(1.2, 0.1), (1.9, 0.3), (0.5, 0.02)])
def test_relu_closed_forms(w2, b2):
    point = mean_field("relu", w2, b2)
    q = b2 / (1 - w2 / 2)
    assert point.q_star == pytest.approx(q, abs=TOL)
    assert point.chi_1 == pytest.approx(w2 / 2, abs=TOL)
    assert point.phase == "ordered" and point.c_star == 1.0
    assert point.xi_c == pytest.approx(-1 / math.log(w2 / 2), rel=TOL)
    for c in (-0.6, 0.0, 0.3, 0.9):
        assert float(c_map("relu", c, q, w2, b2)) == pytest.approx((w2 * relu_pair(q, c) + b2) / q, abs=TOL)
        assert float(chi_c("relu", w2, q, c)) == pytest.approx(w2 * (math.pi - math.acos(c)) / (2 * math.pi), abs=TOL)


def test_relu_above_two_has_no_fixed_point_with_a_bias():
    assert mean_field("relu", 2.5, 0.1).phase == "unbounded"
    assert math.isinf(float(fixed_point_q("relu", 2.5, 0.1)))


@pytest.mark.parametrize("w2,b2", [(1.0, 0.05), (2.5, 0.1), (4.0, 0.0)])
def test_erf_closed_forms(w2, b2):
    q = float(fixed_point_q("erf", w2, b2))
    assert q == pytest.approx(w2 * erf_pair(q, 1.0) + b2, abs=TOL)  # a fixed point of the closed-form map
    for c in (-0.5, 0.2, 0.8):
        assert float(c_map("erf", c, q, w2, b2)) == pytest.approx((w2 * erf_pair(q, c) + b2) / q, abs=TOL)
    # chi_1 = sigma_w² E[(2/sqrt(pi))² e^{-2h²}] = sigma_w² (4/pi) / sqrt(1 + 4q)
    assert float(chi_1("erf", w2, q)) == pytest.approx(w2 * 4 / math.pi / math.sqrt(1 + 4 * q), abs=TOL)


def _scipy_mean(f, q):
    value, _ = integrate.quad(lambda z: f(math.sqrt(q) * z) * math.exp(-z * z / 2) / math.sqrt(2 * math.pi),
                              -12, 12, epsabs=1e-13, limit=200)
    return value


def test_tanh_against_scipy():
    w2, b2 = 2.2, 0.07
    q = float(fixed_point_q("tanh", w2, b2))
    assert q == pytest.approx(w2 * _scipy_mean(lambda h: math.tanh(h) ** 2, q) + b2, abs=1e-8)
    assert float(chi_1("tanh", w2, q)) == pytest.approx(w2 * _scipy_mean(lambda h: 1 / math.cosh(h) ** 4, q),
                                                       abs=1e-8)
    assert float(q_map("tanh", 0.7, w2, b2)) == pytest.approx(w2 * _scipy_mean(lambda h: math.tanh(h) ** 2, 0.7) + b2,
                                                             abs=1e-8)


def test_chaotic_phase_has_a_stable_correlation_below_one():
    point = mean_field("tanh", 3.0, 0.05)
    assert point.phase == "chaotic" and 0 < point.c_star < 1
    assert float(c_map("tanh", point.c_star, point.q_star, 3.0, 0.05)) == pytest.approx(point.c_star, abs=1e-9)
    assert 0 < point.chi_c < 1 and point.xi_c == pytest.approx(-1 / math.log(point.chi_c))


def test_depth_scale_of_q_is_the_slope_of_the_variance_map():
    w2, b2 = 1.5, 0.05
    q = fixed_point_q("tanh", w2, b2)
    eps = 1e-5
    slope = (q_map("tanh", q + eps, w2, b2) - q_map("tanh", q - eps, w2, b2)) / (2 * eps)
    xi_q, _ = depth_scales("tanh", w2, b2, q, fixed_point_c("tanh", w2, b2, q))
    assert float(xi_q) == pytest.approx(float(-1 / torch.log(slope)), rel=1e-5)


def test_xi_c_diverges_at_the_critical_line():
    below, near, above = (mean_field("tanh", w2, 0.05).xi_c for w2 in (1.6, 1.76, 1.95))
    assert near > 100 * max(below, above)


def test_refusals_name_the_parameter():
    with pytest.raises(UserError, match="activation='cosine' is not supported"):
        mean_field("cosine", 1.0, 0.0)
    with pytest.raises(UserError, match="sigma_b2 must be >= 0"):
        mean_field("tanh", 1.0, -0.1)
    with pytest.raises(UserError, match="sigma_w2 must be > 0"):
        mean_field("tanh", 0.0, 0.1)
