"""init_model on every parameterized torch.nn module: the rule per parameter and block, the
plan, the warning for what no rule covers, traced gains, residual depth. Device: CPU (and
CUDA where present, for the tests marked cuda)."""

from __future__ import annotations

import math
import warnings

import pytest
import torch
from torch import nn

import weightinit as wi
from weightinit import UserError

SCHEMES = ["default", "zeros", "normal", "xavier_uniform", "xavier_normal", "he_uniform", "he_normal",
           "lecun_uniform", "lecun_normal", "orthogonal"]


def g(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def rows_of(plan: wi.InitPlan) -> dict[tuple[str, str, str], wi.PlanRow]:
    return {(r.module, r.parameter, r.block): r for r in plan.rows}


# ---------------------------------------------------------------- variances per block
def test_attention_q_k_v_each_get_the_variance_of_an_e_by_e_layer():
    e = 256
    attention = nn.MultiheadAttention(e, 8)
    wi.init_model(attention, "xavier_uniform", generator=g())
    for block in attention.in_proj_weight.detach().split(e):
        assert block.var().item() == pytest.approx(2 / (e + e), rel=0.05)  # not torch's 2 / (e + 3e)
    torch_init = nn.MultiheadAttention(e, 8)
    nn.init.xavier_uniform_(torch_init.in_proj_weight)
    assert torch_init.in_proj_weight[:e].var().item() == pytest.approx(2 / (4 * e), rel=0.05)  # the bug fixed


def test_attention_with_other_key_and_value_sizes_uses_their_fans():
    attention = nn.MultiheadAttention(64, 4, kdim=32, vdim=128, bias=True, add_bias_kv=True)
    plan = wi.plan_init(attention, "xavier_normal").apply(g())
    rows = rows_of(plan)
    assert (rows[("", "k_proj_weight", "k")].fan_in, rows[("", "v_proj_weight", "v")].fan_in) == (32, 128)
    assert attention.v_proj_weight.var().item() == pytest.approx(2 / (128 + 64), rel=0.1)
    assert {(r.module, r.parameter) for r in plan.rows} >= {("", "q_proj_weight"), ("", "in_proj_bias"), ("", "bias_k"),
                                                            ("", "bias_v"), ("out_proj", "weight")}
    assert plan.untouched == []


@pytest.mark.parametrize("kind, gates", [(nn.LSTM, 4), (nn.GRU, 3), (nn.RNN, 1)])
def test_recurrent_gate_blocks_get_their_own_fans_and_orthogonal_recurrence(kind, gates):
    hidden, inputs = 64, 48
    layer = kind(inputs, hidden, num_layers=2, bidirectional=True)
    wi.init_model(layer, "xavier_uniform", nonlinearity="linear", generator=g())
    for name, weight in layer.named_parameters():
        if name.startswith("weight_ih"):
            fan_in = inputs if "_l0" in name else 2 * hidden
            for block in weight.detach().split(hidden):
                assert block.var().item() == pytest.approx(2 / (fan_in + hidden), rel=0.12), name
        elif name.startswith("weight_hh"):
            assert weight.shape[0] == gates * hidden
            for block in weight.detach().double().split(hidden):
                assert torch.allclose(block @ block.T, torch.eye(hidden, dtype=torch.float64), atol=1e-5), name
                assert block.var().item() == pytest.approx(1 / hidden, rel=0.05)


def test_lstm_forget_gate_bias_is_one_and_the_rest_zero():
    hidden = 16
    lstm = nn.LSTM(8, hidden, num_layers=2)
    wi.init_model(lstm, "he_normal", generator=g())
    for name, bias in lstm.named_parameters():
        if name.startswith("bias_ih"):
            i, f, c, o = bias.detach().split(hidden)
            assert torch.all(f == 1) and torch.all(torch.cat([i, c, o]) == 0)
        elif name.startswith("bias_hh"):
            assert torch.all(bias == 0)
    wi.init_model(lstm, "he_normal", generator=g(), forget_bias=None)
    assert all(torch.all(p == 0) for n, p in lstm.named_parameters() if n.startswith("bias"))


def test_the_default_scheme_is_torchs_own_rule_per_module():
    lstm = nn.LSTM(8, 25)
    plan = wi.plan_init(lstm, "default").apply(g())
    assert all(r.rule == "U(±0.2) (torch)" for r in plan.rows)  # 1/√25 for every weight and bias
    assert all(p.abs().max() <= 0.2 for p in lstm.parameters())
    embedding = nn.Embedding(1000, 32)
    wi.init_model(embedding, "default", generator=g())
    assert embedding.weight.std().item() == pytest.approx(1.0, rel=0.05)


def test_lstm_projection_and_cells():
    lstm = nn.LSTM(10, 32, proj_size=8)
    plan = wi.plan_init(lstm, "lecun_normal").apply(g())
    rows = rows_of(plan)
    assert rows[("", "weight_hr_l0", "")].shape == (8, 32)
    assert rows[("", "weight_hh_l0", "forget gate")].shape == (32, 8)
    for cell, gates in ((nn.LSTMCell(12, 20), 4), (nn.GRUCell(12, 20), 3), (nn.RNNCell(12, 20), 1)):
        plan = wi.plan_init(cell, "xavier_normal").apply(g())
        assert plan.untouched == [] and len([r for r in plan.rows if r.parameter == "weight_hh"]) == gates


def test_embedding_rows_have_unit_expected_squared_norm_and_padding_is_zero():
    embedding = nn.Embedding(5000, 64, padding_idx=3)
    wi.init_model(embedding, "xavier_normal", generator=g())
    norms = embedding.weight.detach().pow(2).sum(1)
    assert torch.all(embedding.weight[3] == 0)
    assert norms[torch.arange(5000) != 3].mean().item() == pytest.approx(1.0, rel=0.05)
    bag = nn.EmbeddingBag(100, 50)
    wi.init_model(bag, "he_uniform", generator=g())
    assert bag.weight.abs().max().item() <= math.sqrt(3 / 50) + 1e-6


def test_norms_start_as_the_identity_and_prelu_at_a_quarter():
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.GroupNorm(2, 8), nn.InstanceNorm2d(8, affine=True),
                          nn.PReLU(8), nn.Flatten(), nn.LayerNorm(8 * 6 * 6), nn.RMSNorm(288))
    for p in model.parameters():
        nn.init.normal_(p)
    plan = wi.plan_init(model, "he_normal").apply(g())
    assert plan.untouched == []
    for module in (model[1], model[2], model[3], model[6]):
        assert torch.all(module.weight == 1) and torch.all(module.bias == 0)
    assert torch.all(model[7].weight == 1) and torch.all(model[4].weight == 0.25)


