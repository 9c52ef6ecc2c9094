"""Looking inside a network: per-layer activation and gradient statistics at initialization
(:func:`diagnose`, :mod:`.layer_stats`), inside recurrent and attention blocks (:mod:`.blocks`), and
while training (:class:`Dynamics`, :mod:`.dynamics`); the singular values of the input-output Jacobian
(:mod:`.jacobian`) and signal propagation plots of residual networks (:mod:`.signal_propagation`)."""

from .dynamics import UPDATE_RATIO_REFERENCE, Dynamics, DynamicsRecord
from .jacobian import JacobianSpread, hidden_stack, jacobian_singular_values
from .layer_stats import LayerStats, Report, diagnose
from .signal_propagation import SignalPropagation, signal_propagation

__all__ = ["diagnose", "Report", "LayerStats", "Dynamics", "DynamicsRecord", "UPDATE_RATIO_REFERENCE",
           "jacobian_singular_values", "hidden_stack", "JacobianSpread", "signal_propagation", "SignalPropagation"]
