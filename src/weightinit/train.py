"""The training loop: in-memory, seeded, and fast.

The data stays as two tensors on the device; each epoch draws one permutation from a seeded
``torch.Generator`` and takes batches as index slices of it (no DataLoader, no per-sample
collation). Dropout and any other module randomness run inside ``torch.random.fork_rng``
seeded from the same seed, so a run is reproducible and leaves the global RNG as it was.

With ``TrainConfig.ema`` the loop also keeps an exponential moving average of the weights
(:class:`WeightAverage`); evaluation, model choice and the returned model use the average.

A run whose loss becomes NaN/inf or exceeds ``DIVERGENCE_LOSS`` is marked ``diverged`` (with
the epoch and batch where it first happened) and stopped at the end of that epoch.

``fit`` hands its whole state (model, optimizer, data-order generator, global RNG, history,
the position inside an epoch) to a ``checkpoint`` callback after every epoch and on Ctrl-C,
and continues bit-identically from such a state (``resume``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from ._checks import check_choice, check_int, check_number, check_positive_int
from .checkpoint import Checkpoint, differing_keys
from .data import Dataset, Split
from . import distributed
from .interrupt import Interrupted, checkpointable, stop_requested

__all__ = ["TrainConfig", "EpochRecord", "History", "WeightAverage", "fit", "fit_resumable", "evaluate", "resolve_device",
           "DIVERGENCE_LOSS"]

DIVERGENCE_LOSS = 1e6
OPTIMIZERS = ("adam", "sgd")
DEVICES = ("auto", "cpu", "cuda")


@dataclass
class TrainConfig:
    """How to train. The defaults are the lecture's: Adam, lr 1e-3, batch 100, 15 epochs, seed 777."""

    optimizer: str = "adam"  # "adam" or "sgd"
    lr: float = 1e-3  # learning rate
    momentum: float = 0.0  # SGD momentum (0 = plain SGD); ignored by Adam
    lr_decay: float = 1.0  # exponential schedule: epoch e trains with lr · lr_decay^(e-1)
    epochs: int = 15
    batch_size: int = 100
    seed: int = 777  # data order and module randomness (dropout)
    device: str = "auto"  # "auto" = cuda when available, else cpu
    ema: float = 0.0  # decay of an exponential moving average of the weights (0 = none), see WeightAverage

    def __post_init__(self) -> None:
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_number("lr", self.lr, minimum=0, strictly=True)
        if not 0 < check_number("lr_decay", self.lr_decay) <= 1:
            raise ValueError(f"lr_decay must be in (0, 1], got {self.lr_decay!r}")
        momentum = check_number("momentum", self.momentum, minimum=0)
        if momentum >= 1:
            raise ValueError(f"momentum must be in [0, 1), got {momentum!r}")
        check_positive_int("epochs", self.epochs)
        check_positive_int("batch_size", self.batch_size)
        check_int("seed", self.seed, 0)
        check_choice("device", self.device, DEVICES)
        if not 0 <= check_number("ema", self.ema) < 1:
            raise ValueError(f"ema must be in [0, 1) (0 = no averaging; 0.999 is typical), got {self.ema!r}")


@dataclass
class EpochRecord:
    epoch: int
    train_loss: float  # mean over the epoch's batches
    test_loss: float
    test_accuracy: float
    seconds: float  # training time of the epoch, evaluation excluded


@dataclass
class History:
    epochs: list[EpochRecord] = field(default_factory=list)
    diverged: bool = False
    diverged_at: dict | None = None  # {"epoch": e, "batch": b, "loss": value}
    best_epoch: int | None = None  # with fit(keep_best=True): the epoch whose weights the model ends with

    def to_dicts(self) -> list[dict]:
        return [asdict(record) for record in self.epochs]

    def to_dict(self) -> dict:
        return {"epochs": self.to_dicts(), "diverged": self.diverged, "diverged_at": self.diverged_at,
                "best_epoch": self.best_epoch}

    @classmethod
    def from_dict(cls, data: dict) -> History:
        return cls([EpochRecord(**record) for record in data["epochs"]], data["diverged"], data["diverged_at"],
                   data.get("best_epoch"))


