"""Per-layer diagnostics: the numbers match a hand computation, the model is untouched, the CLI."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from weightinit import init_model
from weightinit.cli import main
from weightinit.diagnostics import diagnose
from weightinit.lsuv import LSUVConfig


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
    ("x", ValueError, "at least 2 samples"),
])
def test_bad_input(batch, error, message):
    with pytest.raises(error, match=message):
        diagnose(_model("he_normal"), batch)
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        diagnose(object(), torch.randn(4, 100))


def test_cli_diagnose(tmp_path, capsys):
    out = tmp_path / "d"
    assert main(["diagnose", "--dataset", "digits", "--arch", "64-32-32-10", "--inits", "normal,xavier_uniform",
                 "--batch", "64", "--out", str(out), "--json"]) == 0
    results = json.loads(capsys.readouterr().out)
    assert list(results["inits"]) == ["normal", "xavier_uniform"]
    assert len(results["inits"]["normal"]["layers"]) == 3
    assert sorted(p.name for p in out.iterdir()) == ["activations.png", "gradients.png", "results.json",
                                                      "std_by_layer.png"]


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