def test_bilinear_fans():
    layer = nn.Bilinear(20, 30, 40)
    plan = wi.plan_init(layer, "lecun_normal").apply(g())
    row = rows_of(plan)[("", "weight", "")]
    assert (row.fan_in, row.fan_out) == (600, 40 * 25)
    x1, x2 = torch.randn(4000, 20, generator=g(1)), torch.randn(4000, 30, generator=g(2))
    with torch.no_grad():
        assert layer(x1, x2).var().item() == pytest.approx(1.0, rel=0.1)  # fan_in = in1·in2 keeps the variance


# ---------------------------------------------------------------- deep stacks keep the signal
@pytest.mark.parametrize("build, scheme, nonlinearity", [
    (lambda: nn.Sequential(*[m for _ in range(10) for m in (nn.Linear(128, 128), nn.ReLU())]), "he_normal", "auto"),
    (lambda: nn.Sequential(*[m for _ in range(8) for m in (nn.Conv1d(128, 128, 3, padding=1), nn.ReLU())]),
     "he_normal", "auto"),
    # Glorot's scheme takes gain 1 under "auto"; torch's recommended tanh gain 5/3 is asked for by name
    (lambda: nn.Sequential(*[m for _ in range(20) for m in (nn.Linear(128, 128), nn.Tanh())]), "xavier_normal",
     "tanh"),
    (lambda: nn.Sequential(*[m for _ in range(20) for m in (nn.Linear(128, 128), nn.SELU())]), "lecun_normal",
     "auto"),
])
def test_forward_variance_through_a_deep_stack_stays_within_a_factor_of_two(build, scheme, nonlinearity):
    """The second moment after the last layer over that after the first, averaged over 4 draws
    of the weights: one draw of a 128-wide net fluctuates by a log-normal factor that grows
    with depth/width; the scheme sets its expectation."""
    ratios = []
    for seed in range(4):
        model = wi.init_model(build(), scheme, generator=g(seed), nonlinearity=nonlinearity)
        x = torch.randn(256, 128, generator=g(9)) if isinstance(model[0], nn.Linear) else \
            torch.randn(8, 128, 128, generator=g(9))
        with torch.no_grad():
            ratios.append(model(x).pow(2).mean().item() / model[:2](x).pow(2).mean().item())
    assert 0.5 <= sum(ratios) / len(ratios) <= 2, ratios


