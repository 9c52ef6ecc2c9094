"""train_lr_grid: R copies of one model with their own learning rates, stacked. CPU."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

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
