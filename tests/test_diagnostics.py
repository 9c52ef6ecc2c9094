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
