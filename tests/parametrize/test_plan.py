"""parametrize, plan_parametrization and param_groups: sp is init_model, muP at the base width is sp,
the width and depth rules parameter by parameter, what is absorbed, and bad input. CPU."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn

import weightinit as wi
from weightinit.errors import UserError
from weightinit.models import PatchTransformer, mlp
from weightinit.models.gpt import GPT
from weightinit.parametrize import ParamPlan, param_groups, parametrize, plan_parametrization
from weightinit.training import TrainConfig


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def meta(build):
    with torch.device("meta"):
        return build()


def gpt(width: int, layers: int = 2, heads: int = 4) -> GPT:
    return GPT(30, layers=layers, width=width, heads=heads, context=16)


@pytest.mark.parametrize("scheme", ["default", "he_normal", "xavier_uniform", "gpt2"])
def test_sp_is_init_model_and_mup_at_the_base_width_is_sp(scheme):
    build = (lambda: gpt(32)) if scheme == "gpt2" else (lambda: mlp([20, 32, 32, 5], "relu"))
    reference = wi.init_model(build(), scheme, generator=gen())
    sp, mup = build(), build()
    sp_plan = parametrize(sp, "sp", scheme=scheme, generator=gen())
    mup_plan = parametrize(mup, "mup", base=lambda: build(), scheme=scheme, generator=gen())
    for (name, a), b, c in zip(reference.state_dict().items(), sp.state_dict().values(), mup.state_dict().values()):
        assert torch.equal(a, b) and torch.equal(a, c), name
    for plan in (sp_plan, mup_plan):
        assert all(r.multipliers.lr("adam") == r.multipliers.lr("sgd") == r.multipliers.init == 1 for r in plan.rows)


def test_mup_width_rules_parameter_by_parameter():
    base = meta(lambda: mlp([784, 64, 64, 10], "relu"))
    model = mlp([784, 1024, 1024, 10], "relu")
    plan = parametrize(model, "mup", base=base, scheme="he_normal", generator=gen())
    rows = {r.name: r for r in plan.rows}
    assert [r.kind for r in plan.rows] == ["input", "vector", "hidden", "vector", "readout", "fixed"]
    m = 1024 / 64
    # init: the base std (He at fan_in 784 / 64 / 64), times 1, m^-1/2, 1/m
    assert rows["0.weight"].std == pytest.approx(math.sqrt(2 / 784), rel=0.01)
    assert rows["2.weight"].std == pytest.approx(math.sqrt(2 / 64) / math.sqrt(m), rel=0.01)
    assert rows["4.weight"].std == pytest.approx(math.sqrt(1 / 64) / m, rel=0.03)  # no ReLU after the head
    # learning rates (Tensor Programs V, Table 3, the readout's multiplier absorbed)
    lr = {name: (r.multipliers.lr("adam"), r.multipliers.lr("sgd")) for name, r in rows.items()}
    assert lr == {"0.weight": (1, m), "0.bias": (1, m), "2.weight": (1 / m, 1), "2.bias": (1, m),
                  "4.weight": (1 / m, 1 / m), "4.bias": (1, 1)}
    assert rows["4.weight"].multipliers.eps == m and rows["2.weight"].multipliers.eps == 1


def test_the_query_absorbs_one_over_d_attention_when_d_head_grows():
    model = gpt(128, heads=4)  # d_head 32 against the base's 8
    plan = parametrize(model, "mup", base=lambda: gpt(32, heads=4), scheme="gpt2", generator=gen())
    query, key = plan.row("blocks.0.attention.query.weight"), plan.row("blocks.0.attention.key.weight")
    a = math.sqrt(8 / 32)
    assert query.multipliers.init == pytest.approx(key.multipliers.init * a)
    assert query.multipliers.lr("adam") == pytest.approx(key.multipliers.lr("adam") * a)
    assert query.multipliers.eps == pytest.approx(1 / a) and "attention 1/d 0.5" in query.absorbed
    # with d_head fixed (heads grow with the width) 1/sqrt(d_head) is 1/d up to a constant: nothing to absorb
    fixed = parametrize(gpt(128, heads=16), "mup", base=lambda: gpt(32, heads=4), scheme="gpt2", generator=gen())
    assert fixed.row("blocks.0.attention.query.weight").absorbed == []


def test_packed_attention_is_named_in_a_note_not_silently_skipped():
    base = lambda: PatchTransformer((28, 28), 10, dim=32, depth=1, heads=4)  # noqa: E731
    plan = plan_parametrization(PatchTransformer((28, 28), 10, dim=128, depth=1, heads=4), "mup", base=base)
    assert any("q, k and v are one tensor" in note for note in plan.notes)
    assert "q, k and v are one tensor" in plan.table()
    fixed = plan_parametrization(PatchTransformer((28, 28), 10, dim=128, depth=1, heads=16), "mup", base=base)
    assert fixed.notes == []


def test_zero_readout_and_zero_query():
    model = gpt(64)
    parametrize(model, "mup", base=lambda: gpt(32), scheme="gpt2", zero_readout=True, zero_query=True,
                generator=gen())
    assert float(model.head.weight.detach().abs().max()) == 0
    assert float(model.blocks[1].attention.query.weight.detach().abs().max()) == 0
    assert float(model.blocks[1].attention.key.weight.detach().abs().max()) > 0


@pytest.mark.parametrize("alpha", [0.5, 1.0])
def test_depth_rule(alpha):
    model = gpt(64, layers=8)
    plan = parametrize(model, "mup", base=lambda: gpt(64, layers=2), scheme="gpt2", depth_alpha=alpha,
                       generator=gen())
    ratio = 8 / 2
    up, down = plan.row("blocks.5.mlp.up.weight"), plan.row("blocks.5.mlp.down.weight")
    assert up.depth_ratio == ratio and up.multipliers.lr("adam") == pytest.approx(ratio ** (alpha - 1))
    assert up.multipliers.lr("sgd") == pytest.approx(ratio ** (2 * alpha - 1))
    assert up.multipliers.eps == pytest.approx(ratio ** -alpha)
    # the branch's end absorbs its multiplier L_m^-alpha (init and Adam lr), its eps back to 1
    assert down.multipliers.init == pytest.approx(ratio ** -alpha)
    assert down.multipliers.lr("adam") == pytest.approx(ratio ** (alpha - 1) * ratio ** -alpha)
    assert down.multipliers.eps == pytest.approx(1.0)
    assert down.std == pytest.approx(0.02 / math.sqrt(2 * 2) * ratio ** -alpha, rel=0.02)  # gpt2 at the base depth
    outside = plan.row("head.weight")
    assert outside.depth_ratio is None and outside.multipliers.lr("adam") == 1


def test_param_groups_cover_every_parameter_once_and_scale_weight_decay():
    model = mlp([20, 256, 256, 5], "relu")
    plan = parametrize(model, "mup", base=lambda: mlp([20, 64, 64, 5], "relu"), generator=gen())
    groups = param_groups(model, plan, lr=0.01, optimizer="adamw", weight_decay=0.1)
    ids = [id(p) for g in groups for p in g["params"]]
    assert sorted(ids) == sorted(id(p) for p in model.parameters()) and len(set(ids)) == len(ids)
    by_name = {n: g for g in groups for n in g["param_names"]}
    assert by_name["2.weight"]["lr"] == pytest.approx(0.01 / 4) and by_name["2.weight"]["weight_decay"] == 0.4
    assert by_name["2.bias"]["weight_decay"] == 0.0  # vectors are not decayed by default
    torch.optim.AdamW(groups)  # ordinary torch.optim groups
    decayed = param_groups(model, plan, lr=0.01, optimizer="sgd", weight_decay=0.1, decay_vectors=True)
    assert {n: g["weight_decay"] for g in decayed for n in g["param_names"]}["2.bias"] == pytest.approx(0.1 / 4)
    assert all("eps" not in g for g in decayed)


def test_a_plan_as_json_gives_the_same_groups():
    model = gpt(64)
    plan = parametrize(model, "mup", base=lambda: gpt(32), scheme="gpt2", generator=gen())
    again = ParamPlan.from_dict(json.loads(json.dumps(plan.to_dict())))
    for a, b in zip(param_groups(model, plan, lr=1e-3), param_groups(model, again, lr=1e-3)):
        assert {k: v for k, v in a.items() if k != "params"} == {k: v for k, v in b.items() if k != "params"}
    with pytest.raises(UserError, match="read back from a dict"):
        again.apply(gen())


def test_fit_trains_with_the_groups_learning_rates():
    x = torch.randn(64, 20, generator=gen(1))
    y = torch.randint(0, 5, (64,), generator=gen(2))
    from weightinit.data.datasets import Split

    model = mlp([20, 128, 128, 5], "relu")
    plan = parametrize(model, "mup", base=lambda: mlp([20, 32, 32, 5], "relu"), generator=gen())
    config = TrainConfig(epochs=2, batch_size=16, lr=0.01, lr_decay=0.5, device="cpu")
    states = []
    groups = param_groups(model, plan, lr=config.lr, optimizer=config.optimizer)
    history = wi.fit(model, Split(x, y), config, param_groups=groups, checkpoint=states.append)
    assert len(history.epochs) == 2 and not history.diverged
    saved = states[-1]["optimizer"]["param_groups"]  # the optimizer's groups after epoch 2
    rates = {name: group["lr"] for group in saved for name in group["param_names"]}
    assert rates["2.weight"] == pytest.approx(0.01 * 0.5 / 4)  # epoch 2's rate, times the hidden layer's 1/m
    assert rates["0.weight"] == pytest.approx(0.01 * 0.5)


def test_bad_input_names_the_parameter():
    model = mlp([20, 64, 5], "relu")
    with pytest.raises(UserError, match="base must be"):
        plan_parametrization(model, "mup")
    with pytest.raises(UserError, match="parametrization"):
        plan_parametrization(model, "ntk", base=model)
    with pytest.raises(UserError, match="takes no base"):
        plan_parametrization(model, "sp", base=model)
    with pytest.raises(UserError, match="mimetic"):
        plan_parametrization(gpt(64), "mup", base=lambda: gpt(32), scheme="mimetic")
    with pytest.raises(UserError, match="same architecture"):
        plan_parametrization(model, "mup", base=lambda: nn.Sequential(nn.Linear(20, 5)))
    with pytest.raises(UserError, match="depth_alpha"):
        plan_parametrization(model, "mup", base=model, depth_alpha=-1)
    plan = plan_parametrization(model, "mup", base=lambda: mlp([20, 32, 5], "relu"))
    with pytest.raises(UserError, match="optimizer"):
        param_groups(model, plan, lr=0.1, optimizer="lion")
    with pytest.raises(UserError, match="plan this model"):
        param_groups(mlp([20, 64, 64, 5], "relu"), plan, lr=0.1)
    with pytest.raises(UserError, match="shape"):
        param_groups(mlp([20, 65, 5], "relu"), plan, lr=0.1)
    with pytest.raises(UserError, match="meta device"):
        plan_parametrization(meta(lambda: mlp([20, 64, 5], "relu")), "mup", base=model).apply(gen())


def test_a_batched_sweep_takes_the_groups_and_matches_each_run_alone():
    from weightinit.data.datasets import Split
    from weightinit.training import fit_batched

    x = torch.randn(96, 20, generator=gen(1))
    y = torch.randint(0, 5, (96,), generator=gen(2))
    configs = [TrainConfig(epochs=2, batch_size=32, lr=0.01, seed=s, device="cpu") for s in (0, 1)]

    def planned(seed):
        model = mlp([20, 128, 128, 5], "relu")
        return model, parametrize(model, "mup", base=lambda: mlp([20, 32, 32, 5], "relu"), generator=gen(seed))

    runs = [planned(s) for s in (0, 1)]
    groups = param_groups(runs[0][0], runs[0][1], lr=0.01, optimizer="adam")
    batched = fit_batched([m for m, _ in runs], Split(x, y), configs, param_groups=groups)
    for (model, plan), config, history in zip([planned(s) for s in (0, 1)], configs, batched):
        alone = wi.fit(model, Split(x, y), config, param_groups=param_groups(model, plan, lr=0.01, optimizer="adam"))
        assert [e.train_loss for e in alone.epochs] == pytest.approx([e.train_loss for e in history.epochs], rel=1e-5)


@pytest.mark.parametrize("build, scheme", [
    (lambda w: PatchTransformer((28, 28), 10, dim=w, depth=1, heads=w // 16), "default"),  # packed xavier over 3E x E
    (lambda w: mlp([20, w, w, 5], "relu"), "orthogonal"),
    (lambda w: mlp([20, w, w, 5], "tanh"), "delta_orthogonal"),
    (lambda w: torch.nn.LSTM(8, w), "he_normal"),  # its recurrent weights are orthogonal
])
def test_formulas_that_read_their_tensor_are_drawn_at_the_base_std(build, scheme):
    """A fill whose std the tensor's shape sets (torch's xavier over MultiheadAttention's packed
    in_proj, an orthogonal matrix) must draw the base block's std on the wider tensor, times muP's
    m^-1/2, not its own std times m^-1/2 again."""
    base, model = build(64), build(256)
    wi.init_model(base, scheme, generator=gen())
    plan = parametrize(model, "mup", base=lambda: build(64), scheme=scheme, generator=gen())
    for row in plan.rows:
        if row.kind == "hidden":
            expected = float(base.get_parameter(row.name).detach().std()) * row.multipliers.init
            assert row.std == pytest.approx(expected, rel=0.05), row.name


def test_zero_readout_and_query_hold_at_the_base_width_too():
    """The model the rate is tuned on (the base width, where no fan grows) starts as the wide ones do."""
    model = gpt(32)
    parametrize(model, "mup", base=lambda: gpt(32), scheme="gpt2", zero_readout=True, zero_query=True,
                generator=gen())
    assert float(model.head.weight.detach().abs().max()) == 0
    assert float(model.blocks[0].attention.query.weight.detach().abs().max()) == 0


def test_a_tied_embedding_and_readout_is_refused():
    class Tied(nn.Module):
        def __init__(self, width: int) -> None:
            super().__init__()
            self.embed, self.head = nn.Embedding(30, width), nn.Linear(width, 30, bias=False)
            self.head.weight = self.embed.weight

        def forward(self, x):
            return self.head(self.embed(x))

    with pytest.raises(UserError, match="ties embed.weight and head.weight"):
        plan_parametrization(Tied(64), "mup", base=lambda: Tied(32))


def test_adams_coupled_weight_decay_counts_an_absorbed_multiplier_twice():
    """torch.optim.Adam's weight_decay is L2 in the gradient, which Adam normalizes: for a weight
    that absorbed a (the readout: a = 1/m) the same training needs wd / (lr x a); AdamW's decoupled
    decay needs wd / lr."""
    model = mlp([20, 256, 5], "relu")
    plan = parametrize(model, "mup", base=lambda: mlp([20, 64, 5], "relu"), generator=gen())
    decay = {optimizer: {n: g["weight_decay"] for g in param_groups(model, plan, lr=1e-3, optimizer=optimizer,
                                                                     weight_decay=0.1) for n in g["param_names"]}
             for optimizer in ("adam", "adamw")}
    assert decay["adamw"]["2.weight"] == pytest.approx(0.1 * 4) and decay["adam"]["2.weight"] == pytest.approx(0.1 * 16)
    assert decay["adam"]["0.weight"] == decay["adamw"]["0.weight"] == pytest.approx(0.1)


def test_a_base_of_another_depth_without_a_depth_rule_is_said():
    plan = plan_parametrization(gpt(64, layers=4), "mup", base=lambda: gpt(32, layers=2), scheme="gpt2")
    assert any("depth_alpha is None" in note for note in plan.notes)
