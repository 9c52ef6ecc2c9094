"""Run by torchrun in tests/parametrize/test_survival.py: a muP GPT wrapped in DDP (gloo, CPU),
trained a few AdamW steps over param_groups of the wrapped model, each rank on its half of the
batch; rank 0 saves the weights. ``python -m torch.distributed.run --standalone --nproc_per_node=2
tests/parametrize/ddp_worker.py OUT``."""

import sys

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

from weightinit.models.gpt import GPT
from weightinit.parametrize import param_groups, parametrize

STEPS, LR = 4, 3e-3


def build(width: int) -> GPT:
    return GPT(30, layers=2, width=width, heads=4, context=16)


def planned():
    model = build(64)
    plan = parametrize(model, "mup", base=lambda: build(16), scheme="gpt2", generator=torch.Generator().manual_seed(0))
    return model, plan


def batch() -> tuple[torch.Tensor, torch.Tensor]:
    tokens = torch.randint(0, 30, (8, 17), generator=torch.Generator().manual_seed(1))
    return tokens[:, :-1], tokens[:, 1:]


def step(net, optimizer, x, y) -> None:
    optimizer.zero_grad()
    logits = net(x)
    F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1)).backward()
    optimizer.step()


def main(out: str) -> None:
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    model, plan = planned()
    net = DistributedDataParallel(model)
    optimizer = torch.optim.AdamW(param_groups(net, plan, lr=LR, weight_decay=0.1))  # names start "module."
    x, y = batch()
    share = slice(rank * len(x) // world, (rank + 1) * len(x) // world)
    for _ in range(STEPS):
        step(net, optimizer, x[share], y[share])
    if rank == 0:
        torch.save(model.state_dict(), out)
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1])
