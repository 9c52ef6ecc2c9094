"""Model-level initialization: named schemes applied to every layer of any ``nn.Module``.

``init_model(model, "he_normal")`` initializes every Linear, ConvNd and ConvTransposeNd with
the scheme's formula, the layer's *correct* fans (:func:`layer_fans`) and, for schemes that
take one, the gain of the activation that follows the layer (:func:`layer_nonlinearities`).

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
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from . import init as I
from ._checks import check_choice, check_generator, check_int, check_number

__all__ = ["Scheme", "SCHEMES", "BIAS_RULES", "init_model", "register_scheme", "layer_fans", "layer_nonlinearities",
           "is_layer", "layers_with_activations", "forward_checked", "LSUVConfig", "lsuv"]

_CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_CONV_TRANSPOSE = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
LAYER_TYPES = (nn.Linear, *_CONV, *_CONV_TRANSPOSE)


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


# Activation modules and the calculate_gain() name (and param) they stand for.
_ACTIVATIONS: dict[type[nn.Module], Callable[[nn.Module], tuple[str, float | None]]] = {
    nn.Identity: lambda m: ("linear", None),
    nn.Softmax: lambda m: ("linear", None),
    nn.LogSoftmax: lambda m: ("linear", None),
    nn.Sigmoid: lambda m: ("sigmoid", None),
    nn.Tanh: lambda m: ("tanh", None),
    nn.ReLU: lambda m: ("relu", None),
    nn.ReLU6: lambda m: ("relu", None),
    nn.LeakyReLU: lambda m: ("leaky_relu", m.negative_slope),
    nn.PReLU: lambda m: ("leaky_relu", float(m.weight.detach().mean())),
    nn.SELU: lambda m: ("selu", None),
    nn.ELU: lambda m: ("elu", m.alpha),
    nn.GELU: lambda m: ("gelu", None),
    nn.SiLU: lambda m: ("silu", None),
    nn.Mish: lambda m: ("mish", None),
    nn.Softsign: lambda m: ("softsign", None),
}


def _activation(module: nn.Module) -> tuple[str, float | None] | None:
    for kind, describe in _ACTIVATIONS.items():
        if type(module) is kind:
            return describe(module)
    return None


def layers_with_activations(model: nn.Module) -> list[tuple[str, nn.Module, nn.Module | None]]:
    """Each layer's qualified name, the layer, and the activation module that follows it (None
    for a linear one), by the rule in this module's docstring."""
    pairs: list[list] = []
    waiting = False  # the last layer still waits for its activation
    for name, module in model.named_modules():
        if is_layer(module):
            pairs.append([name, module, None])
            waiting = True
        elif waiting and _activation(module) is not None:
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
    return {name: ("linear", None) if activation is None else _activation(activation)
            for name, _, activation in layers_with_activations(model)}


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
        raise ValueError("inits must name at least one scheme")
    for name in names:
        check_choice("init", name, SCHEMES)
    if len(set(names)) != len(names):
        raise ValueError(f"inits={list(names)} names a scheme twice")
    return names


def register_scheme(scheme: Scheme) -> Scheme:
    """Add a scheme to :data:`SCHEMES` (modules that build on this one register theirs:
    ``weightinit.dbn`` adds ``dbn``)."""
    if scheme.name in SCHEMES:
        raise ValueError(f"scheme {scheme.name!r} is registered already")
    if (scheme.init_weight is None) == (scheme.init_model is None):
        raise ValueError(f"scheme {scheme.name!r} needs exactly one of init_weight and init_model")
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
            raise ValueError(f"scheme={scheme!r} needs data=: a tensor of training inputs")
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
            raise ValueError(f"layer {name!r} is lazy and not materialized yet; run one forward pass first")
        fan_in, fan_out = layer_fans(layer)
        gain = I.calculate_gain(*(fixed or following[name])) if spec.uses_gain else 1.0
        if isinstance(bias_rule, float) and layer.bias is not None and abs(bias_rule) > torch.finfo(layer.bias.dtype).max:
            raise ValueError(f"bias={bias_rule!r} is beyond what layer {name!r}'s {layer.bias.dtype} bias holds")
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


# ---------------------------------------------------------------- LSUV
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


def forward_checked(model: nn.Module, batch: torch.Tensor) -> torch.Tensor:
    """``model(batch)``, with a batch that does not fit the model reported as a ValueError."""
    try:
        return model(batch)
    except RuntimeError as error:
        raise ValueError(f"a batch of shape {tuple(batch.shape)} does not fit the model: {error}") from None


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
        rows = torch.randperm(len(data), generator=generator)[: config.batch_size]
        data = data[rows.to(data.device)]
    was_training = model.training
    saved = {k: v.clone() for k, v in model.state_dict().items()}
    missed: list[str] = []
    model.eval()  # dropout off, batch norm on running statistics: the network as it will infer
    try:
        for layer in _forward_order(model, data):
            I.orthogonal_(layer.weight, 1.0, generator)
            if layer.bias is not None:
                I.zeros_(layer.bias)
            captured: dict[str, torch.Tensor] = {}
            hook = layer.register_forward_hook(lambda m, i, o: captured.__setitem__("out", o))
            try:
                for _ in range(config.max_iter):
                    model(data)
                    out = captured["out"]
                    if config.bias_shift and layer.bias is not None:
                        mean = out.transpose(0, 1).reshape(out.shape[1], -1).mean(1)  # per output unit/channel
                        layer.bias.sub_(mean)
                    variance = float(out.var())
                    if not math.isfinite(variance) or variance == 0:
                        raise ValueError(f"LSUV: the output of {type(layer).__name__} has variance {variance} on the data")
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
