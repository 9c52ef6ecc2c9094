r"""The singular values of a model's input-output Jacobian at initialization (Saxe et al. 2014;
Pennington, Schoenholz & Ganguli 2017): how far the network stretches and squeezes the
directions of a small change in its input. A network is *dynamically isometric* when all of
them are near 1: every direction of the gradient then survives the trip back through the
layers. :mod:`weightinit.theory.spectra` predicts their distribution for deep random networks.

:func:`jacobian_singular_values` differentiates any module (``torch.func.jacrev``, batched over
the inputs by ``torch.func.vmap``, in float64: a deep Gaussian network's smallest singular values
are far below float32's resolution); :func:`hidden_stack` cuts an MLP into its first layer and
the square stack of hidden layers whose Jacobian the theory is about; :class:`JacobianSpread`
summarizes a spectrum by max/min and the share within a factor of 2 of 1.

Examples:
    >>> import torch, weightinit as wi
    >>> model = wi.init_model(wi.mlp("32-64-64-64-10", "tanh"), "critical_orthogonal")
    >>> front, stack = hidden_stack(model)
    >>> s = jacobian_singular_values(stack, front(torch.randn(4, 32)))  # (4, 64)
    >>> JacobianSpread.of(s).n
    256
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass

import torch
from torch import nn

from ..errors import UserError
from ..theory.spectra import ISOMETRY_FACTOR

__all__ = ["jacobian_singular_values", "input_output_jacobian", "hidden_stack", "JacobianSpread", "ISOMETRY_FACTOR"]


def input_output_jacobian(model: nn.Module, inputs: torch.Tensor, *, dtype: torch.dtype = torch.float64
                          ) -> torch.Tensor:
    """The Jacobian of ``model``'s output with respect to its input at each row of ``inputs``
    (B, *in): of shape (B, out, in), both flattened; ``model`` is copied to ``dtype`` (and left
    as it was) and run in eval mode."""
    if inputs.dim() < 2:
        raise UserError(f"inputs must be a batch (B, ...) with B >= 1, got shape {tuple(inputs.shape)}")
    twin = copy.deepcopy(model).to(dtype).eval()
    for p in twin.parameters():
        p.requires_grad_(False)
    shape = inputs.shape[1:]

    def one(x: torch.Tensor) -> torch.Tensor:
        return twin(x.view(1, *shape)).reshape(-1)

    jac = torch.func.vmap(torch.func.jacrev(one))(inputs.detach().to(dtype).flatten(1))  # (B, out, in)
    return jac


def jacobian_singular_values(model: nn.Module, inputs: torch.Tensor, *, dtype: torch.dtype = torch.float64
                             ) -> torch.Tensor:
    """The singular values of :func:`input_output_jacobian` at each input: (B, min(out, in)), each
    row in descending order."""
    return torch.linalg.svdvals(input_output_jacobian(model, inputs, dtype=dtype))


def hidden_stack(model: nn.Sequential) -> tuple[nn.Sequential, nn.Sequential]:
    """``(front, stack)`` of an MLP (a Sequential of Linear layers and activations, as
    :func:`weightinit.mlp` builds): ``front`` is its first layer with the activation after it,
    ``stack`` the hidden layers after that up to the output layer (excluded), each N -> N with its
    activation: the square network :math:`x^1 \\mapsto x^L` whose Jacobian the theory predicts.
    Its depth is its number of Linear layers. Views of ``model``'s modules, not copies."""
    if not isinstance(model, nn.Sequential):
        raise UserError(f"hidden_stack takes an MLP (nn.Sequential), got {type(model).__name__}")
    linear = [i for i, m in enumerate(model) if isinstance(m, nn.Linear)]
    if len(linear) < 3:
        raise UserError(f"hidden_stack needs 3 or more Linear layers (input, hidden, output), got {len(linear)}")
    widths = {model[i].in_features for i in linear[1:-1]} | {model[i].out_features for i in linear[1:-1]}
    if len(widths) != 1:
        raise UserError(f"hidden_stack needs hidden layers of one width, got widths {sorted(widths)}")
    return model[:linear[1]], model[linear[1]:linear[-1]]


@dataclass(frozen=True)
class JacobianSpread:
    """A spectrum of singular values ``s`` in numbers: ``n`` values, their ``max`` and ``min``,
    ``ratio`` = max/min, ``share_within`` (the share within a factor of 2 of 1), and the ``mean``
    and ``variance`` of :math:`\\lambda = s^2` (the theory's :math:`E[\\lambda]` and
    :math:`\\mathrm{Var}[\\lambda]`)."""

    n: int
    max: float
    min: float
    ratio: float
    share_within: float
    mean: float
    variance: float

    @classmethod
    def of(cls, singular_values: torch.Tensor, factor: float = ISOMETRY_FACTOR) -> JacobianSpread:
        """The spread of all of ``singular_values`` (any shape, pooled)."""
        s = torch.as_tensor(singular_values, dtype=torch.float64).flatten()
        if s.numel() == 0:
            raise UserError("no singular values to summarize")
        lam = s * s
        low, high = float(s.min()), float(s.max())
        near = ((s >= 1.0 / factor) & (s <= factor)).double().mean()
        return cls(s.numel(), high, low, high / low if low > 0 else math.inf, float(near), float(lam.mean()),
                   float(lam.var(unbiased=False)))

    def to_dict(self) -> dict:
        return asdict(self)

    def text(self) -> str:
        return (f"max/min {self.ratio:.3g} (max {self.max:.3g}, min {self.min:.3g}), "
                f"{100 * self.share_within:.0f}% within x2 of 1, mean s² {self.mean:.3g}, var s² {self.variance:.3g}")
