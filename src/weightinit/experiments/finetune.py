"""Fine-tuning with honest model choice: train on the training set less a validation split,
choose the epoch by validation accuracy, then touch the test set once."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch

from ..data.datasets import Dataset, Split
from ..data.transforms import split_validation
from ..runs.checkpoint import Checkpoint
from ..training.loop import History, TrainConfig, evaluate, fit_resumable
from ._common import progress_bar

__all__ = ["FinetuneResult", "finetune"]


@dataclass
class FinetuneResult:
    """One network fine-tuned and tested once."""

    name: str
    best_epoch: int | None  # chosen by validation accuracy
    valid_accuracy: float  # at that epoch
    refit: bool  # whether the tested network was trained again on all training data for best_epoch epochs
    test_accuracy: float
    test_error_percent: float
    test_loss: float
    diverged: bool
    seconds: float  # training time, both phases
    refit_seconds: float
    history: list[dict]  # per epoch: epoch, train_loss, valid_loss, valid_accuracy, seconds
    refit_history: list[dict] | None = None  # per epoch: epoch, train_loss, seconds


def finetune(model: torch.nn.Module, dataset: Dataset, config: TrainConfig, *, n_valid: int, name: str,
             refit: bool = False, progress: bool = False, checkpoint: Checkpoint | None = None) -> FinetuneResult:
    """Train on the training set less ``n_valid`` samples and choose the epoch with the best
    validation accuracy; then evaluate once on the test set: that epoch's weights, or with
    ``refit`` a network trained again from ``model``'s initial weights on the *whole*
    training set (validation images included) for that many epochs, the usual last step once
    validation has chosen the settings. With a ``checkpoint``, a finished fine-tuning is read
    back (history and weights) and an unfinished one continues from its last epoch (the refit
    in ``<checkpoint>/refit``)."""
    tuning, valid = split_validation(dataset, n_valid)
    initial = {key: value.detach().clone() for key, value in model.state_dict().items()} if refit else None
    history = _fit_with_progress(model, tuning, config, checkpoint, name, progress, evaluate_on=("valid", valid),
                                 keep_best=True)
    best = history.epochs[history.best_epoch - 1] if history.best_epoch else None
    refit_history = None
    if refit and best is not None:
        model.load_state_dict(initial)
        refit_checkpoint = None if checkpoint is None else Checkpoint(checkpoint.folder / "refit")
        refit_history = _fit_with_progress(model, dataset.train, replace(config, epochs=history.best_epoch),
                                           refit_checkpoint, f"{name}, refit", progress)
    device = next(model.parameters()).device
    test_loss, test_accuracy = evaluate(model, Split(dataset.test.x.to(device), dataset.test.y.to(device)))
    refit_seconds = 0.0 if refit_history is None else refit_history.seconds
    return FinetuneResult(
        name=name,
        best_epoch=history.best_epoch,
        valid_accuracy=best.eval_accuracy if best else float("nan"),
        refit=refit_history is not None,
        test_accuracy=test_accuracy,
        test_error_percent=100 * (1 - test_accuracy),
        test_loss=test_loss,
        diverged=history.diverged or (refit_history is not None and refit_history.diverged),
        seconds=history.seconds + refit_seconds,
        refit_seconds=refit_seconds,
        history=history.to_dicts(),
        refit_history=None if refit_history is None else refit_history.to_dicts(),
    )


def _fit_with_progress(model: torch.nn.Module, train: Split, config: TrainConfig, checkpoint: Checkpoint | None,
                       name: str, progress: bool, **fit_options) -> History:
    """fit_resumable with a progress bar (on stderr, when ``progress``)."""
    with progress_bar(config.epochs * math.ceil(len(train) / config.batch_size), name, progress) as bar:
        return fit_resumable(model, train, config, checkpoint, on_batch=bar.update, **fit_options)
