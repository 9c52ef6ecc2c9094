"""compare --model gpt: a character-level GPT on Shakespeare from several inits, its table,
findings and files.

Device: CPU.
"""

from __future__ import annotations

import json
import math

import pytest

from weightinit.cli import main
from weightinit.data import load_dataset
from weightinit.experiments.compare import CompareConfig, compare
from weightinit.training import TrainConfig


@pytest.fixture(scope="module")
def shakespeare():
    return load_dataset("shakespeare")


TINY = dict(model="gpt", gpt_size=(1, 32, 2, 32), eval_rows=16,
            train=TrainConfig(lr=3e-3, batch_size=16, epochs=2, epoch_rows=64, device="cpu"))


@pytest.mark.slow
def test_compare_trains_the_gpt_from_each_init(shakespeare, tmp_path):
    result = compare(shakespeare, CompareConfig(inits=("default", "normal"), **TINY))
    chance = math.log(84)
    by_init = {r.init: r for r in result.summary}
    assert abs(by_init["default"].initial_loss - chance) < 0.5 and by_init["normal"].initial_loss > chance + 2
    assert [r.init for r in result.summary] == sorted(by_init, key=lambda i: by_init[i].eval_loss)
    run = result.runs[0]
    assert [set(h) for h in run.history] == [{"epoch", "train_loss", "valid_loss", "valid_accuracy", "seconds"}] * 2
    assert result.arch == "GPT: 1 layers, width 32, 2 heads, context 32"
    assert result.config["gpt_size"] == [1, 32, 2, 32] and result.config["epoch_rows"] == 64
    assert "valid loss" in result.table().splitlines()[0]
    (note,) = result.findings()
    assert "ln(84) = 4.431" in note and "16 training windows (512 characters)" in note
    written = result.write(tmp_path)
    assert {"results.json", "results.csv", "curves.png", "report.md"} <= set(written)
    assert json.loads((tmp_path / "results.json").read_text())["summary"][0]["eval_loss"] > 0


def test_the_gpt_reads_text_and_the_others_images(shakespeare):
    with pytest.raises(ValueError, match="model 'gpt' reads text"):
        compare(load_dataset("synthetic"), CompareConfig(inits=("default",), **TINY))
    with pytest.raises(ValueError, match="model 'gpt' reads text"):
        compare(shakespeare, CompareConfig(inits=("default",), train=TrainConfig(epochs=1)))
    with pytest.raises(ValueError, match="width 30 must be a multiple of heads 4"):
        CompareConfig(model="gpt", gpt_size=(1, 30, 4, 32))
    with pytest.raises(ValueError, match="context 48 must divide"):
        compare(shakespeare, CompareConfig(inits=("default",), **{**TINY, "gpt_size": (1, 32, 2, 48)}))


@pytest.mark.slow
def test_the_command_writes_its_files(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["compare", "--model", "gpt", "--quick", "--inits", "default,orthogonal", "--epochs", "2",
                 "--gpt-size", "1,32,2,32", "--dynamics", "8", "--out", str(out), "--no-progress", "--device", "cpu"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "valid loss" in printed and "ln(84) = 4.431" in printed
    assert {"results.json", "results.csv", "curves.png", "report.md", "dynamics.png", "settings.json"} <= {
        p.name for p in out.iterdir()}
    results = json.loads((out / "results.json").read_text())
    assert results["dataset"] == "shakespeare" and results["config"]["inits"] == ["default", "orthogonal"]
    assert results["config"]["batch_size"] == 16 and results["config"]["epochs"] == 2


@pytest.mark.parametrize("quick", [False, True])
def test_python_gets_the_gpt_run_the_command_line_runs(quick, monkeypatch, tmp_path):
    """CompareConfig.gpt(quick) is the config `weightinit compare --model gpt [--quick]` hands
    its experiment (the device aside)."""
    from dataclasses import replace

    import weightinit.cli.compare as cli_compare

    seen = []

    def capture(dataset, config, **kwargs):
        seen.append(config)
        raise SystemExit(0)  # stop before any training

    monkeypatch.setattr(cli_compare, "compare", capture)
    with pytest.raises(SystemExit):
        main(["compare", "--model", "gpt", "--device", "cpu", "--no-progress", "--out", str(tmp_path / "run"),
              *(["--quick"] if quick else [])])
    (config,) = seen
    expected = CompareConfig.gpt(quick)
    assert config == replace(expected, train=replace(expected.train, device="cpu"))
