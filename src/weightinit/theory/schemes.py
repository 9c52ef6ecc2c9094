r"""The schemes the theory adds to :data:`~weightinit.modelinit.schemes.SCHEMES`:

=========================  ==================================================================================
scheme                     each Linear / convolution layer, followed by activation :math:`\phi`
=========================  ==================================================================================
``critical``               :math:`W \sim N(0, \sigma_w^{*2}/\text{fan\_in})`, :math:`b \sim N(0, \sigma_b^2)`
``critical_orthogonal``    :math:`W = \sigma_w^* Q` (Q orthogonal; delta-orthogonal for a convolution), same bias
``delta_orthogonal``       :func:`~weightinit.init.delta_orthogonal_` with the activation's gain (Xiao et al. 2018)
=========================  ==================================================================================

:math:`(\sigma_w^{*2}, \sigma_b^2)` is the point of :math:`\phi`'s critical line (:math:`\chi_1 = 1`,
:mod:`weightinit.theory.critical`) that :func:`~weightinit.theory.critical.scheme_point` picks:
:math:`\sigma_b^2 = 0.05` where :math:`q^*` is finite there (tanh: :math:`\sigma_w^{*2} = 1.761`), else
:math:`\sigma_b = 0` (ReLU: :math:`\sigma_w^{*2} = 2`, He et al.'s). The plan's rule column says
where each layer was put. The activation after a layer is read from module order
(:func:`~weightinit.modelinit.layer_nonlinearities`): a Sequential's own, as the mean-field
theory assumes; a layer followed by none is linear. A model with other weights (an embedding,
attention) is refused: the theory here is that of deep fully connected and convolutional stacks.

``init_model(model, "critical")``, like every scheme.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .. import init
from ..errors import UserError
from ..modelinit.fans import layer_nonlinearities
from ..modelinit.presets import Draw, Preset, register_preset
from ..modelinit.rules import Block
from ..modelinit.schemes import Scheme, delta_orthogonal_std, register_scheme
from .activations import THEORY_ACTIVATIONS
from .critical import CriticalPoint, scheme_point

__all__ = ["CRITICAL_SCHEMES", "critical_fill"]

_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


def critical_fill(point: CriticalPoint, orthogonal: bool, fan_in: float):
    """The fill ``(weight, generator) -> None`` of a layer at ``point``: N(0, sigma_w²/fan_in), or
    sigma_w times an orthogonal (delta-orthogonal for a convolution) matrix. ``fan_in`` is the
    layer's, fixed when the plan is made (a shard of the weight has a fan of its own)."""
    std = point.sigma_w / math.sqrt(fan_in)

    def fill(w: torch.Tensor, g: torch.Generator | None) -> None:
        if orthogonal:
            init.delta_orthogonal_(w, point.sigma_w, g)
        else:
            init.normal_(w, 0.0, std, g)
    return fill


def _joint(orthogonal: bool):
    """The pass over the plan's blocks that puts every layer on its activation's critical line."""
    def place(blocks: list[Block], kinds: dict, view, modules: dict[str, nn.Module]) -> None:
        after = layer_nonlinearities(modules[""])
        points: dict[str, CriticalPoint] = {}
        for block in blocks:
            module = modules[block.module]
            if not isinstance(module, _LAYERS):
                if id(block) in kinds:
                    raise UserError(f"scheme 'critical' initializes Linear and convolution layers only; "
                                    f"{block.module!r} is a {type(module).__name__} (use another scheme for it, "
                                    "or only= for the stack)")
                continue
            name, _ = after.get(block.module, ("linear", None))
            if name not in THEORY_ACTIVATIONS:
                raise UserError(f"scheme 'critical': layer {block.module!r} is followed by {name}, which the "
                                f"mean-field theory here does not know; use one of {sorted(THEORY_ACTIVATIONS)}")
            point = points.setdefault(name, scheme_point(name))
            if block.parameter == "weight":
                draw = f"{point.sigma_w:.4g}·orthogonal" if orthogonal else f"N(0, {point.sigma_w2:.4g}/fan_in)"
                block.fill = critical_fill(point, orthogonal, init.fans(view(block))[0])
                block.rule = f"{draw} ({point.text()})"
                block.gain, block.gain_guessed = point.sigma_w, False
            elif block.parameter == "bias":
                bias = Draw(point.sigma_b)
                block.fill, block.rule = bias.fill(), f"{bias.text()} (sigma_b² {point.sigma_b2:.4g})"
    return place


def _delta_orthogonal(w: torch.Tensor, fan_in: float, fan_out: float, gain: float, g: torch.Generator | None) -> None:
    init.delta_orthogonal_(w, gain, g)


CRITICAL_SCHEMES = {
    "critical": register_preset(Preset(
        "critical", "N(0, σw*²/fan_in), bias N(0, σb²): each layer on the critical line χ1 = 1 of the activation "
        "after it (Schoenholz et al. 2017; tanh σw²=1.761, σb²=0.05; ReLU 2, 0)",
        lambda role: Draw(1.0), joint=_joint(False))),
    "critical_orthogonal": register_preset(Preset(
        "critical_orthogonal", "σw*·Q, Q orthogonal (delta-orthogonal for convolutions), bias N(0, σb²): the critical "
        "line with orthogonal weights, dynamical isometry (Pennington et al. 2017)",
        lambda role: Draw(1.0), joint=_joint(True))),
    "delta_orthogonal": register_scheme(Scheme(
        "delta_orthogonal", "gain·H at the kernel's centre tap (H orthogonal), 0 elsewhere; Linear: gain·Q "
        "(Xiao et al. 2018)", _delta_orthogonal, uses_gain=True, shape_std=delta_orthogonal_std)),
}
