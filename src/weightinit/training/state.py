"""The state of a supervised training run: :class:`FitState`, the one schema of a ``fit``
checkpoint. :func:`~weightinit.training.fit` writes it after every epoch (and where a stop request
finds it), each run of :func:`~weightinit.training.fit_batched` writes its own from its slices of
the stacked model, and either continues from the other's: a batched run resumes alone.

A checkpoint is the plain dict :meth:`FitState.to_dict` gives (tensors, containers and plain
values, what :class:`~weightinit.runs.checkpoint.Checkpoint` saves and loads with
``weights_only``)::

    {"kind": "fit",
     "config": dataclasses.asdict(TrainConfig),
     "epoch": epochs done,
     "position": None, or inside epoch + 1: {"permutation": ..., "batch": ..., "losses": ..., "seconds": ...},
     "model": model.state_dict(), "optimizer": optimizer.state_dict(),
     "order": the data-order generator's state, "torch_rng": torch.get_rng_state(),
     "cuda_rng": the device's CUDA RNG state, or None,
     "history": History.to_dict(),
     "best": None, or with keep_best {"accuracy": ..., "epoch": ..., "state": the best weights},
     "average": None, or with TrainConfig.ema the averaged parameters}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, ClassVar

import torch

from ..errors import UserError
from .history import History
from .order import EpochOrder

__all__ = ["FitState", "EpochPosition", "FIT_KIND"]

FIT_KIND = "fit"  # the "kind" of a fit checkpoint; an RBM's is "rbm"


@dataclass
class EpochPosition:
    """Where a run stopped inside an epoch: the epoch's data order and the losses of the batches it trained.

    Attributes:
        permutation: the epoch's row order, on the CPU.
        batch: the next batch to train (batches ``0 .. batch - 1`` are done).
        losses: (batch,) the done batches' mean losses, on the CPU (entries before the batch a
            resumed epoch started from are that earlier part's).
        seconds: training time spent on the epoch so far.
    """

    permutation: torch.Tensor
    batch: int
    losses: torch.Tensor
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        """The checkpoint's ``"position"`` dict."""
        return {"permutation": self.permutation, "batch": self.batch, "losses": self.losses, "seconds": self.seconds}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EpochPosition:
        """Read a checkpoint's ``"position"`` dict."""
        return cls(data["permutation"], data["batch"], data["losses"], data["seconds"])

    def order(self) -> EpochOrder:
        """The epoch's order from here on (for :func:`~weightinit.training.epoch_order`)."""
        return EpochOrder(self.permutation, self.batch, self.seconds)


@dataclass
class FitState:
    """Everything a ``fit`` run carries from one batch to the next: the schema of its checkpoint.

    Attributes:
        config: the run's :class:`~weightinit.training.TrainConfig` as a dict (``dataclasses.asdict``).
        epoch: epochs done.
        position: where the run stopped inside epoch ``epoch + 1``, or None at an epoch's end.
        model: the model's ``state_dict``.
        optimizer: the optimizer's ``state_dict``.
        order: the data-order generator's state.
        torch_rng: the global CPU RNG's state (dropout draws from it).
        cuda_rng: the run's CUDA device's RNG state, or None (on the CPU, and in batched runs).
        history: the epochs so far.
        best: with ``keep_best``: ``{"accuracy", "epoch", "state"}`` of the best epoch so far; else None.
        average: with ``TrainConfig.ema``: the averaged parameters; else None.
        kind: ``"fit"``.

    :meth:`to_dict` and :meth:`from_dict` write and read the checkpoint's dict: the keys and values
    every fit checkpoint has had (see the module docstring). ``to_dict`` reads the history as it
    is at the call: build the state and write it at once.
    """

    config: dict[str, Any]
    epoch: int
    position: EpochPosition | None
    model: dict[str, torch.Tensor]
    optimizer: dict[str, Any]
    order: torch.Tensor
    torch_rng: torch.Tensor
    cuda_rng: torch.Tensor | None
    history: History
    best: dict[str, Any] | None
    average: list[torch.Tensor] | None
    kind: str = FIT_KIND

    #: The checkpoint dict's keys, in the order they are written.
    KEYS: ClassVar[tuple[str, ...]] = ("kind", "config", "epoch", "position", "model", "optimizer", "order",
                                       "torch_rng", "cuda_rng", "history", "best", "average")

    def to_dict(self) -> dict[str, Any]:
        """The checkpoint's dict, keys in :attr:`KEYS` order."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values["position"] = None if self.position is None else self.position.to_dict()
        values["history"] = self.history.to_dict()
        return {key: values[key] for key in self.KEYS}

    @classmethod
    def from_dict(cls, state: Mapping[str, Any]) -> FitState:
        """Read a fit checkpoint's dict. Keys beside the schema's, which a caller may keep in the
        same file (``compare`` keeps its run's start there), are left out.

        Raises:
            UserError: ``state`` is not a fit checkpoint (another ``kind``) or lacks a key of the schema.
        """
        if state.get("kind") != FIT_KIND:
            raise UserError(f"not a state written by fit's checkpoint: kind={state.get('kind')!r}")
        missing = [key for key in cls.KEYS if key not in state]
        if missing:
            raise UserError(f"not a complete fit checkpoint: it lacks {', '.join(missing)}")
        values = {key: state[key] for key in cls.KEYS}
        values["position"] = None if state["position"] is None else EpochPosition.from_dict(state["position"])
        values["history"] = History.from_dict(state["history"])
        return cls(**values)

    def check_keep_best(self, keep_best: bool) -> None:
        """Refuse to continue with another ``keep_best`` than the run was written with."""
        if (self.best is not None) != keep_best:
            raise UserError(f"resume was written with keep_best={not keep_best}, got keep_best={keep_best}")
