"""Per-layer diagnostics: the numbers match a hand computation, the model is untouched, the CLI; the
gates of recurrent layers and the attention blocks match torch, functional activations are seen."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from weightinit import init_model
from weightinit.cli import main
from weightinit.diagnostics.blocks import attention_logits, recurrent_pass
from weightinit.diagnostics.layer_stats import diagnose, layer_labels
from weightinit.modelinit.lsuv import LSUVConfig
from weightinit.models import PatchTransformer, RowLSTM


def _model(init: str, activation=nn.Tanh, depth: int = 4) -> nn.Sequential:
    layers: list[nn.Module] = []
    for _ in range(depth):
        layers += [nn.Linear(100, 100), activation()]
    model = nn.Sequential(*layers, nn.Linear(100, 10))
    return init_model(model, init, generator=torch.Generator().manual_seed(0))


@pytest.fixture
def batch():
    g = torch.Generator().manual_seed(1)
    return torch.randn(300, 100, generator=g), torch.randint(0, 10, (300,), generator=g)


def test_statistics_match_a_hand_computation(batch):
    model = _model("xavier_normal")
    report = diagnose(model, batch)
    x, y = batch
    pre = model[0](x)
    post = torch.tanh(pre)
    assert report.layers[0].pre_std == pytest.approx(pre.std().item(), rel=1e-5)
    assert report.layers[0].post_std == pytest.approx(post.std().item(), rel=1e-5)
    assert report.layers[0].saturated == pytest.approx((post.abs() > 0.9).float().mean().item())
    # gradient w.r.t. the first layer's output, by autograd on a copy
    copy = _model("xavier_normal")
    h = copy[0](x)
    h.retain_grad()
    F.cross_entropy(copy[1:](h), y).backward()
    assert report.layers[0].grad_std == pytest.approx(h.grad.std().item(), rel=1e-4)
    assert report.layers[0].weight_grad_std == pytest.approx(copy[0].weight.grad.std().item(), rel=1e-4)
    assert report.loss == pytest.approx(F.cross_entropy(copy(x), y).item(), rel=1e-5)
    assert [s.activation for s in report.layers] == ["Tanh"] * 4 + ["linear"]


def test_the_pictures_the_papers_describe(batch):
    # N(0, 1) saturates tanh; He keeps ReLU activations and gradients steady; N(0, 1) explodes ReLU.
    assert min(s.saturated for s in diagnose(_model("normal"), batch).layers[:4]) > 0.8
    he = diagnose(_model("he_normal", nn.ReLU), batch).layers
    assert all(0.5 < s.post_std_ratio < 2 and 0.5 < s.grad_std_ratio < 2 for s in he[:4])
    exploding = diagnose(_model("normal", nn.ReLU), batch).layers
    assert exploding[3].post_std_ratio > 100 and exploding[0].dead is not None


def test_the_model_is_left_as_it_was(batch):
    model = _model("he_normal", nn.ReLU)
    model.train()
    for p in model.parameters():
        p.grad = torch.full_like(p, 7.0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    state = torch.random.get_rng_state()
    diagnose(model, batch[0])  # no labels: the 0.5·|output|² loss
    assert model.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(torch.equal(p.grad, torch.full_like(p, 7.0)) for p in model.parameters())
    assert not model._forward_hooks and not model[0]._forward_hooks
    assert torch.equal(state, torch.random.get_rng_state())


def test_works_on_any_module_with_convolutions():
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 4, 3, padding=1), nn.Sigmoid(),
                          nn.Flatten(), nn.Linear(4 * 64, 5))
    report = diagnose(model, torch.randn(16, 3, 8, 8))
    assert [s.kind for s in report.layers] == ["Conv2d", "Conv2d", "Linear"]
    assert report.layers[1].saturated is not None and report.layers[0].dead is not None


@pytest.mark.parametrize("batch, error, message", [
    (torch.randn(1, 100), ValueError, "at least 2 samples"),
    (np.random.default_rng(0).random((1, 100)), ValueError, r"at least 2 samples .*, got 1"),
    # not a tensor: said so, not "at least 2 samples" as before, which blamed the count
    ("x", ValueError, "batch's x must be a torch.Tensor or a numpy array, got str"),
    ((torch.randn(4, 100), [0, 1, 2, 3]), ValueError, "batch's y must be a torch.Tensor or a numpy array, got list"),
])
def test_bad_input(batch, error, message):
    with pytest.raises(error, match=message):
        diagnose(_model("he_normal"), batch)
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        diagnose(object(), torch.randn(4, 100))


@pytest.mark.slow
def test_cli_diagnose(tmp_path, capsys):
    out = tmp_path / "d"
    assert main(["diagnose", "--dataset", "digits", "--arch", "64-32-32-10", "--inits", "normal,xavier_uniform",
                 "--batch", "64", "--out", str(out), "--json"]) == 0
    results = json.loads(capsys.readouterr().out)
    assert list(results["inits"]) == ["normal", "xavier_uniform"]
    assert len(results["inits"]["normal"]["layers"]) == 3
    assert sorted(p.name for p in out.iterdir()) == ["activations.png", "gradients.png", "results.json",
                                                      "std_by_layer.png"]


@pytest.mark.slow
def test_cli_diagnose_quick_runs_on_the_digits_and_names_each_layer_once(tmp_path, capsys):
    out = tmp_path / "q"
    assert main(["diagnose", "--quick", "--arch", "64-32-32-10", "--inits", "normal,xavier_uniform",
                 "--batch", "64", "--out", str(out)]) == 0  # was: "unrecognized arguments: --quick"
    captured = capsys.readouterr()
    assert captured.err.startswith("data: digits, 1437 train / 360 test")
    table = captured.out.split("\n\n")[0].splitlines()
    header = table[1].split("  ")
    header = [cell.strip() for cell in header if cell.strip()]
    # distinct headers, each explained in the key printed once under the tables
    assert header == ["layer", "module", "act", "pre std", "post std", "post std / layer 1", "sat/dead", "grad std",
                      "grad std / layer 1", "dW std"]
    assert captured.out.count("columns:") == 1 and all(name in captured.out.split("columns:")[1] for name in header)
    # rows named by place, type and size, the output layer included; the module name beside it
    assert [row[:25].strip() for row in table[2:]] == ["layer 1 (Linear 64->32)", "layer 2 (Linear 32->32)",
                                                       "layer 3 (Linear 32->10)"]
    assert [row.split()[4] for row in table[2:]] == ["0", "2", "4"]
    results = json.loads((out / "results.json").read_text())
    assert [layer["label"] for layer in results["inits"]["normal"]["layers"]] == [
        "layer 1 (Linear 64->32)", "layer 2 (Linear 32->32)", "layer 3 (Linear 32->10)"]


def test_a_numpy_batch_is_diagnosed_as_its_tensors():
    rng = np.random.default_rng(0)
    x, y = rng.random((16, 100)), rng.integers(0, 10, 16)  # float64 and int64, as numpy makes them
    model = _model("xavier_uniform")
    from_numpy = diagnose(model, (x, y))  # was: "batch must hold a tensor of at least 2 samples"
    from_torch = diagnose(model, (torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y)))
    assert from_numpy.loss == pytest.approx(from_torch.loss, rel=1e-6)
    assert [s.post_std for s in from_numpy.layers] == pytest.approx([s.post_std for s in from_torch.layers], rel=1e-6)
    assert [s.grad_std for s in from_numpy.layers] == pytest.approx([s.grad_std for s in from_torch.layers], rel=1e-6)
    assert len(diagnose(model, x).layers) == 5  # features alone too


def test_every_layer_has_one_label_the_output_layer_included():
    report = diagnose(_model("he_normal"), torch.randn(16, 100, generator=torch.Generator().manual_seed(0)))
    assert [s.label for s in report.layers] == [f"layer {i} (Linear 100->100)" for i in range(1, 5)] + [
        "layer 5 (Linear 100->10)"]
    assert [s.name for s in report.layers] == ["0", "2", "4", "6", "8"]  # the module names stay, for get_submodule
    assert report.to_dicts()[-1]["label"] == "layer 5 (Linear 100->10)"
    # the names a figure of the same model uses (dynamics.png) are the same; blocks count, their insides do not
    assert layer_labels(_model("he_normal")) == {s.name: s.label for s in report.layers}
    vit = layer_labels(PatchTransformer((8, 8), 10))
    assert vit["encoder.layers.0.self_attn"] == "layer 2 (MultiheadAttention 64)"
    assert not any(name.endswith("out_proj") for name in vit)
    assert layer_labels(RowLSTM((8, 8), 10, hidden=16)) == {"lstm": "layer 1 (LSTM 8->16)",
                                                            "head": "layer 2 (Linear 16->10)"}


@pytest.mark.parametrize("argv, message", [(["--inits", "foo"], "init='foo' is not supported"),
                                           (["--batch", "1"], "batch must be >= 2"),
                                           (["--arch", "64-x"], "is not a layer spec")])
def test_cli_diagnose_errors(tmp_path, capsys, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    assert main(["diagnose", "--dataset", "digits", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not (tmp_path / "runs").exists()


def _deep(depth: int, width: int, activation) -> nn.Sequential:
    layers: list[nn.Module] = []
    for _ in range(depth):
        layers += [nn.Linear(width, width), activation()]
    return nn.Sequential(*layers, nn.Linear(width, 10))


def test_ten_layer_tanh_xavier_keeps_its_scale_and_normal_saturates():
    x = torch.rand(256, 256, generator=torch.Generator().manual_seed(0))
    xavier = diagnose(init_model(_deep(10, 256, nn.Tanh), "xavier_uniform", nonlinearity="linear",
                                 generator=torch.Generator().manual_seed(0)), x).layers
    assert 0.3 <= xavier[9].post_std / xavier[0].post_std <= 3
    normal = diagnose(init_model(_deep(10, 256, nn.Tanh), "normal", generator=torch.Generator().manual_seed(0)), x)
    assert min(s.saturated for s in normal.layers[1:10]) > 0.9


def test_twenty_relu_layers_he_holds_and_glorot_decays():
    x = torch.randn(256, 128, generator=torch.Generator().manual_seed(0))
    he = diagnose(init_model(_deep(20, 128, nn.ReLU), "he_normal", generator=torch.Generator().manual_seed(0)), x)
    assert 0.5 <= he.layers[19].post_std / he.layers[0].post_std <= 2
    # Glorot's gain-1 formula, as in the paper and torch's default gain
    glorot = diagnose(init_model(_deep(20, 128, nn.ReLU), "xavier_normal", nonlinearity="linear",
                                 generator=torch.Generator().manual_seed(0)), x)
    assert glorot.layers[19].post_std / glorot.layers[0].post_std < 0.1


def test_diagnose_leaves_parameters_bit_identical(batch):
    model = _model("orthogonal")
    before = [p.detach().clone() for p in model.parameters()]
    diagnose(model, batch)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_nan_activations_name_the_first_layer(batch):
    model = _model("he_normal")
    with torch.no_grad():
        model[2].weight[0, 0] = float("nan")
    with pytest.warns(RuntimeWarning, match="layer '2' is the first to hold NaN"):
        report = diagnose(model, batch)
    assert report.first_nonfinite == "2"


def test_lsuv_that_cannot_converge_warns_and_a_failure_changes_nothing():
    x = torch.rand(64, 8, generator=torch.Generator().manual_seed(0))
    with pytest.warns(RuntimeWarning, match="did not reach"):
        init_model(nn.Sequential(nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 4)), "lsuv", data=x,
                   config=LSUVConfig(tol=1e-9, max_iter=1))
    model = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 4))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match="has variance 0"):
        init_model(model, "lsuv", data=torch.zeros(64, 8))  # all-zero input: nothing to scale
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


@pytest.mark.parametrize("name", ["glorot2010", "he2015"])
@pytest.mark.slow
def test_reproductions_run_quick(tmp_path, capsys, name):
    out = tmp_path / name
    assert main(["reproduce", name, "--quick", "--epochs", "2", "--out", str(out), "--json", "--no-progress"]) == 0
    results = json.loads(capsys.readouterr().out)
    assert results["experiment"] == name and results["findings"]
    assert {"results.json", "report.md", "curves.png"} <= {p.name for p in out.iterdir()}
    if name == "glorot2010":
        runs = {(r["activation"], r["init"]): r for r in results["runs"]}
        assert len(runs) == 6 and (out / "std_by_layer.png").is_file()
        # the paper's point at initialization: normalized init keeps gradients steadier across layers
        for activation in ("tanh", "sigmoid", "softsign"):
            assert runs[(activation, "normalized")]["at_init"]["top_over_bottom_grad_std"] < \
                runs[(activation, "standard")]["at_init"]["top_over_bottom_grad_std"]
    else:
        assert [r["depth"] for r in results["runs"]] == [22, 22, 30, 30]
        assert all(len(r["history"]) == 2 for r in results["runs"])


def test_a_batch_of_the_wrong_shape_is_a_clear_error():
    model = _model("he_normal")
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(ValueError, match=r"a batch of shape \(8, 50\) does not fit the model"):
        diagnose(model, torch.randn(8, 50))
    with pytest.raises(ValueError, match=r"a batch of shape \(8, 50\) does not fit the model"):
        init_model(model, "lsuv", data=torch.randn(8, 50))
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert not model[0]._forward_hooks


# ── recurrent gates, attention blocks, functional activations (issue 14) ──────────────────────────

@pytest.mark.filterwarnings("ignore:LSTM with projections is not supported with oneDNN")
@pytest.mark.parametrize("module", [
    nn.LSTM(5, 7, num_layers=2, bidirectional=True, batch_first=True),
    nn.LSTM(5, 7, num_layers=2, bidirectional=True, proj_size=3),
    nn.GRU(5, 7, num_layers=2, bidirectional=True),
    nn.RNN(5, 7, num_layers=2, nonlinearity="relu", batch_first=True),
    nn.RNN(5, 7, bias=False),
], ids=["lstm", "lstm-proj", "gru", "rnn-relu", "rnn-nobias"])
def test_gates_recomputed_step_by_step_give_torchs_output(module):
    # torch as the oracle: the last layer's hidden states are the module's output, with and without hx
    module.eval()
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, 6, 5, generator=g)
    directions = 2 if module.bidirectional else 1
    states = module.num_layers * directions
    size = module.proj_size if isinstance(module, nn.LSTM) and module.proj_size else module.hidden_size
    hx = torch.randn(states, 4 if module.batch_first else 6, size, generator=g)  # x: (B, T, F) or (T, B, F)
    if isinstance(module, nn.LSTM):
        hx = (hx, torch.randn(states, hx.shape[1], module.hidden_size, generator=g))
    for state in (None, hx):
        expected, _ = module(x, state)
        rows = recurrent_pass(module, x, state)
        assert len(rows) == states
        mine = torch.cat([r["hidden"] for r in rows if r["layer"] == module.num_layers - 1], -1)
        mine = mine.transpose(0, 1) if module.batch_first else mine
        torch.testing.assert_close(mine, expected, atol=1e-6, rtol=1e-5)


def _forget(forget_bias: float) -> dict:
    model = init_model(RowLSTM((8, 8), 10, hidden=32), "xavier_uniform", forget_bias=forget_bias,
                       generator=torch.Generator().manual_seed(0))
    report = diagnose(model, torch.rand(64, 64, generator=torch.Generator().manual_seed(1)))
    (lstm,) = report.recurrent
    return {g.gate: g for g in lstm.gates}


def test_forget_gate_saturation_follows_forget_bias():
    zero, one, three, five = _forget(0.0), _forget(1.0), _forget(3.0), _forget(5.0)
    # the gate's mean output is about sigmoid(bias): 0.5, 0.73 (Jozefowicz et al.'s 1), 0.95, 0.993
    for gates, bias in ((zero, 0.0), (one, 1.0), (three, 3.0), (five, 5.0)):
        assert gates["forget"].post_mean == pytest.approx(torch.sigmoid(torch.tensor(bias)).item(), abs=0.05)
    # saturated (> 0.95): none at 0 or 1, about half at 3, nearly all at 5, a gate that remembers everything
    assert zero["forget"].saturated < 0.05 and one["forget"].saturated < 0.05
    assert 0.2 < three["forget"].saturated < 0.8 and five["forget"].saturated > 0.9
    assert five["forget"].pre_mean == pytest.approx(5.0, abs=0.1)
    assert five["input"].saturated == pytest.approx(zero["input"].saturated)  # the other gates are untouched


def test_lstm_report_rows_and_hidden_state_along_the_sequence():
    model = init_model(RowLSTM((8, 8), 10, hidden=16), "xavier_uniform", generator=torch.Generator().manual_seed(0))
    x = torch.rand(32, 64, generator=torch.Generator().manual_seed(1))
    report = diagnose(model, x)
    assert [(s.name, s.kind, s.activation) for s in report.layers] == [("lstm", "LSTM", "-"),
                                                                       ("head", "Linear", "linear")]
    (lstm,) = report.recurrent
    assert (lstm.name, lstm.kind, lstm.layer, lstm.direction) == ("lstm", "LSTM", 0, "forward")
    assert [g.gate for g in lstm.gates] == ["input", "forget", "cell", "output"]
    assert [g.activation for g in lstm.gates] == ["sigmoid", "sigmoid", "tanh", "sigmoid"]
    assert len(lstm.hidden_std) == len(lstm.cell_std) == 8  # 8 rows read, one std per step
    with torch.no_grad():
        out, _ = model.lstm(x.view(-1, 8, 8))  # (B, T, hidden)
    assert lstm.hidden_std == pytest.approx([out[:, t].std().item() for t in range(8)], rel=1e-4)
    assert report.layers[0].pre_std == pytest.approx(out.std().item(), rel=1e-5)
    assert report.layers[0].weight_grad_std > 0 and report.layers[0].grad_std > 0
    text = report.table()
    assert "forget" in text and "hidden state h_t" in text and "lstm l0" in text
    assert report.to_dict()["recurrent"][0]["gates"][1]["gate"] == "forget"


def test_a_bidirectional_gru_reads_its_reverse_direction_backwards():
    model = nn.Sequential(nn.GRU(3, 4, num_layers=2, bidirectional=True, batch_first=True))
    report = diagnose(model, torch.randn(5, 6, 3, generator=torch.Generator().manual_seed(0)),
                      loss_fn=lambda out, y: out[0].pow(2).sum())
    assert [(r.layer, r.direction) for r in report.recurrent] == [(0, "forward"), (0, "reverse"), (1, "forward"),
                                                                  (1, "reverse")]
    assert [g.gate for g in report.recurrent[0].gates] == ["reset", "update", "new"]
    # from a zero state, the first step each direction reads has the smallest spread of h
    for r in report.recurrent:
        assert r.hidden_std[0] == min(r.hidden_std)


def test_a_packed_sequence_is_skipped_with_a_warning():
    class Packed(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn, self.head = nn.LSTM(3, 4, batch_first=True), nn.Linear(4, 2)

        def forward(self, x):
            _, (h, _) = self.rnn(pack_padded_sequence(x, [5] * len(x), batch_first=True))
            return self.head(h[-1])

    with pytest.warns(RuntimeWarning, match="'rnn' was called on a PackedSequence"):
        report = diagnose(Packed(), torch.randn(4, 5, 3))
    assert report.recurrent == [] and [s.name for s in report.layers] == ["rnn", "head"]  # its output is measured


def _encoder(scale: float) -> nn.TransformerEncoder:
    layer = nn.TransformerEncoderLayer(32, 4, 64, dropout=0.0, batch_first=True)
    encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
    init_model(encoder, "xavier_uniform", generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        for block in encoder.layers:
            block.self_attn.in_proj_weight.mul_(scale)
    return encoder


def test_a_huge_attention_init_gives_peaked_attention_and_a_tiny_one_uniform():
    x = torch.randn(8, 12, 32, generator=torch.Generator().manual_seed(0))
    loss = lambda out, y: out.pow(2).mean()  # noqa: E731
    huge, tiny = diagnose(_encoder(30.0), x, loss).attention, diagnose(_encoder(0.01), x, loss).attention
    assert [a.name for a in huge] == ["layers.0.self_attn", "layers.1.self_attn"]
    assert all(a.entropy < 0.2 and a.peaked > 0.5 for a in huge)
    assert all(a.entropy > 0.999 and a.peaked == 0 for a in tiny)
    assert huge[0].logit_std > 100 * tiny[0].logit_std
    assert all(len(a.head_entropy) == 4 and a.keys == 12 for a in huge)


def test_attention_logits_std_matches_a_hand_computation():
    attention = nn.MultiheadAttention(8, 2, batch_first=True).eval()
    x = torch.randn(3, 5, 8, generator=torch.Generator().manual_seed(0))
    class Wrap(nn.Module):
        def __init__(self):
            super().__init__()
            self.attn = attention

        def forward(self, x):
            return self.attn(x, x, x)[0].mean(1)

    report = diagnose(Wrap(), x)
    q, k, _ = F.linear(x, attention.in_proj_weight, attention.in_proj_bias).chunk(3, -1)  # (B, L, E) each
    q, k = q.view(3, 5, 2, 4).transpose(1, 2), k.view(3, 5, 2, 4).transpose(1, 2)  # (B, heads, L, d)
    logits = q @ k.transpose(-2, -1) / 2.0  # sqrt(d_head = 4)
    p = logits.softmax(-1)
    entropy = -(p * p.log()).sum(-1) / torch.log(torch.tensor(5.0))
    (a,) = report.attention
    assert a.logit_std == pytest.approx(logits.std().item(), rel=1e-5)
    assert a.entropy == pytest.approx(entropy.mean().item(), rel=1e-5)
    assert report.layers[0].kind == "MultiheadAttention"


@pytest.mark.parametrize("options", [{}, {"bias": False}, {"add_bias_kv": True}, {"add_zero_attn": True},
                                     {"kdim": 3, "vdim": 2}, {"batch_first": True, "add_bias_kv": True}])
def test_attention_logits_and_masks_give_torchs_weights(options):
    module = nn.MultiheadAttention(8, 2, **options).eval()
    g = torch.Generator().manual_seed(0)
    length, keys, batch = 5, 6, 3
    query = torch.randn(length, batch, 8, generator=g)
    key = torch.randn(keys, batch, options.get("kdim", 8), generator=g)
    value = torch.randn(keys, batch, options.get("vdim", 8), generator=g)
    if options.get("batch_first"):
        query, key, value = (t.transpose(0, 1) for t in (query, key, value))
    padding = torch.zeros(batch, keys, dtype=torch.bool)
    padding[0, -2:] = True
    causal = torch.ones(length, keys, dtype=torch.bool).triu(1)
    for masks in ({}, {"key_padding_mask": padding}, {"attn_mask": causal},
                  {"key_padding_mask": torch.zeros(batch, keys).masked_fill(padding, float("-inf")),
                   "attn_mask": torch.randn(batch * 2, length, keys, generator=g)}):  # float masks, per head
        _, expected = module(query, key, value, need_weights=True, average_attn_weights=False, **masks)
        scores, bias = attention_logits(module, query, key, masks.get("key_padding_mask"), masks.get("attn_mask"))
        torch.testing.assert_close(torch.softmax(scores + bias, -1), expected, atol=1e-6, rtol=1e-5)


def test_a_causal_mask_counts_only_the_keys_a_row_may_see():
    layer = nn.TransformerEncoderLayer(16, 2, 32, dropout=0.0, batch_first=True)
    x = torch.randn(4, 6, 16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        layer.self_attn.in_proj_weight.mul_(1e-4)  # logits ~0: uniform over what each row may see
    mask = nn.Transformer.generate_square_subsequent_mask(6)
    (a,) = diagnose(layer, x, lambda out, y: out.pow(2).mean()).attention  # no mask: uniform over 6 keys
    assert a.entropy == pytest.approx(1.0, abs=1e-4)

    class Causal(nn.Module):
        def __init__(self):
            super().__init__()
            self.layer = layer

        def forward(self, x):
            return self.layer(x, src_mask=mask, is_causal=True)

    (a,) = diagnose(Causal(), x, lambda out, y: out.pow(2).mean()).attention
    assert a.entropy == pytest.approx(1.0, abs=1e-4)  # uniform over 1..6 allowed keys, each row by its own log S


def test_a_functional_relu_after_a_linear_is_reported():
    class Functional(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc, self.out = nn.Linear(10, 20), nn.Linear(20, 3)

        def forward(self, x):
            return self.out(F.relu(self.fc(x)))

    model = Functional()
    x = torch.randn(64, 10, generator=torch.Generator().manual_seed(0))
    report = diagnose(model, x)
    fc, out = report.layers
    assert (fc.activation, out.activation) == ("relu()", "linear")
    post = F.relu(model.fc(x))
    assert fc.post_std == pytest.approx(post.std().item(), rel=1e-5)
    assert fc.dead == pytest.approx((post.max(0).values <= 1e-8).float().mean().item())
    assert fc.saturated is None and fc.pre_std != pytest.approx(fc.post_std)


def test_the_transformer_encoder_layers_functional_activation_and_attention_are_reported():
    model = init_model(PatchTransformer((8, 8), 10), "he_normal", generator=torch.Generator().manual_seed(0),
                       example_input=torch.rand(2, 64))
    report = diagnose(model, torch.rand(32, 64, generator=torch.Generator().manual_seed(1)))
    rows = {s.name: s for s in report.layers}
    assert list(rows) == ["embed", "encoder.layers.0.self_attn", "encoder.layers.0.linear1",
                          "encoder.layers.0.linear2", "encoder.layers.1.self_attn", "encoder.layers.1.linear1",
                          "encoder.layers.1.linear2", "head"]
    assert rows["encoder.layers.0.linear1"].activation == "gelu()"  # F.gelu, called as a function
    assert rows["encoder.layers.0.linear1"].post_std < rows["encoder.layers.0.linear1"].pre_std
    assert rows["encoder.layers.0.self_attn"].activation == "-"
    assert [a.name for a in report.attention] == ["encoder.layers.0.self_attn", "encoder.layers.1.self_attn"]
    assert "entropy/log S" in report.table()
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())


def test_a_module_activation_keeps_its_class_name_and_relu6_is_traced():
    model = nn.Sequential(nn.Linear(6, 6), nn.ReLU6(), nn.Linear(6, 6), nn.Sigmoid(), nn.Linear(6, 2))
    report = diagnose(model, torch.randn(16, 6))
    assert [s.activation for s in report.layers] == ["ReLU6", "Sigmoid", "linear"]
    assert report.layers[0].dead is not None and report.layers[1].saturated is not None


@pytest.mark.parametrize("model, expected", [("lstm", "forget"), ("transformer", "entropy/log S")])
@pytest.mark.slow
def test_cli_diagnose_model(tmp_path, capsys, model, expected):
    out = tmp_path / model
    assert main(["diagnose", "--dataset", "digits", "--model", model, "--inits", "default,xavier_uniform",
                 "--batch", "32", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert expected in text and "== xavier_uniform" in text
    results = json.loads((out / "results.json").read_text())
    assert results["model"] == model and results["activation"] == "-"
    inits = results["inits"]["default"]
    assert (inits["recurrent"] if model == "lstm" else inits["attention"])
    assert sorted(p.name for p in out.iterdir()) == ["activations.png", "gradients.png", "results.json",
                                                      "std_by_layer.png"]


@pytest.mark.parametrize("argv, message", [(["--activation", "relu"], "--activation relu applies to --model mlp only"),
                                           (["--arch", "64-10"], "--arch 64-10 applies to --model mlp only")])
def test_cli_diagnose_model_refuses_mlp_options(tmp_path, capsys, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    assert main(["diagnose", "--dataset", "digits", "--model", "lstm", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not (tmp_path / "runs").exists()