def test_deep_lstm_keeps_its_hidden_state_alive():
    lstm = nn.LSTM(64, 64, num_layers=6, batch_first=True)
    wi.init_model(lstm, "xavier_uniform", generator=g())
    x = torch.randn(32, 50, 64, generator=g(1))
    stds = []
    with torch.no_grad():
        out, _ = lstm(x)
        h = x
        for layer in range(6):
            single = nn.LSTM(64, 64, batch_first=True)
            single.load_state_dict({k.replace(f"_l{layer}", "_l0"): v for k, v in lstm.state_dict().items()
                                    if f"_l{layer}" in k})
            h, _ = single(h)
            stds.append(h.std().item())
    assert out.std().item() == pytest.approx(stds[-1], rel=1e-4)
    assert 0.5 <= stds[-1] / stds[0] <= 2, stds


# ---------------------------------------------------------------- coverage of whole models
class LanguageModel(nn.Module):
    def __init__(self, vocab: int = 50, d: int = 16):
        super().__init__()
        self.embed = nn.Embedding(vocab, d)
        self.lstm = nn.LSTM(d, 32, num_layers=2, batch_first=True)
        self.head = nn.Linear(32, vocab)

    def forward(self, tokens):
        return self.head(self.lstm(self.embed(tokens))[0])


class GRUCellNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.cell = nn.GRUCell(10, 20)
        self.out = nn.Linear(20, 3)

    def forward(self, x):
        h = torch.zeros(x.shape[1], 20)
        for step in x:
            h = self.cell(step, h)
        return self.out(h)


class BilinearNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(8, 16), nn.Linear(8, 16)
        self.mix = nn.Bilinear(16, 16, 4)

    def forward(self, x):
        return self.mix(torch.relu(self.a(x)), torch.tanh(self.b(x)))


MODELS = {
    "transformer": (lambda: nn.TransformerEncoder(nn.TransformerEncoderLayer(32, 4, 64, batch_first=True), 2,
                                                  enable_nested_tensor=False), lambda: torch.randn(2, 5, 32)),
    "lstm language model": (LanguageModel, lambda: torch.randint(0, 50, (2, 7))),
    "gru cells": (GRUCellNet, lambda: torch.randn(4, 2, 10)),
    "cnn with norms": (lambda: nn.Sequential(nn.Conv2d(1, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 8, 3),
                                             nn.GroupNorm(4, 8), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 24 * 24, 10)),
                       lambda: torch.randn(2, 1, 28, 28)),
    "bilinear": (BilinearNet, lambda: torch.randn(3, 8)),
    "embedding bag": (lambda: nn.Sequential(nn.EmbeddingBag(30, 12), nn.Linear(12, 2)),
                      lambda: torch.randint(0, 30, (4, 3))),
}


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_parameter_of_these_models_gets_a_stated_rule(name, scheme):
    build, example = MODELS[name]
    model = build()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no parameter left to a warning
        plan = wi.plan_init(model, scheme, example_input=example())
        wi.init_model(model, scheme, example_input=example(), generator=g(), strict=True)
    covered = {(r.module, r.parameter) for r in plan.rows}
    everything = {tuple(n.rsplit(".", 1)) if "." in n else ("", n) for n, _ in model.named_parameters()}
    assert everything <= covered and plan.untouched == []
    assert all(r.rule for r in plan.rows)


def test_the_plan_rows_of_an_lstm_language_model():
    plan = wi.plan_init(LanguageModel(), "xavier_uniform", example_input=torch.randint(0, 50, (2, 7)))
    rows = rows_of(plan)
    assert rows[("embed", "weight", "")].rule == "U(±√(3/d))"
    assert rows[("lstm", "weight_ih_l0", "forget gate")].rule == "xavier_uniform"
    assert rows[("lstm", "weight_hh_l1", "cell gate")].rule == "orthogonal"
    assert rows[("lstm", "bias_ih_l0", "forget gate")].rule == "forget bias 1"
    assert rows[("head", "weight", "")].gain == 1.0 and not rows[("head", "weight", "")].gain_guessed
    assert "lstm.weight_hh_l1" in plan.table()


# ---------------------------------------------------------------- what no rule covers
class Scaled(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 4)
        self.scale = nn.Parameter(torch.full((4,), 7.0))

    def forward(self, x):
        return self.linear(x) * self.scale