class WeightAverage:
    """An exponential moving average of a model's parameters, updated after every optimizer
    step t (0, 1, ...): :math:`\\bar\\theta \\leftarrow d_t \\bar\\theta + (1 - d_t)\\theta` with
    :math:`d_t = \\min(d, \\tfrac{1 + t}{10 + t})`, TensorFlow's ExponentialMovingAverage
    warm-up, so that the first epochs' average is not dominated by the initial weights.

    Averaging the iterates (Polyak & Juditsky 1992) cancels much of SGD's and dropout's
    step-to-step noise: a cheap ensemble of the last few thousand steps' weights. Buffers
    (e.g. BatchNorm statistics) are not averaged.
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.params = [p for p in model.parameters()]
        self.average = [p.detach().clone() for p in self.params]
        self.decay = decay

    @torch.no_grad()
    def update(self, step: int) -> None:
        decay = min(self.decay, (1 + step) / (10 + step))
        torch._foreach_lerp_(self.average, [p.detach() for p in self.params], 1 - decay)

    @torch.no_grad()
    def copy_to_model(self) -> None:
        """Overwrite the model's parameters with the average."""
        torch._foreach_copy_([p.detach() for p in self.params], self.average)

    @contextmanager
    def applied(self) -> Iterator[None]:
        """The model holds the averaged weights inside the block, its own ones again after."""
        live = [p.detach().clone() for p in self.params]
        self.copy_to_model()
        try:
            yield
        finally:
            with torch.no_grad():
                torch._foreach_copy_([p.detach() for p in self.params], live)

    def state_dict(self) -> list[torch.Tensor]:
        return [a.detach().clone() for a in self.average]

    def load_state_dict(self, state: list[torch.Tensor]) -> None:
        with torch.no_grad():
            torch._foreach_copy_(self.average, [a.to(p.device) for a, p in zip(state, self.params)])


