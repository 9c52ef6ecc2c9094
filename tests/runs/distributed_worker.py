"""Run by torchrun in tests/runs/test_distributed.py: one scenario per call, results from rank 0
written to a file. ``python -m torch.distributed.run --standalone --nproc_per_node=2
tests/runs/distributed_worker.py SCENARIO OUT``."""

import json
import os
import sys

import torch

from weightinit import init_model
from weightinit.boltzmann import RBM, RBMConfig, train_rbm
from weightinit.data import load_dataset
from weightinit.models import mlp
from weightinit.runs import distributed
from weightinit.runs.checkpoint import Checkpoint
from weightinit.runs.interrupt import Interrupted, request_stop, stop_on_sigint
from weightinit.training import TrainConfig, fit

# device: cpu (gloo), in the torchrun workers and in test_distributed's one-process references alike
FIT = TrainConfig(epochs=3, batch_size=100, seed=1, device="cpu")
RBM_CONFIG = RBMConfig(epochs=1, batch_size=100, k=1, persistent=True, seed=2, device="cpu")


def model() -> torch.nn.Module:
    return init_model(mlp("64-128-64-10"), "he_normal", generator=torch.Generator().manual_seed(0))


def main(scenario: str, out: str) -> None:
    distributed.setup()
    digits = load_dataset("digits")
    result = {"world_size": distributed.world_size()}
    if scenario == "fit":
        net = model()
        history = fit(net, digits.train, FIT, evaluate_on=("test", digits.test))
        result["history"] = history.to_dicts()
        torch.save(net.state_dict(), out + ".pt") if distributed.is_main() else None
    elif scenario == "fit-stop":  # every rank asks to stop at the same batch: rank 0 writes the checkpoint
        count = iter(range(10**6))
        with stop_on_sigint():
            try:
                fit(model(), digits.train, FIT, checkpoint=Checkpoint(out + ".ckpt").save,
                    on_batch=lambda: next(count) == 20 and request_stop(), evaluate_on=("test", digits.test))
            except Interrupted as stop:
                result["stopped"] = str(stop)
    elif scenario == "rbm":
        rbm = RBM(64, 32)
        history = train_rbm(rbm, digits.train.x, RBM_CONFIG)
        result["history"] = history.to_dicts()
        torch.save(rbm.state_dict(), out + ".pt") if distributed.is_main() else None
    elif scenario == "die":  # rank 1 dies in the middle of training; rank 0 must not hang
        if distributed.rank() == 1:
            fit(model(), digits.train, FIT, on_batch=lambda: os._exit(3), evaluate_on=("test", digits.test))
        fit(model(), digits.train, FIT, evaluate_on=("test", digits.test))
    if distributed.is_main():
        with open(out, "w") as handle:
            json.dump(result, handle)
    distributed.teardown()


if __name__ == "__main__":
    main(*sys.argv[1:])
