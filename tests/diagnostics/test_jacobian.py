"""The Jacobian's singular values against an explicit product of the layers' D W, an orthogonal
linear network's exact sigma_w^L, the spread's numbers on known values, and the refusals."""

import math

import pytest
import torch
from torch import nn

import weightinit as wi
from weightinit.diagnostics.jacobian import (
    JacobianSpread,
    hidden_stack,
    input_output_jacobian,
    jacobian_singular_values,
)
from weightinit.errors import UserError


def test_jacobian_is_the_product_of_the_layers():
    g = torch.Generator().manual_seed(0)
    model = wi.init_model(wi.mlp("12-16-16-16-5", "tanh"), "critical", generator=g)
    x = torch.randn(3, 12, generator=g)
    before = [p.clone() for p in model.parameters()]
    jac = input_output_jacobian(model, x)
    assert jac.shape == (3, 5, 12) and jac.dtype == torch.float64
    for b in range(3):  # J = W_out D_3 W_3 D_2 W_2 D_1 W_1, by hand
        h, product = x[b].double(), torch.eye(12, dtype=torch.float64)
        for layer in model:
            if isinstance(layer, nn.Linear):
                w = layer.weight.double()
                h, product = w @ h + layer.bias.double(), w @ product
            else:
                product, h = (1 - torch.tanh(h) ** 2)[:, None] * product, torch.tanh(h)
        torch.testing.assert_close(jac[b], product, rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(jacobian_singular_values(model, x)[b], torch.linalg.svdvals(product))
    assert all(torch.equal(a, p) for a, p in zip(before, model.parameters()))  # the model is left as it was
    assert next(model.parameters()).dtype == torch.float32


def test_orthogonal_linear_stack_is_an_exact_isometry_times_sigma_w_to_the_depth():
    g = torch.Generator().manual_seed(1)
    layers = []
    for _ in range(6):
        layer = nn.Linear(20, 20)
        wi.orthogonal_(layer.weight, gain=1.1, generator=g)
        layers.append(layer)
    s = jacobian_singular_values(nn.Sequential(*layers), torch.randn(4, 20, generator=g))
    # exact up to the float32 weights' own orthogonality (about 1e-7)
    torch.testing.assert_close(s, torch.full((4, 20), 1.1 ** 6, dtype=torch.float64), rtol=2e-6, atol=0)
    spread = JacobianSpread.of(s)
    assert spread.ratio == pytest.approx(1.0) and spread.share_within == 1.0 and spread.variance < 1e-10


def test_spread_numbers():
    spread = JacobianSpread.of(torch.tensor([[0.25, 1.0], [3.0, 2.0]]))
    assert spread.n == 4 and spread.ratio == pytest.approx(12.0) and spread.share_within == pytest.approx(0.5)
    assert spread.mean == pytest.approx((0.0625 + 1 + 9 + 4) / 4)
    assert JacobianSpread.of(torch.tensor([0.0, 1.0])).ratio == math.inf
    assert "within x2 of 1" in spread.text() and spread.to_dict()["n"] == 4


def test_hidden_stack_is_the_square_part():
    model = wi.mlp("30-8-8-8-8-4", "tanh")
    front, stack = hidden_stack(model)
    assert [type(m).__name__ for m in front] == ["Linear", "Tanh"]
    assert sum(isinstance(m, nn.Linear) for m in stack) == 3 and stack[0] is model[2]
    x = torch.randn(2, 30)
    torch.testing.assert_close(model[-1](stack(front(x))), model(x))
    with pytest.raises(UserError, match="3 or more Linear"):
        hidden_stack(wi.mlp("30-8-4", "tanh"))
    with pytest.raises(UserError, match="one width"):
        hidden_stack(wi.mlp("30-8-9-8-4", "tanh"))
    with pytest.raises(UserError, match="nn.Sequential"):
        hidden_stack(nn.Linear(3, 3))
    with pytest.raises(UserError, match="batch"):
        input_output_jacobian(model, torch.randn(30))


def test_critical_orthogonal_is_more_isometric_than_critical():
    g = torch.Generator().manual_seed(2)
    x = torch.randn(4, 64, generator=g)
    spreads = {}
    for init in ("critical", "critical_orthogonal"):
        model = wi.init_model(wi.mlp("64-" + "-".join(["96"] * 13) + "-10", "tanh"), init, generator=g)
        front, stack = hidden_stack(model)
        spreads[init] = JacobianSpread.of(jacobian_singular_values(stack, front(x)))
    assert spreads["critical_orthogonal"].share_within > 2 * spreads["critical"].share_within
    assert spreads["critical_orthogonal"].ratio < spreads["critical"].ratio
