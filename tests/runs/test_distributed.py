"""torch.distributed with 2 gloo processes on 127.0.0.1, launched by torchrun: data-parallel
training and RBM statistics against one process, a sweep split between the ranks, a rank
that dies, and resuming with another world size."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from weightinit.boltzmann import RBM, train_rbm
from weightinit.data import load_dataset
from weightinit.runs import distributed
from weightinit.runs.checkpoint import Checkpoint

from . import distributed_worker as worker

# make test runs two pytest workers: these tests go to one of them (pytest-xdist's loadgroup), one
# torchrun job at a time. Two jobs at once on 2 cores made a rank of the "fit" scenario abort now
# and then ("terminate called without an active exception"; 1 run in 4 of this file alone).
pytestmark = pytest.mark.xdist_group("torchrun")

WORKER = Path(__file__).with_name("distributed_worker.py")
# torchrun gives each of its processes one thread; the single-process references use one too,
# so that the only difference left is the data parallelism itself
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", "WEIGHTINIT_DIST_TIMEOUT": "30",
       "PYTHONPATH": os.pathsep.join([str(WORKER.parent.parent), os.environ.get("PYTHONPATH", "")])}


def torchrun(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                           *args], capture_output=True, text=True, env=ENV, timeout=timeout)


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_not_launched_means_one_process():
    assert not distributed.launched() and distributed.world_size() == 1 and distributed.rank() == 0
    assert distributed.is_main() and distributed.sweep_share() == (0, 1)


@pytest.mark.slow
def test_fit_on_two_ranks_matches_one_process(tmp_path, digits, one_thread):
    out = tmp_path / "fit.json"
    done = torchrun(str(WORKER), "fit", str(out))
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = json.loads(out.read_text())
    assert ranks["world_size"] == 2
    net = worker.model()
    single = worker.fit(net, digits.train, worker.FIT, evaluate_on=("test", digits.test)).to_dicts()
    # Same maths (each rank's summed loss times 2/100, averaged by DDP, is the batch mean); only
    # the order of float32 additions differs, which three epochs of Adam amplify to ~1e-6 relative.
    for a, b in zip(ranks["history"], single):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-4)
        assert a["test_loss"] == pytest.approx(b["test_loss"], rel=1e-4)
        assert abs(a["test_accuracy"] - b["test_accuracy"]) <= 2 / 360  # at most two test digits flip
    weights = torch.load(str(out) + ".pt", weights_only=True)
    for key, value in net.state_dict().items():
        assert torch.allclose(weights[key], value, atol=1e-4), key


@pytest.mark.slow
def test_rbm_epoch_with_all_reduced_statistics_matches_one_process(tmp_path, digits, one_thread):
    out = tmp_path / "rbm.json"
    done = torchrun(str(WORKER), "rbm", str(out))
    assert done.returncode == 0, done.stderr[-3000:]
    rbm = RBM(64, 32)
    single = train_rbm(rbm, digits.train.x, worker.RBM_CONFIG).to_dicts()
    weights = torch.load(str(out) + ".pt", weights_only=True)
    # the same data order and the same random draws (each rank takes its rows of the batch's
    # draws); the statistics are float32 sums in another order
    for key, value in rbm.state_dict().items():
        assert torch.allclose(weights[key], value, atol=1e-5), (key, (weights[key] - value).abs().max())
    ranks = json.loads(out.read_text())["history"]
    assert ranks[0]["reconstruction_error"] == pytest.approx(single[0]["reconstruction_error"], rel=1e-4)


@pytest.mark.slow
def test_a_rank_that_dies_ends_the_run_quickly(tmp_path):
    start = time.monotonic()
    done = torchrun(str(WORKER), "die", str(tmp_path / "die.json"), timeout=90)
    assert done.returncode != 0
    assert time.monotonic() - start < 60
    assert "exitcode" in done.stderr or "failed" in done.stderr.lower()


@pytest.mark.slow
def test_checkpoint_of_two_ranks_resumes_in_one_process(tmp_path, digits, one_thread):
    out = tmp_path / "stop.json"
    done = torchrun(str(WORKER), "fit-stop", str(out))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "stopped at epoch 2, batch 6 of 15" in json.loads(out.read_text())["stopped"]
    state = Checkpoint(str(out) + ".ckpt").load()
    resumed = worker.model()
    history = worker.fit(resumed, digits.train, worker.FIT, resume=state, evaluate_on=("test", digits.test))
    reference = worker.model()
    expected = worker.fit(reference, digits.train, worker.FIT, evaluate_on=("test", digits.test))
    assert [e.epoch for e in history.epochs] == [1, 2, 3]
    assert history.epochs[-1].train_loss == pytest.approx(expected.epochs[-1].train_loss, rel=1e-4)


@pytest.mark.slow
def test_compare_sweep_splits_runs_between_ranks_and_merges_one_results_file(tmp_path):
    # one run after another in the single process too (a batched sweep agrees only up to float rounding)
    argv = ["compare", "--dataset", "digits", "--inits", "he_normal,xavier_uniform,lecun_normal", "--epochs", "2",
            "--no-progress", "--no-batched"]
    done = torchrun("-m", "weightinit", *argv, "--out", str(tmp_path / "two"))
    assert done.returncode == 0, done.stderr[-3000:]
    single = subprocess.run([sys.executable, "-m", "weightinit", *argv, "--out", str(tmp_path / "one")],
                            capture_output=True, text=True, env=ENV, timeout=120)
    assert single.returncode == 0, single.stderr

    def strip(value):
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if "seconds" not in k}
        return [strip(v) for v in value] if isinstance(value, list) else value

    two, one = (json.loads((tmp_path / name / "results.json").read_text()) for name in ("two", "one"))
    assert strip(two) == strip(one)  # each run trained once, by one rank, exactly as alone
    assert sorted(p.name for p in (tmp_path / "two" / "checkpoints").iterdir()) == [
        "he_normal-seed777", "lecun_normal-seed777", "xavier_uniform-seed777"]
    assert done.stdout.count("he_normal") == 1  # one table, printed by rank 0


@pytest.mark.slow
def test_dbn_command_under_torchrun_is_data_parallel_and_matches_one_process(tmp_path):
    # one fine-tuning, fewer runs than processes: both ranks pre-train and fine-tune it together
    argv = ["dbn", "--dataset", "digits", "--layers", "64-48-32", "--pretrain-epochs", "2", "--finetune-epochs", "3",
            "--batch-size", "50", "--n-valid", "300", "--no-progress", "--json"]
    done = torchrun("-m", "weightinit", *argv, "--out", str(tmp_path / "two"))
    assert done.returncode == 0, done.stderr[-3000:]
    single = subprocess.run([sys.executable, "-m", "weightinit", *argv, "--out", str(tmp_path / "one")],
                            capture_output=True, text=True, env=ENV, timeout=120)
    assert single.returncode == 0, single.stderr
    two, one = json.loads(done.stdout), json.loads(single.stdout)  # rank 0 alone printed its JSON
    a, b = two["runs"][0]["history"], one["runs"][0]["history"]
    assert [h["train_loss"] for h in a] == pytest.approx([h["train_loss"] for h in b], rel=1e-3)
    assert abs(two["runs"][0]["test_accuracy"] - one["runs"][0]["test_accuracy"]) <= 0.002
    layers = [Path(tmp_path / name / "checkpoints" / "layer-0.pt") for name in ("two", "one")]
    w2, w1 = (torch.load(p, weights_only=True)["state_dict"]["W"] for p in layers)
    assert torch.allclose(w2, w1, atol=1e-5)  # data-parallel CD = one process, up to float32 sums
