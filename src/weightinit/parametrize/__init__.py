"""Parametrizations whose hyperparameters transfer across width and depth: ``sp`` and muP (Yang et
al. 2022, "Tensor Programs V"), with the depth rule of depth-muP and CompleteP.

``parametrize(model, "mup", base=base)`` initializes ``model`` (its stds scaled from the base
width's by :mod:`.rules`) and returns a :class:`ParamPlan`; ``param_groups(model, plan, lr=...)``
gives torch.optim parameter groups with each parameter's learning rate, weight decay and ε.
The forward multipliers of muP (the readout's 1/width, attention's 1/d, depth's branch
multipliers) are absorbed into the weights, so the model stays an ordinary ``nn.Module``.
"""

from .groups import param_groups, plain_name
from .plan import ParamPlan, ParamRow, parametrize, plan_parametrization
from .rules import KINDS, PARAMETRIZATIONS, Multipliers

__all__ = ["parametrize", "plan_parametrization", "ParamPlan", "ParamRow", "param_groups", "plain_name",
           "Multipliers", "PARAMETRIZATIONS", "KINDS"]
