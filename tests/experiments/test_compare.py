"""The lecture's experiment: compare() and `weightinit compare`, its files and its errors."""

from __future__ import annotations

import csv
import json
import math
import statistics
import subprocess
import sys

import pytest
import torch

from weightinit.cli import main
from weightinit.data import load_dataset
from weightinit.experiments.compare import CompareConfig, compare
from weightinit.training import TrainConfig

RUN_KEYS = {"init", "seed", "test_accuracy", "final_train_loss", "seconds_per_epoch", "diverged", "history"}
EPOCH_KEYS = {"epoch", "train_loss", "test_loss", "test_accuracy", "seconds"}


@pytest.fixture(scope="module")
def synthetic():
    return load_dataset("synthetic")


def test_compare_results_follow_the_schema(synthetic):
    config = CompareConfig(arch="lecture", inits=("he_normal", "zeros", "normal"), seeds=2,
                           train=TrainConfig(epochs=2, device="cpu"))
    results = compare(synthetic, config).to_dict()  # the results.json schema
    assert {"experiment", "dataset", "arch", "activation", "config", "runs"} <= set(results)
    assert results["arch"] == "64-256-256-10" and results["config"]["epochs"] == 2
    assert [(r["init"], r["seed"]) for r in results["runs"]] == [
        (init, seed) for init in ("he_normal", "zeros", "normal") for seed in (777, 778)]
    for run in results["runs"]:
        assert set(run) >= RUN_KEYS
        assert [set(h) for h in run["history"]] == [EPOCH_KEYS, EPOCH_KEYS]
    summary = results["summary"]
    assert [row["init"] for row in summary] == ["he_normal", "normal", "zeros"]  # zeros cannot learn: ~10%
    assert summary[0]["test_accuracy"] > 0.9 and summary[-1]["test_accuracy"] < 0.3
    for row in summary:  # the std over the init's own runs, with the sample std's n - 1 (statistics.stdev)
        mine = [run["test_accuracy"] for run in results["runs"] if run["init"] == row["init"]]
        assert row["runs"] == 2 and row["test_accuracy"] == pytest.approx(statistics.fmean(mine))
        assert row["test_accuracy_std"] == pytest.approx(statistics.stdev(mine), rel=1e-9, abs=1e-12)
    # N(0, 1)'s two draws end apart after 2 epochs, so the check above compares a real spread (he_normal
    # reaches 100% and zeros 8.2% on both seeds: their std is 0)
    assert summary[1]["test_accuracy_std"] > 0.01
    # the inits trained in one stacked model: each run's s/epoch is the sweep's, and the summary says so
    assert all(run["batched"] for run in results["runs"]) and [row["batched"] for row in summary] == [2, 2, 2]
    assert len({run["seconds_per_epoch"] for run in results["runs"]}) == 1


def test_a_diverging_init_is_reported_and_the_others_carry_on(synthetic):
    config = CompareConfig(arch="64-512-512-512-512-10", inits=("normal", "he_normal"),
                           train=TrainConfig(optimizer="sgd", lr=0.01, epochs=2, device="cpu"))
    results = compare(synthetic, config)
    runs = {r.init: r for r in results.runs}
    assert runs["normal"].diverged and runs["normal"].diverged_at["epoch"] == 1
    assert not runs["he_normal"].diverged and len(runs["he_normal"].history) == 2
    assert results.summary[-1].init == "normal"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"inits": ("xavier", "he_normal")}, "init='xavier' is not supported; use one of ['default'"),
        ({"inits": ()}, "inits must name at least one scheme"),
        ({"inits": ("he_normal", "he_normal")}, "names a scheme twice"),
        ({"activation": "relu7"}, "activation='relu7' is not supported"),
        ({"seeds": 0}, "seeds must be >= 1, got 0"),
    ],
)
def test_bad_compare_config(kwargs, message):
    with pytest.raises(ValueError) as info:
        CompareConfig(**kwargs)
    assert message in str(info.value)


