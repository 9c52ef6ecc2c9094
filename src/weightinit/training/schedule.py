"""The learning-rate schedule: :func:`lr_at`, the rate of an epoch, and :func:`set_learning_rate`,
which puts it into an optimizer's parameter groups.

The rate is a function of the config and the epoch alone, so that a run resumed at any epoch
(:mod:`weightinit.training.state`) trains with exactly the rates of an uninterrupted one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from .config import TrainConfig

__all__ = ["lr_at", "set_learning_rate"]


def lr_at(config: TrainConfig, epoch: int) -> float:
    """The base learning rate of ``epoch`` (1-based): ``config.lr * config.lr_decay ** (epoch - 1)``."""
    return config.lr * config.lr_decay ** (epoch - 1)


def set_learning_rate(optimizer: torch.optim.Optimizer, config: TrainConfig, epoch: int) -> None:
    """Set every parameter group's ``"lr"`` for ``epoch``: :func:`lr_at` times the group's
    ``"lr_scale"`` (1.0 for a group without one, see :func:`~weightinit.training.make_optimizer`)."""
    lr = lr_at(config, epoch)
    for group in optimizer.param_groups:
        group["lr"] = lr * group.get("lr_scale", 1.0)
