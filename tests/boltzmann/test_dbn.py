"""Deep Belief Networks: greedy pre-training, export to an MLP, resume, the dbn scheme, DBNClassifier."""

from __future__ import annotations

import json
import warnings
from dataclasses import replace

import numpy as np
import pytest
import torch
from sklearn.utils.estimator_checks import check_estimator

from weightinit import init_model
from weightinit.boltzmann import RBMConfig
from weightinit.boltzmann.dbn import DBN
from weightinit.cli import main
from weightinit.data import load_dataset
from weightinit.estimators import DBNClassifier
from weightinit.models import mlp
from weightinit.training import TrainConfig, fit

CONFIG = RBMConfig(epochs=4, batch_size=10, lr=0.05, device="cpu")


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


@pytest.fixture(scope="module")
def pretrained(digits):
    dbn = DBN([64, 48, 32])
    histories = dbn.pretrain(digits.train.x, CONFIG)
    return dbn, histories


def test_greedy_pretraining_trains_every_layer(pretrained):
    dbn, histories = pretrained
    assert [len(h.epochs) for h in histories] == [4, 4]
    for h in histories:
        assert h.epochs[-1].reconstruction_error < h.epochs[0].reconstruction_error


def test_exported_mlp_first_layer_is_the_rbms_prob_h(pretrained, digits):
    dbn, _ = pretrained
    model = dbn.to_mlp(10)
    x = digits.test.x
    with torch.no_grad():
        assert torch.allclose(model[1](model[0](x)), dbn.rbms[0].prob_h(x), atol=1e-6)
        assert torch.allclose(model[3](model[2](model[1](model[0](x)))), dbn.transform(x), atol=1e-6)
    assert [type(m).__name__ for m in model] == ["Linear", "Sigmoid", "Linear", "Sigmoid", "Linear"]
    assert model[4].out_features == 10 and torch.count_nonzero(model[4].bias) == 0


@pytest.mark.slow
def test_finetuning_lowers_the_loss_and_beats_all_zeros(pretrained, digits):
    dbn, _ = pretrained
    config = TrainConfig(optimizer="sgd", lr=0.1, momentum=0.9, epochs=15, batch_size=20, device="cpu")
    model = dbn.to_mlp(10, generator=torch.Generator().manual_seed(0))
    history = fit(model, digits.train, config, evaluate_on=("test", digits.test))
    assert history.epochs[-1].train_loss < 0.5 * history.epochs[0].train_loss
    zeros = init_model(mlp("64-48-32-10", activation="sigmoid"), "zeros")
    baseline = fit(zeros, digits.train, config, evaluate_on=("test", digits.test))
    assert history.last.eval_accuracy > 0.85 > baseline.last.eval_accuracy + 0.3


def test_resume_skips_finished_layers_and_matches_an_uninterrupted_run(digits, tmp_path):
    uninterrupted = DBN([64, 32, 16])
    uninterrupted.pretrain(digits.train.x, CONFIG, checkpoint_dir=tmp_path / "a")

    def crash_after_first_layer(i, history):
        if i == 0:
            raise KeyboardInterrupt

    interrupted = DBN([64, 32, 16])
    with pytest.raises(KeyboardInterrupt):
        interrupted.pretrain(digits.train.x, CONFIG, checkpoint_dir=tmp_path / "b", on_layer=crash_after_first_layer)
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["layer-0.json", "layer-0.pt", "layer-0.pt.sha256"]
    resumed = DBN([64, 32, 16])
    histories = resumed.pretrain(digits.train.x, CONFIG, checkpoint_dir=tmp_path / "b")
    assert histories[0] is None and histories[1] is not None  # layer 1 loaded, layer 2 trained
    for p, q in zip(uninterrupted.parameters(), resumed.parameters()):
        assert torch.equal(p, q)


def test_resume_with_other_settings_is_refused(digits, tmp_path):
    DBN([64, 16]).pretrain(digits.train.x, CONFIG, checkpoint_dir=tmp_path)
    before = (tmp_path / "layer-0.pt").read_bytes()
    with pytest.raises(ValueError, match=r"other settings \(rbm.epochs, rbm.lr differ\)"):
        DBN([64, 16]).pretrain(digits.train.x, replace(CONFIG, epochs=2, lr=0.01), checkpoint_dir=tmp_path)
    assert (tmp_path / "layer-0.pt").read_bytes() == before
    assert json.loads((tmp_path / "layer-0.json").read_text())["rbm"]["epochs"] == 4


