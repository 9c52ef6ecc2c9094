"""Modules weightinit does not know by type, recognized by structure (norms, transposed linear
layers, packed q/k/v, learned vectors), ``default`` as a module's own ``reset_parameters()``,
and ``only=``, on plain torch modules (transformers not needed). Device: CPU.
"""

import math
import warnings

import pytest
import torch
from torch import nn

import weightinit as wi
from weightinit.errors import UserError
from weightinit.theory.schemes import CRITICAL_SCHEMES  # stacks only, by design: tests/theory


def g(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


class MyRMSNorm(nn.Module):
    def __init__(self, d: int):
        super().__init__()
        self.weight = nn.Parameter(torch.full((d,), 7.0))

    def forward(self, x):
        return self.weight * x / x.pow(2).mean(-1, keepdim=True).add(1e-6).sqrt()


class OffsetNorm(MyRMSNorm):  # Gemma's: (1 + w)·x̂, its scale starts at 0
    def forward(self, x):
        return (1 + self.weight) * x / x.pow(2).mean(-1, keepdim=True).add(1e-6).sqrt()


class TransposedLinear(nn.Module):  # transformers' Conv1D without its nx/nf attributes
    def __init__(self, n_in: int, n_out: int):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(n_in, n_out))
        self.bias = nn.Parameter(torch.full((n_out,), 3.0))

    def forward(self, x):
        return x @ self.weight + self.bias


class SquareLinear(nn.Module):  # (d, d) weight, bias d, but computes x @ Wᵀ: an ordinary layer's layout
    def __init__(self, d: int):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(d, d))
        self.bias = nn.Parameter(torch.zeros(d))

    def forward(self, x):
        return x @ self.weight.T + self.bias


class MyAttention(nn.Module):
    def __init__(self, d: int, transposed: bool):
        super().__init__()
        self.num_heads = 4
        self.qkv = TransposedLinear(d, 3 * d) if transposed else nn.Linear(d, 3 * d)
        self.proj = TransposedLinear(d, d)


class Tokens(nn.Module):
    def __init__(self, d: int):
        super().__init__()
        self.cls_token = nn.Parameter(torch.full((1, 1, d), 5.0))
        self.pos = nn.Parameter(torch.full((1, 10, d), 5.0))


def rows(plan):
    return {(r.module, r.parameter, r.block): r for r in plan.rows}


@pytest.mark.parametrize("scheme", [s for s, v in wi.SCHEMES.items() if not v.needs_data and s not in CRITICAL_SCHEMES])
def test_structural_modules_all_get_a_rule_under_every_scheme(scheme):
    model = nn.Sequential(MyRMSNorm(8), TransposedLinear(8, 16), MyAttention(8, True), MyAttention(8, False),
                          Tokens(8), nn.LayerNorm(8))
    if scheme == "default":  # torch has no recipe for a bare parameter: named, as before
        with pytest.warns(UserWarning, match="2 parameter.*4.cls_token, 4.pos"):
            wi.init_model(model, scheme, generator=g())
        return
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        wi.init_model(model, scheme, generator=g(), strict=True)
    assert wi.plan_init(model, scheme).untouched == []


def test_a_norm_of_any_class_gets_ones_and_an_offset_norm_zeros():
    model = nn.Sequential(MyRMSNorm(6), OffsetNorm(6))
    plan = wi.init_model(model, "he_normal", generator=g()) and wi.plan_init(model, "he_normal")
    assert torch.equal(model[0].weight, torch.ones(6)) and torch.equal(model[1].weight, torch.zeros(6))
    assert rows(plan)[("0", "weight", "")].rule == "ones (norm, by structure)"
    assert rows(plan)[("1", "weight", "")].rule.startswith("zeros (norm computing (1 + w)")


@pytest.mark.parametrize("scheme, std", [("he_normal", lambda fi, fo: 1 / math.sqrt(fi)),
                                         ("xavier_normal", lambda fi, fo: math.sqrt(2 / (fi + fo))),
                                         ("lecun_normal", lambda fi, fo: 1 / math.sqrt(fi))])
def test_a_transposed_linear_layer_gets_its_true_fans(scheme, std):
    layer = TransposedLinear(512, 128)  # weight (in, out): torch.nn.init would read fan_in 128
    plan = wi.plan_init(nn.Sequential(layer), scheme).apply(g())
    row = rows(plan)[("0", "weight", "")]
    assert (row.fan_in, row.fan_out) == (512, 128)
    assert layer.weight.std().item() == pytest.approx(std(512, 128), rel=0.05)
    assert torch.all(layer.bias == 0)


def test_the_default_scheme_gives_a_transposed_layer_torchs_linear_recipe_with_the_true_fan_in():
    layer = TransposedLinear(400, 25)
    wi.init_model(nn.Sequential(layer), "default", generator=g())
    bound = 1 / math.sqrt(400)
    assert layer.weight.abs().max().item() <= bound and layer.weight.abs().max().item() > 0.9 * bound
    assert layer.bias.abs().max().item() <= bound


