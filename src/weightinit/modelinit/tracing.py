"""What really follows each layer: the activations a forward pass applies to each layer's
output, read while ``model(example_input)`` runs.

Module order (:func:`weightinit.modelinit.fans.layer_nonlinearities`) is a guess: a ResNet block whose
shared ``self.relu`` is declared after its last norm, or ``nn.TransformerEncoderLayer``, which
calls ``F.relu`` as a function, defeat it. The trace follows the data instead: forward hooks
mark each layer's output; a ``TorchFunctionMode`` sees every torch function called, carries
the mark through operations that keep the signal's scale per unit (dropout, norms, reshapes)
and records the first activation function applied to a marked tensor. A residual addition or
any other operation ends the search: the layer is then linear. MultiheadAttention calls its
``out_proj`` weights without calling the module; its output is the attention's, linear.

:func:`tracing` runs the same trace around any forward pass and also keeps the tensor each
activation produced, so :mod:`weightinit.diagnostics` measures functional activations too.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from .fans import GAIN_LAYERS, forward_checked

__all__ = ["Trace", "tracing", "traced_nonlinearities"]


def _param(args: tuple, kwargs: dict, name: str, position: int, default: float) -> float:
    value = kwargs.get(name, args[position] if len(args) > position else default)
    return float(value)


# activation functions -> (calculate_gain name, its parameter) from the call's arguments
_ACTIVATIONS = {
    **{f: (lambda a, k: ("relu", None)) for f in (F.relu, F.relu_, torch.relu, torch.relu_, torch.Tensor.relu,
                                                  torch.Tensor.relu_, F.relu6)},
    **{f: (lambda a, k: ("tanh", None)) for f in (torch.tanh, torch.Tensor.tanh, F.tanh, torch.tanh_,
                                                  torch.Tensor.tanh_)},
    **{f: (lambda a, k: ("sigmoid", None)) for f in (torch.sigmoid, torch.Tensor.sigmoid, F.sigmoid,
                                                     torch.sigmoid_, torch.Tensor.sigmoid_)},
    F.leaky_relu: lambda a, k: ("leaky_relu", _param(a, k, "negative_slope", 1, 0.01)),
    F.elu: lambda a, k: ("elu", _param(a, k, "alpha", 1, 1.0)),
    F.selu: lambda a, k: ("selu", None), torch.selu: lambda a, k: ("selu", None),
    F.gelu: lambda a, k: ("gelu", None),
    F.silu: lambda a, k: ("silu", None),
    F.mish: lambda a, k: ("mish", None),
    F.softsign: lambda a, k: ("softsign", None),
    F.prelu: lambda a, k: ("leaky_relu", float(a[1].detach().mean())),
    # nn.ReLU6 calls hardtanh(x, 0, 6): a rectifier; another clipping range is no activation calculate_gain knows
    F.hardtanh: lambda a, k: ("relu" if _param(a, k, "min_val", 1, -1.0) == 0 else "linear", None),
    F.softmax: lambda a, k: ("linear", None), F.log_softmax: lambda a, k: ("linear", None),
}

# operations after which the tensor still carries the layer's signal, unit for unit
_PASS_THROUGH = {
    F.dropout, F.dropout1d, F.dropout2d, F.dropout3d, F.alpha_dropout, F.feature_alpha_dropout,
    F.layer_norm, F.batch_norm, F.group_norm, F.instance_norm, *((F.rms_norm,) if hasattr(F, "rms_norm") else ()),
    torch.flatten, torch.reshape, torch.Tensor.view, torch.Tensor.reshape, torch.Tensor.flatten,
    torch.Tensor.permute, torch.Tensor.transpose, torch.transpose, torch.Tensor.contiguous, torch.Tensor.squeeze,
    torch.Tensor.unsqueeze, torch.squeeze, torch.unsqueeze,
}


@dataclass
class Trace:
    """What a traced forward pass found, by the qualified name of each Linear/Conv/Bilinear
    layer it called (in call order, a layer called twice listed once)."""

    found: dict[str, tuple[str, float | None]] = field(default_factory=dict)  # layer -> (nonlinearity, param)
    outputs: dict[str, torch.Tensor] = field(default_factory=dict)  # layer -> what that activation returned
    functions: dict[str, str] = field(default_factory=dict)  # layer -> the activation function's name ("gelu")
    called: list[str] = field(default_factory=list)


class _Tracer(TorchFunctionMode):
    def __init__(self, marks: dict[int, tuple[torch.Tensor, str]], trace: Trace):
        super().__init__()
        self.marks, self.trace = marks, trace

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        result = func(*args, **kwargs)
        first = args[0] if args else None
        if isinstance(first, torch.Tensor) and id(first) in self.marks:
            tensor, layer = self.marks[id(first)]
            if tensor is first:
                if func in _ACTIVATIONS:
                    if layer not in self.trace.found:
                        self.trace.found[layer] = _ACTIVATIONS[func](args, kwargs)
                        self.trace.functions[layer] = getattr(func, "__name__", str(func))
                    if isinstance(result, torch.Tensor):  # the latest call's, as a forward hook keeps
                        self.trace.outputs[layer] = result
                elif func in _PASS_THROUGH and isinstance(result, torch.Tensor):
                    self.marks[id(result)] = (result, layer)
                elif result is first:  # changed in place (out += identity): no longer the layer's output
                    del self.marks[id(first)]
        return result


@contextmanager
def tracing(model: nn.Module) -> Iterator[Trace]:
    """Trace the forward passes of ``model`` run inside the ``with`` block: the returned
    :class:`Trace` fills as they run. Hooks are removed on exit; the caller chooses the mode
    (eval, gradients) the pass runs in.

    Examples:
        >>> model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2))
        >>> with tracing(model) as trace:
        ...     _ = model(torch.randn(3, 4))
        >>> trace.found
        {'0': ('tanh', None)}
    """
    names = {module: name for name, module in model.named_modules() if isinstance(module, GAIN_LAYERS)}
    marks: dict[int, tuple[torch.Tensor, str]] = {}  # id -> (the tensor, kept alive; the layer it came from)
    trace = Trace()

    def mark(module: nn.Module, inputs, output) -> None:
        if isinstance(output, torch.Tensor):
            marks[id(output)] = (output, names[module])
            if names[module] not in trace.called:
                trace.called.append(names[module])

    hooks = [module.register_forward_hook(mark) for module in names]
    try:
        with _Tracer(marks, trace):
            yield trace
    finally:
        for hook in hooks:
            hook.remove()


def traced_nonlinearities(model: nn.Module, example_input: torch.Tensor) -> dict[str, tuple[str, float | None]]:
    """Map the qualified name of each Linear/Conv/Bilinear layer that ``model(example_input)``
    calls to the ``(nonlinearity, param)`` applied to its output (``("linear", None)`` when
    none is). The pass runs in eval mode (no dropout, no batch-norm statistics updated) with
    the global RNG forked; the model is left as it was."""
    was_training = model.training
    try:
        model.eval()
        # gradients on: keeps MultiheadAttention off its fused fast path, which hides the projections
        with torch.random.fork_rng(devices=[]), torch.enable_grad(), tracing(model) as trace:
            forward_checked(model, example_input)
    finally:
        model.train(was_training)
    attention = [f"{name}.out_proj" if name else "out_proj" for name, module in model.named_modules()
                 if isinstance(module, nn.MultiheadAttention)]
    return {name: trace.found.get(name, ("linear", None)) for name in dict.fromkeys([*trace.called, *attention])}
