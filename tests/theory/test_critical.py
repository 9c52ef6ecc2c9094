"""The critical line: closed forms (ReLU 2, linear 1, tanh and erf at sigma_b = 0) to 1e-4,
chi_1 = 1 on it, and the paper's tanh point (Schoenholz et al. 2017, Figure 5: sigma_w² ~ 1.76
at sigma_b² = 0.05)."""

import math

import pytest
import torch

from weightinit.errors import UserError
from weightinit.theory import critical_point, critical_sigma_w2, mean_field
from weightinit.theory.phase import phase_diagram


@pytest.mark.parametrize("activation,expected", [("relu", 2.0), ("linear", 1.0), ("tanh", 1.0),
                                                 ("erf", math.pi / 4)])
def test_closed_forms_at_zero_bias(activation, expected):
    assert float(critical_sigma_w2(activation, 0.0)) == pytest.approx(expected, abs=1e-4)


def test_tanh_line_passes_the_papers_point_and_rises():
    line = critical_sigma_w2("tanh", torch.tensor([0.0, 0.05, 0.1, 0.2]))
    assert float(line[1]) == pytest.approx(1.76, abs=0.01)
    assert bool((line[1:] > line[:-1]).all())


@pytest.mark.parametrize("b2", [0.02, 0.05, 0.3])
def test_chi_1_is_one_on_the_line(b2):
    point = critical_point("tanh", b2)
    assert mean_field("tanh", point.sigma_w2, b2).chi_1 == pytest.approx(1.0, abs=1e-6)


def test_phase_diagram_puts_the_phases_on_either_side():
    diagram = phase_diagram("tanh", [1.2, 1.76, 3.0], [0.05, 0.1])
    assert diagram.chi_1[0][0] < 1 < diagram.chi_1[0][2]
    assert diagram.critical_w2[0] == pytest.approx(1.761, abs=1e-3)
    assert diagram.xi_c[0][1] > 100 * diagram.xi_c[0][0]


def test_no_critical_point_is_refused():
    with pytest.raises(UserError, match="sigmoid.*no critical point"):
        critical_sigma_w2("sigmoid", 0.05)
