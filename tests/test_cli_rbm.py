"""`weightinit rbm`: files, JSON, weights loadable with weights_only=True, errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from weightinit.boltzmann import RBM
from weightinit.cli import main


def test_rbm_command_writes_everything(tmp_path):
    out = tmp_path / "rbm"
    done = subprocess.run(
        [sys.executable, "-m", "weightinit", "rbm", "--dataset", "digits", "--hidden", "16", "--epochs", "3",
         "--batch-size", "10", "--ais-chains", "20", "--ais-steps", "300", "--out", str(out), "--json", "--pcd"],
        capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    assert results["model"] == {"n_visible": 64, "n_hidden": 16, "visible": "bernoulli"}
    assert [e["epoch"] for e in results["history"]] == [1, 2, 3]
    assert results["config"]["persistent"] is True
    assert results["test"]["log_likelihood"] < 0 and results["test"]["ais"]["n_steps"] == 300
    assert "AIS log Z" in done.stderr and "recon err" in done.stderr
    assert sorted(p.name for p in out.iterdir()) == ["chains.png", "checkpoint", "filters.png", "rbm.pt",
                                                     "rbm.pt.sha256", "results.json", "samples.png", "settings.json"]
    test = results["test"]
    assert test["log_likelihood_low"] <= test["log_likelihood"] <= test["log_likelihood_high"]
    assert test["binarized"] is True and test["conservative"]["n_images"] == 100
    assert test["conservative"]["log_likelihood"] < test["conservative"]["ais_same_images"] + 1
    assert "RAISE (conservative)" in done.stderr
    saved = torch.load(out / "rbm.pt", weights_only=True)
    rbm = RBM(saved["n_visible"], saved["n_hidden"], saved["visible"])
    rbm.load_state_dict(saved["state_dict"])
    assert rbm.W.shape == (16, 64)


def test_gaussian_rbm_runs_compiled(tmp_path, capsys):
    assert main(["rbm", "--dataset", "digits", "--visible", "gaussian", "--hidden", "8", "--epochs", "1", "--compile",
                 "--ais-chains", "10", "--ais-steps", "100", "--out", str(tmp_path / "g"), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "test log-likelihood" in out and "pseudo-likelihood" not in out.splitlines()[-1]
    assert json.loads((tmp_path / "g" / "results.json").read_text())["config"]["compile"] is True


def test_recipe_settings_and_overrides(tmp_path):
    assert main(["rbm", "--dataset", "digits", "--recipe", "cd25", "--hidden", "8", "--epochs", "2", "--lr", "0.02",
                 "--ais-chains", "10", "--ais-steps", "100", "--raise-images", "0", "--chain-steps", "10",
                 "--device", "cpu", "--out", str(tmp_path / "r"), "--no-progress"]) == 0
    results = json.loads((tmp_path / "r" / "results.json").read_text())
    config = results["config"]
    assert (config["k"], config["k_final"], config["lr_schedule"], config["lr"], config["epochs"]) == (
        1, 25, "linear", 0.02, 2)
    assert results["test"]["conservative"] is None and results["chain_steps"] == 10
    assert main(["rbm", "--dataset", "digits", "--recipe", "guide", "--hidden", "8", "--epochs", "1", "--no-pcd",
                 "--ais-chains", "10", "--ais-steps", "100", "--raise-images", "5", "--raise-steps", "50",
                 "--device", "cpu", "--out", str(tmp_path / "g"), "--no-progress"]) == 0
    results = json.loads((tmp_path / "g" / "results.json").read_text())
    assert results["config"]["persistent"] is False and results["config"]["lr"] == 0.1
    assert results["test"]["binarized"] is False and results["test"]["conservative"]["n_steps"] == 50


def test_help_lists_the_recipes(capsys):
    try:
        code = main(["rbm", "--help"])
    except SystemExit as exit_:
        code = exit_.code
    assert code == 0
    out = capsys.readouterr().out
    assert all(name in out for name in ("guide", "cd1", "cd25", "pcd")) and "-86.34" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--recipe", "cd2"], "recipe='cd2' is not supported"),
        (["--lr-schedule", "cosine"], "lr_schedule='cosine' is not supported"),
        (["--visible", "gaussian", "--binarize"], "binarize=True is for Bernoulli visible units"),
        (["--k", "0"], "k must be >= 1, got 0"),
        (["--hidden", "0"], "hidden must be >= 1, got 0"),
        (["--visible", "poisson"], "visible='poisson' is not supported"),
        (["--precision", "fp8"], "precision='fp8' is not supported"),
        (["--epochs", "0"], "epochs must be >= 1, got 0"),
        (["--lr", "nan"], "lr must be a finite number, got nan"),
        (["--dataset", "cifar"], "dataset='cifar' is not supported"),
    ],
)
def test_rbm_errors_are_one_line_exit_2(tmp_path, capsys, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    assert main(["rbm", "--dataset", "digits", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not (tmp_path / "runs").exists()
