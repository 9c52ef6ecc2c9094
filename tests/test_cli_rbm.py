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
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint", "filters.png", "rbm.pt", "rbm.pt.sha256",
                                                     "results.json", "samples.png", "settings.json"]
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


@pytest.mark.parametrize(
    "argv, message",
    [
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