def test_a_parameter_without_a_rule_is_named_in_one_warning_or_refused_when_strict():
    model = Scaled()
    with pytest.warns(UserWarning, match=r"1 parameter\(s\) of Scaled have no initialization rule .*: scale"):
        wi.init_model(model, "he_normal", generator=g())
    assert torch.all(model.scale == 7)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(UserError, match="scale"):
        wi.init_model(model, "xavier_normal", generator=g(), strict=True)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # refused: nothing changed


def test_a_registered_rule_covers_a_new_module_type():
    class Scale(nn.Module):
        def __init__(self):
            super().__init__()
            self.gamma = nn.Parameter(torch.zeros(3))

    def ones(name, module, ctx):
        return [wi.Block(name, "gamma", "ones", lambda t, gen: t.fill_(1.0))]

    wi.register_rule(Scale, ones)
    model = nn.Sequential(nn.Linear(3, 3), Scale())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        wi.init_model(model, "he_normal", generator=g(), strict=True)
    assert torch.all(model[1].gamma == 1)
    with pytest.raises(TypeError, match="module_type"):
        wi.register_rule(int, ones)


def test_tied_weights_are_initialized_once_by_the_first_module():
    model = LanguageModel(vocab=40, d=32)
    model.head = nn.Linear(32, 40)
    model.lstm = nn.LSTM(32, 32, batch_first=True)
    model.head.weight = model.embed.weight  # tied
    plan = wi.plan_init(model, "xavier_normal").apply(g())
    assert [r.module for r in plan.rows if r.parameter == "weight" and r.module in ("embed", "head")] == ["embed"]
    assert model.embed.weight.pow(2).sum(1).mean().item() == pytest.approx(1.0, rel=0.1)


# ---------------------------------------------------------------- gains from what really follows
class Block(nn.Module):
    """A hand-built ResNet block whose shared ReLU is declared after bn2."""

    def __init__(self, c: int = 8):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c)
        self.conv2, self.bn2 = nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += x
        return self.relu(out)


def test_a_traced_forward_pass_finds_the_relu_module_order_misses():
    block = Block()
    guessed = rows_of(wi.plan_init(block, "he_normal"))
    traced = rows_of(wi.plan_init(block, "he_normal", example_input=torch.randn(2, 8, 5, 5)))
    assert guessed[("conv1", "weight", "")].gain == 1.0 and guessed[("conv1", "weight", "")].gain_guessed
    assert traced[("conv1", "weight", "")].gain == pytest.approx(math.sqrt(2))
    assert traced[("conv2", "weight", "")].gain == 1.0  # the residual sum comes before the ReLU
    assert not traced[("conv2", "weight", "")].gain_guessed


def test_functional_activations_inside_a_transformer_layer_are_seen():
    layer = nn.TransformerEncoderLayer(16, 2, 32, activation="gelu", batch_first=True)
    plan = rows_of(wi.plan_init(layer, "he_normal", example_input=torch.randn(2, 3, 16)))
    assert plan[("linear1", "weight", "")].gain == pytest.approx(wi.calculate_gain("gelu"))
    assert plan[("linear2", "weight", "")].gain == 1.0
    assert plan[("self_attn.out_proj", "weight", "")].gain == 1.0
    layer.train()
    assert layer.training  # the trace put the mode back


# ---------------------------------------------------------------- residual depth
def test_gpt2_scaling_of_residual_projections():
    model = nn.TransformerEncoder(nn.TransformerEncoderLayer(64, 4, 128, batch_first=True), 3,
                                  enable_nested_tensor=False)
    plain = wi.init_model(nn.TransformerEncoder(nn.TransformerEncoderLayer(64, 4, 128, batch_first=True), 3,
                                                enable_nested_tensor=False), "xavier_normal", generator=g())
    wi.init_model(model, "xavier_normal", generator=g(), residual=wi.Residual("gpt2"))
    factor = 1 / math.sqrt(6)  # 3 layers x 2 branches
    assert torch.allclose(model.layers[2].linear2.weight, plain.layers[2].linear2.weight * factor)
    assert torch.allclose(model.layers[0].self_attn.out_proj.weight, plain.layers[0].self_attn.out_proj.weight * factor)
    assert torch.equal(model.layers[1].linear1.weight, plain.layers[1].linear1.weight)


