"""Data-fitted defaults belong to the experiments (issue #24): a Python caller of
``dbn_experiment`` / ``rbm_experiment`` gets the epochs, optimizer and AIS temperatures that
``weightinit dbn`` / ``weightinit rbm`` fit to the data, because both call the experiment's
``resolve``. Each CLI run here stops where the experiment would start (nothing is trained).
Device: CPU."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from weightinit.boltzmann.recipes import recipe_config
from weightinit.cli import main
from weightinit.data import load_dataset
from weightinit.errors import UserError
from weightinit.experiments import dbn as dbn_module
from weightinit.experiments.dbn import DBNConfig, dbn_experiment
from weightinit.experiments.dbn import resolve as resolve_dbn
from weightinit.experiments.rbm import RBMExperimentConfig
from weightinit.experiments.rbm import resolve as resolve_rbm
from weightinit.training.loop import TrainConfig


class _Stop(BaseException):
    """Raised in place of the work: main() lets it through."""


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def _cli_config(monkeypatch, tmp_path, command: str, argv: list[str]):
    """The config ``weightinit <command> argv`` hands its experiment, and the settings.json it
    wrote before (read while the experiment would run)."""
    got = {}
    out = tmp_path / "run"

    def capture(dataset, config, **kwargs):
        got["config"] = config
        got["settings"] = json.loads((out / "settings.json").read_text())
        raise _Stop

    monkeypatch.setattr(f"weightinit.cli.{command}.{command}_experiment", capture)
    with pytest.raises(_Stop):
        main([command, *argv, "--no-progress", "--out", str(out)])
    return got["config"], got["settings"]


@pytest.mark.parametrize("quick", [False, True])
def test_dbn_config_resolves_to_what_the_cli_runs(digits, monkeypatch, tmp_path, quick):
    config, settings = _cli_config(monkeypatch, tmp_path, "dbn", ["--dataset", "digits"] + ["--quick"] * quick)
    assert config == resolve_dbn(DBNConfig(quick=quick), digits)
    # settings.json keeps the options as typed (None: fitted), and resolving them gives the same run
    assert (settings["optimizer"], settings["pretrain_epochs"], settings["lr"]) == (None, None, None)
    assert (config.pretrain.epochs, config.train.epochs, config.train.optimizer, config.train.lr) == (
        (20, 30, "adam", 0.003) if quick else (100, 30, "adam", 0.003))
    assert resolve_dbn(config, digits) == config  # resolving twice changes nothing


def test_dbn_experiment_trains_with_the_fitted_settings(digits, monkeypatch):
    seen = {}

    def pretrain(self, x, config, **kwargs):
        seen["pretrain"] = config

    def finetune(model, dataset, config, **kwargs):
        seen["train"] = config
        raise _Stop

    monkeypatch.setattr(dbn_module.DBN, "pretrain", pretrain)
    monkeypatch.setattr(dbn_module, "finetune", finetune)
    with pytest.raises(_Stop):
        dbn_experiment(digits, DBNConfig())
    # issue 29's digits settings, as `weightinit dbn --dataset digits` (test_no_surprises) gets them
    assert seen["pretrain"].epochs == 100
    assert (seen["train"].optimizer, seen["train"].lr, seen["train"].momentum, seen["train"].epochs) == (
        "adam", 0.003, 0.0, 30)


def test_dbn_config_refuses_what_it_would_override(digits):
    with pytest.raises(UserError, match="train.optimizer 'sgd' is set by optimizer"):
        DBNConfig(train=TrainConfig(optimizer="sgd"))
    assert resolve_dbn(DBNConfig(optimizer="sgd", train=TrainConfig(optimizer="sgd")), digits).train.lr == 0.1
    with pytest.raises(UserError, match="momentum 0.5 applies to optimizer sgd only"):
        resolve_dbn(DBNConfig(momentum=0.5), digits)  # the data choose Adam on digits
    fixed = resolve_dbn(DBNConfig(pretrain_epochs=2, finetune_epochs=3, optimizer="sgd", lr=0.05), digits)
    assert (fixed.pretrain.epochs, fixed.train.epochs, fixed.train.lr, fixed.train.momentum) == (2, 3, 0.05, 0.9)


@pytest.mark.parametrize("quick", [False, True])
def test_rbm_config_resolves_to_what_the_cli_runs_and_writes(digits, monkeypatch, tmp_path, quick):
    config, settings = _cli_config(monkeypatch, tmp_path, "rbm",
                                   ["--dataset", "digits", "--device", "cpu"] + ["--quick"] * quick)
    train, binarize = recipe_config("pcd", device="cpu")
    python = resolve_rbm(RBMExperimentConfig(train=train, binarize=binarize, quick=quick), digits)
    assert config == python
    # settings.json holds the resolved numbers, so that --resume continues this very run
    assert (settings["epochs"], settings["ais_steps"], settings["raise_images"]) == (
        python.epochs, python.ais_steps, python.raise_images)
    assert (python.train.epochs, python.ais_steps, python.raise_images) == (
        (134, 296, 20) if quick else (400, 1184, 100))
    assert resolve_rbm(python, digits) == python


def test_rbm_given_values_win_over_the_fitted_ones(digits):
    given = resolve_rbm(RBMExperimentConfig(epochs=3, ais_steps=7, raise_images=0), digits)
    assert (given.train.epochs, given.ais_steps, given.raise_images) == (3, 7, 0)
    assert resolve_rbm(replace(RBMExperimentConfig(), quick=True), digits).ais_steps == 296