def resolve_device(device: str) -> torch.device:
    check_choice("device", device, DEVICES)
    if device == "cpu" or (device == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ValueError("device='cuda' was asked for but torch sees no CUDA device; use 'auto' or 'cpu'")
    # the current device: cuda:LOCAL_RANK under torchrun (distributed.setup selects it), else cuda:0
    return torch.device("cuda", torch.cuda.current_device())


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


def fit(
    model: nn.Module,
    dataset: Dataset,
    config: TrainConfig | None = None,
    *,
    on_batch: Callable[[], None] | None = None,
    on_epoch: Callable[[EpochRecord, nn.Module], None] | None = None,
    keep_best: bool = False,
    checkpoint: Callable[[dict], None] | None = None,
    resume: dict | None = None,
) -> History:
    """Train ``model`` (logits out) with cross-entropy on ``dataset.train``; evaluate on
    ``dataset.test`` after every epoch.

    Args:
        model: an ``nn.Module`` mapping (B, D) features to (B, n_classes) logits; it is moved
            to the config's device.
        dataset: the in-memory data; its tensors are copied to the device once.
        config: the hyperparameters (default: the lecture's).
        on_batch: called after every optimizer step (a progress bar's ``update``).
        on_epoch: called with the epoch's record and the model after each evaluation.
        keep_best: end with the weights of the epoch with the best ``dataset.test`` accuracy
            (pass a validation split as ``dataset.test`` for model choice); ``History.best_epoch``.
        checkpoint: called with the complete training state (a dict for
            :class:`weightinit.checkpoint.Checkpoint`) after every epoch, and after the current
            batch when a stop is requested (Ctrl-C, :mod:`weightinit.interrupt`), which then
            raises :class:`~weightinit.interrupt.Interrupted`.
        resume: such a state: training continues exactly where it stopped (on the CPU the
            result is bit-identical to an uninterrupted run). Its config must equal ``config``.

    Returns:
        The per-epoch history; ``diverged`` tells whether the run blew up, and where.
    """
    config = config or TrainConfig()
    device = resolve_device(config.device)
    model.to(device)
    x, y = dataset.train.x.to(device), dataset.train.y.to(device)
    test = Split(dataset.test.x.to(device), dataset.test.y.to(device))
    n, batch = len(y), config.batch_size
    n_batches = math.ceil(n / batch)
    world, rank = distributed.world_size(), distributed.rank()
    if world > 1 and batch % world:
        raise ValueError(f"batch_size={batch} must be a multiple of the {world} processes (each takes batch_size / "
                         f"{world} samples of every batch)")
    net = _data_parallel(model, device) if world > 1 else model
    writes = checkpoint is not None and rank == 0  # under DDP rank 0 alone writes; every rank stops together
    order = torch.Generator().manual_seed(config.seed)
    optimizer = _optimizer(model, config)
    average = WeightAverage(model, config.ema) if config.ema else None
    history = History()
    best: dict | None = {"accuracy": -1.0, "epoch": 0, "state": None} if keep_best else None
    position = None  # where in an epoch a resumed run continues
    if resume is not None:
        _check_resume(resume, config, keep_best)
        model.load_state_dict(resume["model"])
        optimizer.load_state_dict(resume["optimizer"])
        order.set_state(resume["order"])
        history = History.from_dict(resume["history"])
        best, position = resume["best"], resume["position"]
        if average is not None:
            average.load_state_dict(resume["average"])
    devices = [device.index or 0] if device.type == "cuda" else []

    def state(epoch: int, where: dict | None) -> dict:
        return {"kind": "fit", "config": asdict(config), "epoch": epoch, "position": where,
                "model": model.state_dict(), "optimizer": optimizer.state_dict(), "order": order.get_state(),
                "torch_rng": torch.get_rng_state(),
                "cuda_rng": torch.cuda.get_rng_state(device) if devices else None,
                "history": history.to_dict(), "best": best,
                "average": None if average is None else average.state_dict()}

    with torch.random.fork_rng(devices=devices), (checkpointable() if checkpoint else nullcontext()):
        torch.manual_seed(config.seed)
        if resume is not None:
            torch.set_rng_state(resume["torch_rng"])
            if devices and resume["cuda_rng"] is not None:
                torch.cuda.set_rng_state(resume["cuda_rng"], device)
        model.train()
        first_epoch = len(history.epochs) + 1
        stopped = history.diverged
        for epoch in range(first_epoch, config.epochs + 1 if not stopped else first_epoch):
            for group in optimizer.param_groups:  # a function of the epoch alone: resumes exactly
                group["lr"] = config.lr * config.lr_decay ** (epoch - 1)
            losses = torch.empty(n_batches, device=device)
            if position is not None:  # continue a half-done epoch
                permutation, first_batch = position["permutation"].to(device), position["batch"]
                losses[:first_batch] = position["losses"].to(device)
                elapsed, position = position["seconds"], None
            else:
                permutation, first_batch, elapsed = torch.randperm(n, generator=order).to(device), 0, 0.0
            if world > 1:  # each rank its own dropout stream, a function of (seed, epoch, batch, rank)
                torch.manual_seed(((config.seed * 1_000_003 + epoch) * 100_003 + first_batch) * 1009 + rank)
            start = time.perf_counter()
            for b in range(first_batch, n_batches):
                index = permutation[b * batch : (b + 1) * batch]
                if world == 1:
                    loss = F.cross_entropy(model(x.index_select(0, index)), y.index_select(0, index))
                    losses[b] = loss.detach()
                else:  # this rank's slice; scaled so that DDP's mean over ranks is the global batch mean
                    size, index = len(index), index.tensor_split(world)[rank]
                    loss = F.cross_entropy(net(x.index_select(0, index)), y.index_select(0, index),
                                           reduction="sum") * (world / size)
                    losses[b] = loss.detach() / world  # this rank's share of the batch mean (summed below)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                if average is not None:
                    average.update((epoch - 1) * n_batches + b)
                if on_batch is not None:
                    on_batch()
                if checkpoint is not None and distributed.any_rank(stop_requested()) and b + 1 < n_batches:
                    seconds = elapsed + time.perf_counter() - start
                    done = losses[: b + 1].clone()
                    distributed.all_reduce_sum([done[first_batch:]])
                    if writes:
                        checkpoint(state(epoch - 1, {"permutation": permutation.cpu(), "batch": b + 1,
                                                     "losses": done.cpu(), "seconds": seconds}))
                    raise Interrupted(f"training stopped at epoch {epoch}, batch {b + 1} of {n_batches}")
            distributed.all_reduce_sum([losses[first_batch:]])  # per-batch means of the global batches
            seconds = elapsed + time.perf_counter() - start
            bad = ~torch.isfinite(losses) | (losses > DIVERGENCE_LOSS)
            if bad.any():
                first = int(bad.nonzero()[0])
                history.diverged = True
                history.diverged_at = {"epoch": epoch, "batch": first + 1, "loss": float(losses[first])}
            with average.applied() if average is not None else nullcontext():
                test_loss, test_accuracy = evaluate(model, test)
                if best is not None and test_accuracy > best["accuracy"]:
                    best = {"accuracy": test_accuracy, "epoch": epoch,
                            "state": {k: v.detach().clone() for k, v in model.state_dict().items()}}
            record = EpochRecord(epoch, float(losses.mean()), test_loss, test_accuracy, seconds)
            history.epochs.append(record)
            if on_epoch is not None:
                on_epoch(record, model)
            if checkpoint is not None:
                if writes:
                    checkpoint(state(epoch, None))
                if distributed.any_rank(stop_requested()) and epoch < config.epochs and not history.diverged:
                    raise Interrupted(f"training stopped after epoch {epoch} of {config.epochs}")
            if history.diverged:
                break
    if best is not None:
        history.best_epoch = best["epoch"]
        if best["state"] is not None:
            model.load_state_dict(best["state"])
    elif average is not None:  # the model ends with the averaged weights, which were evaluated
        average.copy_to_model()
    return history


def _data_parallel(model: nn.Module, device: torch.device) -> nn.Module:
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(model, device_ids=[device.index or 0] if device.type == "cuda" else None)


def fit_resumable(model: nn.Module, dataset: Dataset, config: TrainConfig, checkpoint: Checkpoint | None,
                  **fit_options) -> History:
    """:func:`fit` made resumable through a :class:`~weightinit.checkpoint.Checkpoint` folder:
    a run that finished there is read back (its history, and its final weights into
    ``model``); an unfinished one continues from its last state; a finished run is recorded.
    Without a checkpoint, plain :func:`fit`."""
    if checkpoint is None:
        return fit(model, dataset, config, **fit_options)
    if (done := checkpoint.result()) is not None:
        model.load_state_dict(checkpoint.weights()["model"])
        model.to(resolve_device(config.device))
        return History.from_dict(done["history"])
    history = fit(model, dataset, config, checkpoint=checkpoint.save, resume=checkpoint.load(), **fit_options)
    if distributed.rank() == 0:  # under DDP every rank holds the same result; one writes it
        checkpoint.finish({"history": history.to_dict()}, {"model": model.state_dict()})
    return history


def _check_resume(resume: dict, config: TrainConfig, keep_best: bool) -> None:
    if resume.get("kind") != "fit":
        raise ValueError(f"resume must be a state written by fit's checkpoint, got kind={resume.get('kind')!r}")
    differing = differing_keys(resume["config"], asdict(config))
    if differing:
        raise ValueError(f"resume holds a run with another config ({', '.join(differing)} differ)")
    if (resume["best"] is not None) != keep_best:
        raise ValueError(f"resume was written with keep_best={not keep_best}, got keep_best={keep_best}")