def test_dbn_scheme_pretrains_an_existing_mlp(digits):
    model = mlp("64-32-16-10", activation="sigmoid")
    # device="auto" (the default) pre-trains where the model lives, here the CPU: "auto" never reaches
    # resolve_device (conftest's guard would fail the test), so a CUDA machine would not use its GPU either
    init_model(model, "dbn", data=digits.train.x, config=RBMConfig(epochs=2),
               generator=torch.Generator().manual_seed(0))
    reference = DBN([64, 32, 16])
    seed = int(torch.randint(0, 2**31 - 1, (1,), generator=torch.Generator().manual_seed(0)))
    reference.pretrain(digits.train.x, replace(RBMConfig(epochs=2, device="cpu"), seed=seed))
    assert torch.equal(model[0].weight, reference.rbms[0].W) and torch.equal(model[2].bias, reference.rbms[1].b_h)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda d: DBN([64]), "at least 2 sizes"),
        (lambda d: DBN([64, 0]), "positive integers"),
        (lambda d: DBN([64, 8], visible="poisson"), "visible='poisson' is not supported"),
        (lambda d: DBN([60, 8]).pretrain(d.train.x, CONFIG), r"must have shape \(n_samples, 60\)"),
        (lambda d: DBN([64, 8]).pretrain(d.train.x, CONFIG, propagate="means"), "propagate='means' is not supported"),
        (lambda d: DBN([64, 8, 4]).pretrain(d.train.x, [CONFIG]), "one RBMConfig or 2 of them"),
        (lambda d: init_model(mlp("64-8-10"), "dbn"), "scheme='dbn' needs data="),
        (lambda d: init_model(torch.nn.Sequential(torch.nn.Linear(64, 8)), "dbn", data=d.train.x), "form a chain"),
    ],
)
def test_bad_input(digits, call, message):
    with pytest.raises(ValueError, match=message):
        call(digits)


@pytest.mark.slow
def test_dbn_classifier_passes_check_estimator():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(DBNClassifier(hidden_layer_sizes=(16,), pretrain_epochs=1, max_iter=10,
                                                batch_size=10), on_fail=None)
    assert [(r["check_name"], repr(r["exception"])) for r in results if r["status"] == "failed"] == []


@pytest.mark.slow
def test_dbn_classifier_on_digits(digits):
    clf = DBNClassifier(hidden_layer_sizes=(64,), pretrain_epochs=5, max_iter=20, batch_size=20, random_state=0)
    clf.fit(digits.train.x.numpy(), digits.train.y.numpy())
    assert clf.score(digits.test.x.numpy(), digits.test.y.numpy()) > 0.85
    proba = clf.predict_proba(digits.test.x.numpy())
    assert np.allclose(proba.sum(1), 1) and proba.shape == (360, 10)


