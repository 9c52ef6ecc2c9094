"""Supervised training: ``fit(model, train, TrainConfig(...))`` and its History, the resumable
form ``fit_resumable``, ``evaluate``, weight averaging (:mod:`.ema`) and ``fit_batched``: R runs of
one MLP trained as one stacked model, each resumable alone.

The training engine that ``fit``, ``fit_batched``, the estimators' fine-tuning and the RBM trainer
share, one concept a module: :class:`FitState` (the schema of a fit checkpoint),
:func:`make_optimizer` and the schedule :func:`lr_at`, the data order :func:`epoch_order`, the
divergence verdict :func:`first_divergence`, and the stop/checkpoint/resume protocol
(:func:`check_resumable`, :class:`Checkpointing`)."""

from .batched import can_batch, fit_batched
from .config import TrainConfig
from .divergence import DIVERGENCE_LOSS, first_divergence
from .ema import WeightAverage
from .evaluation import evaluate, evaluate_runs
from .history import EpochRecord, History
from .loop import fit, fit_resumable
from .optimizer import OptimizerSettings, make_optimizer
from .order import EpochOrder, epoch_order
from .precision import autocast_dtype
from .protocol import Checkpointing, check_resumable
from .schedule import lr_at, set_learning_rate
from .state import EpochPosition, FitState

__all__ = ["TrainConfig", "fit", "fit_resumable", "evaluate", "History", "EpochRecord", "WeightAverage",
           "fit_batched", "can_batch",
           "FitState", "EpochPosition", "make_optimizer", "OptimizerSettings", "lr_at", "set_learning_rate",
           "epoch_order", "EpochOrder", "first_divergence", "DIVERGENCE_LOSS", "evaluate_runs", "autocast_dtype",
           "check_resumable", "Checkpointing"]
