"""The layers ``init_model`` initializes, their true fans, and the activation after each.

The rule for ``nonlinearity="auto"``: layers and activation modules are read in the order
``model.modules()`` yields them, which is registration order and, for ``nn.Sequential`` and
most models, forward order. A layer takes the first activation module found after it and
before the next layer; a layer with none (the output layer) is linear, gain 1. Modules in
between that are not activations (Dropout, BatchNorm, Flatten, ...) are passed over.
Activations called as functions inside ``forward`` (``F.relu``) cannot be seen: pass
``nonlinearity="relu"`` explicitly for such models.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..errors import UserError
from .activations import activation_of, gain_args

__all__ = ["LAYER_TYPES", "GAIN_LAYERS", "is_layer", "layer_fans", "layers_with_activations",
           "layer_nonlinearities", "forward_checked"]

_CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_CONV_TRANSPOSE = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
LAYER_TYPES = (nn.Linear, *_CONV, *_CONV_TRANSPOSE)
GAIN_LAYERS = (*LAYER_TYPES, nn.Bilinear)  # the layers whose scale depends on the activation after them


def is_layer(module: nn.Module) -> bool:
    """True for the modules ``init_model`` initializes: Linear, ConvNd, ConvTransposeNd."""
    return isinstance(module, LAYER_TYPES)


def layer_fans(layer: nn.Module) -> tuple[float, float]:
    r"""Return the true ``(fan_in, fan_out)`` of a Linear, ConvNd or ConvTransposeNd layer.

    A fan is a count of connections: ``fan_in`` is the number of inputs summed into one
    output, ``fan_out`` the number of outputs one input feeds (on average over positions,
    borders aside). With :math:`g` groups, kernel volume :math:`k` and stride volume
    :math:`s`:

    ==================  ==========================  ==========================
    layer               fan_in                      fan_out
    ==================  ==========================  ==========================
    Linear              in                          out
    ConvNd              (in/g)·k                    (out/g)·k / s
    ConvTransposeNd     (in/g)·k / s                (out/g)·k
    ==================  ==========================  ==========================

    ``torch.nn.init`` reads fans off the weight's shape instead: for a grouped conv its
    fan_out is g times too large (pytorch#23854), and for a transposed conv it swaps the
    roles of in and out (pytorch#30079) and ignores that a stride-s transposed conv sums
    only k/s kernel taps into each output. A stride skips inputs on the side it subsamples,
    which is why it divides one fan; the papers (Glorot 2010, He 2015) treat stride 1.
    """
    if isinstance(layer, nn.Linear):
        return float(layer.in_features), float(layer.out_features)
    if isinstance(layer, _CONV + _CONV_TRANSPOSE):
        kernel = math.prod(layer.kernel_size)
        stride = math.prod(layer.stride)
        fan_in = layer.in_channels / layer.groups * kernel
        fan_out = layer.out_channels / layer.groups * kernel
        if isinstance(layer, _CONV_TRANSPOSE):
            return fan_in / stride, fan_out
        return fan_in, fan_out / stride
    raise TypeError(f"layer must be one of {[t.__name__ for t in LAYER_TYPES]}, got {type(layer).__name__}")


def layers_with_activations(model: nn.Module) -> list[tuple[str, nn.Module, nn.Module | None]]:
    """Each layer's qualified name, the layer, and the activation module that follows it (None
    for a linear one), by the rule in this module's docstring."""
    pairs: list[list] = []
    waiting = False  # the last layer still waits for its activation
    for name, module in model.named_modules():
        if isinstance(module, GAIN_LAYERS):
            pairs.append([name, module, None])
            waiting = True
        elif waiting and activation_of(module) is not None:
            pairs[-1][2] = module
            waiting = False
    return [tuple(pair) for pair in pairs]


def layer_nonlinearities(model: nn.Module) -> dict[str, tuple[str, float | None]]:
    """Map each layer's qualified name to the ``(nonlinearity, param)`` that follows it,
    by the rule in this module's docstring.

    Examples:
        >>> layer_nonlinearities(nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2)))
        {'0': ('tanh', None), '2': ('linear', None)}
    """
    return {name: gain_args(activation) for name, _, activation in layers_with_activations(model)}


def forward_checked(model: nn.Module, batch: torch.Tensor) -> torch.Tensor:
    """``model(batch)``, with a batch that does not fit the model reported as a ValueError."""
    try:
        return model(batch)
    except RuntimeError as error:
        raise UserError(f"a batch of shape {tuple(batch.shape)} does not fit the model: {error}") from None
