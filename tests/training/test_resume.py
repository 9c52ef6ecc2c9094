"""Checkpoints and exact resume: in-process stops at every kind of point, and real processes
killed with SIGKILL (several random moments) or stopped with SIGINT, then resumed; the
result must be bit-identical to an uninterrupted run."""

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import torch
from torch import nn

from weightinit import init_model
from weightinit.boltzmann import RBM, RBMConfig, train_rbm
from weightinit.data import load_dataset
from weightinit.models import mlp
from weightinit.runs.checkpoint import Checkpoint, check_same_settings
from weightinit.runs.files import read_weights
from weightinit.runs.interrupt import Interrupted, request_stop, stop_on_sigint
from weightinit.training import TrainConfig, fit

ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def _model(seed: int = 0) -> nn.Module:
    model = mlp("64-64-32-10", activation="relu", dropout=0.2)  # dropout: the global RNG must resume too
    return init_model(model, "he_normal", generator=torch.Generator().manual_seed(seed))


def _without_seconds(value):
    if isinstance(value, dict):
        return {k: _without_seconds(v) for k, v in value.items() if "seconds" not in k}
    if isinstance(value, list):
        return [_without_seconds(v) for v in value]
    return value


def _assert_same_tensors(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


# ------------------------------------------------------------------ in-process
# batches: mid-epoch, an epoch's last, the next's first; with a moving average of the weights too
@pytest.mark.parametrize("stop_at, ema", [(1, 0.0), (15, 0.0), (44, 0.0), (45, 0.0), (46, 0.0), (15, 0.99), (45, 0.99)])
def test_fit_stopped_anywhere_resumes_bit_identically(digits, stop_at, ema):
    config = TrainConfig(epochs=4, batch_size=32, seed=3, lr_decay=0.7, ema=ema, device="cpu")  # 45 batches per epoch
    reference = _model()
    expected = fit(reference, digits.train, config, keep_best=True, evaluate_on=("test", digits.test))

    saved = []
    model = _model()
    count = iter(range(1, 10**6))

    def on_batch():
        if next(count) == stop_at:
            request_stop()

    with stop_on_sigint(), pytest.raises(Interrupted):
        fit(model, digits.train, config, on_batch=on_batch, keep_best=True, checkpoint=saved.append,
            evaluate_on=("test", digits.test))
    state = read_weights_roundtrip(saved[-1])
    fresh = _model(seed=99)  # other weights: everything must come from the checkpoint
    resumed = fit(fresh, digits.train, config, keep_best=True, resume=state, evaluate_on=("test", digits.test))
    _assert_same_tensors(reference.state_dict(), fresh.state_dict())
    assert _without_seconds(resumed.to_dict()) == _without_seconds(expected.to_dict())


def read_weights_roundtrip(state: dict) -> dict:
    """What a checkpoint gives back after the trip through the file (weights_only load)."""
    with tempfile.TemporaryDirectory() as folder:
        Checkpoint(folder).save(state)
        return Checkpoint(folder).load()


def test_fit_refuses_a_state_of_another_config(digits):
    saved = []
    fit(_model(), digits.train, TrainConfig(epochs=1, batch_size=64, device="cpu"), checkpoint=saved.append,
        evaluate_on=("test", digits.test))
    with pytest.raises(ValueError, match=r"another config \(batch_size, epochs differ\)"):
        fit(_model(), digits.train, TrainConfig(epochs=2, batch_size=32, device="cpu"), resume=saved[-1],
            evaluate_on=("test", digits.test))


@pytest.mark.auto_device  # a CPU state resumed under device="auto": on the GPU where there is one
def test_fit_resumes_a_state_under_another_device_setting(digits):
    saved = []  # each state as written (a state holds the live tensors, which epoch 2 goes on to change)
    whole = fit(_model(), digits.train, TrainConfig(epochs=2, batch_size=64, device="cpu"),
                checkpoint=lambda state: saved.append(read_weights_roundtrip(state)), evaluate_on=("test", digits.test))
    model = _model(seed=99)
    history = fit(model, digits.train, TrainConfig(epochs=2, batch_size=64, device="auto"), resume=saved[0],
                  evaluate_on=("test", digits.test))  # from the state after epoch 1
    assert history.epochs[0] == whole.epochs[0] and len(history.epochs) == 2
    assert history.epochs[1].train_loss == pytest.approx(whole.epochs[1].train_loss, rel=1e-4)
    assert next(model.parameters()).device.type == ("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.parametrize("persistent", [False, True])
def test_rbm_training_stopped_mid_epoch_resumes_bit_identically(digits, persistent):
    config = RBMConfig(epochs=3, batch_size=20, k=2, persistent=persistent, seed=5, device="cpu")
    x = digits.train.x
    reference = RBM(64, 24)
    expected = train_rbm(reference, x, config)
    saved, count = [], iter(range(1, 10**6))

    def on_batch():
        if next(count) == 100:  # epoch 2 (72 batches per epoch), mid-way
            request_stop()

    with stop_on_sigint(), pytest.raises(Interrupted):
        train_rbm(RBM(64, 24), x, config, on_batch=on_batch, checkpoint=saved.append)
    resumed_rbm = RBM(64, 24)
    resumed = train_rbm(resumed_rbm, x, config, resume=read_weights_roundtrip(saved[-1]))
    _assert_same_tensors(reference.state_dict(), resumed_rbm.state_dict())
    assert _without_seconds(resumed.to_dicts()) == _without_seconds(expected.to_dicts())


def test_a_crash_while_writing_leaves_the_previous_checkpoint(tmp_path, monkeypatch):
    checkpoint = Checkpoint(tmp_path)
    checkpoint.save({"epoch": 1, "w": torch.ones(3)})

    def dies_mid_write(obj, f, *args, **kwargs):
        f.write(b"PK\x03\x04 half a zip")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", dies_mid_write)
    with pytest.raises(OSError):
        checkpoint.save({"epoch": 2, "w": torch.zeros(3)})
    monkeypatch.undo()
    state = Checkpoint(tmp_path).load()
    assert state["epoch"] == 1 and torch.equal(state["w"], torch.ones(3))
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]


def test_a_bit_flipped_or_truncated_checkpoint_is_reported(tmp_path):
    checkpoint = Checkpoint(tmp_path)
    checkpoint.save({"w": torch.arange(1000.0)})
    (state_file,) = tmp_path.glob("state-*.pt")
    data = bytearray(state_file.read_bytes())
    data[len(data) // 2] ^= 0x10
    state_file.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=rf"{state_file.name}: sha256 is .*, expected .* truncated or was altered"):
        checkpoint.load()
    state_file.write_bytes(bytes(data[: len(data) // 3]))
    with pytest.raises(ValueError, match="truncated or was altered"):
        checkpoint.load()


def test_a_truncated_weights_file_without_its_hash_is_still_refused_cleanly(tmp_path):
    from weightinit.runs.files import write_weights

    path = tmp_path / "w.pt"
    write_weights(path, {"w": torch.ones(100)})
    (tmp_path / "w.pt.sha256").unlink()
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ValueError, match=r"w\.pt: not a weights file that can be loaded safely"):
        read_weights(path)


def test_a_checkpoint_crafted_to_run_code_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    checkpoint = Checkpoint(tmp_path / "run")
    checkpoint.save({"w": torch.ones(2)})
    pointer = json.loads((checkpoint.folder / "checkpoint.json").read_text())
    evil = checkpoint.folder / pointer["file"]
    torch.save({"w": torch.ones(2), "x": Payload()}, evil)  # the attacker rewrites the file ...
    pointer["sha256"] = hashlib.sha256(evil.read_bytes()).hexdigest()  # ... and its recorded hash
    (checkpoint.folder / "checkpoint.json").write_text(json.dumps(pointer))
    with pytest.raises(ValueError, match="not a weights file that can be loaded safely"):
        checkpoint.load()
    assert not marker.exists()


def test_resume_settings_must_match(tmp_path):
    check_same_settings(tmp_path / "settings.json", {"lr": 0.1, "inits": ("a", "b"), "epochs": 3}, resume=False)
    check_same_settings(tmp_path / "settings.json", {"lr": 0.1, "inits": ["a", "b"], "epochs": 3}, resume=True)
    with pytest.raises(ValueError, match=r"other settings \(epochs, lr differ\)"):
        check_same_settings(tmp_path / "settings.json", {"lr": 0.2, "inits": ["a", "b"], "epochs": 4}, resume=True)


# ------------------------------------------------------------------ real processes
COMPARE = ["compare", "--dataset", "digits", "--arch", "64-256-256-10", "--inits", "he_normal,xavier_uniform",
           "--epochs", "6", "--batch-size", "10", "--no-progress"]


def _cli(argv, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "weightinit", *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=ENV, **kwargs)


def _wait_for(path_glob: str, folder: Path, process: subprocess.Popen, timeout: float = 60) -> bool:
    """Wait until a file matching ``path_glob`` exists under ``folder`` (True) or the process ends (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(folder.glob(path_glob)):
            return True
        if process.poll() is not None:
            return False
        time.sleep(0.01)
    raise AssertionError(f"nothing matching {path_glob} appeared in {folder}")


def _run_with_kills(argv: list[str], out: Path, kills: int, rng: random.Random, max_delay: float) -> int:
    """Start the command, SIGKILL it at a random moment after its first checkpoint, resume,
    ``kills`` times; then let it finish. Returns how many kills landed in the middle of a
    training run (with an epoch checkpoint on disk)."""
    landed = 0
    command = [*argv, "--out", str(out)]
    for _ in range(kills):
        process = _cli(command)
        if _wait_for("**/checkpoint.json", out, process) or _wait_for("**/result.json", out, process):
            time.sleep(rng.uniform(0, max_delay))
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=60)
            landed += any(out.glob("**/checkpoint.json"))
        process.communicate(timeout=60)
        if process.returncode == 0:
            return landed
        command = [*argv, "--resume", str(out)]
    process = _cli(command)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    return landed


def _compare_outputs(a: Path, b: Path) -> None:
    first, second = (json.loads((p / "results.json").read_text()) for p in (a, b))
    assert _without_seconds(first) == _without_seconds(second)
    for run in sorted((a / "checkpoints").iterdir()):
        _assert_same_tensors(read_weights(run / "weights.pt")["state_dict"],
                             read_weights(b / "checkpoints" / run.name / "weights.pt")["state_dict"])


@pytest.fixture(scope="module")
def uninterrupted_compare(tmp_path_factory):
    out = tmp_path_factory.mktemp("uninterrupted") / "run"
    done = subprocess.run([sys.executable, "-m", "weightinit", *COMPARE, "--out", str(out)],
                          capture_output=True, text=True, env=ENV, timeout=120)
    assert done.returncode == 0, done.stderr
    return out


@pytest.mark.parametrize("schedule", [1, 2])
@pytest.mark.slow
def test_compare_killed_with_sigkill_at_random_moments_resumes_bit_identically(uninterrupted_compare, tmp_path,
                                                                               schedule):
    out = tmp_path / "run"
    landed = _run_with_kills(COMPARE, out, kills=2, rng=random.Random(schedule), max_delay=0.4)
    assert landed >= 1  # at least one kill must have hit a run in the middle of its training
    _compare_outputs(uninterrupted_compare, out)


@pytest.mark.slow
def test_compare_stopped_by_sigint_prints_the_resume_command_and_resumes_exactly(uninterrupted_compare, tmp_path):
    out = tmp_path / "run"
    process = _cli([*COMPARE, "--out", str(out)])
    assert _wait_for("**/checkpoint.json", out, process)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    line = err.strip().splitlines()[-1]
    assert line.startswith("weightinit: interrupted; checkpoint written; resume with: weightinit compare"), line
    command = line.split("resume with: ", 1)[1].split()
    assert command[-2:] == ["--resume", str(out)] and "--out" not in command
    done = subprocess.run([sys.executable, "-m", *command], capture_output=True, text=True, env=ENV, timeout=120)
    assert done.returncode == 0, done.stderr
    _compare_outputs(uninterrupted_compare, out)


def test_resume_with_other_settings_is_refused_naming_them(uninterrupted_compare, capsys):
    from weightinit.cli import main

    before = sorted(p.name for p in uninterrupted_compare.rglob("*"))
    argv = [a if a != "6" else "7" for a in COMPARE]  # --epochs 7
    assert main([*argv, "--lr", "0.01", "--resume", str(uninterrupted_compare)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "other settings (epochs, lr differ)" in err[0], err
    assert sorted(p.name for p in uninterrupted_compare.rglob("*")) == before


@pytest.mark.slow
def test_rbm_and_dbn_killed_mid_training_resume_bit_identically(tmp_path):
    rbm = ["rbm", "--dataset", "digits", "--hidden", "64", "--epochs", "12", "--batch-size", "5", "--pcd",
           "--ais-chains", "10", "--ais-steps", "50", "--no-progress"]
    dbn = ["dbn", "--dataset", "digits", "--layers", "64-128-64", "--pretrain-epochs", "4", "--finetune-epochs", "6",
           "--batch-size", "10", "--n-valid", "300", "--no-progress"]
    for argv, weights, key in ((rbm, "rbm.pt", "state_dict"), (dbn, "classifier.pt", "state_dict")):
        reference = tmp_path / f"{argv[0]}-reference"
        done = subprocess.run([sys.executable, "-m", "weightinit", *argv, "--out", str(reference)],
                              capture_output=True, text=True, env=ENV, timeout=120)
        assert done.returncode == 0, done.stderr
        out = tmp_path / argv[0]
        assert _run_with_kills(argv, out, kills=2, rng=random.Random(7), max_delay=0.4) >= 1
        _assert_same_tensors(read_weights(reference / weights)[key], read_weights(out / weights)[key])
        first, second = (json.loads((p / "results.json").read_text()) for p in (reference, out))
        assert _without_seconds(first) == _without_seconds(second)
