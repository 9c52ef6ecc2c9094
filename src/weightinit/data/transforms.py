"""Transforms of in-memory data: standardization and the validation split."""

from __future__ import annotations

import torch

from ..errors import UserError
from .datasets import Dataset, Split

__all__ = ["standardize", "split_validation"]


def standardize(train: torch.Tensor, *others: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Scale every feature to mean 0, std 1 with the training set's statistics (constant
    features stay 0): the input a Gaussian-visible RBM with unit variances expects."""
    mean, std = train.mean(0), train.std(0)
    std = torch.where(std > 0, std, torch.ones_like(std))
    return tuple((x - mean) / std for x in (train, *others))


def split_validation(dataset: Dataset, n_valid: int = 10_000, *, option: str = "n_valid") -> tuple[Split, Split]:
    """``(train, valid)``: the training set less its last ``n_valid`` samples, and those
    samples, for model choice that never touches the test set. ``option`` is the name the
    error message gives ``n_valid`` (``--n-valid`` on the command line)."""
    if not 0 < n_valid < len(dataset.train):
        raise UserError(f"{option} must be in [1, {len(dataset.train) - 1}] for {dataset.name}'s "
                        f"{len(dataset.train)} training samples, got {n_valid}")
    x, y = dataset.train.x, dataset.train.y
    return Split(x[:-n_valid], y[:-n_valid]), Split(x[-n_valid:], y[-n_valid:])
