"""The coordinate check's engine (weightinit.diagnostics.coordcheck): what it records and when, the
slope, the families, that muP passes and SP fails, that planted mistakes are flagged where they
were planted, and that it gives the mup package's models the slopes it gives weightinit's. CPU,
Gaussian inputs (no data set)."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
from torch import nn

from weightinit.diagnostics.coordcheck import (
    STABLE_SLOPE,
    coord_check,
    loglog_slope,
    record_coordinates,
    verdict,
    violates,
)
from weightinit.errors import UserError
from weightinit.experiments._widths import planned_model
from weightinit.models.gpt import GPT
from weightinit.parametrize import param_groups

WIDTHS = (64, 128, 256, 512)
SEEDS = (0, 1, 2)


@pytest.fixture(scope="module")
def batch():
    g = torch.Generator().manual_seed(0)
    return torch.randn(64, 784, generator=g), torch.randint(0, 10, (64,), generator=g)


def mlp_check(batch, parametrization="mup", *, lr=3e-3, optimizer="adam", rows=None, scale=None, steps=3):
    """The coordinate check of the width experiments' MLP (784-w-w-10, base width 64); ``rows``:
    {parameter: function of its row -> fields of Multipliers to replace} (a planted mistake in
    the plan's learning rates), ``scale``: {parameter: function of the width -> factor} applied to
    the weights after init (a planted mistake in the init)."""

    def build(width, seed):
        model, plan = planned_model("mlp", width, 10, parametrization, seed)
        for row in plan.rows:
            if rows and row.name in rows:
                row.multipliers = dataclasses.replace(row.multipliers, **rows[row.name](row))
        with torch.no_grad():
            for name, factor in (scale or {}).items():
                model.get_parameter(name).mul_(factor(width))
        groups = param_groups(model, plan, lr=lr, optimizer=optimizer)
        return model, (torch.optim.Adam(groups) if optimizer == "adam" else torch.optim.SGD(groups))

    return coord_check(build, WIDTHS, batch, steps=steps, seeds=SEEDS)


def failing_families(check, measures=("size", "change")) -> set[str]:
    return {f.family for f in check.failures(steps=range(check.steps + 1), measures=measures)}


def test_the_slope_is_the_least_squares_exponent():
    widths = [64, 128, 256, 512]
    assert loglog_slope(widths, [3 * w ** 0.5 for w in widths]) == pytest.approx(0.5)
    assert loglog_slope(widths, [7.0] * 4) == pytest.approx(0.0)
    # noisy: the slope of the least-squares line, recomputed with numpy's polyfit
    import numpy as np

    values = [1.0, 2.5, 3.0, 9.0]
    expected = np.polyfit(np.log(widths), np.log(values), 1)[0]
    assert loglog_slope(widths, values) == pytest.approx(expected)
    assert math.isnan(loglog_slope(widths, [1.0, 0.0, 1.0, 1.0]))
    assert (verdict(0.1), verdict(0.11), verdict(-0.2), verdict(math.nan)) == ("stable", "grows", "shrinks", "nan")
    # the readout and the attention logits may shrink (muP's start at width^-1/2), no faster;
    # every other module must stay put
    assert not violates("readout", -0.5) and violates("readout", 0.2) and violates("hidden", -0.2)
    assert not violates("attention logits", -0.6) and violates("attention logits", -0.61)  # not below -1/2


def test_step_0_is_at_init_and_step_t_after_t_updates():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 3))
    x, y = torch.randn(4, 5), torch.tensor([0, 1, 2, 0])
    with torch.no_grad():
        reference = [float(model[0](x).abs().mean())]
    snapshot = [p.detach().clone() for p in model.parameters()]
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    records, readout = record_coordinates(model, optimizer, (x, y), steps=2)
    # replay by hand: the same two SGD steps
    replay = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 3))
    with torch.no_grad():
        for p, q in zip(replay.parameters(), snapshot):
            p.copy_(q)
    sgd = torch.optim.SGD(replay.parameters(), lr=0.5)
    first = replay[0](x).detach()
    for _ in range(2):
        sgd.zero_grad()
        nn.functional.cross_entropy(replay(x), y).backward()
        sgd.step()
        reference.append(float(replay[0](x).detach().abs().mean()))
    assert [c for c, _ in records["0"]] == pytest.approx(reference, rel=1e-6)
    assert records["0"][0][1] == 0.0
    assert records["0"][2][1] == pytest.approx(float((replay[0](x).detach() - first).abs().mean()), rel=1e-5)
    assert list(records) == ["0", "1", "2"] and readout == "2"
    assert not model[0]._forward_hooks  # hooks removed


def test_families_of_a_gpt_and_its_attention_logits():
    def build(width, seed):
        torch.manual_seed(seed)
        model = GPT(30, layers=2, width=width, heads=4, context=8)
        return model, torch.optim.Adam(model.parameters(), lr=1e-3)

    x = torch.randint(0, 30, (2, 8))
    check = coord_check(build, [32, 64], (x, torch.randint(0, 30, (2, 8))), steps=1, seeds=[0])
    families = {m.name: m.family for m in check.modules}
    assert families["token"] == families["position"] == "input"
    assert families["blocks.0.attention.query"] == families["blocks.1.attention.value"] == "attention q/k/v"
    assert families["blocks.0.attention.proj"] == "attention out"
    assert families["blocks.0.mlp.up"] == families["blocks.0.mlp.gelu"] == "MLP in"
    assert families["blocks.1.mlp.down"] == "MLP out"
    assert families["blocks.0.ln_1"] == families["ln_f"] == "norm"
    assert families["blocks.0"] == "block" and families["head"] == "readout"
    assert families["blocks.1.attention.logits"] == "attention logits"
    # the logits are q·k/sqrt(d_head), recomputed here from the model's own projections
    model = build(32, 0)[0]
    with torch.no_grad():
        h = model.token(x) + model.position(torch.arange(8))
        a = model.blocks[0].ln_1(h)
        q, k = model.blocks[0].attention.query(a), model.blocks[0].attention.key(a)
        split = lambda z: z.view(2, 8, 4, 8).transpose(1, 2)  # noqa: E731
        logits = split(q) @ split(k).transpose(-1, -2) / math.sqrt(8)
    records, _ = record_coordinates(model, torch.optim.SGD(model.parameters(), lr=0.0), (x, x), steps=0)
    assert len(check.modules) == len(records)
    assert records["blocks.0.attention.logits"][0][0] == pytest.approx(float(logits.abs().mean()), rel=1e-5)


def test_mup_passes_and_sp_fails_with_adam(batch):
    mup, sp = mlp_check(batch, "mup"), mlp_check(batch, "sp")
    assert mup.failures(measures=("size", "change")) == []
    readout = sp.module("4")
    assert readout.family == "readout" and readout.slopes[1] >= 0.3
    assert {f.family for f in sp.failures()} >= {"hidden", "readout"}


def test_a_hidden_layer_at_adams_base_rate_is_flagged_there(batch):
    """Planted: the hidden layer's Adam lr multiplier back to 1 (SP's) instead of 1/m_in. The first
    module flagged is that layer; the input layer before it stays clean."""
    check = mlp_check(batch, rows={"2.weight": lambda row: {"adam": 1.0}})
    first = check.first_failure()
    assert (first.module, first.family) == ("2", "hidden")
    assert "input" not in failing_families(check)
    assert max(check.module("2").change_slopes[1:]) > 0.2  # what training changed grows like the width


def test_a_readout_drawn_at_its_base_std_is_flagged_there_alone(batch):
    """Planted: the readout's init multiplier 1 instead of 1/m_in (its weights times m_in = w/64 after
    init): only the readout is flagged, from step 0."""
    check = mlp_check(batch, scale={"4.weight": lambda width: width / 64})
    assert failing_families(check) == {"readout"}
    assert check.module("4").slopes[0] > 0.3  # logits ∝ sqrt(width) at init


def test_a_readout_at_adams_base_rate_is_flagged_there_alone(batch):
    """Planted: the readout's Adam lr multiplier m_in times too large (SP's rate)."""
    check = mlp_check(batch, rows={"4.weight": lambda row: {"adam": row.multipliers.adam * row.m_in}})
    assert failing_families(check) == {"readout"}


def test_an_input_layer_learning_too_slowly_is_flagged_by_its_change(batch):
    """Planted: the input layer's Adam lr divided by m_out. Its output keeps its size (the init
    dominates), so the size alone flags it late; what training changed shrinks like 1/width."""
    check = mlp_check(batch, rows={"0.weight": lambda row: {"adam": 1.0 / row.m_out},
                                   "0.bias": lambda row: {"adam": 1.0 / row.m_out}})
    first = check.first_failure()
    assert (first.module, first.measure) == ("0", "change") and first.slope < -0.5


def test_sgd_under_mup_keeps_what_training_changes_width_independent(batch):
    mup = mlp_check(batch, "mup", optimizer="sgd", lr=0.1)
    sp = mlp_check(batch, "sp", optimizer="sgd", lr=0.1)
    assert mup.failures(measures=("size", "change")) == []
    # SP under SGD: the input layer's updates vanish like 1/sqrt(width) (Tensor Programs V, Table 3)
    assert sp.module("0").change_slopes[1] < -0.3


def test_bad_input_is_refused(batch):
    build = lambda w, s: (nn.Linear(784, 10), torch.optim.SGD(nn.Linear(1, 1).parameters(), lr=0.1))  # noqa: E731
    with pytest.raises(UserError, match="two different widths"):
        coord_check(build, [64, 64], batch)
    with pytest.raises(UserError, match="steps"):
        record_coordinates(nn.Linear(784, 10), torch.optim.SGD(nn.Linear(1, 1).parameters(), lr=0.1), batch,
                           steps=-1)
    assert STABLE_SLOPE == 0.1


# ------------------------------------------------------------------ against the mup package
mup = pytest.importorskip("mup")
from ..parametrize.test_mup_reference import BASE, ours, reference  # noqa: E402  mup's example MLP

MUP_WIDTHS = (64, 128, 256, 512)


def _mup_built(width, seed):
    model = reference(width, seed, zero_readout=False)  # MuReadout, set_base_shapes
    return model, mup.MuAdam(model.parameters(), lr=3e-3)


def _ours_built(width, seed, copy_from_mup: bool):
    model, plan = ours(width, seed, zero_readout=False)
    if copy_from_mup:
        ref = reference(width, seed, zero_readout=False)
        with torch.no_grad():
            model.fc_1.weight.copy_(ref.fc_1.weight)
            model.fc_2.weight.copy_(ref.fc_2.weight)
            model.fc_3.weight.copy_(ref.fc_3.weight / ref.fc_3.width_mult())  # MuReadout's 1/m, absorbed
    return model, torch.optim.Adam(param_groups(model, plan, lr=3e-3, optimizer="adam"))


@pytest.fixture(scope="module")
def cifar_like():
    g = torch.Generator().manual_seed(5)
    return torch.randn(32, 3072, generator=g), torch.randint(0, 10, (32,), generator=g)


def test_the_same_slopes_as_the_mup_package(cifar_like):
    """mup's example MLP (3072-w-w-10, tanh, MuReadout, MuAdam) against weightinit's muP of the same
    MLP (nn.Linear head, param_groups), widths 64..512, 3 steps, 3 seeds.

    From the same weights (mup's draws copied in, its readout's 1/m absorbed) the two train the same
    function step for step (tests/parametrize/test_mup_reference.py; here, with widths powers of 2,
    bit for bit), so every module's slope agrees to 1e-3. From independent draws (each library's own
    init) they agree within 0.08: the std of one seed's slope, measured over 10 seeds, is at most
    0.032 (the readout's; 0.012 for the others), so the difference of two 3-seed means has std
    sqrt(2/3) x 0.032 = 0.026, and 0.08 is 3 of them."""
    theirs = coord_check(_mup_built, MUP_WIDTHS, cifar_like, steps=3, seeds=SEEDS)
    same = coord_check(lambda w, s: _ours_built(w, s, True), MUP_WIDTHS, cifar_like, steps=3, seeds=SEEDS)
    drawn = coord_check(lambda w, s: _ours_built(w, s, False), MUP_WIDTHS, cifar_like, steps=3, seeds=SEEDS)
    assert [m.name for m in theirs.modules] == [m.name for m in same.modules] == ["fc_1", "fc_2", "fc_3"]
    assert [m.family for m in theirs.modules] == ["input", "hidden", "readout"]
    for a, b, c in zip(theirs.modules, same.modules, drawn.modules):
        assert b.slopes == pytest.approx(a.slopes, abs=1e-3), a.name
        assert b.change_slopes[1:] == pytest.approx(a.change_slopes[1:], abs=1e-3), a.name
        assert c.slopes == pytest.approx(a.slopes, abs=0.08), a.name
    assert theirs.failures() == [] and drawn.failures() == []
    assert BASE == 64
