"""param_groups' names and the optimizer they are for: a wrapper's prefix comes off only where the
model is that wrapper, and make_optimizer refuses groups made for another optimizer. CPU."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import weightinit as wi
from weightinit.data.datasets import Split
from weightinit.errors import UserError
from weightinit.models import mlp
from weightinit.parametrize import param_groups, parametrize, plain_name
from weightinit.training import OptimizerSettings, TrainConfig, make_optimizer


class Holder(nn.Module):
    """A model whose own submodule is called ``module`` (as DDP's wrapped model is)."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.module = mlp([20, width, width, 5], "relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.module(x)


def planned(build, width: int = 128):
    model = build(width)
    return model, parametrize(model, "mup", base=lambda: build(32), generator=torch.Generator().manual_seed(0))


def rates(groups) -> dict[str, float]:
    return {name: group["lr"] for group in groups for name in group["param_names"]}


def test_a_submodule_called_module_keeps_its_name_and_a_wrappers_prefix_comes_off():
    model, plan = planned(Holder)
    own = rates(param_groups(model, plan, lr=1e-3))
    assert sorted(own) == sorted(name for name, _ in model.named_parameters())  # "module.0.weight", ...
    assert own["module.2.weight"] == pytest.approx(1e-3 / 4)  # the hidden layer
    assert plain_name("module.2.weight", model) == "module.2.weight"
    wrapped = nn.DataParallel(model)  # "module.module.2.weight": one prefix is the wrapper's
    compiled = torch.compile(wrapped, backend="eager")  # "_orig_mod.module.module.2.weight"
    for outer in (wrapped, compiled):
        assert rates(param_groups(outer, plan, lr=1e-3)) == own
    assert plain_name("_orig_mod.module.module.2.weight", compiled) == "module.2.weight"


def test_make_optimizer_refuses_groups_made_for_another_optimizer():
    model, plan = planned(lambda w: mlp([20, w, w, 5], "relu"))
    sgd, adam = (param_groups(model, plan, lr=1e-3, optimizer=o) for o in ("sgd", "adam"))
    with pytest.raises(UserError, match="made for optimizer='sgd'.*optimizer is 'adam'"):
        make_optimizer(sgd, OptimizerSettings("adam", 1e-3))
    assert {g["made_for"] for g in sgd} == {"sgd"}
    with pytest.raises(UserError, match="made for optimizer='adam'.*optimizer is 'sgd'"):
        make_optimizer(adam, OptimizerSettings("sgd", 1e-3))
    x, y = torch.randn(32, 20), torch.randint(0, 5, (32,))
    with pytest.raises(UserError, match="made for optimizer='sgd'"):
        wi.fit(model, Split(x, y), TrainConfig(epochs=1, batch_size=16, device="cpu"), param_groups=sgd)
    decoupled = param_groups(model, plan, lr=1e-3, optimizer="adamw", weight_decay=0.1)
    with pytest.raises(UserError, match="torch.optim.Adam, whose weight_decay is L2"):
        make_optimizer(decoupled, OptimizerSettings("adam", 1e-3))
    for groups, optimizer in ((adam, "adam"), (sgd, "sgd"), (param_groups(model, plan, lr=1e-3, optimizer="adamw"),
                                                             "adam")):
        made = make_optimizer(groups, OptimizerSettings(optimizer, 1e-3))
        assert rates(made.param_groups) == rates(groups)
