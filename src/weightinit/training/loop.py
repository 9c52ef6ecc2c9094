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
(:class:`~weightinit.training.ema.WeightAverage`); evaluation, model choice and the returned
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

The pieces ``fit`` is made of are the training engine's, shared with :func:`~weightinit.training.fit_batched`,
the estimators and the RBM trainer: the state and its checkpoint schema (:mod:`.state`), the optimizer
(:mod:`.optimizer`) and its schedule (:mod:`.schedule`), the data order (:mod:`.order`), the divergence
verdict (:mod:`.divergence`), evaluation (:mod:`.evaluation`) and the stop/checkpoint/resume protocol
(:mod:`.protocol`). This module holds the loop that uses them and its contract.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import asdict, dataclass

import torch
from torch import nn

from ..data.datasets import Split
from ..diagnostics.dynamics import Dynamics
from ..errors import UserError
from ..runs import distributed
from ..runs.checkpoint import Checkpoint
from ..runs.devices import resolve_device
from .config import TrainConfig
from .divergence import DIVERGENCE_LOSS, first_divergence
from .ema import WeightAverage
from .evaluation import evaluate, token_cross_entropy
from .history import EpochRecord, History
from .optimizer import make_optimizer
from .order import EpochOrder, epoch_order
from .precision import autocast, autocast_dtype
from .protocol import Checkpointing, check_resumable
from .schedule import set_learning_rate
from .state import FIT_KIND, EpochPosition, FitState

__all__ = ["TrainConfig", "EpochRecord", "History", "fit", "fit_resumable", "evaluate", "autocast_dtype",
           "DIVERGENCE_LOSS"]


class _Run:
    """Everything a training run carries from batch to batch: the parts of its :class:`FitState`.

    ``position`` is where a resumed run continues inside a half-done epoch; ``best`` the
    best evaluated epoch so far (with ``keep_best``)."""

    def __init__(self, model: nn.Module, config: TrainConfig, device: torch.device, keep_best: bool,
                 evaluated_on: str | None, param_groups: list[dict] | None = None) -> None:
        self.model, self.config, self.device = model, config, device
        self.order = torch.Generator().manual_seed(config.seed)  # the data order
        self.optimizer = make_optimizer(list(model.parameters()) if param_groups is None else param_groups, config)
        self.average = WeightAverage(model, config.ema) if config.ema else None
        self.history = History(evaluated_on=evaluated_on)
        self.best: dict | None = {"accuracy": -1.0, "epoch": 0, "state": None} if keep_best else None
        self.position: EpochPosition | None = None
        self.cuda_devices = [device.index or 0] if device.type == "cuda" else []

    def resume(self, resume: dict, keep_best: bool) -> FitState:
        """Continue from a checkpoint's dict, refused unless it is this run's (config, ``keep_best``)."""
        check_resumable(resume, FIT_KIND, self.config)
        state = FitState.from_dict(resume)
        state.check_keep_best(keep_best)
        self.load(state)
        return state

    def load(self, state: FitState) -> None:
        self.model.load_state_dict(state.model)
        self.optimizer.load_state_dict(state.optimizer)
        self.order.set_state(state.order)
        self.history, self.best, self.position = state.history, state.best, state.position
        if self.average is not None:
            self.average.load_state_dict(state.average)

    def state(self, epoch: int, position: EpochPosition | None) -> dict:
        return FitState(config=asdict(self.config), epoch=epoch, position=position, model=self.model.state_dict(),
                        optimizer=self.optimizer.state_dict(), order=self.order.get_state(),
                        torch_rng=torch.get_rng_state(),
                        cuda_rng=torch.cuda.get_rng_state(self.device) if self.cuda_devices else None,
                        history=self.history, best=self.best,
                        average=None if self.average is None else self.average.state_dict()).to_dict()

    def seed(self, seed: int) -> None:
        """Seed the global RNG this run forks: the CPU's and its CUDA device's, no other (torch.manual_seed
        would reseed every CUDA device, which fork_rng does not put back)."""
        torch.default_generator.manual_seed(seed)
        for index in self.cuda_devices:
            with torch.cuda.device(index):
                torch.cuda.manual_seed(seed)

    def restore_rng(self, state: FitState | None) -> None:
        """Seed the module randomness (dropout), or put back a resumed run's."""
        self.seed(self.config.seed)
        if state is not None:
            torch.set_rng_state(state.torch_rng)
            if self.cuda_devices and state.cuda_rng is not None:
                torch.cuda.set_rng_state(state.cuda_rng, self.device)

    def epochs_to_run(self) -> range:
        first = len(self.history.epochs) + 1
        return range(first, first) if self.history.diverged else range(first, self.config.epochs + 1)

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
    """One epoch's batches (:class:`EpochOrder`) and the per-batch mean losses so far."""

    order: EpochOrder
    losses: torch.Tensor  # (n_batches,), filled as the batches run

    def position(self, batch: int, seconds: float) -> EpochPosition:
        """Where the run is before ``batch``: a collective under DDP (the losses are summed over the ranks)."""
        done = self.losses[:batch].clone()
        distributed.all_reduce_sum([done[self.order.first_batch :]])
        return EpochPosition(self.order.permutation.cpu(), batch, done.cpu(), seconds)


