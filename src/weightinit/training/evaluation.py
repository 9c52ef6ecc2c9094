"""Evaluation on a held-out split: mean cross-entropy and accuracy, in chunks of rows.

:func:`evaluate` measures one model (under torch.distributed each rank its share of the rows);
:func:`evaluate_runs` measures R runs at once through a forward pass that maps (b, D) rows to
(R, b, classes) logits (the stacked model of :mod:`weightinit.training.batched`). Both walk the
split with one loop, :func:`split_totals`. A sequence model's (b, T, classes) logits and (b, T)
targets count every position (:func:`token_cross_entropy`): its loss and accuracy are per token.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..data.datasets import Split
from ..runs import distributed

__all__ = ["evaluate", "evaluate_runs", "split_totals", "token_cross_entropy"]

CHUNK = 10_000  # rows per forward pass: bounds the activations' memory on large splits


def token_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """``F.cross_entropy`` of (b, classes) logits and (b,) labels, or of a sequence model's
    (b, T, classes) logits and (b, T) targets over all b·T positions (leading dims flattened)."""
    if logits.dim() > 2:
        logits, labels = logits.flatten(0, -2), labels.flatten()
    return F.cross_entropy(logits, labels, reduction=reduction)


@torch.no_grad()
def split_totals(forward: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, y: torch.Tensor,
                 runs: int | None = None, chunk: int = CHUNK) -> torch.Tensor:
    """Summed cross-entropy and correct count of ``forward`` on the rows ``(x, y)``, as float64.

    Args:
        forward: (b, D) rows to (b, classes) logits, or with ``runs`` to (runs, b, classes).
        runs: None for one model (the totals are a (2,) tensor), else the number of runs
            ``forward`` computes at once (a (2, runs) tensor: each run's sums).
        chunk: rows per call of ``forward``.

    One model's chunk loss is summed by ``cross_entropy(reduction="sum")``; the runs' ones are
    each run's per-row losses summed in float64. Each is what its path has always computed, so
    results read back from earlier runs stay comparable bit for bit.
    """
    totals = torch.zeros((2,) if runs is None else (2, runs), dtype=torch.float64, device=x.device)
    if runs is None and y.dim() > 1:  # sequences: a chunk of rows holds about ``chunk`` targets
        chunk = max(1, chunk // y[0].numel())
    for start in range(0, len(y), chunk):
        logits = forward(x[start : start + chunk])
        labels = y[start : start + chunk]
        if runs is None:
            totals[0] += token_cross_entropy(logits, labels, reduction="sum").double()
            totals[1] += (logits.argmax(dim=-1) == labels).sum()
        else:
            losses = F.cross_entropy(logits.transpose(1, 2), labels.expand(runs, -1), reduction="none")  # (R, b)
            totals[0] += losses.double().sum(1)
            totals[1] += (logits.argmax(2) == labels).sum(1)
    return totals


@torch.no_grad()
def evaluate(model: nn.Module, split: Split, chunk: int = CHUNK) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``model`` on ``split`` (tensors on the model's device);
    for a sequence model ((b, T, classes) logits, (b, T) targets) per token.
    Under torch.distributed each rank evaluates its share of the rows and the sums are reduced."""
    was_training = model.training
    model.eval()
    try:
        x, y = split.x, split.y
        world = distributed.world_size()
        if world > 1:
            rows = torch.arange(len(y), device=y.device).tensor_split(world)[distributed.rank()]
            x, y = x.index_select(0, rows), y.index_select(0, rows)
        totals = split_totals(model, x, y, chunk=chunk)
        distributed.all_reduce_sum([totals])
    finally:
        model.train(was_training)
    n = max(split.y.numel(), 1)  # rows, or a sequence model's targets (accuracy per token)
    return float(totals[0]) / n, float(totals[1]) / n


def evaluate_runs(forward: Callable[[torch.Tensor], torch.Tensor], runs: int, split: Split,
                  chunk: int = CHUNK) -> tuple[list[float], list[float]]:
    """Each run's mean cross-entropy and accuracy on ``split``, ``forward`` mapping (b, D) rows
    to the ``runs`` runs' (runs, b, classes) logits (one process; the runs have no train/eval modes)."""
    totals = split_totals(forward, split.x, split.y, runs, chunk)
    n = max(len(split), 1)
    return (totals[0] / n).tolist(), (totals[1] / n).tolist()
