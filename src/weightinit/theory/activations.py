r"""The activations the mean-field theory integrates: each a function :math:`\phi` and its
derivative :math:`\phi'`, on float64 tensors.

=============  ==========================================  ==========================================
name           :math:`\phi(h)`                             :math:`\phi'(h)`
=============  ==========================================  ==========================================
linear         :math:`h`                                   1
tanh           :math:`\tanh h`                             :math:`1 - \tanh^2 h`
relu           :math:`\max(h, 0)`                          :math:`[h > 0]`
erf            :math:`\mathrm{erf}(h)`                     :math:`\tfrac{2}{\sqrt\pi} e^{-h^2}`
gelu           :math:`h\,\Phi(h)`                          :math:`\Phi(h) + h\,\varphi(h)`
selu           :math:`\lambda h` / :math:`\lambda\alpha(e^h - 1)`   :math:`\lambda` / :math:`\lambda\alpha e^h`
silu           :math:`h\,\sigma(h)`                        :math:`\sigma(h)(1 + h(1 - \sigma(h)))`
sigmoid        :math:`\sigma(h)`                           :math:`\sigma(h)(1 - \sigma(h))`
softsign       :math:`h / (1 + |h|)`                       :math:`1 / (1 + |h|)^2`
=============  ==========================================  ==========================================

:math:`\Phi` and :math:`\varphi` are the standard normal cdf and density; SELU's constants are
Klambauer et al.'s (2017), as ``torch.nn.SELU``'s. The names are those of
:data:`weightinit.modelinit.activations.ACTIVATIONS` (plus ``erf`` and ``linear``), so a
network's activation module names its theory.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from .._checks import check_choice

__all__ = ["TheoryActivation", "THEORY_ACTIVATIONS", "theory_activation"]

_SELU_ALPHA = 1.6732632423543772848170429916717  # Klambauer et al. 2017, as torch.nn.SELU
_SELU_SCALE = 1.0507009873554804934193349852946
_SQRT_2PI = math.sqrt(2.0 * math.pi)

Fn = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class TheoryActivation:
    """An activation as the theory needs it: ``phi`` and its derivative ``dphi``; ``odd`` when
    :math:`\\phi(-h) = -\\phi(h)`; ``kinked`` when :math:`\\phi'` jumps at 0 (the quadrature
    then splits its integrals there)."""

    name: str
    phi: Fn
    dphi: Fn
    odd: bool = False
    kinked: bool = False


def _normal_cdf(h: torch.Tensor) -> torch.Tensor:
    return 0.5 * (1.0 + torch.erf(h / math.sqrt(2.0)))


def _selu_derivative(h: torch.Tensor) -> torch.Tensor:
    return _SELU_SCALE * torch.where(h > 0, torch.ones_like(h), _SELU_ALPHA * torch.exp(torch.clamp(h, max=0.0)))


def _silu_derivative(h: torch.Tensor) -> torch.Tensor:
    s = torch.sigmoid(h)
    return s * (1.0 + h * (1.0 - s))


THEORY_ACTIVATIONS: dict[str, TheoryActivation] = {a.name: a for a in (
    TheoryActivation("linear", lambda h: h, torch.ones_like, odd=True),
    TheoryActivation("tanh", torch.tanh, lambda h: 1.0 - torch.tanh(h) ** 2, odd=True),
    TheoryActivation("relu", lambda h: torch.clamp(h, min=0.0), lambda h: (h > 0).to(h.dtype), kinked=True),
    TheoryActivation("erf", torch.erf, lambda h: 2.0 / math.sqrt(math.pi) * torch.exp(-h * h), odd=True),
    TheoryActivation("gelu", lambda h: h * _normal_cdf(h),
                     lambda h: _normal_cdf(h) + h * torch.exp(-0.5 * h * h) / _SQRT_2PI),
    TheoryActivation("selu", torch.selu, _selu_derivative, kinked=True),
    TheoryActivation("silu", lambda h: h * torch.sigmoid(h), _silu_derivative),
    TheoryActivation("sigmoid", torch.sigmoid, lambda h: torch.sigmoid(h) * (1.0 - torch.sigmoid(h))),
    TheoryActivation("softsign", lambda h: h / (1.0 + h.abs()), lambda h: 1.0 / (1.0 + h.abs()) ** 2,
                     odd=True, kinked=True),
)}


def theory_activation(name: str) -> TheoryActivation:
    """The table's entry ``name``, or a UserError naming the activations the theory knows."""
    return THEORY_ACTIVATIONS[check_choice("activation", name, THEORY_ACTIVATIONS)]
