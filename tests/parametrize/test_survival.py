"""A parametrization's metadata lives in the plan, not on the tensors, so it survives what loses the
``mup`` package's ``infshape`` (its issues #59, #60): saving and loading, torch.compile, and DDP on
2 gloo processes. CPU."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from weightinit.parametrize import ParamPlan, param_groups

from . import ddp_worker as worker

WORKER = Path(__file__).with_name("ddp_worker.py")


def test_save_load_and_a_plan_read_back_continue_training_exactly(tmp_path):
    model, plan = worker.planned()
    optimizer = torch.optim.AdamW(param_groups(model, plan, lr=worker.LR, weight_decay=0.1))
    x, y = worker.batch()
    worker.step(model, optimizer, x, y)
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict()}, tmp_path / "state.pt")
    (tmp_path / "plan.json").write_text(json.dumps(plan.to_dict()))
    worker.step(model, optimizer, x, y)

    saved = torch.load(tmp_path / "state.pt", weights_only=True)
    again = worker.build(64)  # an ordinary model: no attribute to put back on its tensors
    again.load_state_dict(saved["model"])
    read_back = ParamPlan.from_dict(json.loads((tmp_path / "plan.json").read_text()))
    resumed = torch.optim.AdamW(param_groups(again, read_back, lr=worker.LR, weight_decay=0.1))
    resumed.load_state_dict(saved["optimizer"])
    worker.step(again, resumed, x, y)
    for (name, a), b in zip(model.state_dict().items(), again.state_dict().values()):
        assert torch.equal(a, b), name


def test_torch_compile_sees_ordinary_parameters():
    eager, plan = worker.planned()
    model, _ = worker.planned()
    compiled = torch.compile(model, backend="eager")  # the graph capture, without a C++ compiler
    groups = param_groups(compiled, plan, lr=worker.LR)  # names start "_orig_mod."
    assert sorted(n for g in groups for n in g["param_names"]) == sorted(n for n, _ in eager.named_parameters())
    x, y = worker.batch()
    for net, optimizer in ((eager, torch.optim.AdamW(param_groups(eager, plan, lr=worker.LR))),
                           (compiled, torch.optim.AdamW(groups))):
        for _ in range(2):
            worker.step(net, optimizer, x, y)
    for (name, a), b in zip(eager.state_dict().items(), model.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=name)


@pytest.mark.slow
@pytest.mark.xdist_group("torchrun")
def test_ddp_on_two_processes_trains_as_one(tmp_path):
    out = tmp_path / "ddp.pt"
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(WORKER.parent.parent.parent), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                           str(WORKER), str(out)], capture_output=True, text=True, env=env, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model, plan = worker.planned()
        optimizer = torch.optim.AdamW(param_groups(model, plan, lr=worker.LR, weight_decay=0.1))
        x, y = worker.batch()
        for _ in range(worker.STEPS):
            worker.step(model, optimizer, x, y)
    finally:
        torch.set_num_threads(threads)
    ranks = torch.load(out, weights_only=True)
    for name, value in model.state_dict().items():  # same maths; only the order of float additions differs
        torch.testing.assert_close(ranks[name], value, rtol=1e-4, atol=1e-5, msg=name)
