"""The one table of activation functions: how to build one, what gain it asks of the layer
before it, and how it fails.

=============  ==============================  ===================  =====================
name           module                          gain of              failure mode
=============  ==============================  ===================  =====================
relu           ``nn.ReLU`` (also ReLU6)        relu: √2             dead units
leaky_relu     ``nn.LeakyReLU`` (also PReLU)   √(2/(1+a²))          dead units
tanh           ``nn.Tanh``                     5/3                  saturation (|a| > 0.9)
sigmoid        ``nn.Sigmoid``                  1                    saturation (0.05, 0.95)
selu           ``nn.SELU``                     3/4                  dead units
elu            ``nn.ELU``                      elu(α)               dead units
gelu           ``nn.GELU``                     gelu                 dead units
silu           ``nn.SiLU``                     silu                 dead units
mish           ``nn.Mish``                     mish                 dead units
softsign       ``nn.Softsign``                 softsign             saturation (|a| > 0.9)
(linear)       Identity, Softmax, LogSoftmax   1                    -
=============  ==============================  ===================  =====================

The gains are :func:`weightinit.init.calculate_gain`'s. ``models.mlp`` builds the named
ones; ``layers`` reads the gain of the module found after each layer; ``diagnostics``
measures the failure mode.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

__all__ = ["Activation", "ACTIVATIONS", "activation_of", "gain_args"]

BOUNDED, SIGMOID, RECTIFIER = "bounded", "sigmoid", "rectifier"  # the failure modes diagnostics measures


@dataclass(frozen=True)
class Activation:
    """An activation module type, the ``calculate_gain`` arguments it stands for, and its
    failure mode (``"bounded"``: saturates at ±1; ``"sigmoid"``: saturates at 0 and 1;
    ``"rectifier"``: units die at 0; None: linear)."""

    module: type[nn.Module]
    gain: Callable[[nn.Module], tuple[str, float | None]]
    failure: str | None
    name: str | None = None  # the name ``mlp(..., activation=name)`` builds it by; None: recognized only


_TABLE = (
    Activation(nn.ReLU, lambda m: ("relu", None), RECTIFIER, "relu"),
    Activation(nn.LeakyReLU, lambda m: ("leaky_relu", m.negative_slope), RECTIFIER, "leaky_relu"),
    Activation(nn.Tanh, lambda m: ("tanh", None), BOUNDED, "tanh"),
    Activation(nn.Sigmoid, lambda m: ("sigmoid", None), SIGMOID, "sigmoid"),
    Activation(nn.SELU, lambda m: ("selu", None), RECTIFIER, "selu"),
    Activation(nn.ELU, lambda m: ("elu", m.alpha), RECTIFIER, "elu"),
    Activation(nn.GELU, lambda m: ("gelu", None), RECTIFIER, "gelu"),
    Activation(nn.SiLU, lambda m: ("silu", None), RECTIFIER, "silu"),
    Activation(nn.Mish, lambda m: ("mish", None), RECTIFIER, "mish"),
    Activation(nn.Softsign, lambda m: ("softsign", None), BOUNDED, "softsign"),
    Activation(nn.ReLU6, lambda m: ("relu", None), RECTIFIER),
    Activation(nn.PReLU, lambda m: ("leaky_relu", float(m.weight.detach().mean())), RECTIFIER),
    Activation(nn.Identity, lambda m: ("linear", None), None),
    Activation(nn.Softmax, lambda m: ("linear", None), None),
    Activation(nn.LogSoftmax, lambda m: ("linear", None), None),
)

# name -> module type, for the activations a model builder can be asked for by name
ACTIVATIONS: dict[str, type[nn.Module]] = {a.name: a.module for a in _TABLE if a.name is not None}
_BY_TYPE: dict[type[nn.Module], Activation] = {a.module: a for a in _TABLE}


def activation_of(module: nn.Module) -> Activation | None:
    """The table's entry for ``module``'s exact type (a subclass is not assumed to behave
    alike), or None if it is not an activation."""
    return _BY_TYPE.get(type(module))


def gain_args(module: nn.Module | None) -> tuple[str, float | None]:
    """``(nonlinearity, param)`` for :func:`weightinit.init.calculate_gain` of the activation
    ``module`` (None: no activation, linear)."""
    entry = None if module is None else activation_of(module)
    return ("linear", None) if entry is None else entry.gain(module)