def test_cli_writes_every_file(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["compare", "--dataset", "synthetic", "--inits", "he_normal,normal", "--epochs", "2", "--device", "cpu",
                 "--out", str(out), "--no-progress"]) == 0
    table = capsys.readouterr().out
    assert table.splitlines()[0].split()[:3] == ["init", "test", "accuracy"]
    assert table.splitlines()[2].startswith("he_normal")  # sorted by accuracy
    assert sorted(p.name for p in out.iterdir()) == ["checkpoints", "curves.png", "report.md", "results.csv",
                                                     "results.json", "settings.json"]
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["he_normal-seed777", "normal-seed777"]
    assert sorted(p.name for p in (out / "checkpoints" / "normal-seed777").iterdir()) == [
        "result.json", "weights.pt", "weights.pt.sha256"]
    results = json.loads((out / "results.json").read_text())
    assert [r["init"] for r in results["runs"]] == ["he_normal", "normal"]
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert [r["init"] for r in rows] == ["he_normal", "normal"]
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = (out / "report.md").read_text()
    assert "| he_normal |" in report and "![training curves](curves.png)" in report


@pytest.mark.slow
def test_cli_json_prints_only_json_on_stdout(tmp_path):
    done = subprocess.run([sys.executable, "-m", "weightinit", "compare", "--quick", "--json", "--device", "cpu",
                           "--inits", "xavier_uniform,default", "--out", str(tmp_path / "q")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    assert results["dataset"] == "digits" and results["config"]["epochs"] == 10
    assert "test accuracy" in done.stderr  # the table went to stderr
    assert "s/epoch*: all 2 inits trained together" in done.stderr  # and the note on the shared time under it


@pytest.mark.slow
def test_cli_compare_on_real_mnist_one_epoch(tmp_path, capsys):
    assert main(["compare", "--dataset", "mnist", "--device", "cpu", "--inits", "he_normal", "--epochs", "1", "--out",
                 str(tmp_path / "m"), "--no-progress"]) == 0
    results = json.loads((tmp_path / "m" / "results.json").read_text())
    assert results["arch"] == "784-256-256-10"
    assert results["runs"][0]["test_accuracy"] > 0.95


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--dataset", "cifar"], "dataset='cifar' is not supported"),
        (["--inits", "he_normal,glorot"], "init='glorot' is not supported"),
        (["--arch", "784-abc"], "arch='784-abc' is not a layer spec"),
        (["--arch", "784-256-10"], "arch='784-256-10' starts with 784 inputs but the data has 64 features"),
        (["--activation", "swish"], "activation='swish' is not supported"),
        (["--epochs", "0"], "epochs must be >= 1, got 0"),
        (["--lr", "-0.1"], "lr must be > 0, got -0.1"),
        (["--batch-size", "0"], "--batch-size must be >= 1, got 0"),
        (["--epochs", "two"], "argument --epochs: invalid int value: 'two'"),
        (["--seeds", "0"], "seeds must be >= 1, got 0"),
    ],
)
def test_cli_errors_are_one_line_exit_2_and_write_nothing(tmp_path, capsys, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    try:
        code = main(["compare", "--dataset", "synthetic", *argv])
    except SystemExit as exit_:  # argparse's own errors
        code = exit_.code
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("weightinit") and message in err[0], err
    assert not (tmp_path / "runs").exists()


def test_cli_refuses_an_out_folder_holding_another_run(tmp_path, capsys):
    out = tmp_path / "taken"
    out.mkdir()
    (out / "results.json").write_text("{}")
    assert main(["compare", "--dataset", "synthetic", "--out", str(out), "--epochs", "1"]) == 2
    assert "already holds the results of another run (results.json)" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["results.json"]


@pytest.mark.parametrize("files, reason", [
    # the user's own notes: refused because the folder is not empty, not as "another run"
    ({"notes.txt": "mine"}, "is not empty (it holds notes.txt) and a run writes only into a new or empty folder"),
    ({"a.txt": "", "b.txt": "", "c.txt": "", "d.txt": ""}, "(it holds a.txt, b.txt, c.txt and 1 more)"),
    # a run of another command: named, with the command that continues it
    ({"settings.json": '{"command": "reproduce", "paper": "lecture"}'},
     "already holds a `weightinit reproduce lecture` run; continue it with `weightinit reproduce lecture --resume"),
    ({"settings.json": "not json"}, "already holds another run (settings.json)"),
])
def test_cli_refuses_a_full_out_folder_with_the_right_reason(tmp_path, capsys, files, reason):
    out = tmp_path / "myresults"
    out.mkdir()
    for name, text in files.items():
        (out / name).write_text(text)
    for command in (["compare", "--quick"], ["diagnose", "--quick"], ["reproduce", "lecture", "--quick"]):
        assert main([*command, "--device", "cpu", "--out", str(out)] if command[0] != "diagnose"
                    else [*command, "--out", str(out)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and reason in err[0], err
        assert "another run" not in err[0] or "settings.json" in files  # the user's files are no run
        assert not any(line.startswith("data:") for line in err)  # refused before the data is loaded
    assert sorted(p.name for p in out.iterdir()) == sorted(files)  # nothing written into the user's folder


def test_compare_quick_says_the_batched_s_per_epoch_is_shared(capsys):
    from weightinit.experiments._compare_files import format_table, markdown_table, timing_note
    from weightinit.experiments.compare import InitSummary

    def row(init, batched):
        return InitSummary(init, 1, 0.9, 0.0, 2.3, 1.0, 0.5, 0.42, 0, batched)

    together = [row("he_normal", 1), row("normal", 1)]
    assert format_table(together).splitlines()[2].endswith("0.42*")
    assert timing_note(together).startswith("s/epoch*: all 2 inits trained together as one stacked model")
    assert "shared by all of them" in timing_note(together) and "--no-batched" in timing_note(together)
    mixed = [row("he_normal", 1), row("normal", 0)]
    assert markdown_table(mixed).splitlines()[-1].endswith("| 0.42 |") and "the init marked *" in timing_note(mixed)
    assert timing_note([row("he_normal", 0)]) == ""  # each timed alone: nothing to say


def test_cli_unreadable_data_file_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "mnist.pkl.gz").write_bytes(b"\x1f\x8b truncated")
    assert main(["compare", "--dataset", "mnist", "--data-dir", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "corrupt or truncated gzip" in err[0]
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_default_run_folder_is_timestamped_and_never_reused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for _ in range(2):
        assert main(["compare", "--dataset", "synthetic", "--device", "cpu", "--inits", "he_normal", "--epochs", "1",
                     "--no-progress"]) == 0
    folders = sorted(p.name for p in (tmp_path / "runs").iterdir())
    assert len(folders) == 2 and all(name.split("-")[-1] in ("compare", "2") for name in folders)


def test_data_driven_inits_in_compare(synthetic):
    config = CompareConfig(arch="64-32-32-10", inits=("dbn", "lsuv"), pretrain_epochs=2,
                           train=TrainConfig(epochs=5, device="cpu"))
    results = compare(synthetic, config)
    assert [r.init for r in results.runs] == ["dbn", "lsuv"]
    for run in results.runs:
        assert run.init_seconds > 0 and not run.diverged
        assert run.final_train_loss < run.first_epoch_loss and run.test_accuracy > 0.8


@pytest.mark.slow
def test_compare_diagnose_adds_the_epoch_0_picture(tmp_path, capsys):
    out = tmp_path / "dg"
    assert main(["compare", "--dataset", "synthetic", "--device", "cpu", "--inits", "normal,he_normal", "--epochs", "1",
                 "--diagnose",
                 "--out", str(out), "--no-progress"]) == 0
    results = json.loads((out / "results.json").read_text())
    assert set(results["diagnostics"]) == {"normal", "he_normal"} and (out / "std_by_layer.png").is_file()
    assert len(results["diagnostics"]["normal"]["layers"]) == 3  # 64-256-256-10: three layers
    assert results["diagnostics"]["normal"]["recurrent"] == [] == results["diagnostics"]["normal"]["attention"]


def test_the_loss_at_initialization_is_read_against_chance(tmp_path, capsys):
    """CPU. A well-scaled init starts near ln(10); N(0, 1) weights start confidently wrong."""
    out = tmp_path / "init-loss"
    assert main(["compare", "--dataset", "synthetic", "--inits", "normal,he_normal", "--epochs", "1",
                 "--out", str(out), "--no-progress", "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    assert "loss at init" in printed.splitlines()[0] and "ln(10) = 2.303" in printed
    summary = {row["init"]: row for row in json.loads((out / "results.json").read_text())["summary"]}
    assert abs(summary["he_normal"]["initial_loss"] - math.log(10)) < 1.0
    assert summary["normal"]["initial_loss"] > 10 * math.log(10)
    assert "ln(10) = 2.303" in (out / "report.md").read_text()


@pytest.mark.slow
def test_cli_dynamics_and_tensorboard_write_the_picture_and_events(tmp_path, capsys):
    """CPU. `compare --quick --dynamics N --tensorboard`: dynamics.png, and per run one scalar
    series per split and a histogram per layer, read back with TensorBoard's own reader."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "dyn"
    assert main(["compare", "--quick", "--inits", "normal,he_normal", "--epochs", "2", "--dynamics", "5",
                 "--tensorboard", "--out", str(out), "--no-progress", "--device", "cpu"]) == 0
    assert "dynamics.png" in capsys.readouterr().err
    assert (out / "dynamics.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    runs = sorted(p.name for p in (out / "tensorboard").iterdir())
    assert runs == ["he_normal-seed777", "normal-seed777"]
    results = json.loads((out / "results.json").read_text())
    steps = len(results["runs"][0]["dynamics"]) // 3  # three Linear layers, a record per layer and step
    for run in runs:
        events = EventAccumulator(str(out / "tensorboard" / run), size_guidance={"histograms": 0, "scalars": 0})
        tags = events.Reload().Tags()
        assert [e.step for e in events.Scalars("accuracy/test")] == [1, 2]
        assert {f"layer {i}/activations" for i in (0, 2, 4)} <= set(tags["histograms"])
        assert len(events.Histograms("layer 2/gradients")) == steps > 1


def test_cli_tensorboard_into_a_folder_of_ones_choice(tmp_path, capsys):
    """CPU. --tensorboard DIR puts the runs there, without --dynamics only the scalars."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    logs = tmp_path / "logs"
    assert main(["compare", "--dataset", "synthetic", "--inits", "he_normal", "--epochs", "1", "--tensorboard",
                 str(logs), "--out", str(tmp_path / "run"), "--no-progress", "--device", "cpu"]) == 0
    tags = EventAccumulator(str(logs / "he_normal-seed777")).Reload().Tags()
    assert "loss/train" in tags["scalars"] and not tags["histograms"]


def test_a_finished_runs_weights_rebuild_its_model_whatever_the_model(tmp_path, capsys):
    """CPU. compare's weights.pt is in the versioned format: weightinit.load rebuilds an LSTM
    run as it rebuilds an MLP one, and it scores what the run scored."""
    import weightinit
    from weightinit.runs.files import WEIGHTS_FORMAT, read_weights
    from weightinit.training import evaluate

    out = tmp_path / "lstm"
    assert main(["compare", "--quick", "--model", "lstm", "--inits", "orthogonal", "--epochs", "1", "--device",
                 "cpu", "--out", str(out), "--no-progress"]) == 0
    path = out / "checkpoints" / "orthogonal-seed777" / "weights.pt"
    record = read_weights(path)
    assert record["format"] == WEIGHTS_FORMAT and record["kind"] == "model" and record["model"] == "lstm"
    net = weightinit.load(path)
    assert any(isinstance(m, torch.nn.LSTM) for m in net.modules())
    accuracy = json.loads((out / "results.json").read_text())["runs"][0]["test_accuracy"]
    assert evaluate(net, load_dataset("digits").test)[1] == pytest.approx(accuracy, abs=1e-9)


def test_weights_of_an_earlier_version_still_load(tmp_path):
    """A compare run's weights.pt as versions before the format wrote it: {"model": state_dict},
    its network described by the run's settings.json."""
    import weightinit
    from weightinit.models import mlp

    net = mlp([64, 32, 10], "tanh")
    folder = tmp_path / "old" / "checkpoints" / "he_normal-seed777"
    folder.mkdir(parents=True)
    torch.save({"model": net.state_dict()}, folder / "weights.pt")
    (tmp_path / "old" / "settings.json").write_text(json.dumps({"model": "mlp", "activation": "tanh"}))
    loaded = weightinit.load(folder / "weights.pt")
    x = torch.rand(5, 64)
    assert torch.equal(loaded(x), net.eval()(x))


def test_a_run_that_cannot_be_batched_is_initialized_once(synthetic):
    """A single init (or ema) trains alone: the sweep decides that from the shapes and the settings
    before it initializes anything, so on_init (and a dbn pre-training) happens once per run."""
    seen = []
    compare(synthetic, CompareConfig(arch="64-16-10", inits=("normal",), train=TrainConfig(epochs=1, device="cpu")),
            on_init=lambda init, seed, model: seen.append(init))
    assert seen == ["normal"]