@pytest.mark.slow
def test_cli_dbn_runs_and_resumes(tmp_path, capsys):
    out = tmp_path / "d"
    argv = ["dbn", "--dataset", "digits", "--layers", "64-32-16", "--pretrain-epochs", "2", "--finetune-epochs", "3",
            "--n-valid", "300", "--out", str(out), "--no-progress", "--device", "cpu"]
    assert main(argv) == 0
    assert {"dbn.pt", "classifier.pt", "results.json", "report.md", "curves.png", "filters.png", "checkpoints"} <= \
        {p.name for p in out.iterdir()}
    first = json.loads((out / "results.json").read_text())
    resume = [a for a in argv if a not in ("--out", str(out))] + ["--resume", str(out)]
    assert main(resume) == 0
    err = capsys.readouterr().err
    assert "layer 1 (64-32): loaded from checkpoint" in err and "layer 2 (32-16): loaded from checkpoint" in err
    again = json.loads((out / "results.json").read_text())
    assert again["runs"][0]["test_accuracy"] == first["runs"][0]["test_accuracy"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--layers", "784-500"], "layers start with 784 units but digits has 64 features"),
        (["--layers", "64"], "arch='64' is not a layer spec"),
        (["--layers", "64-16", "--resume", "nowhere"], "--resume needs the folder of an earlier run, got 'nowhere'"),
        (["--finetune-epochs", "0"], "epochs must be >= 1, got 0"),
    ],
)
def test_cli_dbn_errors(tmp_path, capsys, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    assert main(["dbn", "--dataset", "digits", "--device", "cpu", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0] and err[0].startswith("weightinit: error:"), err
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_reproduce_hinton2006_small_on_real_mnist(tmp_path, capsys):
    # the real pipeline on real MNIST, shrunk: 1,000 training images (59,000 held out), one epoch each
    out = tmp_path / "h"
    assert main(["reproduce", "hinton2006", "--pretrain-epochs", "1", "--finetune-epochs", "2", "--control-epochs", "1",
                 "--n-valid", "59000", "--no-refit", "--out", str(out), "--no-progress", "--json",
                 "--device", "cpu"]) == 0
    results = json.loads(capsys.readouterr().out)
    names = [run["name"] for run in results["runs"]]
    assert names == ["DBN pre-training + fine-tuning (sigmoid)",
                     "random init, sigmoid, xavier_uniform (adam lr 0.001, 1 epochs)",
                     "random init, ReLU, he_normal (adam lr 0.001, 1 epochs)"]
    assert results["config"]["controls"]["optimizer"] == "adam" and results["config"]["finetune"]["optimizer"] == "sgd"
    assert results["config"]["refit"] is False and not any(run["refit"] for run in results["runs"])
    assert [len(run["history"]) for run in results["runs"]] == [2, 1, 1]
    assert results["runs"][2]["test_error_percent"] < 50  # Adam (the controls' setting) learns in one epoch
    assert results["references"]["plain back-prop of that era"] == 1.6
    assert {"dbn.pt", "classifier.pt", "report.md", "results.json"} <= {p.name for p in out.iterdir()}


def test_hinton2006_defaults_are_the_validated_fine_tuning_settings():
    from weightinit.cli import build_parser

    args = build_parser().parse_args(["reproduce", "hinton2006"])
    assert (args.lr, args.lr_decay, args.dropout, args.input_dropout, args.ema, args.refit, args.finetune_epochs) == (
        0.3, 0.97, 0.3, 0.1, 0.999, True, 60)
    plain = build_parser().parse_args(["dbn"])
    # dbn's --lr, --optimizer and --pretrain-epochs are fitted to the data once it is read (None here): on MNIST
    # sgd at 0.1 and 10 epochs as before (test_dbn_defaults_are_hinton2006s_on_mnist_and_fit_digits)
    assert (plain.lr, plain.optimizer, plain.pretrain_epochs, plain.ema, plain.refit) == (None, None, None, 0.0, False)


def test_refit_trains_again_on_all_training_data_for_the_chosen_epochs(digits, tmp_path, monkeypatch):
    from weightinit.experiments import finetune as finetune_module
    from weightinit.runs.checkpoint import Checkpoint
    from weightinit.training import evaluate

    seen = []  # (training samples, epochs) of every fit
    original = finetune_module.fit_resumable

    def spy(model, train, config, checkpoint, **options):
        seen.append((len(train), config.epochs))
        return original(model, train, config, checkpoint, **options)

    monkeypatch.setattr(finetune_module, "fit_resumable", spy)
    finetune = finetune_module.finetune

    def model():
        return init_model(mlp("64-32-10", activation="sigmoid"), "xavier_uniform",
                          generator=torch.Generator().manual_seed(0))

    config = TrainConfig(optimizer="sgd", lr=0.5, momentum=0.9, epochs=4, seed=1, device="cpu")
    tuned = model()
    result = finetune(tuned, digits, config, n_valid=300, name="net", refit=True,
                                  checkpoint=Checkpoint(tmp_path / "run"))
    n = len(digits.train)
    assert seen == [(n - 300, 4), (n, result.best_epoch)]
    assert result.refit and len(result.refit_history) == result.best_epoch
    # the tested network is the refit one
    assert result.test_accuracy == pytest.approx(evaluate(tuned, digits.test)[1], abs=1e-12)
    chosen_only = finetune(model(), digits, config, n_valid=300, name="net")
    assert not chosen_only.refit and chosen_only.best_epoch == result.best_epoch
    # a second call reads both fine-tunings back from the checkpoint, training nothing
    seen.clear()
    again = model()
    assert finetune(again, digits, config, n_valid=300, name="net", refit=True,
                                checkpoint=Checkpoint(tmp_path / "run")) == result
    assert all(torch.equal(a, b) for a, b in zip(again.state_dict().values(), tuned.state_dict().values()))


# ------------------------------------------------------------------ defaults that fit the data (issue 29). Device: cpu
def _fitted(argv, n_tuning):
    from weightinit.cli import build_parser
    from weightinit.cli.dbn import fitted_settings, typed_configs

    args = build_parser().parse_args(["dbn", *argv, "--device", "cpu"])
    pretrain, train, line = fitted_settings(args, *typed_configs(args), n_tuning)
    return pretrain.epochs, train.epochs, train.optimizer, train.lr, train.momentum, line


def test_dbn_defaults_are_hinton2006s_on_mnist_and_fit_digits():
    # MNIST: 50,000 tuning images, 500 updates an epoch
    *settings, line = _fitted([], 50_000)
    assert settings == [10, 30, "sgd", 0.1, 0.9]
    assert "fine-tuning 30 epochs (15,000 updates) by sgd at lr 0.1, momentum 0.9" in line
    # digits: 1,197 tuning images, 12 updates an epoch
    *settings, line = _fitted(["--dataset", "digits"], 1197)
    assert settings == [100, 30, "adam", 0.003, 0.0]
    assert "pre-training 100 epochs per layer (1,200 updates)" in line and "fewer than 2,000" in line
    assert _fitted(["--quick"], 1197)[:4] == (20, 30, "adam", 0.003)
    assert _fitted(["--quick", "--dataset", "mnist"], 50_000)[:4] == (2, 2, "adam", 0.003)
    # typed options win
    assert _fitted(["--dataset", "digits", "--optimizer", "sgd", "--pretrain-epochs", "3"], 1197)[:4] == (
        3, 30, "sgd", 0.1)
    assert _fitted(["--quick", "--finetune-epochs", "7", "--lr", "0.01"], 1197)[1:4] == (7, "adam", 0.01)


def test_a_typed_batch_size_or_epochs_does_not_switch_mnist_to_adam():
    # the data chooses the optimizer (updates at the default batch and epochs), not a typed option
    assert _fitted(["--batch-size", "1000"], 50_000)[2:4] == ("sgd", 0.1)
    assert _fitted(["--finetune-epochs", "3"], 50_000)[1:4] == (3, "sgd", 0.1)
    assert _fitted(["--dataset", "digits", "--batch-size", "10"], 1197)[2] == "adam"  # nor digits to SGD


def test_the_few_updates_optimizer_is_the_dbn_estimators():
    # the CLI may not import the estimators (docs/architecture.md): the values are checked here instead
    from weightinit.experiments.dbn import FEW_UPDATES

    estimator = DBNClassifier()
    assert (estimator.solver, estimator.learning_rate_init) == FEW_UPDATES


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small matmuls: a second thread on a busy machine slows them down
    yield
    torch.set_num_threads(threads)


@pytest.mark.slow
def test_cli_dbn_quick_on_digits_beats_chance_by_far(tmp_path, capsys, one_thread):
    out = tmp_path / "q"
    assert main(["dbn", "--quick", "--layers", "64-128-128", "--out", str(out), "--no-progress",
                 "--device", "cpu"]) == 0
    err = capsys.readouterr().err
    results = json.loads((out / "results.json").read_text())
    assert results["dataset"] == "digits" and results["config"]["pretrain"]["epochs"] == 20
    assert results["config"]["finetune"]["optimizer"] == "adam" and results["config"]["finetune"]["epochs"] == 30
    assert results["chance_accuracy"] == pytest.approx(0.1016, abs=1e-4) and results["near_chance"] == []
    assert results["runs"][0]["test_accuracy"] > 0.85  # chance: 0.10
    assert "settings: pre-training 20 epochs per layer" in err and "warning" not in err


@pytest.mark.slow
def test_cli_dbn_says_when_its_accuracy_is_near_chance(tmp_path, capsys, one_thread):
    out = tmp_path / "c"
    assert main(["dbn", "--dataset", "digits", "--layers", "64-32-32-32", "--pretrain-epochs", "1",
                 "--finetune-epochs", "1", "--optimizer", "sgd", "--lr", "0.01", "--out", str(out), "--no-progress",
                 "--device", "cpu"]) == 0
    err = capsys.readouterr().err
    results = json.loads((out / "results.json").read_text())
    assert results["near_chance"] == ["DBN pre-training + fine-tuning (sigmoid)"]
    assert results["runs"][0]["test_accuracy"] < 0.3
    paragraph = err[err.index("warning: test accuracy near chance"):].split("\nwall time")[0]
    assert "10.2%" in paragraph and "--optimizer adam --lr 0.003" in paragraph
    assert " ".join(paragraph.split()) in (out / "report.md").read_text()  # said where the run is read later


def test_near_chance_rule():
    from weightinit.experiments.dbn import chance_accuracy, near_chance

    assert chance_accuracy(torch.tensor([0, 1, 1, 2])) == 0.5
    assert near_chance(0.3, 0.1) and not near_chance(0.4, 0.1)  # the line: 0.1 + 0.25 * 0.9 = 0.325
    assert near_chance(float("nan"), 0.1)  # a diverged run


@pytest.mark.slow
def test_cli_dbn_quick_round_trips_through_resume(tmp_path, capsys, one_thread):
    out = tmp_path / "d"
    argv = ["dbn", "--quick", "--layers", "64-32-16", "--pretrain-epochs", "2", "--no-progress", "--device", "cpu"]
    assert main([*argv, "--out", str(out)]) == 0
    settings = json.loads((out / "settings.json").read_text())
    assert settings["quick"] is True and settings["dataset"] is None and settings["optimizer"] is None
    first = json.loads((out / "results.json").read_text())
    assert main(["dbn", "--resume", str(out), "--no-progress", "--device", "cpu"]) == 0
    err = capsys.readouterr().err
    assert "layer 2 (32-16): loaded from checkpoint" in err
    again = json.loads((out / "results.json").read_text())
    assert again["runs"][0]["test_accuracy"] == first["runs"][0]["test_accuracy"]
    assert again["config"]["finetune"] == first["config"]["finetune"]