def _begin_epoch(run: _Run, n: int, n_batches: int) -> _Epoch:
    """A fresh permutation (its first ``epoch_rows`` rows), or the half-done epoch a resumed run stopped in."""
    losses = torch.empty(n_batches, device=run.device)
    where, run.position = run.position, None
    if where is not None:
        losses[: where.batch] = where.losses.to(run.device)
    return _Epoch(epoch_order(n, run.order, run.device, resumed=None if where is None else where.order(),
                              rows=run.config.epoch_rows), losses)


def _batch_loss(net: nn.Module, train: Split, index: torch.Tensor, world: int,
                rank: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The loss to back-propagate for the batch ``index`` and its share of the batch mean.

    One process: the batch's mean cross-entropy (over every position of a sequence model). Data
    parallel: this rank's slice, summed and scaled so that DDP's mean of the gradients over ranks
    is the global batch mean's."""
    if world == 1:
        loss = token_cross_entropy(net(train.x.index_select(0, index)), train.y.index_select(0, index))
        return loss, loss.detach()
    size, index = len(index) * train.y[0].numel(), index.tensor_split(world)[rank]  # targets per global batch
    loss = token_cross_entropy(net(train.x.index_select(0, index)), train.y.index_select(0, index),
                               reduction="sum") * (world / size)
    return loss, loss.detach() / world  # summed over ranks below


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


def _record_epoch(run: _Run, epoch: int, losses: torch.Tensor, seconds: float, held_out: Split | None) -> EpochRecord:
    """The epoch's divergence verdict (its per-batch ``losses`` read once) and its record, evaluated on ``held_out``."""
    if (where := first_divergence(losses, epoch)) is not None:
        run.history.diverged, run.history.diverged_at = True, where
    record = EpochRecord(epoch, float(losses.mean()), *_evaluate_epoch(run, held_out, epoch), seconds)
    run.history.epochs.append(record)
    return record


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
    param_groups: list[dict] | None = None,
) -> History:
    """Train ``model`` (logits out) with cross-entropy on ``train``.

    Args:
        model: an ``nn.Module`` mapping (B, D) features to (B, n_classes) logits, or a sequence
            model mapping (B, T) inputs to (B, T, n_classes) logits for (B, T) targets (the loss
            is then the mean over every position); it is moved to the config's device and stays
            there (see "Devices" in the module docstring).
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
        dynamics: a :class:`~weightinit.diagnostics.dynamics.Dynamics` of ``model`` that records per-layer
            statistics every few steps (records of a resumed run start where it resumed).
        param_groups: the optimizer's parameter groups, each with an ``"lr_scale"`` (a
            parametrization's: ``weightinit.param_groups(model, plan, lr=config.lr,
            optimizer=config.optimizer)``); default: every parameter at the config's rate.

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
    run = _Run(model, config, device, keep_best, name, param_groups)
    state = None if resume is None else run.resume(resume, keep_best)
    n, batch = len(train), config.batch_size
    n_batches = math.ceil(min(n, config.epoch_rows or n) / batch)
    stops = Checkpointing(checkpoint, run.state)  # under DDP every rank stops together; rank 0 writes

    with torch.random.fork_rng(devices=run.cuda_devices), stops.running():
        run.restore_rng(state)
        model.train()
        for epoch in run.epochs_to_run():
            set_learning_rate(run.optimizer, config, epoch)
            todo = _begin_epoch(run, n, n_batches)
            if world > 1:  # each rank its own dropout stream, a function of (seed, epoch, first batch, rank)
                run.seed(((config.seed * 1_000_003 + epoch) * 100_003 + todo.order.first_batch) * 1009 + rank)
            start = time.perf_counter()
            for b, rows in todo.order.batches(batch):
                if dynamics is not None:
                    dynamics.before_forward((epoch - 1) * n_batches + b)
                with autocast(dtype, device):
                    loss, todo.losses[b] = _batch_loss(net, train, rows, world, rank)
                run.step(loss, (epoch - 1) * n_batches + b, epoch, dynamics)
                if on_batch is not None:
                    on_batch()
                if stops.stop_requested() and b + 1 < n_batches:
                    here = todo.position(b + 1, todo.order.elapsed + time.perf_counter() - start)
                    stops.stop(f"training stopped at epoch {epoch}, batch {b + 1} of {n_batches}", epoch - 1, here)
            distributed.all_reduce_sum([todo.losses[todo.order.first_batch :]])  # per-batch means of the global batches
            if device.type == "cuda":  # the epoch's one wait for the GPU, so that its seconds count the queued work
                torch.cuda.synchronize(device)
            record = _record_epoch(run, epoch, todo.losses, todo.order.elapsed + time.perf_counter() - start, held_out)
            if on_epoch is not None:
                on_epoch(record, model)
            stops.after_epoch(epoch, config.epochs, epoch, None, more=not run.history.diverged)  # state(epoch, None)
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

