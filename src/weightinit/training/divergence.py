"""The divergence verdict of a supervised training run: an epoch whose loss became NaN/inf or
exceeded :data:`DIVERGENCE_LOSS` marks the run ``diverged``, and :func:`first_divergence` says
where it first happened. The verdict reads the epoch's per-batch losses once, at its end (on a
GPU no batch waits for the host)."""

from __future__ import annotations

import torch

__all__ = ["DIVERGENCE_LOSS", "first_divergence"]

DIVERGENCE_LOSS = 1e6
"""A batch's mean loss above this (cross-entropy of a few classes starts near 2.3) means a run that blew up."""


def first_divergence(losses: torch.Tensor, epoch: int) -> dict | None:
    """Where the epoch's per-batch ``losses`` first became NaN/inf or exceeded :data:`DIVERGENCE_LOSS`:
    ``{"epoch": epoch, "batch": b, "loss": value}`` with ``b`` 1-based (what
    :attr:`History.diverged_at <weightinit.training.History>` records), or None if none did."""
    bad = ~torch.isfinite(losses) | (losses > DIVERGENCE_LOSS)
    if not bad.any():
        return None
    first = int(bad.nonzero()[0])
    return {"epoch": epoch, "batch": first + 1, "loss": float(losses[first])}
