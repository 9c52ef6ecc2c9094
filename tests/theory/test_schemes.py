"""The schemes the theory adds: delta_orthogonal_ (orthogonal centre tap, zeros elsewhere,
seeded), and "critical" / "critical_orthogonal", whose plan says where each layer went."""

import math

import pytest
import torch
from scipy import stats
from torch import nn

import weightinit as wi
from weightinit.errors import UserError
from weightinit.init import delta_orthogonal_


@pytest.mark.parametrize("shape", [(16, 8, 3), (16, 16, 3, 3), (12, 8, 3, 3, 3), (8, 16, 5, 5), (9, 4)])
def test_delta_orthogonal_is_orthogonal_at_the_centre_only(shape):
    w = delta_orthogonal_(torch.empty(shape, dtype=torch.float64), 1.5, torch.Generator().manual_seed(0))
    centre = tuple(k // 2 for k in shape[2:])
    middle = w[(slice(None), slice(None), *centre)]
    gram = middle.T @ middle if shape[0] >= shape[1] else middle @ middle.T
    torch.testing.assert_close(gram, 2.25 * torch.eye(min(shape[:2]), dtype=torch.float64), atol=1e-6, rtol=0)
    assert float(w.abs().sum() - middle.abs().sum()) == 0.0


def test_delta_orthogonal_is_seeded_and_checked():
    a, b = (delta_orthogonal_(torch.empty(8, 8, 3, 3), 1.0, torch.Generator().manual_seed(3)) for _ in range(2))
    assert torch.equal(a, b)
    with pytest.raises(UserError, match="gain must be >= 0"):
        delta_orthogonal_(torch.empty(8, 8, 3), -1.0)
    with pytest.raises(UserError, match="2-, 3-, 4- or 5-D"):
        delta_orthogonal_(torch.empty(8))


def test_delta_orthogonal_conv_keeps_the_norm_of_a_signal():
    conv = nn.Conv2d(8, 8, 3, padding=1, bias=False)
    wi.init_model(conv, "delta_orthogonal", nonlinearity="linear", generator=torch.Generator().manual_seed(0))
    x = torch.randn(2, 8, 6, 6)
    assert float(conv(x).detach().norm()) == pytest.approx(float(x.norm()), rel=1e-5)


def test_critical_plan_says_where_each_layer_went():
    model = wi.mlp("40-300-300-10", "tanh")
    plan = wi.plan_init(model, "critical").apply(torch.Generator().manual_seed(0))
    rows = {f"{r.module}.{r.parameter}": r for r in plan.rows}
    assert "sigma_w²=1.761" in rows["0.weight"].rule and "sigma_b²=0.05" in rows["0.weight"].rule
    assert rows["0.weight"].gain == pytest.approx(math.sqrt(1.761), abs=1e-3)
    assert "linear critical" in rows["4.weight"].rule
    # the draws: N(0, 1.761/300) weights (Kolmogorov-Smirnov), N(0, 0.05) biases
    w = model[2].weight.detach().flatten().double().numpy()
    assert stats.kstest(w, "norm", args=(0, math.sqrt(1.7610 / 300))).pvalue > 1e-4
    assert float(model[2].bias.detach().std()) == pytest.approx(math.sqrt(0.05), rel=0.25)


def test_critical_orthogonal_and_relu():
    model = wi.mlp("64-64-64-10", "relu")
    wi.init_model(model, "critical_orthogonal", generator=torch.Generator().manual_seed(0))
    w = model[2].weight.detach().double()
    torch.testing.assert_close(w @ w.T, 2.0 * torch.eye(64, dtype=torch.float64), atol=1e-5, rtol=0)
    assert float(model[2].bias.detach().abs().max()) == 0.0  # ReLU's line: sigma_b = 0


def test_critical_refuses_what_the_theory_does_not_cover():
    with pytest.raises(UserError, match="Linear and convolution layers only"):
        wi.plan_init(nn.Sequential(nn.Embedding(10, 8), nn.Linear(8, 2)), "critical")
    with pytest.raises(UserError, match="followed by leaky_relu"):
        wi.plan_init(nn.Sequential(nn.Linear(8, 8), nn.LeakyReLU(), nn.Linear(8, 2)), "critical")
