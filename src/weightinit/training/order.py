"""The data order of an epoch: one permutation of the rows, drawn from the run's seeded
``torch.Generator``, whose consecutive slices are the epoch's minibatches (no DataLoader, no
per-sample collation); or, for an epoch a resumed run stopped in, the permutation it had and the
batch it stopped at.

Every trainer of the package takes its batches this way (:func:`~weightinit.training.fit`,
:func:`~weightinit.training.fit_batched`, the estimators' fine-tuning and the RBM trainer): a run's
data order is a function of its seed alone, and a resumed epoch continues with the very batches
the interrupted one would have trained.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch

__all__ = ["EpochOrder", "epoch_order"]


@dataclass
class EpochOrder:
    """One epoch's batches.

    Attributes:
        permutation: the row order, (n,); or (R, n) for R runs that each have their own order
            (a batch is then each run's slice, (R, B)).
        first_batch: the first batch to train: 0, or where a resumed epoch stopped.
        elapsed: seconds already spent on this epoch before a resume (0.0 for a fresh one).
    """

    permutation: torch.Tensor
    first_batch: int = 0
    elapsed: float = 0.0

    def n_batches(self, batch_size: int) -> int:
        """How many batches of ``batch_size`` rows the epoch has (the last may be smaller)."""
        return math.ceil(self.permutation.shape[-1] / batch_size)

    def batches(self, batch_size: int) -> Iterator[tuple[int, torch.Tensor]]:
        """``(b, rows)`` for each batch still to train, ``rows`` the batch's row indices (slices of
        :attr:`permutation`, on its device)."""
        for b in range(self.first_batch, self.n_batches(batch_size)):
            yield b, self.permutation[..., b * batch_size : (b + 1) * batch_size]


def epoch_order(n: int, generator: torch.Generator, device: torch.device | str,
                resumed: EpochOrder | None = None, rows: int | None = None) -> EpochOrder:
    """The order of an epoch over ``n`` rows, on ``device``.

    Args:
        n: rows in the training data.
        generator: the run's data-order generator (on the CPU, or on ``device``); a fresh epoch
            draws ``torch.randperm(n)`` from it, on the generator's own device.
        device: where the permutation goes (the training data's device).
        resumed: the epoch a resumed run stopped in (its permutation, the batch to continue
            from and the seconds spent): it continues, and ``generator`` is not drawn from.
        rows: an epoch of this many rows (``TrainConfig.epoch_rows``): the first ``rows`` of the
            permutation, a sample without replacement drawn afresh every epoch; None: all ``n``.
    """
    if resumed is not None:
        return EpochOrder(resumed.permutation.to(device), resumed.first_batch, resumed.elapsed)
    permutation = torch.randperm(n, generator=generator, device=generator.device)
    return EpochOrder((permutation if rows is None else permutation[:rows]).to(device))
