"""Several runs of one MLP trained as one stacked model: a sweep at the hardware's speed.

A sweep trains the same small network many times (one per initialization and seed). Trained
one after another, each run pays PyTorch's per-operation overhead on tiny matrices; stacked,
the R runs' weights of layer l form one (R, out, in) tensor and a batch is one ``baddbmm``
per layer for all runs:

.. math::
    h^{(l)}_r = \\phi\\big(x^{(l-1)}_r W^{(l)\\top}_r + b^{(l)}_r\\big), \\quad r = 1..R

The loss is the sum over runs of each run's mean cross-entropy, so each run's gradient is its
own; Adam and SGD are element-wise, so one optimizer over the stacked tensors is R optimizers.
Each run keeps its own data order (its own seeded permutation, gathered per run), its own
divergence verdict (a diverged run is recorded, then frozen at zero so that it cannot poison
the others) and its own state, in :func:`weightinit.train.fit`'s format: a run resumes batched
or alone. The states of all runs are handed to the checkpoint together, so that they are
written as one file and a crash never leaves the runs at different points. Results equal the
same runs trained alone up to the rounding of the batched matrix products
(``tests/training/test_batched.py`` says how close).

Applies to ``nn.Sequential`` MLPs of Linear layers and activation modules, trained without
dropout or weight averaging; :func:`can_batch` says whether a set of runs qualifies.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import asdict, replace

import torch
import torch.nn.functional as F
from torch import nn

from ..data.datasets import Split
from ..errors import UserError
from ..modelinit.activations import activation_of
from ..runs.devices import resolve_device
from ..runs.interrupt import Interrupted, checkpointable, stop_requested
from .history import EpochRecord, History
from .loop import DIVERGENCE_LOSS, TrainConfig, autocast_dtype

__all__ = ["can_batch", "fit_batched"]


def can_batch(models: Sequence[nn.Module], configs: Sequence[TrainConfig]) -> bool:
    """Whether these runs can train as one stacked model: MLPs of one shape (Linear layers and
    stateless activation modules), one training setting but the seed, no dropout, no averaging."""
    if len(models) < 2 or len(models) != len(configs):
        return False
    first = configs[0]
    if first.ema or any(replace(c, seed=first.seed) != first for c in configs):
        return False
    shapes = [_shape(m) for m in models]
    return shapes[0] is not None and all(s == shapes[0] for s in shapes)


def _shape(model: nn.Module) -> list | None:
    if not isinstance(model, nn.Sequential):
        return None
    shape = []
    for module in model:
        if isinstance(module, nn.Linear) and type(module) is nn.Linear:
            shape.append(("linear", module.in_features, module.out_features, module.bias is not None))
        elif activation_of(module) is not None and not list(module.parameters()):
            shape.append(("activation", type(module), repr(module)))
        else:
            return None
    return shape


class _Stack:
    """The runs' parameters stacked along a leading run dimension, in ``model.parameters()``
    order (weight, bias of each Linear), and the forward pass over them."""

    def __init__(self, models: Sequence[nn.Sequential], device: torch.device) -> None:
        self.template = models[0]
        self.params = [nn.Parameter(torch.stack([p.detach() for p in group]).to(device))
                       for group in zip(*(list(m.parameters()) for m in models))]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` (R, B, in), or (B, in) shared by every run -> logits (R, B, classes)."""
        params = iter(self.params)
        for module in self.template:
            if not isinstance(module, nn.Linear):
                x = module(x)
                continue
            weight = next(params).transpose(1, 2)  # (R, in, out)
            if module.bias is None:
                x = torch.matmul(x, weight)  # (R, B, out); a shared (B, in) broadcasts over the runs
            elif x.dim() == 3:
                x = torch.baddbmm(next(params).unsqueeze(1), x, weight)
            else:
                x = torch.matmul(x, weight) + next(params).unsqueeze(1)
        return x

    def run_state(self, r: int) -> dict[str, torch.Tensor]:
        names = [name for name, _ in self.template.named_parameters()]
        return {name: p[r].detach().clone() for name, p in zip(names, self.params)}


def _optimizer(params: list[nn.Parameter], config: TrainConfig) -> torch.optim.Optimizer:
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, fused=True)
    return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, fused=True)


def _run_optimizer_state(optimizer: torch.optim.Optimizer, r: int) -> dict:
    """Run ``r``'s slice of the stacked optimizer's state, as its own optimizer would save it."""
    state = optimizer.state_dict()
    return {"state": {i: {k: (v if k == "step" else v[r]).clone() for k, v in s.items()}
                      for i, s in state["state"].items()},
            "param_groups": state["param_groups"]}


