"""weightinit's muP against microsoft/mup (the ``mup`` package, installed --no-deps by make install),
on mup's own MLP example (examples/MLP/main.py: 3072 -> width -> width -> 10, no biases, tanh,
kaiming_normal_(a=1, mode="fan_in"), a MuReadout head). CPU."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from weightinit.parametrize import param_groups, parametrize

mup = pytest.importorskip("mup")

BASE, WIDTH = 64, 256


class ExampleMLP(nn.Module):
    """mup's example MLP; ``readout`` the class of fc_3 (mup.MuReadout there, nn.Linear here)."""

    def __init__(self, width: int, readout: type = nn.Linear) -> None:
        super().__init__()
        self.fc_1 = nn.Linear(3072, width, bias=False)
        self.fc_2 = nn.Linear(width, width, bias=False)
        self.fc_3 = readout(width, 10, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc_3(torch.tanh(self.fc_2(torch.tanh(self.fc_1(x)))))


def reference(width: int, seed: int, zero_readout: bool) -> nn.Module:
    """The example as mup's main.py builds it: its reset_parameters, then set_base_shapes."""
    torch.manual_seed(seed)
    model = ExampleMLP(width, mup.MuReadout)
    nn.init.kaiming_normal_(model.fc_1.weight, a=1, mode="fan_in")
    nn.init.kaiming_normal_(model.fc_2.weight, a=1, mode="fan_in")
    if zero_readout:
        nn.init.zeros_(model.fc_3.weight)
    mup.set_base_shapes(model, ExampleMLP(BASE, mup.MuReadout), delta=ExampleMLP(BASE + 1, mup.MuReadout))
    return model


def ours(width: int, seed: int, zero_readout: bool):
    with torch.device("meta"):
        base = ExampleMLP(BASE)
    model = ExampleMLP(width)
    # kaiming_normal_(a=1, fan_in) is N(0, 1/fan_in): LeCun's normal
    plan = parametrize(model, "mup", base=base, scheme="lecun_normal", zero_readout=zero_readout,
                       generator=torch.Generator().manual_seed(seed))
    return model, plan


def _lrs(groups) -> dict[int, float]:
    return {id(p): group["lr"] for group in groups for p in group["params"]}


def test_init_std_matches_the_reference_at_every_parameter():
    ref = reference(WIDTH, 0, zero_readout=True)  # as the example: fc_3 starts at 0
    model, plan = ours(WIDTH, 0, zero_readout=True)
    with torch.no_grad():
        for name in ("fc_1.weight", "fc_2.weight"):
            assert plan.row(name).std == pytest.approx(float(ref.get_parameter(name).std()), rel=0.01), name
        assert float(model.fc_3.weight.abs().max()) == float(ref.fc_3.weight.abs().max()) == 0.0


def test_a_drawn_readout_is_the_base_std_over_the_width_multiplier():
    """mup keeps the readout at its base std and divides its output by m in forward; weightinit
    absorbs the 1/m: N(0, 1/64) at the base, / 4 at width 256."""
    model, plan = ours(WIDTH, 0, zero_readout=False)
    row = plan.row("fc_3.weight")
    assert (row.kind, row.m_in, row.multipliers.init) == ("readout", WIDTH / BASE, BASE / WIDTH)
    assert row.std == pytest.approx(1 / math.sqrt(BASE) * BASE / WIDTH, rel=0.05)  # 2,560 values


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_learning_rates_match_the_reference(optimizer):
    ref = reference(WIDTH, 0, zero_readout=True)
    model, plan = ours(WIDTH, 0, zero_readout=True)
    make = mup.MuSGD if optimizer == "sgd" else mup.MuAdam
    ref_lrs = _lrs(make(ref.parameters(), lr=0.1).param_groups)
    our_lrs = _lrs(param_groups(model, plan, lr=0.1, optimizer=optimizer))
    for name in ("fc_1.weight", "fc_2.weight"):
        assert our_lrs[id(model.get_parameter(name))] == pytest.approx(ref_lrs[id(ref.get_parameter(name))]), name
    # the readout: mup's lr with its forward multiplier a = 1/m absorbed (SGD x a², Adam x a)
    a = BASE / WIDTH
    absorbed = a * a if optimizer == "sgd" else a
    assert our_lrs[id(model.fc_3.weight)] == pytest.approx(ref_lrs[id(ref.fc_3.weight)] * absorbed)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_training_follows_the_reference_step_for_step(optimizer):
    """Same initial function, five steps of MuSGD/MuAdam against torch's SGD/Adam over
    param_groups: the same logits at every step (the absorbed multiplier changes nothing)."""
    ref = reference(WIDTH, 1, zero_readout=False)
    model, plan = ours(WIDTH, 1, zero_readout=False)
    with torch.no_grad():
        model.fc_1.weight.copy_(ref.fc_1.weight)
        model.fc_2.weight.copy_(ref.fc_2.weight)
        model.fc_3.weight.copy_(ref.fc_3.weight / ref.fc_3.width_mult())  # the forward multiplier, absorbed
    x = torch.randn(32, 3072, generator=torch.Generator().manual_seed(2))
    y = torch.randint(0, 10, (32,), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        start = ref(x)
    lr = 0.05 if optimizer == "sgd" else 3e-3
    if optimizer == "sgd":
        ref_opt = mup.MuSGD(ref.parameters(), lr=lr)
        opt = torch.optim.SGD(param_groups(model, plan, lr=lr, optimizer="sgd"))
    else:
        ref_opt = mup.MuAdam(ref.parameters(), lr=lr, eps=1e-4)  # an eps that matters, to check its scaling
        opt = torch.optim.Adam(param_groups(model, plan, lr=lr, optimizer="adam", eps=1e-4))
    for step in range(5):
        for net, o in ((ref, ref_opt), (model, opt)):
            o.zero_grad()
            F.cross_entropy(net(x), y).backward()
            o.step()
        torch.testing.assert_close(model(x), ref(x), rtol=1e-4, atol=1e-5, msg=f"step {step + 1}")
    with torch.no_grad():
        assert float((model(x) - start).abs().mean()) > 0.05  # it trained: the check compares real steps
