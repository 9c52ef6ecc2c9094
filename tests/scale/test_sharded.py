"""The same weights on 1, 2 and 4 ranks: a model sharded with FSDP2's ``fully_shard`` (built on
the meta device) or holding DTensors (rows, columns and replicas), initialized in place by
``materialize`` on gloo processes on the CPU, gathered, is bit-identical to the one-process
model, uneven shards included (30 and 51 rows over 4 ranks; Llama's 301-token vocabulary).
Launched by torchrun (tests/scale/shard_worker.py). Device: CPU."""

import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch

from weightinit.scale import materialize

from . import shard_worker as worker

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("torchrun")]

WORKER = Path(__file__).with_name("shard_worker.py")
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", "PYTHONFAULTHANDLER": "1",  # a crash's stacks
       "PYTHONPATH": os.pathsep.join([str(WORKER.parent.parent.parent / "src"), os.environ.get("PYTHONPATH", "")])}
CASES = [
    ("fsdp", 2, "gpt", "he_normal"),
    ("fsdp", 4, "gpt", "orthogonal"),  # whole-matrix: every rank draws the whole block, keeps its rows
    ("fsdp", 4, "gpt", "torchtitan"),  # truncated normal: a rejection loop, per shard
    ("fsdp", 4, "llama", "olmo2"),  # a transformers model: its rotary buffers recomputed on every rank
    ("dtensor", 2, "gpt", "xavier_uniform"),
    ("dtensor", 4, "gpt", "default"),
]


def reference(model: str, scheme: str) -> torch.nn.Module:
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return materialize(worker.build(model), scheme, seed=7, block_size=worker.BLOCK)


@pytest.mark.parametrize(("how", "ranks", "model", "scheme"), CASES)
def test_sharded_init_equals_one_process(tmp_path, how, ranks, model, scheme):
    out = tmp_path / "state.pt"
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={ranks}",
                           str(WORKER), how, model, scheme, str(out)], capture_output=True, text=True, env=ENV,
                          timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    got = torch.load(out, weights_only=True)
    assert got["world"] == ranks and got["finite"]
    assert "sharded (DTensor)" in got["refused"] and "weightinit.materialize" in got["refused"]
    whole = [line for line in got["said"] if "need the whole matrix" in line]  # orthogonal's QR: each rank draws it all
    assert bool(whole) == (scheme == "orthogonal"), got["said"]
    single = reference(model, scheme)
    state = single.state_dict()
    assert state.keys() == got["state"].keys()
    assert [k for k in state if not torch.equal(state[k], got["state"][k])] == []
    buffers = dict(single.named_buffers())
    assert [k for k in buffers if not torch.equal(buffers[k], got["buffers"][k])] == []
