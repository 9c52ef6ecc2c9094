"""No surprises (issue 19): every mistake a user can make on the command line is refused as
one line, exit 2, before any training; defaults fit the data; run folders are locked and
checked before they are trusted; every weights file loads back with ``weightinit.load``.

The bad inputs are one table, each row run with the training entry points replaced by a
tripwire: a row passes only if its refusal comes before any work.

Device: none.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import weightinit
from weightinit.cli import main
from weightinit.data import load_dataset
from weightinit.errors import CorruptFileError
from weightinit.runs.files import lock_folder, read_weights
from weightinit.training import evaluate

ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}


class _Stop(BaseException):
    """Raised in place of an experiment: main() lets it through, the test reads what it got."""


@pytest.fixture
def no_work(monkeypatch):
    """Every entry point that trains (or diagnoses) raises: a refusal must come before them."""

    def tripwire(*args, **kwargs):
        raise AssertionError("the work started before the input was refused")

    for target in ("weightinit.experiments.compare.fit", "weightinit.experiments.compare.fit_batched",
                   "weightinit.experiments.rbm.train_rbm", "weightinit.boltzmann.dbn.DBN.pretrain",
                   "weightinit.experiments.finetune.fit_resumable",
                   "weightinit.experiments.reproduce.glorot2010.fit_resumable",
                   "weightinit.experiments.reproduce.he2015.fit_resumable",
                   "weightinit.experiments.diagnose.diagnose"):
        monkeypatch.setattr(target, tripwire, raising=False)


@pytest.fixture
def here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("a file, not a folder")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "mnist.npz").write_bytes(b"this is no zip archive" * 4)
    return tmp_path


DIGITS = ["--dataset", "digits"]

# (argv, what the one line must say). Each row: exit 2, one line, nothing written, no work.
BAD_INPUTS = [
    # integers and numbers out of range: refused by the config they fill, naming the option (an experiment's
    # config) or the parameter of that name (TrainConfig, RBMConfig); the parser only converts types
    (["compare", *DIGITS, "--seed", "1180591620717411303424"],
     "--seed must be in [0, 4294967295], got 1180591620717411303424"),
    (["rbm", *DIGITS, "--seed", "-1"], "--seed must be >= 0, got -1"),
    (["dbn", *DIGITS, "--seed", "4294967296"], "--seed must be in [0, 4294967295], got 4294967296"),
    (["diagnose", *DIGITS, "--seed", "-3"], "--seed must be >= 0, got -3"),
    (["reproduce", "lecture", "--quick", "--seed", "4294967296"], "--seed must be in [0, 4294967295], got 4294967296"),
    (["compare", *DIGITS, "--epochs", "99999999999999999999"], "--epochs must be in [1, 9223372036854775807], got "),
    (["compare", *DIGITS, "--epochs", "two"], "argument --epochs: invalid int value: 'two'"),
    (["compare", *DIGITS, "--batch-size", "0"], "--batch-size must be >= 1, got 0"),
    (["compare", *DIGITS, "--seeds", "0"], "--seeds must be >= 1, got 0"),
    (["compare", *DIGITS, "--lr", "-0.1"], "--lr must be > 0, got -0.1"),
    (["compare", *DIGITS, "--lr", "inf"], "--lr must be a finite number, got inf"),
    (["compare", *DIGITS, "--optimizer", "sgd", "--momentum", "1"], "--momentum must be in [0, 1), got 1.0"),
    (["dbn", *DIGITS, "--pretrain-epochs", "0"], "--pretrain-epochs must be >= 1, got 0"),
    (["dbn", *DIGITS, "--finetune-epochs", "0"], "--finetune-epochs must be >= 1, got 0"),
    (["dbn", *DIGITS, "--dropout", "1.0"], "--dropout must be in [0, 1), got 1.0"),
    (["dbn", *DIGITS, "--input-dropout", "-0.1"], "--input-dropout must be in [0, 1), got -0.1"),
    (["dbn", *DIGITS, "--ema", "1"], "--ema must be in [0, 1) (0 = no averaging; 0.999 is typical), got 1.0"),
    (["dbn", *DIGITS, "--lr-decay", "0"], "--lr-decay must be in (0, 1], got 0.0"),
    (["dbn", *DIGITS, "--n-valid", "0"], "--n-valid must be >= 1, got 0"),
    (["rbm", *DIGITS, "--ais-steps", "0"], "--ais-steps must be >= 1, got 0"),
    (["rbm", *DIGITS, "--ais-chains", "0"], "--ais-chains must be >= 1, got 0"),
    (["rbm", *DIGITS, "--hidden", "10000000"], "--hidden must be in [1, 1048576], got 10000000"),
    (["rbm", *DIGITS, "--k", "0"], "--k must be >= 1, got 0"),
    (["rbm", *DIGITS, "--lr", "nan"], "--lr must be a finite number, got nan"),
    (["rbm", *DIGITS, "--momentum", "1"], "--momentum must be in [0, 1), got 1.0"),
    (["rbm", *DIGITS, "--weight-decay", "-1"], "--weight-decay must be >= 0, got -1.0"),
    (["rbm", *DIGITS, "--sample-steps", "0"], "--sample-steps must be >= 1, got 0"),
    (["diagnose", *DIGITS, "--batch", "1"], "--batch must be >= 2, got 1"),
    (["reproduce", "he2015", "--quick", "--epochs", "0"], "--epochs must be >= 1, got 0"),
    (["dbn", *DIGITS, "--lr", "0"], "--lr must be > 0, got 0.0"),
    (["dbn", *DIGITS, "--momentum", "1"], "--momentum must be in [0, 1), got 1.0"),
    (["rbm", *DIGITS, "--raise-images", "99999999"], "--raise-images must be in [0, 1048576], got 99999999"),
    # checked by the parser still: the config they fill would name them as another option is named
    (["dbn", *DIGITS, "--pretrain-lr", "nan"], "argument --pretrain-lr: pretrain_lr must be a finite number"),
    (["reproduce", "hinton2006", *DIGITS, "--control-epochs", "0"], "control_epochs must be >= 1, got 0"),
    (["reproduce", "hinton2006", *DIGITS, "--method", "up-down", "--pretrain-epochs", "0"],
     "--pretrain-epochs must be >= 1, got 0"),
    (["data", "fetch", "mnist", "--timeout", "0"], "argument --timeout: timeout must be > 0, got 0.0"),
    # options that do not apply: refused, not ignored
    (["reproduce", "glorot2010", "--quick", "--batch-size", "0"], "unrecognized arguments: --batch-size 0"),
    (["reproduce", "hinton2006", "--quick"], "unrecognized arguments: --quick"),
    (["rbm", "--quick", "--epochs", "0"], "--epochs must be >= 1, got 0"),
    # the rule gives digits Adam (issue 29): SGD's momentum, typed, is refused after the data is read, before work
    (["dbn", "--quick", "--momentum", "0.5"], "--momentum 0.5 applies to --optimizer sgd only"),
    (["compare", *DIGITS, "--momentum", "0.9"], "--momentum 0.9 applies to --optimizer sgd only"),
    (["dbn", *DIGITS, "--optimizer", "adam", "--momentum", "0.5"], "--momentum 0.5 applies to --optimizer sgd only"),
    (["reproduce", "hinton2006", *DIGITS, "--control-momentum", "0.5"],
     "--control-momentum 0.5 applies to --control-optimizer sgd only"),
    (["compare", *DIGITS, "--pretrain-epochs", "3"], "--pretrain-epochs 3 applies to --inits dbn only"),
    # names and sizes: checked before the data is loaded, or against it before any work
    (["compare", *DIGITS, "--nonlinearity", "bogus"], "nonlinearity='bogus' is not supported"),
    (["compare", *DIGITS, "--optimizer", "rmsprop"], "optimizer='rmsprop' is not supported"),
    (["compare", *DIGITS, "--inits", "he_normal,glorot"], "init='glorot' is not supported"),
    (["compare", *DIGITS, "--arch", "64-x-10"], "arch='64-x-10' is not a layer spec"),
    (["compare", *DIGITS, "--arch", "784-256-10"], "arch='784-256-10' starts with 784 inputs but the data has 64"),
    (["compare", *DIGITS, "--model", "lstm", "--inits", "dbn"], "init 'dbn' pre-trains the layers of an MLP"),
    (["compare", "--dataset", "cifar"], "dataset='cifar' is not supported"),
    (["dbn", *DIGITS, "--n-valid", "5000"], "--n-valid must be in [1, 1436] for digits's 1437 training samples"),
    (["dbn", *DIGITS, "--layers", "784-500"], "--layers start with 784 units but digits has 64 features; use 64-500"),
    (["dbn", *DIGITS, "--layers", "64"], "arch='64' is not a layer spec"),
    (["dbn", *DIGITS, "--precision", "fp8"], "precision='fp8' is not supported"),
    (["rbm", *DIGITS, "--visible", "poisson"], "visible='poisson' is not supported"),
    (["diagnose", *DIGITS, "--activation", "swish"], "activation='swish' is not supported"),
    (["diagnose", *DIGITS, "--arch", "784-10"], "arch='784-10' starts with 784 inputs but the data has 64 features"),
    (["diagnose", *DIGITS, "--inits", "nope"], "init='nope' is not supported"),
    # the user's paths: one line, never a traceback
    (["compare", *DIGITS, "--out", "afile/sub"],
     "--out 'afile/sub' cannot be created: 'afile' is a file, not a folder"),
    (["compare", *DIGITS, "--out", "afile"], "--out 'afile' exists and is not a folder"),
    (["diagnose", *DIGITS, "--out", "afile/sub"], "--out 'afile/sub' cannot be created: 'afile' is a file"),
    (["data", "fetch", "mnist", "--to", "afile/x"], "--to 'afile/x' cannot be created or written: Not a directory"),
    (["compare", *DIGITS, "--data-dir", "afile"], "data_dir='afile' is not a folder"),
    (["compare", "--dataset", "mnist", "--data-dir", "data"],
     "mnist.npz is not a .npz file: a .npz file is a zip archive of .npy arrays"),
    (["compare", *DIGITS, "--resume", "nowhere"], "--resume needs the folder of an earlier run, got 'nowhere'"),
    (["compare", *DIGITS, "--resume", "data"], "holds no run to resume (settings.json is missing)"),
    (["compare", *DIGITS, "--out", "x", "--resume", "data"], "name different folders; give only --resume"),
]
if sys.platform.startswith("linux"):
    BAD_INPUTS += [
        (["compare", *DIGITS, "--out", "/proc/weightinit-x"],
         "--out '/proc/weightinit-x' cannot be created or written"),
        (["data", "fetch", "mnist", "--to", "/proc/weightinit-x"], "--to '/proc/weightinit-x' cannot be created"),
    ]
if not torch.cuda.is_available():
    BAD_INPUTS += [(["compare", *DIGITS, "--device", "cuda"], "device='cuda' was asked for but torch sees no CUDA")]


@pytest.mark.parametrize("argv, message", BAD_INPUTS, ids=[" ".join(argv) for argv, _ in BAD_INPUTS])
def test_a_bad_input_is_one_line_exit_2_before_any_work(here, no_work, capsys, argv, message):
    before = sorted(p.name for p in here.rglob("*"))
    assert main(argv) == 2
    *status, err = capsys.readouterr().err.strip().splitlines()
    assert all(line.startswith("data: ") for line in status), status  # at most the line saying what data was read
    assert err.startswith("weightinit: error: ") and message in err, err
    assert "Traceback" not in err and "internal error" not in err
    assert sorted(p.name for p in here.rglob("*")) == before  # nothing created, nothing left behind


@pytest.mark.slow
def test_a_full_disk_is_one_line_not_an_internal_error(here, monkeypatch, capsys):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(here / "out" / "results.json"))

    monkeypatch.setattr("weightinit.experiments._result.write_text_atomic", full)
    assert main(["diagnose", *DIGITS, "--arch", "64-8-10", "--inits", "normal", "--out", "out"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == f"weightinit: error: {here / 'out' / 'results.json'}: No space left on device"


# ------------------------------------------------------------------ defaults that fit the data
def test_dbn_defaults_fit_digits(here, monkeypatch, capsys):
    got = {}

    def capture(dataset, config, **kwargs):
        got.update(vars(config))
        raise _Stop

    monkeypatch.setattr("weightinit.cli.dbn.dbn_experiment", capture)
    with pytest.raises(_Stop):
        main(["dbn", *DIGITS, "--no-progress"])
    assert list(got["layers"]) == [64, 500, 500, 2000]  # the data's features, then the paper's hidden layers
    assert got["n_valid"] == 240  # a sixth of digits' 1437 training images (MNIST: 10,000 of 60,000)
    # issue 29: MNIST's SGD (lr 0.1, momentum 0.9) and 10 pre-training epochs left digits at chance (88% test
    # error): its 360 fine-tuning updates take Adam at 3e-3, its 12 batches a pass 100 pre-training epochs
    assert (got["train"].optimizer, got["train"].lr, got["train"].momentum) == ("adam", 0.003, 0.0)
    assert got["pretrain"].epochs == 100
    err = capsys.readouterr().err
    assert "(240 of them for validation)" in err and "settings: pre-training 100 epochs per layer" in err


def test_rbm_defaults_fit_digits(here, monkeypatch, capsys):
    got = {}

    def capture(dataset, settings, **kwargs):
        got.update(vars(settings))
        raise _Stop

    monkeypatch.setattr("weightinit.cli.rbm.rbm_experiment", capture)
    with pytest.raises(_Stop):
        main(["rbm", *DIGITS, "--no-progress", "--device", "cpu"])
    # issue 29: the pcd recipe's 10 epochs are 150 updates on digits, which left W at its start
    assert got["train"].epochs == 400  # 6,000 updates, as 10 epochs on MNIST
    assert got["ais_steps"] == 1184 and got["raise_images"] == 100  # 14,500 per 784 visible units
    assert "settings: recipe pcd, 400 epochs x 15 batches of 100 = 6,000 updates" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["rbm", "dbn"])
def test_quick_means_digits_unless_the_dataset_is_given(here, monkeypatch, capsys, command):
    seen = []

    def capture(dataset, *args, **kwargs):
        seen.append(dataset.name)
        raise _Stop

    monkeypatch.setattr(f"weightinit.cli.{command}.{command}_experiment", capture)
    for argv in (["--quick"], ["--quick", "--dataset", "synthetic"]):
        with pytest.raises(_Stop):
            main([command, *argv, "--no-progress", "--device", "cpu"])
    assert seen == ["digits", "synthetic"]


def test_hinton2006_takes_its_input_size_from_the_data_and_gives_adam_controls_no_momentum(here, monkeypatch):
    got = {}

    def capture(dataset, config, **kwargs):
        got.update(vars(config))
        raise _Stop

    monkeypatch.setattr("weightinit.cli.hinton2006.hinton2006", capture)
    with pytest.raises(_Stop):
        main(["reproduce", "hinton2006", *DIGITS, "--no-progress"])
    assert got["n_valid"] == 240
    assert got["control_train"].optimizer == "adam" and got["control_train"].momentum == 0.0
    assert got["train"].momentum == 0.9


@pytest.mark.slow
def test_diagnose_works_on_digits_with_no_other_option(here, capsys):
    assert main(["diagnose", *DIGITS, "--out", "d"]) == 0
    results = json.loads((here / "d" / "results.json").read_text())
    assert results["arch"] == "64-256-256-256-256-10"  # its input size from the data


def test_the_default_validation_split_is_a_sixth_of_the_training_set():
    from weightinit.experiments.dbn import default_n_valid

    assert default_n_valid(60_000) == 10_000 and default_n_valid(1437) == 240
    assert default_n_valid(2) == 1 and default_n_valid(1) == 1


# ------------------------------------------------------------------ run folders
COMPARE = ["compare", *DIGITS, "--arch", "64-16-10", "--inits", "he_normal,normal", "--epochs", "1",
           "--batch-size", "50", "--lr", "0.003", "--no-progress"]


@pytest.fixture(scope="module")
def compare_template(tmp_path_factory):
    out = tmp_path_factory.mktemp("template") / "run"
    assert main([*COMPARE, "--out", str(out)]) == 0
    return out


@pytest.fixture
def finished_compare(here, compare_template):
    """A finished compare run of its own (a copy of one run for the module)."""
    shutil.copytree(compare_template, here / "run")
    return here / "run"


@pytest.mark.slow
def test_resume_alone_reads_the_settings_from_the_folder(finished_compare, capsys):
    capsys.readouterr()
    assert main(["compare", "--resume", str(finished_compare), "--no-progress", "--json"]) == 0
    results = json.loads(capsys.readouterr().out)
    assert results["config"]["lr"] == 0.003 and results["arch"] == "64-16-10"
    assert [r["init"] for r in results["runs"]] == ["he_normal", "normal"]


def test_a_folder_of_the_previous_version_resumes(finished_compare, capsys):
    # before: --momentum defaulted to 0.0 (ignored by Adam) and --pretrain-epochs to 5, and
    # settings.json kept them; such values, read back, are not refused as if typed
    settings = json.loads((finished_compare / "settings.json").read_text())
    settings.update(momentum=0.0, pretrain_epochs=5)
    del settings["quick"]  # an option added since (as --quick to rbm and dbn): the run had today's default
    (finished_compare / "settings.json").write_text(json.dumps(settings))
    assert main(["compare", "--resume", str(finished_compare), "--quick", "--no-progress"]) == 2  # typed: it differs
    assert "(quick differ)" in capsys.readouterr().err
    assert main(["compare", "--resume", str(finished_compare), "--no-progress"]) == 0, capsys.readouterr().err


def test_resume_with_an_option_that_disagrees_names_it_and_its_recorded_value(finished_compare, capsys):
    assert main(["compare", "--resume", str(finished_compare), "--epochs", "3"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "(epochs differ): it has --epochs 1; drop those options" in err[0], err
    assert main(["compare", "--resume", str(finished_compare), "--epochs", "1", "--no-progress"]) == 0  # agrees


@pytest.mark.slow
def test_resume_of_another_commands_folder_says_what_it_is(finished_compare, here, capsys):
    assert main(["rbm", "--resume", str(finished_compare)]) == 2
    assert ("it is a compare run; resume it with `weightinit compare --resume"
            in capsys.readouterr().err)
    assert main(["rbm", *DIGITS, "--device", "cpu", "--hidden", "4", "--epochs", "1", "--ais-chains", "2",
                 "--ais-steps", "5",
                 "--out", "r", "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["compare", "--resume", "r"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot resume r with `weightinit compare`: it is an rbm run; resume it with " \
                             "`weightinit rbm --resume r`" in err[0], err


def test_a_bit_flipped_finished_weights_file_is_refused_before_any_work(finished_compare, no_work, capsys):
    weights = next(finished_compare.glob("checkpoints/normal-seed*/weights.pt"))
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0x01
    weights.write_bytes(bytes(data))
    for other in finished_compare.glob("checkpoints/he_normal-seed*/*"):  # the other run must train again ...
        other.unlink()
    assert main(["compare", "--resume", str(finished_compare)]) == 2  # ... but no_work: refused before it does
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{weights}: sha256 is" in err[0] and "was altered" in err[0], err
    assert "delete" in err[0] and "to run this part again" in err[0]


def test_a_settings_file_that_is_not_json_is_one_line(finished_compare, capsys):
    (finished_compare / "settings.json").write_text("{not json")
    assert main(["compare", "--resume", str(finished_compare)]) == 2
    assert "settings.json: not the settings of a run" in capsys.readouterr().err


def test_a_folder_being_written_is_locked_against_a_second_process(finished_compare, capsys):
    with lock_folder(finished_compare):  # as another process holding it would
        assert main(["compare", "--resume", str(finished_compare), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is being written by another weightinit process" in err[0], err
    assert main(["compare", "--resume", str(finished_compare), "--no-progress"]) == 0  # released: it runs


@pytest.mark.slow
def test_the_lock_dies_with_its_process(finished_compare):
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from pathlib import Path; "
                               "from weightinit.runs.files import lock_folder\n"
                               "with lock_folder(Path(sys.argv[1])):\n print('locked', flush=True); time.sleep(60)",
                               str(finished_compare)], stdout=subprocess.PIPE, text=True, env=ENV)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(weightinit.UserError, match="another weightinit process"), lock_folder(finished_compare):
            pass
    finally:
        holder.kill()  # SIGKILL: no clean-up code runs, the kernel drops the lock
        holder.wait(timeout=30)
    deadline = time.monotonic() + 10
    with lock_folder(finished_compare):
        assert time.monotonic() < deadline


# ------------------------------------------------------------------ weights files and weightinit.load
@pytest.mark.slow
def test_load_returns_the_modules_of_an_rbm_and_a_dbn_run(here):
    assert main(["rbm", *DIGITS, "--device", "cpu", "--hidden", "8", "--epochs", "1", "--ais-chains", "2",
                 "--ais-steps", "5",
                 "--out", "r", "--no-progress"]) == 0
    rbm = weightinit.load(here / "r" / "rbm.pt")
    saved = torch.load(here / "r" / "rbm.pt", weights_only=True)  # torch.load still reads it
    assert saved["format"] == "weightinit.weights/1" and saved["kind"] == "rbm"
    assert torch.equal(rbm.W, saved["state_dict"]["W"]) and rbm.W.shape == (8, 64)

    assert main(["dbn", *DIGITS, "--device", "cpu", "--layers", "64-16", "--pretrain-epochs", "1",
                 "--finetune-epochs", "2",
                 "--dropout", "0.2", "--input-dropout", "0.1", "--out", "d", "--no-progress"]) == 0
    dbn = weightinit.load(here / "d" / "dbn.pt")
    assert dbn.layer_sizes == [64, 16]
    net = weightinit.load(here / "d" / "classifier.pt")
    assert not net.training  # ready for inference: dropout off
    results = json.loads((here / "d" / "results.json").read_text())
    digits = load_dataset("digits")
    assert evaluate(net, digits.test)[1] == pytest.approx(results["runs"][0]["test_accuracy"], abs=1e-9)


def test_load_reads_a_compare_runs_weights_and_checks_their_hash(finished_compare):
    weights = next(finished_compare.glob("checkpoints/he_normal-seed*/weights.pt"))
    net = weightinit.load(weights)
    results = json.loads((finished_compare / "results.json").read_text())
    run = next(r for r in results["runs"] if r["init"] == "he_normal")
    assert evaluate(net, load_dataset("digits").test)[1] == pytest.approx(run["test_accuracy"], abs=1e-9)
    data = bytearray(weights.read_bytes())
    data[-10] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(CorruptFileError, match="sha256 is .* the file is truncated or was altered"):
        weightinit.load(weights)


def test_load_refuses_a_file_that_does_not_say_what_it_holds(tmp_path):
    torch.save({"something": torch.zeros(2)}, tmp_path / "x.pt")
    with pytest.raises(CorruptFileError, match="x.pt: written by an earlier weightinit without what rebuilds"):
        weightinit.load(tmp_path / "x.pt")
    torch.save({"format": "weightinit.weights/9", "kind": "mlp", "state_dict": {}}, tmp_path / "y.pt")
    with pytest.raises(CorruptFileError, match="format 'weightinit.weights/9' is not one this weightinit reads"):
        weightinit.load(tmp_path / "y.pt")


def test_weights_record_is_what_torch_load_reads(tmp_path):
    from weightinit.runs.files import weights_record, write_weights

    net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Tanh(), torch.nn.Linear(3, 2))
    write_weights(tmp_path / "w.pt", weights_record("mlp", net.state_dict(), sizes=[4, 3, 2], activation="tanh"))
    assert read_weights(tmp_path / "w.pt")["kind"] == "mlp"
    loaded = weightinit.load(tmp_path / "w.pt")
    x = torch.rand(5, 4)
    assert torch.equal(loaded(x), net(x))
    assert Path(str(tmp_path / "w.pt") + ".sha256").is_file()
