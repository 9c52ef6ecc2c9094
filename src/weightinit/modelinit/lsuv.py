"""Layer-sequential unit-variance initialization (Mishkin & Matas, "All you need is a good
init", ICLR 2016), registered as the data-driven scheme ``lsuv``:
``init_model(model, "lsuv", data=x)``.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import torch
from torch import nn

from .. import init
from .._checks import check_int, check_number
from ..errors import UserError
from .fans import forward_checked, is_layer
from .schemes import Scheme, register_scheme

__all__ = ["LSUVConfig", "lsuv"]


@dataclass(frozen=True)
class LSUVConfig:
    """Settings of layer-sequential unit-variance init (Mishkin & Matas 2016)."""

    tol: float = 0.1  # stop when |Var(output) - 1| < tol
    max_iter: int = 10  # scaling passes per layer at most
    bias_shift: bool = False  # also shift the bias so that the output's mean is 0
    batch_size: int = 512  # rows of `data` used (a random subset if there are more)

    def __post_init__(self) -> None:
        check_number("tol", self.tol, minimum=0, strictly=True)
        check_int("max_iter", self.max_iter, 1)
        check_int("batch_size", self.batch_size, 2)


def _forward_order(model: nn.Module, batch: torch.Tensor) -> list[nn.Module]:
    """The Linear/Conv layers in the order a forward pass on ``batch`` calls them."""
    order: list[nn.Module] = []
    hooks = [m.register_forward_hook(lambda m, i, o: order.append(m) if m not in order else None)
             for m in model.modules() if is_layer(m)]
    try:
        with torch.no_grad():
            forward_checked(model, batch)
    finally:
        for hook in hooks:
            hook.remove()
    return order


@torch.no_grad()
def lsuv(model: nn.Module, data: torch.Tensor, generator: torch.Generator | None, config: LSUVConfig | None) -> None:
    """Layer-sequential unit-variance initialization (Mishkin & Matas, "All you need is a good
    init", ICLR 2016): orthonormal weights, then, for each Linear/Conv layer in forward order,
    divide its weights by the std of its output on a data batch until
    :math:`|\\mathrm{Var}(\\text{output}) - 1| < \\text{tol}` (at most ``max_iter`` passes); biases
    start at zero and, with ``bias_shift``, are moved so that each output has mean 0.
    """
    config = config or LSUVConfig()
    if not isinstance(config, LSUVConfig):
        raise TypeError(f"config must be an LSUVConfig for scheme 'lsuv', got {type(config).__name__}")
    if len(data) > config.batch_size:
        rows = torch.randperm(len(data), generator=generator,
                              device=generator.device if generator is not None else "cpu")[: config.batch_size]
        data = data[rows.to(data.device)]
    # it runs where the model lives: the batch goes to the model, never the model to the data
    data = data.to(next(model.parameters(), data).device)
    was_training = model.training
    saved = {k: v.clone() for k, v in model.state_dict().items()}
    missed: list[str] = []
    model.eval()  # dropout off, batch norm on running statistics: the network as it will infer
    try:
        for layer in _forward_order(model, data):
            init.orthogonal_(layer.weight, 1.0, generator)
            if layer.bias is not None:
                init.zeros_(layer.bias)
            captured: dict[str, torch.Tensor] = {}
            hook = layer.register_forward_hook(lambda m, i, o, captured=captured: captured.__setitem__("out", o))
            try:
                for _ in range(config.max_iter):
                    model(data)
                    out = captured["out"]
                    if config.bias_shift and layer.bias is not None:
                        mean = out.transpose(0, 1).reshape(out.shape[1], -1).mean(1)  # per output unit/channel
                        layer.bias.sub_(mean)
                    variance = float(out.var())
                    if not math.isfinite(variance) or variance == 0:
                        raise UserError(f"LSUV: the output of {type(layer).__name__} has variance {variance} "
                                        "on the data")
                    if abs(variance - 1.0) < config.tol:
                        break
                    layer.weight.div_(math.sqrt(variance))
                else:
                    missed.append(f"{type(layer).__name__} (variance {variance:.3g})")
            finally:
                hook.remove()
    except BaseException:
        model.load_state_dict(saved)  # a refused call leaves the model as it was
        raise
    finally:
        model.train(was_training)
    if missed:
        warnings.warn(f"LSUV did not reach |variance - 1| < {config.tol} within {config.max_iter} passes for: "
                      + ", ".join(missed), RuntimeWarning, stacklevel=3)


register_scheme(Scheme(
    "lsuv",
    "orthonormal, then each layer's weights scaled until its output variance on data= is 1 (Mishkin & Matas 2016)",
    init_weight=None,
    uses_gain=False,
    init_model=lsuv,
))