def test_a_square_layer_is_transposed_only_if_its_forward_says_so():
    model = nn.Sequential(TransposedLinear(8, 8), SquareLinear(8))
    before = [p.clone() for p in model.parameters()]
    plan = wi.plan_init(model, "he_normal")
    assert [p for p in plan.untouched] == ["1.weight", "1.bias"]  # not claimed: x @ Wᵀ is no transposed layer
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))  # the probes put everything back


@pytest.mark.parametrize("transposed", [True, False])
def test_packed_qkv_inside_an_attention_module_gets_per_block_fans(transposed):
    d = 256
    attention = MyAttention(d, transposed)
    plan = wi.plan_init(nn.Sequential(attention), "xavier_uniform").apply(g())
    blocks = [r for r in plan.rows if r.module == "0.qkv" and r.parameter == "weight"]
    assert [r.block for r in blocks] == ["q", "k", "v"]
    assert all((r.fan_in, r.fan_out, r.shape) == (d, d, (d, d)) for r in blocks)
    weight = attention.qkv.weight
    for i in range(3):
        part = weight[:, i * d:(i + 1) * d] if transposed else weight[i * d:(i + 1) * d]
        assert part.std().item() == pytest.approx(math.sqrt(2 / (2 * d)), rel=0.05)  # not √(2/(4d))


def test_a_3x_layer_outside_attention_is_one_layer():
    plan = wi.plan_init(nn.Sequential(nn.Linear(8, 24)), "xavier_uniform")
    assert [(r.block, r.fan_in, r.fan_out) for r in plan.rows if r.parameter == "weight"] == [("", 8, 24)]


def test_learned_vectors_are_drawn_as_embedding_rows():
    model = nn.Sequential(Tokens(400))
    plan = wi.init_model(model, "he_normal", generator=g()) and wi.plan_init(model, "he_normal")
    assert model[0].pos.std().item() == pytest.approx(1 / math.sqrt(400), rel=0.05)
    assert rows(plan)[("0", "cls_token", "")].rule == "N(0, 1/d) (learned vectors, by structure)"


class Gate(nn.Module):  # no rule by type, its own reset_parameters
    def __init__(self):
        super().__init__()
        self.a = nn.Parameter(torch.zeros(50, 50))
        self.b = nn.Parameter(torch.zeros(50))
        self.inner = nn.Linear(3, 3)

    def reset_parameters(self):
        nn.init.normal_(self.a, 0.0, 0.3)
        nn.init.constant_(self.b, 2.0)
        nn.init.zeros_(self.inner.weight)  # not its own: put back


def test_default_is_a_modules_own_reset_parameters_drawn_from_the_generator():
    model, other = Gate(), Gate()
    state = torch.get_rng_state()
    wi.init_model(model, "default", generator=g(3))
    wi.init_model(other, "default", generator=g(3))
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(model.a, other.a) and model.a.std().item() == pytest.approx(0.3, rel=0.05)
    assert torch.all(model.b == 2) and model.inner.weight.abs().sum() > 0
    plan = wi.plan_init(model, "default")
    assert rows(plan)[("", "a", "")].rule == "its own reset_parameters() (Gate)" and plan.untouched == []
    with pytest.warns(UserWarning, match="a, b"):  # only default means the module's own recipe
        wi.init_model(Gate(), "he_normal", generator=g())


def test_only_a_modules_own_recipe_leaves_its_other_parameters_alone():
    model = Gate()
    wi.init_model(model, "default", generator=g(), only=["b"])
    assert torch.all(model.a == 0) and torch.all(model.b == 2)


def test_only_initializes_the_named_or_missing_parameters_and_says_what_it_left():
    model = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    loaded = {k: v for k, v in before.items() if k.startswith("0.")}
    plan = wi.plan_init(model, "he_normal", only=loaded)
    assert {r.module for r in plan.rows} == {"2"}
    assert "left as loaded: 2 parameters (in the state dict given to only=)" in plan.table()
    wi.init_model(model, "he_normal", generator=g(), only=loaded)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items() if k.startswith("0."))
    assert not torch.equal(before["2.weight"], model[2].weight)
    for only in ("2.*", ["2"], ("2.weight", "2.bias"), "2.weight"):
        assert {r.module for r in wi.plan_init(model, "he_normal", only=only).rows} == {"2"}
    assert "left as they were: 2 parameters (not named in only=)" in wi.plan_init(model, "he_normal",
                                                                                 only="2").table()


@pytest.mark.parametrize("only, match", [(["2.*", "head.*"], "'head.*'"), ({"0.weight": 1, "zz": 2}, "'zz'"),
                                         (3, "int"), ([1], "1")])
def test_only_refuses_what_the_model_does_not_have(only, match):
    with pytest.raises(UserError, match=match):
        wi.plan_init(nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2)), "he_normal", only=only)


def test_only_refuses_a_data_driven_scheme():
    with pytest.raises(UserError, match="only="):
        wi.init_model(nn.Sequential(nn.Linear(4, 2)), "lsuv", data=torch.randn(8, 4), only=["0.*"])