def _stack_optimizer_state(optimizer: torch.optim.Optimizer, states: Sequence[dict]) -> None:
    stacked = {"state": {i: {k: (v if k == "step" else torch.stack([s["state"][i][k] for s in states]))
                             for k, v in states[0]["state"][i].items()} for i in states[0]["state"]},
               "param_groups": states[0]["param_groups"]}
    optimizer.load_state_dict(stacked)


@torch.no_grad()
def _evaluate(stack: _Stack, split: Split, chunk: int = 10_000) -> tuple[list[float], list[float]]:
    """Each run's mean cross-entropy and accuracy on ``split``."""
    runs = stack.params[0].shape[0]
    totals = torch.zeros(2, runs, dtype=torch.float64, device=split.x.device)
    for start in range(0, len(split), chunk):
        logits = stack.forward(split.x[start : start + chunk])  # (R, b, C)
        labels = split.y[start : start + chunk]
        losses = F.cross_entropy(logits.transpose(1, 2), labels.expand(runs, -1), reduction="none")  # (R, b)
        totals[0] += losses.double().sum(1)
        totals[1] += (logits.argmax(2) == labels).sum(1)
    n = max(len(split), 1)
    return (totals[0] / n).tolist(), (totals[1] / n).tolist()


def fit_batched(
    models: Sequence[nn.Sequential],
    train: Split,
    configs: Sequence[TrainConfig],
    *,
    evaluate_on: tuple[str, Split] | None = None,
    on_batch: Callable[[], None] | None = None,
    checkpoint: Callable[[list[dict]], None] | None = None,
    resume: Sequence[dict] | None = None,
) -> list[History]:
    """Train ``models`` (run r with ``configs[r]``) as one stacked model; each ends with its
    weights and the list holds each one's history, as :func:`weightinit.train.fit` would
    return them one by one. ``checkpoint`` receives the list of the runs' states, each in
    ``fit``'s format, after every epoch (and on Ctrl-C, then :class:`Interrupted` is raised);
    ``resume`` continues from such a list (the runs advance in lockstep). Devices as in ``fit``:
    the models end on the configs' device, the splits are copied there once, and on CUDA the
    losses and divergence verdicts are read once per epoch."""
    if not can_batch(models, configs):
        raise UserError("these runs cannot train as one stacked model (see weightinit.batched.can_batch)")
    config = replace(configs[0], seed=0)  # what the runs share
    device = resolve_device(config.device)
    dtype = autocast_dtype(config, device)
    runs, batch = len(models), config.batch_size
    name, held_out = evaluate_on if evaluate_on is not None else (None, None)
    train = Split(train.x.to(device), train.y.to(device))
    held_out = None if held_out is None else Split(held_out.x.to(device), held_out.y.to(device))
    n, n_batches = len(train), math.ceil(len(train) / batch)
    resumes = list(resume) if resume is not None else [None] * runs
    started = [r for r in resumes if r is not None]
    ongoing = [r for r in started if not r["history"]["diverged"]]  # a diverged run stopped where it diverged
    if started and (len(started) != runs or len({(r["epoch"], (r["position"] or {}).get("batch"))
                                                 for r in ongoing}) > 1):
        raise UserError(f"resume must hold one state per run ({runs}), all at one point of training")
    for model, resume in zip(models, resumes):
        if resume is not None:
            model.load_state_dict(resume["model"])
    stack = _Stack(models, device)
    optimizer = _optimizer(stack.params, config)
    orders = [torch.Generator().manual_seed(c.seed) for c in configs]
    histories = [History(evaluated_on=name) for _ in models]
    position: dict | None = None
    if started:
        _stack_optimizer_state(optimizer, [r["optimizer"] for r in resumes])
        for order, history, resume in zip(orders, histories, resumes):
            order.set_state(resume["order"])
            loaded = History.from_dict(resume["history"])
            history.epochs, history.diverged, history.diverged_at = loaded.epochs, loaded.diverged, loaded.diverged_at
        if ongoing and ongoing[0]["position"] is not None:
            where = [r["position"] for r in resumes]
            position = {"batch": ongoing[0]["position"]["batch"], "seconds": ongoing[0]["position"]["seconds"],
                        "permutations": [w["permutation"] if w else torch.arange(n) for w in where],
                        "losses": [w["losses"] if w else torch.zeros(ongoing[0]["position"]["batch"]) for w in where]}
    alive = torch.tensor([not h.diverged for h in histories], device=device)
    finals: dict[int, dict] = {r: stack.run_state(r) for r in range(runs) if not bool(alive[r])}
    with torch.no_grad():  # a run that diverged before a resume stays frozen at 0
        for r in finals:
            for p in stack.params:
                p[r].zero_()

    def state(r: int, epoch: int, where: dict | None) -> dict:
        return {"kind": "fit", "config": asdict(configs[r]), "epoch": epoch, "position": where,
                "model": stack.run_state(r), "optimizer": _run_optimizer_state(optimizer, r),
                "order": orders[r].get_state(), "torch_rng": torch.get_rng_state(), "cuda_rng": None,
                "history": histories[r].to_dict(), "best": None, "average": None}

    last_states: list[dict | None] = list(resumes)  # what a frozen (diverged) run checkpoints
    first_epoch = 1 + max(len(h.epochs) for h, a in zip(histories, alive.tolist()) if a) if bool(alive.any()) else 1
    with checkpointable() if checkpoint else nullcontext():
        for epoch in range(first_epoch, config.epochs + 1):
            if not bool(alive.any()):
                break
            for group in optimizer.param_groups:
                group["lr"] = config.lr * config.lr_decay ** (epoch - 1)
            losses = torch.zeros(runs, n_batches, device=device)
            if position is not None:
                permutations = torch.stack([p.to(device) for p in position["permutations"]])
                first_batch, elapsed = position["batch"], position["seconds"]
                losses[:, :first_batch] = torch.stack([x.to(device) for x in position["losses"]])
                position = None
            else:
                permutations = torch.stack([torch.randperm(n, generator=o) for o in orders]).to(device)  # (R, n)
                first_batch, elapsed = 0, 0.0
            start = time.perf_counter()
            for b in range(first_batch, n_batches):
                index = permutations[:, b * batch : (b + 1) * batch]  # (R, B)
                x, y = train.x[index], train.y[index]  # (R, B, in), (R, B)
                with torch.autocast(device.type, dtype=torch.bfloat16) if dtype == torch.bfloat16 else nullcontext():
                    logits = stack.forward(x)
                per_run = F.cross_entropy(logits.float().transpose(1, 2), y, reduction="none").mean(1)  # (R,)
                losses[:, b] = per_run.detach()
                optimizer.zero_grad(set_to_none=True)
                torch.where(alive, per_run, torch.zeros_like(per_run)).sum().backward()
                optimizer.step()
                if on_batch is not None:
                    on_batch()
                if checkpoint and stop_requested() and b + 1 < n_batches:
                    seconds = elapsed + time.perf_counter() - start
                    checkpoint([state(r, epoch - 1, {"permutation": permutations[r].cpu(), "batch": b + 1,
                                                     "losses": losses[r, : b + 1].cpu(), "seconds": seconds})
                                for r in range(runs)])
                    raise Interrupted(f"training stopped at epoch {epoch}, batch {b + 1} of {n_batches}")
            if device.type == "cuda":  # the epoch's one wait for the GPU, so that its seconds count the queued work
                torch.cuda.synchronize(device)
            seconds = elapsed + time.perf_counter() - start
            eval_losses, accuracies = _evaluate(stack, held_out) if held_out is not None else ([None] * runs,) * 2
            # the epoch's losses read once: each run's mean (taken on the device, as fit takes it) and batches
            means = torch.stack([row.mean() for row in losses]).tolist()
            per_batch, running = losses.cpu(), alive.tolist()
            for r in range(runs):
                if not running[r]:
                    continue
                bad = ~torch.isfinite(per_batch[r]) | (per_batch[r] > DIVERGENCE_LOSS)
                history = histories[r]
                if bad.any():
                    first = int(bad.nonzero()[0])
                    history.diverged = True
                    history.diverged_at = {"epoch": epoch, "batch": first + 1, "loss": float(per_batch[r, first])}
                history.epochs.append(EpochRecord(epoch, means[r], eval_losses[r], accuracies[r], seconds))
            if checkpoint:  # every run's state; a run that diverged before this epoch keeps its last one
                last = [state(r, epoch, None) if running[r] else last_states[r] for r in range(runs)]
                last_states = last
                checkpoint(last)
            for r in range(runs):
                if running[r] and histories[r].diverged:  # keep what it ended with, then freeze it at 0
                    finals[r] = stack.run_state(r)
                    alive[r] = False
                    with torch.no_grad():
                        for p in stack.params:
                            p[r].zero_()
                        for s in optimizer.state.values():
                            for k, v in s.items():
                                if k != "step":
                                    v[r].zero_()
            if checkpoint and stop_requested() and epoch < config.epochs:
                raise Interrupted(f"training stopped after epoch {epoch} of {config.epochs}")
    for r, model in enumerate(models):
        model.load_state_dict(finals.get(r) or stack.run_state(r))
        model.to(device)
    return histories