def test_zero_init_of_each_branchs_last_norm_and_fixup():
    model = nn.Sequential(Block(), Block())
    wi.init_model(model, "he_normal", generator=g(), residual=wi.Residual("zero", [["0.bn2"], ["1.bn2"]]))
    assert torch.all(model[0].bn2.weight == 0) and torch.all(model[1].bn1.weight == 1)
    x = torch.randn(2, 8, 5, 5)
    model.eval()
    with torch.no_grad():
        assert torch.allclose(model(x), torch.relu(torch.relu(x)))  # every block starts as the identity (then ReLU)
    fixup = nn.Sequential(Block(), Block())
    reference = wi.init_model(nn.Sequential(Block(), Block()), "he_normal", generator=g())
    wi.init_model(fixup, "he_normal", generator=g(),
                  residual=wi.Residual("fixup", [["0.conv1", "0.conv2"], ["1.conv1", "1.conv2"]]))
    assert torch.all(fixup[0].conv2.weight == 0)
    assert torch.allclose(fixup[1].conv1.weight, reference[1].conv1.weight * 2 ** (-1 / 2))  # L^(-1/(2m-2)), L=m=2
    with pytest.raises(UserError, match="no residual branches found"):
        wi.init_model(nn.Linear(2, 2), "he_normal", residual=wi.Residual("gpt2"))
    with pytest.raises(UserError, match="does not have"):
        wi.init_model(nn.Linear(2, 2), "he_normal", residual=wi.Residual("zero", [["nope"]]))
    with pytest.raises(ValueError, match="residual kind"):
        wi.Residual("skip")


# ---------------------------------------------------------------- guarantees
def test_same_seed_same_weights_and_the_global_rng_untouched():
    a, b = LanguageModel(), LanguageModel()  # (building a module draws from the global RNG)
    tokens = torch.randint(0, 50, (2, 3), generator=g(1))
    state = torch.get_rng_state()
    wi.init_model(a, "xavier_uniform", generator=g(5))
    wi.init_model(b, "xavier_uniform", generator=g(5), example_input=tokens)
    assert torch.equal(torch.get_rng_state(), state)
    assert all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters()))


def test_dtype_is_kept_and_a_meta_model_is_refused():
    model = LanguageModel().double()
    wi.init_model(model, "he_normal", generator=g())
    assert all(p.dtype == torch.float64 for p in model.parameters())
    with torch.device("meta"):
        meta = nn.Linear(3, 3)
    with pytest.raises(UserError, match=r"meta device \(weight, bias\); initialize it with weightinit.materialize"):
        wi.init_model(meta, "he_normal")


@pytest.mark.cuda
def test_a_cuda_model_stays_on_its_device():  # device: cuda
    model = LanguageModel().cuda()
    wi.init_model(model, "he_normal", generator=torch.Generator(device="cuda").manual_seed(0))
    assert all(p.is_cuda for p in model.parameters())


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.cuda)])
@pytest.mark.parametrize("scheme", ["lsuv", "dbn"])
def test_a_data_driven_scheme_runs_where_the_model_lives(scheme, device, monkeypatch):
    from weightinit.boltzmann import RBMConfig
    from weightinit.boltzmann import dbn as dbn_module
    from weightinit.models import mlp

    trained_on = []  # the device of every RBM the dbn scheme trains
    train_rbm = dbn_module.train_rbm
    monkeypatch.setattr(dbn_module, "train_rbm", lambda rbm, x, config, **options: (
        trained_on.append(config.device), train_rbm(rbm, x, config, **options))[1])
    model = mlp("16-8-8-4", activation="sigmoid").to(device)
    data = torch.rand(600, 16)  # on the CPU; more rows than LSUV's batch, so that it draws a subset
    config = RBMConfig(epochs=1, batch_size=100) if scheme == "dbn" else None  # device "auto": the model's
    wi.init_model(model, scheme, data=data, config=config, generator=torch.Generator(device).manual_seed(0))
    assert all(p.device.type == device for p in model.parameters()) and data.device.type == "cpu"
    assert trained_on == ([device] * 2 if scheme == "dbn" else [])


def test_data_is_refused_by_a_scheme_that_takes_none():
    with pytest.raises(UserError, match="takes no data"):
        wi.init_model(nn.Linear(3, 3), "he_normal", data=torch.randn(4, 3))


def test_bad_options_name_themselves():
    with pytest.raises(ValueError, match="recurrent='identity'"):
        wi.init_model(nn.LSTM(2, 2), "he_normal", recurrent="identity")
    with pytest.raises(TypeError, match="example_input"):
        wi.plan_init(nn.Linear(2, 2), "he_normal", example_input=[1, 2])
    with pytest.raises(UserError, match="data-driven"):
        wi.plan_init(nn.Linear(2, 2), "lsuv")
