"""The named initialization schemes: each a formula ``f(weight, fan_in, fan_out, gain)`` that
:func:`weightinit.init_model` (:mod:`weightinit.modelinit.plan`) applies to every layer with the
layer's *correct* fans and, for schemes that take one, the gain of the activation after it;
:mod:`weightinit.modelinit.rules` says what each scheme means for every other kind of module.

Schemes that need data register themselves here: ``lsuv`` (:mod:`weightinit.modelinit.lsuv`) and
``dbn`` (:mod:`weightinit.boltzmann.dbn`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass
from typing import Any

import torch
from torch import nn

from .. import init
from .._checks import check_choice
from ..errors import UserError

__all__ = ["Scheme", "SCHEMES", "BIAS_RULES", "register_scheme", "check_schemes", "torch_default_bound",
           "orthogonal_std", "delta_orthogonal_std"]

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
        auto_gain: whether ``nonlinearity="auto"`` gives it the following activation's gain.
            False for Glorot's schemes: their paper, ``torch.nn.init`` and Keras define them
            with gain 1 (the variance that keeps a *linear* or tanh-near-0 layer's signal), so
            ``xavier_uniform`` on a ReLU network is Glorot's init, not He's; a named
            ``nonlinearity`` still applies its gain.
        bias: the bias rule ``bias="auto"`` stands for.
        init_model: a model-level scheme that needs data (``dbn``, ``lsuv``):
            ``(model, data, generator, config) -> None``.
        preset: a recipe that gives each weight a draw by its role in the model (an embedding,
            the last layer of a residual branch, any other weight): :mod:`.presets`.
    """

    name: str
    formula: str
    init_weight: WeightInit | None
    _: KW_ONLY
    uses_gain: bool
    bias: str = "zeros"
    init_model: ModelInit | None = None
    auto_gain: bool = True
    preset: Any = None  # a recipe by role (weightinit.modelinit.presets.Preset), applied over the rules' blocks
    # for a formula whose std its tensor's shape sets (orthogonal): gain -> (shape -> that std), so that a plan made
    # on one model can fill another (weightinit.parametrize); None for a formula whose std its fans fix
    shape_std: Callable[[float], Callable[[tuple[int, ...]], float]] | None = None

    @property
    def needs_data(self) -> bool:
        return self.init_model is not None


def torch_default_bound(weight: torch.Tensor) -> float:
    """torch's default bound for a Linear/ConvNd weight or bias, 1/sqrt(fan_in).

    ``reset_parameters`` draws the weight from kaiming_uniform_(a=sqrt(5)) = U(+-1/sqrt(fan_in)) and
    the bias from U(+-1/sqrt(fan_in)), with fan_in read off the weight's shape as torch does (for
    ConvTranspose that is out/groups * k, not the true fan).
    """
    # reset_parameters of Linear/ConvNd: kaiming_uniform_(a=√5) = U(±1/√fan_in), with fan_in
    # read off the weight's shape as torch does (for ConvTranspose that is out/groups·k).
    return 1.0 / math.sqrt(init.fans(weight)[0])


def _default(w: torch.Tensor, fi: float, fo: float, gain: float, g: torch.Generator | None) -> None:
    bound = torch_default_bound(w)
    init.uniform_(w, -bound, bound, g)


def _normal(w: torch.Tensor, fi: float, fo: float, gain: float, g: torch.Generator | None) -> None:
    init.normal_(w, 0.0, 1.0, g)


def _zeros(w: torch.Tensor, fi: float, fo: float, gain: float, g: torch.Generator | None) -> None:
    init.zeros_(w)


def _variance_scaling(mode: str, distribution: str, gain_power: int) -> WeightInit:
    def fill(w: torch.Tensor, fi: float, fo: float, gain: float, g: torch.Generator | None) -> None:
        init.variance_scaling_(w, gain**gain_power, mode, distribution, g, fan_in=fi, fan_out=fo)

    return fill


def _orthogonal(w: torch.Tensor, fi: float, fo: float, gain: float, g: torch.Generator | None) -> None:
    init.orthogonal_(w, gain, g)


def orthogonal_std(gain: float) -> Callable[[tuple[int, ...]], float]:
    """The std of ``gain`` times an orthogonal matrix of a shape (a kernel flattened to (out, in·k...),
    as ``torch.nn.init.orthogonal_`` draws it): gain/sqrt(max(rows, columns))."""
    return lambda shape: gain / math.sqrt(max(shape[0], math.prod(shape[1:]) if len(shape) > 1 else 1))


def delta_orthogonal_std(gain: float) -> Callable[[tuple[int, ...]], float]:
    """The std over a whole (out, in, k...) kernel of a delta-orthogonal one (``gain`` times an
    orthogonal (out, in) matrix at the centre tap, 0 elsewhere): gain/sqrt(max(out, in)·k...)."""
    return lambda shape: gain / math.sqrt(max(shape[0], shape[1] if len(shape) > 1 else 1) * math.prod(shape[2:]))


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
        Scheme("zeros", "W = 0: every unit of a layer stays identical (the lecture's 'not all 0's')", _zeros,
               uses_gain=False),
        Scheme("normal", "N(0, 1): the lecture's naive init, variance independent of the fan", _normal,
               uses_gain=False),
        Scheme(
            "xavier_uniform",
            "U(±gain·√(6/(fan_in+fan_out))), gain 1 unless a nonlinearity is named: Glorot & Bengio 2010",
            _variance_scaling("fan_avg", "uniform", 2),
            uses_gain=True,
            auto_gain=False,
        ),
        Scheme(
            "xavier_normal",
            "N(0, gain²·2/(fan_in+fan_out)), gain 1 unless a nonlinearity is named: Glorot & Bengio 2010",
            _variance_scaling("fan_avg", "normal", 2),
            uses_gain=True,
            auto_gain=False,
        ),
        Scheme(
            "he_uniform",
            "U(±gain·√(3/fan_in)), gain √2 for ReLU: He et al. 2015",
            _variance_scaling("fan_in", "uniform", 2),
            uses_gain=True,
        ),
        Scheme(
            "he_normal",
            "N(0, gain²/fan_in), gain √2 for ReLU: He et al. 2015",
            _variance_scaling("fan_in", "normal", 2),
            uses_gain=True,
        ),
        Scheme(
            "lecun_uniform",
            "U(±√(3/fan_in)): LeCun et al. 1998",
            _variance_scaling("fan_in", "uniform", 0),
            uses_gain=False,
        ),
        Scheme(
            "lecun_normal",
            "N(0, 1/fan_in): LeCun et al. 1998, SELU nets (Klambauer et al. 2017)",
            _variance_scaling("fan_in", "normal", 0),
            uses_gain=False,
        ),
        Scheme(
            "orthogonal",
            "gain·Q, Q from the QR of a Gaussian matrix (W Wᵀ = gain² I): Saxe et al. 2014",
            _orthogonal,
            uses_gain=True,
            shape_std=orthogonal_std,
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
    ``weightinit.boltzmann.dbn`` adds ``dbn``, ``weightinit.modelinit.lsuv`` adds ``lsuv``)."""
    if scheme.name in SCHEMES:
        raise UserError(f"scheme {scheme.name!r} is registered already")
    if (scheme.init_weight is None) == (scheme.init_model is None):
        raise UserError(f"scheme {scheme.name!r} needs exactly one of init_weight and init_model")
    SCHEMES[scheme.name] = scheme
    return scheme
