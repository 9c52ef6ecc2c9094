"""Looking inside a network: per-layer activation and gradient statistics at initialization
(:func:`diagnose`, :mod:`.layer_stats`), inside recurrent and attention blocks (:mod:`.blocks`), and
while training (:class:`Dynamics`, :mod:`.dynamics`)."""

from .dynamics import UPDATE_RATIO_REFERENCE, Dynamics, DynamicsRecord
from .layer_stats import LayerStats, Report, diagnose

__all__ = ["diagnose", "Report", "LayerStats", "Dynamics", "DynamicsRecord", "UPDATE_RATIO_REFERENCE"]
