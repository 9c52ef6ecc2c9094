"""Hinton, Osindero & Teh 2006 as published: the labeled top RBM, up-down fine-tuning,
classification by free energy (weightinit.boltzmann.updown), and its command."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from weightinit.boltzmann import DBN, RBM, RBMConfig
from weightinit.boltzmann.updown import UpDownConfig, UpDownDBN, cd_steps_at, one_hot, train_top
from weightinit.cli import main
from weightinit.data.datasets import load_dataset

CONFIG = RBMConfig(epochs=10, batch_size=20, lr=0.05, device="cpu")


@pytest.fixture(scope="module")
def synthetic():
    return load_dataset("synthetic")


@pytest.fixture(scope="module")
def greedy(synthetic):
    """A 64-32 DBN with a 42-100 top RBM over [32 units + 10 labels], trained greedily."""
    x, y = synthetic.train.x, synthetic.train.y
    dbn = DBN((64, 32))
    dbn.pretrain(x, CONFIG)
    top = RBM(42, 100)
    train_top(top, dbn.transform(x), y, CONFIG)
    return dbn, top


def test_label_free_energies_are_the_top_rbms_free_energies(greedy, synthetic):
    dbn, top = greedy
    model = UpDownDBN(dbn.rbms, top, 10)
    x = synthetic.test.x[:30]
    pen = dbn.transform(x)  # before fine-tuning, recognition = the RBMs' weights
    expected = torch.stack([top.free_energy(torch.cat([pen, F.one_hot(torch.full((30,), label), 10).float()], 1))
                            for label in range(10)], 1)
    assert torch.allclose(model.label_free_energies(x, chunk=7), expected, atol=1e-4)
    assert torch.equal(model.predict(x), expected.argmin(1))


def test_greedy_network_classifies_and_up_down_keeps_it_working(greedy, synthetic):
    dbn, top = greedy
    model = UpDownDBN(dbn.rbms, top, 10)
    test = synthetic.test
    before = model.error_rate(test.x, test.y)
    assert before < 0.2  # chance: 0.9
    x = synthetic.train.x.clone()
    seen = []
    model.fine_tune(x, synthetic.train.y, UpDownConfig(epochs=3, batch_size=20, lr=0.01),
                    on_epoch=lambda epoch, seconds: seen.append(epoch))
    assert seen == [1, 2, 3] and torch.equal(x, synthetic.train.x)
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert model.error_rate(test.x, test.y) < before + 0.05
    # untied: recognition and generative weights have moved apart, the DBN's RBMs are untouched
    assert not torch.equal(model.rec_W[0], model.gen_W[0]) and torch.equal(dbn.rbms[0].W, greedy[0].rbms[0].W)


def test_up_down_is_reproducible(greedy, synthetic):
    dbn, top = greedy
    a, b = UpDownDBN(dbn.rbms, top, 10), UpDownDBN(dbn.rbms, top, 10)
    for model in (a, b):
        model.fine_tune(synthetic.train.x[:200], synthetic.train.y[:200], UpDownConfig(epochs=1, batch_size=50))
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_cd_steps_grow_over_equal_shares_of_the_epochs():
    config = UpDownConfig(epochs=9, cd_steps=(3, 6, 10))
    assert [cd_steps_at(config, e) for e in range(9)] == [3, 3, 3, 6, 6, 6, 10, 10, 10]
    assert [cd_steps_at(UpDownConfig(epochs=2, cd_steps=(3, 6, 10)), e) for e in range(2)] == [3, 6]


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: UpDownConfig(cd_steps=()), "cd_steps must hold at least one"),
        (lambda: UpDownConfig(cd_steps=(3, 0)), "cd_steps must be >= 1, got 0"),
        (lambda: UpDownConfig(lr=0), "lr must be > 0, got 0"),
        (lambda: one_hot(torch.tensor([0, 10]), 10), r"labels must be a 1-D tensor of classes in \[0, 10\)"),
        (lambda: UpDownDBN([RBM(8, 4)], RBM(13, 5), 10), r"the top RBM must have 4 \+ 10 visible units, got 13"),
    ],
)
def test_bad_arguments_are_refused(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.slow
def test_reproduce_hinton2006_up_down_command(tmp_path, capsys):
    out = tmp_path / "updown"
    assert main(["reproduce", "hinton2006", "--method", "up-down", "--dataset", "synthetic", "--pretrain-epochs", "2",
                 "--top-epochs", "2", "--top-hidden", "50", "--updown-epochs", "2", "--batch-size", "20",
                 "--device", "cpu", "--out", str(out), "--no-progress"]) == 0
    assert "up-down fine-tuned" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["checkpoints", "report.md", "results.json", "settings.json",
                                                     "updown.pt", "updown.pt.sha256"]
    result = json.loads((out / "results.json").read_text())
    assert result["experiment"] == "hinton2006-updown" and result["top_hidden"] == 50
    assert len(result["valid_errors"]) == 2 and 0 <= result["test_error"] <= 1
    assert result["updown"]["cd_steps"] == [3, 6, 10] and result["layers"] == [64, 500, 500]


@pytest.mark.parametrize("argv, message", [(["--method", "sleep"], "method='sleep' is not supported"),
                                           (["--method", "up-down", "--cd-steps", "3,x"], "--cd-steps must be whole")])
def test_up_down_errors_are_one_line_exit_2(tmp_path, capsys, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    assert main(["reproduce", "hinton2006", "--dataset", "synthetic", "--device", "cpu", *argv]) == 2
    assert message in capsys.readouterr().err
