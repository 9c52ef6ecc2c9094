"""Supervised training: ``fit(model, train, TrainConfig(...))`` and its History, the resumable
form ``fit_resumable``, ``evaluate``, weight averaging (:mod:`.ema`) and ``fit_batched``: R runs of
one MLP trained as one stacked model, each resumable alone."""

from .batched import can_batch, fit_batched
from .ema import WeightAverage
from .history import EpochRecord, History
from .loop import TrainConfig, evaluate, fit, fit_resumable

__all__ = ["TrainConfig", "fit", "fit_resumable", "evaluate", "History", "EpochRecord", "WeightAverage",
           "fit_batched", "can_batch"]
