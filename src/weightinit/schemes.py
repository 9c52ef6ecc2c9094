"""Model-level initialization: named schemes applied to every layer of any ``nn.Module``.

``init_model(model, "he_normal")`` initializes every Linear, ConvNd and ConvTransposeNd with
the scheme's formula, the layer's *correct* fans (:func:`weightinit.layers.layer_fans`) and,
for schemes that take one, the gain of the activation that follows the layer
(:func:`weightinit.layers.layer_nonlinearities`, whose docstring states the rule).

Schemes that need data register themselves here: ``lsuv`` (:mod:`weightinit.lsuv`) and
``dbn`` (:mod:`weightinit.boltzmann.dbn`).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from . import init as I
from .checks import check_choice, check_generator, check_number
from .errors import UserError
from .layers import is_layer, layer_fans, layer_nonlinearities

__all__ = ["Scheme", "SCHEMES", "BIAS_RULES", "init_model", "register_scheme", "check_schemes"]

WeightInit = Callable[[torch.Tensor, float, float, float, "torch.Generator | None"], None]


ModelInit = Callable[[nn.Module, torch.Tensor, "torch.Generator | None", Any], None]


@dataclass(frozen=True)
class Scheme:
    """A named initialization scheme.

    Attributes:
        name: the registry key.
        formula: one line for ``weightinit schemes`` and the README.
        init_weight: ``(weight, fan_in, fan_out, gain, generator) -> None``, filling one
            layer's weight; None for a model-level scheme.
        uses_gain: whether ``gain`` (from the following activation) enters the formula.
        bias: the bias rule ``bias="auto"`` stands for.
        init_model: a model-level scheme that needs data (``dbn``, ``lsuv``):
            ``(model, data, generator, config) -> None``.
    """

    name: str
    formula: str
    init_weight: WeightInit | None
    uses_gain: bool
    bias: str = "zeros"
    init_model: ModelInit | None = None

    @property
    def needs_data(self) -> bool:
        return self.init_model is not None


def _torch_default_bound(weight: torch.Tensor) -> float:
    # reset_parameters of Linear/ConvNd: kaiming_uniform_(a=√5) = U(±1/√fan_in), with fan_in
    # read off the weight's shape as torch does (for ConvTranspose that is out/groups·k).
    return 1.0 / math.sqrt(I.fans(weight)[0])


def _default(w: torch.Tensor, fi: float, fo: float, gain: float, g: torch.Generator | None) -> None:
    bound = _torch_default_bound(w)
    I.uniform_(w, -bound, bound, g)


def _normal(w: torch.Tensor, fi: float, fo: float, gain: float, g: torch.Generator | None) -> None:
    I.normal_(w, 0.0, 1.0, g)


def _zeros(w: torch.Tensor, fi: float, fo: float, gain: float, g: torch.Generator | None) -> None:
    I.zeros_(w)


def _variance_scaling(mode: str, distribution: str, gain_power: int) -> WeightInit:
    def fill(w: torch.Tensor, fi: float, fo: float, gain: float, g: torch.Generator | None) -> None:
        I.variance_scaling_(w, gain**gain_power, mode, distribution, g, fan_in=fi, fan_out=fo)

    return fill


def _orthogonal(w: torch.Tensor, fi: float, fo: float, gain: float, g: torch.Generator | None) -> None:
    I.orthogonal_(w, gain, g)


SCHEMES: dict[str, Scheme] = {
    s.name: s
    for s in (
        Scheme(
            "default",
            "U(±1/√fan_in) for weights and biases: PyTorch's reset_parameters (kaiming_uniform_(a=√5)), "
            "fan_in as torch reads it",
            _default,
            uses_gain=False,
            bias="default",
        ),
        Scheme("zeros", "W = 0: every unit of a layer stays identical (the lecture's 'not all 0's')", _zeros, False),
        Scheme("normal", "N(0, 1): the lecture's naive init, variance independent of the fan", _normal, False),
        Scheme(
            "xavier_uniform",
            "U(±gain·√(6/(fan_in+fan_out))): Glorot & Bengio 2010",
            _variance_scaling("fan_avg", "uniform", 2),
            True,
        ),
        Scheme(
            "xavier_normal",
            "N(0, gain²·2/(fan_in+fan_out)): Glorot & Bengio 2010",
            _variance_scaling("fan_avg", "normal", 2),
            True,
        ),
        Scheme(
            "he_uniform",
            "U(±gain·√(3/fan_in)), gain √2 for ReLU: He et al. 2015",
            _variance_scaling("fan_in", "uniform", 2),
            True,
        ),
        Scheme(
            "he_normal",
            "N(0, gain²/fan_in), gain √2 for ReLU: He et al. 2015",
            _variance_scaling("fan_in", "normal", 2),
            True,
        ),
        Scheme(
            "lecun_uniform",
            "U(±√(3/fan_in)): LeCun et al. 1998",
            _variance_scaling("fan_in", "uniform", 0),
            False,
        ),
        Scheme(
            "lecun_normal",
            "N(0, 1/fan_in): LeCun et al. 1998, SELU nets (Klambauer et al. 2017)",
            _variance_scaling("fan_in", "normal", 0),
            False,
        ),
        Scheme(
            "orthogonal",
            "gain·Q, Q from the QR of a Gaussian matrix (W Wᵀ = gain² I): Saxe et al. 2014",
            _orthogonal,
            True,
        ),
    )
}

BIAS_RULES = ("auto", "zeros", "default", "keep")


def check_schemes(names) -> tuple[str, ...]:
    """Return ``names`` as a tuple if it names one or more registered schemes, each once."""
    names = tuple(names)
    if not names:
        raise UserError("inits must name at least one scheme")
    for name in names:
        check_choice("init", name, SCHEMES)
    if len(set(names)) != len(names):
        raise UserError(f"inits={list(names)} names a scheme twice")
    return names


def register_scheme(scheme: Scheme) -> Scheme:
    """Add a scheme to :data:`SCHEMES` (modules that build on this one register theirs:
    ``weightinit.dbn`` adds ``dbn``)."""
    if scheme.name in SCHEMES:
        raise UserError(f"scheme {scheme.name!r} is registered already")
    if (scheme.init_weight is None) == (scheme.init_model is None):
        raise UserError(f"scheme {scheme.name!r} needs exactly one of init_weight and init_model")
    SCHEMES[scheme.name] = scheme
    return scheme


def _resolve_nonlinearity(nonlinearity: str) -> tuple[str, float | None] | None:
    if nonlinearity == "auto":
        return None
    check_choice("nonlinearity", nonlinearity, ("auto", *I.NONLINEARITIES))
    return nonlinearity, None


def init_model(
    model: nn.Module,
    scheme: str,
    *,
    nonlinearity: str = "auto",
    bias: str | float = "auto",
    generator: torch.Generator | None = None,
    data: torch.Tensor | None = None,
    config: Any = None,
) -> nn.Module:
    """Initialize every Linear, ConvNd and ConvTransposeNd of ``model`` in place and return it.

    Args:
        model: any ``nn.Module``; other modules (norms, embeddings) are left as they are.
        scheme: a name in :data:`SCHEMES` (``weightinit schemes`` lists them).
        nonlinearity: ``"auto"`` takes each layer's gain from the activation module that
            follows it (see the module docstring); a name from
            :data:`weightinit.init.NONLINEARITIES` uses that gain for every layer.
            Ignored by schemes without a gain (``default``, ``zeros``, ``normal``, ``lecun_*``).
        bias: ``"auto"`` (zeros, or PyTorch's U(±1/√fan_in) for the ``default`` scheme),
            ``"zeros"``, ``"default"``, ``"keep"`` or a number to fill with.
        generator: the torch.Generator every draw comes from.
        data: training inputs, (N, in_features), for the schemes that need data (``dbn``).
        config: settings of a data-driven scheme (an ``RBMConfig`` for ``dbn``).

    Examples:
        >>> model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
        >>> init_model(model, "he_normal", generator=torch.Generator().manual_seed(0))  # doctest: +SKIP
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    check_choice("scheme", scheme, SCHEMES)
    fixed = _resolve_nonlinearity(nonlinearity)
    if isinstance(bias, str):
        check_choice("bias", bias, BIAS_RULES)
    else:
        bias = check_number("bias", bias)
    check_generator(generator)
    spec = SCHEMES[scheme]
    if spec.needs_data:
        if not isinstance(data, torch.Tensor):
            raise UserError(f"scheme={scheme!r} needs data=: a tensor of training inputs")
        spec.init_model(model, data, generator, config)
        return model
    bias_rule = spec.bias if bias == "auto" else bias

    # Plan every layer before touching any, so that a refused layer leaves the model as it was.
    following = layer_nonlinearities(model)
    plan = []
    for name, layer in model.named_modules():
        if not is_layer(layer):
            continue
        if isinstance(layer.weight, nn.parameter.UninitializedParameter):
            raise UserError(f"layer {name!r} is lazy and not materialized yet; run one forward pass first")
        fan_in, fan_out = layer_fans(layer)
        gain = I.calculate_gain(*(fixed or following[name])) if spec.uses_gain else 1.0
        if isinstance(bias_rule, float) and layer.bias is not None and abs(bias_rule) > torch.finfo(layer.bias.dtype).max:
            raise UserError(f"bias={bias_rule!r} is beyond what layer {name!r}'s {layer.bias.dtype} bias holds")
        plan.append((layer, fan_in, fan_out, gain))
    if not plan:
        warnings.warn(f"{type(model).__name__} has no Linear/Conv layers; nothing was initialized", stacklevel=2)

    with torch.no_grad():
        for layer, fan_in, fan_out, gain in plan:
            spec.init_weight(layer.weight, fan_in, fan_out, gain, generator)
            if layer.bias is None or bias_rule == "keep":
                continue
            if bias_rule == "default":
                bound = _torch_default_bound(layer.weight)
                I.uniform_(layer.bias, -bound, bound, generator)
            elif bias_rule == "zeros":
                I.zeros_(layer.bias)
            else:
                I.constant_(layer.bias, bias_rule)
    return model
