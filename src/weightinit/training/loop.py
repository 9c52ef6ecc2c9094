"""The training loop: in-memory, seeded, and fast.

The data stays as two tensors on the device; each epoch draws one permutation from a seeded
``torch.Generator`` and takes batches as index slices of it (no DataLoader, no per-sample
collation). Dropout and any other module randomness run inside ``torch.random.fork_rng``
seeded from the same seed, so a run is reproducible and leaves the global RNG as it was.

``fit(model, train, config, evaluate_on=("valid", split))`` trains on ``train`` and, after
every epoch, evaluates on the split it is given, under the name it is given: the records say
``valid_accuracy`` when that split is a validation split and ``test_accuracy`` when it is the
test set. With ``keep_best`` the model ends with the weights of the best evaluated epoch.

With ``TrainConfig.ema`` the loop also keeps an exponential moving average of the weights
(:class:`~weightinit.weight_average.WeightAverage`); evaluation, model choice and the returned
model use the average.

A run whose loss becomes NaN/inf or exceeds ``DIVERGENCE_LOSS`` is marked ``diverged`` (with
the epoch and batch where it first happened) and stopped at the end of that epoch.

``fit`` hands its whole state (model, optimizer, data-order generator, global RNG, history,
the position inside an epoch) to a ``checkpoint`` callback after every epoch and on Ctrl-C,
and continues bit-identically from such a state (``resume``).

Devices, the contract:

- ``config.device`` is resolved once per call ("auto": CUDA when torch sees it, else the CPU).
- ``model`` is moved there in place (``model.to``) and stays there: the returned, best
  (``keep_best``) or averaged (``ema``) weights are on that device, and so is the model
  ``on_epoch`` receives. To use it with CPU tensors afterwards, ``model.cpu()``.
- ``train`` and the ``evaluate_on`` split are not modified: they are copied to the device
  once per call (no copy if they are there already) and stay resident for every batch.
- On CUDA no batch waits for the host: the per-batch losses are kept on the device and read,
  with the divergence check, once per epoch (and on a stop request).
- The returned history holds plain Python floats. A ``checkpoint`` state holds the model and
  optimizer tensors of that device (and the CPU data-order generator). ``resume`` takes a
  state written on any device, under any ``device`` setting (the only field of the config
  that may differ), and loads it onto this run's device; the continuation is bit-identical
  on the CPU.

The module runs past ~350 lines for one reason: ``fit``'s whole contract (devices, DDP,
resume, averaging, precision, dynamics) is written out here, beside the small functions
the epoch loop is made of.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .._checks import check_choice, check_int, check_number, check_positive_int
from ..data.datasets import Split
from ..diagnostics.dynamics import Dynamics
from ..errors import UserError
from ..runs import distributed
from ..runs.checkpoint import Checkpoint, differing_keys
from ..runs.devices import DEVICES, PRECISIONS, resolve_device, resolve_precision
from ..runs.interrupt import Interrupted, checkpointable, stop_requested
from .ema import WeightAverage
from .history import EpochRecord, History

__all__ = ["TrainConfig", "EpochRecord", "History", "fit", "fit_resumable", "evaluate", "autocast_dtype",
           "DIVERGENCE_LOSS"]

DIVERGENCE_LOSS = 1e6
OPTIMIZERS = ("adam", "sgd")


@dataclass
class TrainConfig:
    """How to train. The defaults are the lecture's: Adam, lr 1e-3, batch 100, 15 epochs, seed 777."""

    optimizer: str = "adam"  # "adam" or "sgd"
    lr: float = 1e-3  # learning rate
    momentum: float = 0.0  # SGD momentum (0 = plain SGD); refused with Adam, which keeps its own
    lr_decay: float = 1.0  # exponential schedule: epoch e trains with lr · lr_decay^(e-1)
    epochs: int = 15
    batch_size: int = 100
    seed: int = 777  # data order and module randomness (dropout)
    device: str = "auto"  # "auto" = cuda when available, else cpu
    ema: float = 0.0  # decay of an exponential moving average of the weights (0 = none), see WeightAverage
    precision: str = "float32"  # or "bf16": forward pass under bfloat16 autocast, float32 weights and optimizer

    def __post_init__(self) -> None:
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_number("lr", self.lr, minimum=0, strictly=True)
        if not 0 < check_number("lr_decay", self.lr_decay) <= 1:
            raise UserError(f"lr_decay must be in (0, 1], got {self.lr_decay!r}")
        momentum = check_number("momentum", self.momentum, minimum=0)
        if momentum >= 1:
            raise UserError(f"momentum must be in [0, 1), got {momentum!r}")
        if momentum and self.optimizer == "adam":
            raise UserError(f"momentum={momentum!r} applies to optimizer='sgd' only: Adam keeps its own moment "
                            "estimates; use momentum=0.0 with optimizer='adam', or optimizer='sgd'")
        check_positive_int("epochs", self.epochs)
        check_positive_int("batch_size", self.batch_size)
        check_int("seed", self.seed, 0)
        check_choice("device", self.device, DEVICES)
        if not 0 <= check_number("ema", self.ema) < 1:
            raise UserError(f"ema must be in [0, 1) (0 = no averaging; 0.999 is typical), got {self.ema!r}")
        check_choice("precision", self.precision, PRECISIONS)


