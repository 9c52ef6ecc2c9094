"""How to train: :class:`TrainConfig`, the settings of a supervised training run that every part of
the training engine reads (the optimizer, the schedule, the data order, the checkpoint)."""

from __future__ import annotations

from dataclasses import dataclass

from .._checks import check_choice, check_int, check_number, check_positive_int
from ..errors import UserError
from ..runs.devices import DEVICES, PRECISIONS

__all__ = ["TrainConfig", "OPTIMIZERS"]

OPTIMIZERS = ("adam", "sgd")
INT64_MAX = 2**63 - 1  # what a torch/numpy integer holds: no count may overflow one
SEED_MAX = 2**32 - 1  # seeds: the range numpy, random and torch all accept (a run adds small offsets)


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
    epoch_rows: int | None = None  # an epoch trains on this many rows, drawn afresh each epoch (None: all of them)

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
        for name, maximum in (("epochs", INT64_MAX), ("batch_size", INT64_MAX), ("seed", SEED_MAX)):
            if getattr(self, name) > maximum:
                low = 0 if name == "seed" else 1
                raise UserError(f"{name} must be in [{low}, {maximum}], got {getattr(self, name)!r}")
        check_choice("device", self.device, DEVICES)
        if not 0 <= check_number("ema", self.ema) < 1:
            raise UserError(f"ema must be in [0, 1) (0 = no averaging; 0.999 is typical), got {self.ema!r}")
        check_choice("precision", self.precision, PRECISIONS)
        if self.epoch_rows is not None:
            check_positive_int("epoch_rows", self.epoch_rows)
