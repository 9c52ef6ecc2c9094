"""train_lr_grid: R copies of one model with their own learning rates, stacked. CPU."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from weightinit.data.datasets import Split
from weightinit.errors import UserError
from weightinit.models import mlp
from weightinit.models.gpt import GPT
from weightinit.training.lr_grid import train_lr_grid


def data(n: int = 96) -> tuple[Split, Split]:
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(n, 12, generator=g), torch.randint(0, 3, (n,), generator=g)
    return Split(x, y), Split(x[:32], y[:32])


def model(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return mlp([12, 16, 3], "relu")


def test_one_run_is_torch_adam_on_the_same_batches():
    train, held = data()
    net = model()
    result = train_lr_grid(net, [3e-3], train, held, steps=12, batch_size=16, seed=5, every=4)
    ref = model()
    optimizer = torch.optim.Adam(ref.parameters(), lr=3e-3, foreach=False)
    order = torch.Generator().manual_seed(5)
    permutation, cursor = torch.randperm(len(train), generator=order), 0
    for _ in range(12):
        if cursor + 16 > len(train):
            permutation, cursor = torch.randperm(len(train), generator=order), 0
        rows = permutation[cursor:cursor + 16]
        cursor += 16
        optimizer.zero_grad()
        F.cross_entropy(ref(train.x[rows]), train.y[rows]).backward()
        optimizer.step()
    with torch.no_grad():
        expected = float(F.cross_entropy(ref(held.x), held.y))
    assert result.final_loss[0] == pytest.approx(expected, rel=1e-5)
    assert len(result.curves[0]) == 3 and not result.diverged[0]
    assert float(next(net.parameters()).detach().abs().sum()) == float(next(model().parameters()).detach().abs().sum())


def test_stacked_equals_one_after_another_and_a_diverging_run_leaves_the_others_alone():
    train, held = data()
    rates = [1e-3, 1e-2]
    stacked = train_lr_grid(model(), rates, train, held, steps=10, batch_size=16, seed=1)
    looped = train_lr_grid(model(), rates, train, held, steps=10, batch_size=16, seed=1, stacked=False)
    assert stacked.final_loss == pytest.approx(looped.final_loss, rel=1e-5)
    with_blowup = train_lr_grid(model(), [*rates, 1e9], train, held, steps=10, batch_size=16, seed=1)
    assert with_blowup.diverged == [False, False, True] and math.isnan(with_blowup.final_loss[2])
    assert with_blowup.final_loss[:2] == pytest.approx(stacked.final_loss, rel=1e-5)


class OverflowingGain(nn.Module):
    """``tanh(h cosh(s))``: once a step throws s far from 0, cosh(s) is inf, the output still
    ±1 (a finite loss), and the gradient 0 x inf = NaN: an overflow in the backward pass alone."""

    def __init__(self) -> None:
        super().__init__()
        self.s = nn.Parameter(torch.ones(()))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return torch.tanh(h * torch.cosh(self.s))


def gained() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(12, 16), OverflowingGain(), nn.Linear(16, 3))


def test_a_run_whose_gradient_overflows_diverges_and_the_others_train_as_alone():
    """Its loss stays finite (a few thousand), its gradient is NaN from step 2: diverged (its loss NaN,
    its curve NaN from there), not trained on with the NaN entries read as 0."""
    train, held = data()
    grid = train_lr_grid(gained(), [1e-3, 1e-2, 1e3], train, held, steps=8, batch_size=16, seed=1, every=1)
    assert grid.diverged == [False, False, True] and math.isnan(grid.final_loss[2])
    assert math.isfinite(grid.curves[2][0]) and all(math.isnan(v) for v in grid.curves[2][1:])
    for r, lr in enumerate([1e-3, 1e-2]):
        alone = train_lr_grid(gained(), [lr], train, held, steps=8, batch_size=16, seed=1, every=1)
        assert grid.final_loss[r] == pytest.approx(alone.final_loss[0], rel=1e-6)
        assert grid.curves[r] == pytest.approx(alone.curves[0], rel=1e-6)


def test_a_run_blown_up_by_its_last_update_is_diverged():
    """The evaluation after the last step reads its loss: inf or NaN there is a divergence too."""
    train, held = data()
    grid = train_lr_grid(model(), [1e-3, 1e20], train, held, steps=1, batch_size=16, seed=1)
    alone = train_lr_grid(model(), [1e-3], train, held, steps=1, batch_size=16, seed=1)
    assert grid.diverged == [False, True] and math.isnan(grid.final_loss[1])
    assert grid.final_loss[0] == pytest.approx(alone.final_loss[0], rel=1e-6)


def test_multipliers_scale_each_parameters_rate():
    train, held = data()
    net = model()
    frozen = {name: (0.0, 1.0) for name, _ in net.named_parameters() if name.startswith("0.")}
    before = train_lr_grid(net, [1e-2], train, held, steps=5, batch_size=16, seed=0, multipliers=frozen)
    free = train_lr_grid(net, [1e-2], train, held, steps=5, batch_size=16, seed=0)
    assert before.final_loss[0] != pytest.approx(free.final_loss[0], rel=1e-4)


def test_a_sequence_model_runs_one_copy_after_another():
    windows = torch.randint(0, 11, (40, 9), generator=torch.Generator().manual_seed(0))
    train = Split(windows[:, :-1], windows[:, 1:])
    torch.manual_seed(0)
    result = train_lr_grid(GPT(11, layers=1, width=16, heads=2, context=8), [1e-3, 3e-3], train,
                           Split(train.x[:8], train.y[:8]), steps=4, batch_size=8, seed=0, stacked=False)
    assert all(math.isfinite(v) and v < math.log(11) + 1 for v in result.final_loss)


def test_bad_input():
    train, held = data()
    with pytest.raises(UserError, match="lrs"):
        train_lr_grid(model(), [], train, held, steps=1, batch_size=4, seed=0)
    with pytest.raises(UserError, match="steps"):
        train_lr_grid(model(), [1e-3], train, held, steps=0, batch_size=4, seed=0)