def autocast_dtype(config: TrainConfig, device: torch.device) -> torch.dtype:
    """bfloat16 when ``config.precision`` asks for it and ``device`` multiplies it natively
    (avx512_bf16/amx_bf16 CPUs, recent GPUs), else float32 (with a warning if bf16 was asked)."""
    return resolve_precision(config.precision, device)


def _autocast(dtype: torch.dtype, device: torch.device):
    """Autocast to bfloat16 for the forward pass and the loss, or nothing for float32."""
    return torch.autocast(device.type, dtype=torch.bfloat16) if dtype == torch.bfloat16 else nullcontext()


@torch.no_grad()
def evaluate(model: nn.Module, split: Split, chunk: int = 10_000) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``model`` on ``split`` (tensors on the model's device).
    Under torch.distributed each rank evaluates its share of the rows and the sums are reduced."""
    was_training = model.training
    model.eval()
    x, y = split.x, split.y
    world = distributed.world_size()
    if world > 1:
        rows = torch.arange(len(y), device=y.device).tensor_split(world)[distributed.rank()]
        x, y = x.index_select(0, rows), y.index_select(0, rows)
    totals = torch.zeros(2, dtype=torch.float64, device=x.device)  # loss sum, correct count
    for start in range(0, len(y), chunk):
        logits = model(x[start : start + chunk])
        labels = y[start : start + chunk]
        totals[0] += F.cross_entropy(logits, labels, reduction="sum").double()
        totals[1] += (logits.argmax(dim=1) == labels).sum()
    distributed.all_reduce_sum([totals])
    model.train(was_training)
    n = max(len(split), 1)
    return float(totals[0]) / n, float(totals[1]) / n


def _optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    params = list(model.parameters())
    # The fused kernels update every parameter in one call: on 2 CPU cores they take Adam's
    # share of an MNIST epoch from about 0.3 s to 0.1 s. Same maths as the default
    # implementation (the tests compare the two).
    fused = all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in params)
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, fused=fused)
    return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, fused=fused)


class _Run:
    """Everything a training run carries from batch to batch, and its checkpointable state.

    ``position`` is where a resumed run continues inside a half-done epoch; ``best`` the
    best evaluated epoch so far (with ``keep_best``)."""

    def __init__(self, model: nn.Module, config: TrainConfig, device: torch.device, keep_best: bool,
                 evaluated_on: str | None) -> None:
        self.model, self.config, self.device = model, config, device
        self.order = torch.Generator().manual_seed(config.seed)  # the data order
        self.optimizer = _optimizer(model, config)
        self.average = WeightAverage(model, config.ema) if config.ema else None
        self.history = History(evaluated_on=evaluated_on)
        self.best: dict | None = {"accuracy": -1.0, "epoch": 0, "state": None} if keep_best else None
        self.position: dict | None = None
        self.cuda_devices = [device.index or 0] if device.type == "cuda" else []

    def load(self, state: dict) -> None:
        _check_resume(state, self.config, self.best is not None)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.order.set_state(state["order"])
        self.history = History.from_dict(state["history"])
        self.best, self.position = state["best"], state["position"]
        if self.average is not None:
            self.average.load_state_dict(state["average"])

    def state(self, epoch: int, position: dict | None) -> dict:
        return {"kind": "fit", "config": asdict(self.config), "epoch": epoch, "position": position,
                "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "order": self.order.get_state(), "torch_rng": torch.get_rng_state(),
                "cuda_rng": torch.cuda.get_rng_state(self.device) if self.cuda_devices else None,
                "history": self.history.to_dict(), "best": self.best,
                "average": None if self.average is None else self.average.state_dict()}

    def restore_rng(self, state: dict | None) -> None:
        """Seed the module randomness (dropout), or put back a resumed run's."""
        torch.manual_seed(self.config.seed)
        if state is not None:
            torch.set_rng_state(state["torch_rng"])
            if self.cuda_devices and state["cuda_rng"] is not None:
                torch.cuda.set_rng_state(state["cuda_rng"], self.device)

    def epochs_to_run(self) -> range:
        first = len(self.history.epochs) + 1
        return range(first, first) if self.history.diverged else range(first, self.config.epochs + 1)

    def set_learning_rate(self, epoch: int) -> None:
        """lr · lr_decay^(epoch-1): a function of the epoch alone, so a resumed run continues exactly."""
        for group in self.optimizer.param_groups:
            group["lr"] = self.config.lr * self.config.lr_decay ** (epoch - 1)

    def step(self, loss: torch.Tensor, global_step: int, epoch: int, dynamics: Dynamics | None) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if dynamics is not None:
            dynamics.before_update(global_step)
        self.optimizer.step()
        if dynamics is not None:
            dynamics.after_update(global_step, epoch)
        if self.average is not None:
            self.average.update(global_step)


@dataclass
class _Epoch:
    """One epoch's batches: the permutation, where to start in it, and the losses so far."""

    permutation: torch.Tensor
    first_batch: int
    losses: torch.Tensor  # (n_batches,) per-batch mean loss, filled as the batches run
    elapsed: float  # seconds already spent on this epoch before a resume


def _begin_epoch(run: _Run, n: int, n_batches: int) -> _Epoch:
    """A fresh permutation, or the half-done epoch a resumed run stopped in."""
    losses = torch.empty(n_batches, device=run.device)
    if run.position is None:
        return _Epoch(torch.randperm(n, generator=run.order).to(run.device), 0, losses, 0.0)
    where, run.position = run.position, None
    losses[: where["batch"]] = where["losses"].to(run.device)
    return _Epoch(where["permutation"].to(run.device), where["batch"], losses, where["seconds"])


def _batch_loss(net: nn.Module, train: Split, index: torch.Tensor, world: int,
                rank: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The loss to back-propagate for the batch ``index`` and its share of the batch mean.

    One process: the batch's mean cross-entropy. Data parallel: this rank's slice, summed and
    scaled so that DDP's mean of the gradients over ranks is the global batch mean's."""
    if world == 1:
        loss = F.cross_entropy(net(train.x.index_select(0, index)), train.y.index_select(0, index))
        return loss, loss.detach()
    size, index = len(index), index.tensor_split(world)[rank]
    loss = F.cross_entropy(net(train.x.index_select(0, index)), train.y.index_select(0, index),
                           reduction="sum") * (world / size)
    return loss, loss.detach() / world  # summed over ranks below


def _divergence(losses: torch.Tensor, epoch: int) -> dict | None:
    """Where the epoch's loss first became NaN/inf or exceeded DIVERGENCE_LOSS, if it did."""
    bad = ~torch.isfinite(losses) | (losses > DIVERGENCE_LOSS)
    if not bad.any():
        return None
    first = int(bad.nonzero()[0])
    return {"epoch": epoch, "batch": first + 1, "loss": float(losses[first])}


def _evaluate_epoch(run: _Run, held_out: Split | None, epoch: int) -> tuple[float | None, float | None]:
    """Loss and accuracy on the held-out split (with the averaged weights, if any); keeps the
    best epoch's weights when asked to."""
    if held_out is None:
        return None, None
    with run.average.applied() if run.average is not None else nullcontext():
        loss, accuracy = evaluate(run.model, held_out)
        if run.best is not None and accuracy > run.best["accuracy"]:
            run.best = {"accuracy": accuracy, "epoch": epoch,
                        "state": {k: v.detach().clone() for k, v in run.model.state_dict().items()}}
    return loss, accuracy


def fit(
    model: nn.Module,
    train: Split,
    config: TrainConfig | None = None,
    *,
    evaluate_on: tuple[str, Split] | None = None,
    on_batch: Callable[[], None] | None = None,
    on_epoch: Callable[[EpochRecord, nn.Module], None] | None = None,
    keep_best: bool = False,
    checkpoint: Callable[[dict], None] | None = None,
    resume: dict | None = None,
    dynamics: Dynamics | None = None,
) -> History:
    """Train ``model`` (logits out) with cross-entropy on ``train``.

    Args:
        model: an ``nn.Module`` mapping (B, D) features to (B, n_classes) logits; it is moved
            to the config's device and stays there (see "Devices" in the module docstring).
        train: the training split, left as it is; its tensors are copied to the device once.
        config: the hyperparameters (default: the lecture's).
        evaluate_on: ``(name, split)`` evaluated after every epoch, its measures recorded as
            ``<name>_loss`` and ``<name>_accuracy`` (``("valid", valid)`` for model choice,
            ``("test", dataset.test)`` for the lecture's per-epoch test accuracy).
        on_batch: called after every optimizer step (a progress bar's ``update``).
        on_epoch: called with the epoch's record and the model after each evaluation.
        keep_best: end with the weights of the epoch with the best accuracy on ``evaluate_on``;
            ``History.best_epoch`` says which.
        checkpoint: called with the complete training state (a dict for
            :class:`weightinit.runs.checkpoint.Checkpoint`) after every epoch, and after the
            current batch when a stop is requested (Ctrl-C, :mod:`weightinit.runs.interrupt`),
            which then raises :class:`~weightinit.runs.interrupt.Interrupted`.
        resume: such a state: training continues exactly where it stopped (on the CPU the
            result is bit-identical to an uninterrupted run). Its config must equal ``config``.
        dynamics: a :class:`~weightinit.dynamics.Dynamics` of ``model`` that records per-layer
            statistics every few steps (records of a resumed run start where it resumed).

    Returns:
        The per-epoch history; ``diverged`` tells whether the run blew up, and where.
    """
    config = config or TrainConfig()
    if keep_best and evaluate_on is None:
        raise UserError("keep_best=True chooses an epoch by its accuracy on evaluate_on; give evaluate_on")
    name, held_out = evaluate_on if evaluate_on is not None else (None, None)
    device = resolve_device(config.device)
    dtype = autocast_dtype(config, device)
    model.to(device)
    train = Split(train.x.to(device), train.y.to(device))
    held_out = None if held_out is None else Split(held_out.x.to(device), held_out.y.to(device))
    world, rank = distributed.world_size(), distributed.rank()
    if world > 1 and config.batch_size % world:
        raise UserError(f"batch_size={config.batch_size} must be a multiple of the {world} processes (each takes "
                        f"batch_size / {world} samples of every batch)")
    net = _data_parallel(model, device) if world > 1 else model
    writes = checkpoint is not None and rank == 0  # under DDP rank 0 alone writes; every rank stops together
    run = _Run(model, config, device, keep_best, name)
    if resume is not None:
        run.load(resume)
    n, batch = len(train), config.batch_size
    n_batches = math.ceil(n / batch)

    with torch.random.fork_rng(devices=run.cuda_devices), (checkpointable() if checkpoint else nullcontext()):
        run.restore_rng(resume)
        model.train()
        for epoch in run.epochs_to_run():
            run.set_learning_rate(epoch)
            todo = _begin_epoch(run, n, n_batches)
            if world > 1:  # each rank its own dropout stream, a function of (seed, epoch, batch, rank)
                torch.manual_seed(((config.seed * 1_000_003 + epoch) * 100_003 + todo.first_batch) * 1009 + rank)
            start = time.perf_counter()
            for b in range(todo.first_batch, n_batches):
                if dynamics is not None:
                    dynamics.before_forward((epoch - 1) * n_batches + b)
                with _autocast(dtype, device):
                    loss, todo.losses[b] = _batch_loss(net, train, todo.permutation[b * batch : (b + 1) * batch],
                                                       world, rank)
                run.step(loss, (epoch - 1) * n_batches + b, epoch, dynamics)
                if on_batch is not None:
                    on_batch()
                if checkpoint is not None and distributed.any_rank(stop_requested()) and b + 1 < n_batches:
                    done = todo.losses[: b + 1].clone()
                    distributed.all_reduce_sum([done[todo.first_batch :]])
                    if writes:
                        checkpoint(run.state(epoch - 1, {"permutation": todo.permutation.cpu(), "batch": b + 1,
                                                         "losses": done.cpu(),
                                                         "seconds": todo.elapsed + time.perf_counter() - start}))
                    raise Interrupted(f"training stopped at epoch {epoch}, batch {b + 1} of {n_batches}")
            distributed.all_reduce_sum([todo.losses[todo.first_batch :]])  # per-batch means of the global batches
            if device.type == "cuda":  # the epoch's one wait for the GPU, so that its seconds count the queued work
                torch.cuda.synchronize(device)
            seconds = todo.elapsed + time.perf_counter() - start
            if (where := _divergence(todo.losses, epoch)) is not None:
                run.history.diverged, run.history.diverged_at = True, where
            record = EpochRecord(epoch, float(todo.losses.mean()), *_evaluate_epoch(run, held_out, epoch), seconds)
            run.history.epochs.append(record)
            if on_epoch is not None:
                on_epoch(record, model)
            if checkpoint is not None:
                if writes:
                    checkpoint(run.state(epoch, None))
                if distributed.any_rank(stop_requested()) and epoch < config.epochs and not run.history.diverged:
                    raise Interrupted(f"training stopped after epoch {epoch} of {config.epochs}")
            if run.history.diverged:
                break
    return _finish(run)


def _finish(run: _Run) -> History:
    """Leave the model with the weights the run chose: the best epoch's, or the average."""
    if run.best is not None:
        run.history.best_epoch = run.best["epoch"]
        if run.best["state"] is not None:
            run.model.load_state_dict(run.best["state"])
    elif run.average is not None:  # the model ends with the averaged weights, which were evaluated
        run.average.copy_to_model()
    return run.history


def _data_parallel(model: nn.Module, device: torch.device) -> nn.Module:
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(model, device_ids=[device.index or 0] if device.type == "cuda" else None)


def fit_resumable(model: nn.Module, train: Split, config: TrainConfig, checkpoint: Checkpoint | None,
                  **fit_options) -> History:
    """:func:`fit` made resumable through a :class:`~weightinit.runs.checkpoint.Checkpoint` folder:
    a run that finished there is read back (its history, and its final weights into
    ``model``); an unfinished one continues from its last state; a finished run is recorded.
    Without a checkpoint, plain :func:`fit`."""
    if checkpoint is None:
        return fit(model, train, config, **fit_options)
    if (done := checkpoint.result()) is not None:
        model.load_state_dict(checkpoint.weights()["model"])
        model.to(resolve_device(config.device))
        return History.from_dict(done["history"])
    history = fit(model, train, config, checkpoint=checkpoint.save, resume=checkpoint.load(), **fit_options)
    if distributed.rank() == 0:  # under DDP every rank holds the same result; one writes it
        checkpoint.finish({"history": history.to_dict()}, {"model": model.state_dict()})
    return history


def _check_resume(resume: dict, config: TrainConfig, keep_best: bool) -> None:
    if resume.get("kind") != "fit":
        raise UserError(f"resume must be a state written by fit's checkpoint, got kind={resume.get('kind')!r}")
    # the device is where a run computes, not what it computes: a state moves to any device
    differing = [key for key in differing_keys(resume["config"], asdict(config)) if key != "device"]
    if differing:
        raise UserError(f"resume holds a run with another config ({', '.join(differing)} differ)")
    if (resume["best"] is not None) != keep_best:
        raise UserError(f"resume was written with keep_best={not keep_best}, got keep_best={keep_best}")
