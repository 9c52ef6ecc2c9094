"""How ``init_model`` initializes each kind of module: one rule per module type, every
parameter (or block of a packed parameter) named with the formula it gets.

===========================  =================================================================
module                       what each parameter gets, under a scheme with formula f(fan_in, fan_out, gain)
===========================  =================================================================
Linear, ConvNd,              weight: f(true fans, gain of the activation after it); bias: the bias rule.
ConvTransposeNd              A Linear with out = 3·in inside an attention module (packed q/k/v,
                             :func:`.structure.packed_qkv`): q, k, v each f(d, d, 1)
Bilinear                     weight (out, in1, in2): f(in1·in2, out·(in1+in2)/2, gain); bias: bias rule
Embedding, EmbeddingBag      weight: N(0, 1/d) (U(±√(3/d)) under the uniform schemes), d the
                             embedding size, so that a vector's expected squared norm is 1; torch's
                             N(0, 1) under ``normal`` and ``default``; the padding row 0
RNN, LSTM, GRU (every        input weights, per gate block (hidden × input): f(input, hidden, the
layer, both directions,      gate's gain: 1 for the sigmoid gates, tanh's for the candidate, the
proj_size) and the cells     RNN's own nonlinearity's; all 1 under xavier_* with "auto");
                             recurrent weights, per gate block:
                             orthogonal (``recurrent="orthogonal"``, the default) or f(hidden,
                             hidden, gain) (``recurrent="scheme"``); projection ``weight_hr``:
                             f(hidden, proj, 1); biases: the bias rule, and an LSTM's forget gate
                             ``forget_bias`` (1 by default, Jozefowicz et al. 2015) in ``bias_ih``
MultiheadAttention           q, k, v blocks of the packed ``in_proj_weight`` (or ``q/k/v_proj_weight``)
                             each f(its input size, embed_dim, 1): E×E layers, not one 3E×E;
                             ``in_proj_bias`` the bias rule; ``bias_k``/``bias_v`` f(E, E, 1);
                             ``out_proj`` is a Linear (its own rule)
BatchNorm, InstanceNorm,     weight 1, bias 0
LayerNorm, GroupNorm,
RMSNorm
PReLU                        0.25, He et al. 2015's initial slope
===========================  =================================================================

The ``default`` scheme is PyTorch's own ``reset_parameters`` for every module (drawn from the
given generator). A module no rule here covers is recognized by its structure where it can be
(:mod:`weightinit.modelinit.foreign`: norms, transposed linear layers, learned vectors, a
module's own ``reset_parameters()`` under ``default``); a transformers model under ``default``
gets its own recipe (:mod:`weightinit.modelinit.recipes`). A parameter still without a rule is
left as it was and named in one warning; a user adds a rule with :func:`register_rule`.

Why orthogonal recurrent weights by default: the recurrence multiplies the hidden state by
the same matrix at every step, so its singular values, all 1 for an orthogonal matrix, decide
whether signals and gradients grow or vanish through time (Saxe et al. 2014; Le et al. 2015);
a scaled Gaussian matrix has singular values spread over (0, 2). Keras makes the same choice.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass, field
from typing import Any

import torch
from torch import nn

from .. import init
from ..errors import UserError
from .fans import layer_fans
from .schemes import Scheme, orthogonal_std, torch_default_bound
from .structure import packed_qkv

__all__ = ["Block", "RuleContext", "Rule", "RULES", "register_rule", "rule_for", "NORMS", "RECURRENT_CHOICES"]

RECURRENT_CHOICES = ("orthogonal", "scheme")

Fill = Callable[[torch.Tensor, "torch.Generator | None"], None]


@dataclass
class Block:
    """One parameter, or a block of its rows (a gate, q/k/v), and how it is filled."""

    module: str  # qualified module name ("" for the model itself)
    parameter: str  # the parameter's name inside the module
    rule: str  # the formula in words: "xavier_uniform", "orthogonal", "ones", "forget bias 1"
    fill: Fill
    _: KW_ONLY
    rows: slice | None = None  # the block of rows, None for the whole parameter
    cols: slice | None = None  # the block of columns (a transposed layer's q/k/v), None for all
    label: str = ""  # the block's name: "forget gate", "q", ...
    fan_in: float | None = None
    fan_out: float | None = None
    gain: float | None = None  # the gain in the formula (None where the formula has none)
    gain_guessed: bool = False  # the gain was read from module order, not from a traced forward pass
    recipe: Any = None  # a module's own recipe (weightinit.modelinit.recipes) that fills it; ``fill`` is then a no-op
    # a fill whose std the filled tensor's shape sets (an orthogonal matrix: gain/sqrt(max(rows, cols))): that
    # std as a function of the shape, so that a plan made on one model can fill another (weightinit.parametrize)
    shape_std: Callable[[tuple[int, ...]], float] | None = None


@dataclass
class RuleContext:
    """What a rule needs besides the module: the scheme, the gains, the bias and recurrent options."""

    scheme: Scheme
    gain_of: Callable[[str], tuple[float, bool]]  # layer name -> (gain of the activation after it, guessed)
    bias: str | float  # "zeros", "default", "keep" or a number (already resolved from "auto")
    recurrent: str = "orthogonal"
    forget_bias: float | None = 1.0
    gains_fixed: float | None = None  # a gain given for every layer (nonlinearity=name), else None
    extra: dict = field(default_factory=dict)
    modules: dict[str, nn.Module] = field(default_factory=dict)  # the model's modules by qualified name

    def parent(self, name: str) -> nn.Module | None:
        """The module that holds module ``name`` (None for the model itself or an unknown name)."""
        return self.modules.get(name.rpartition(".")[0]) if name else None


Rule = Callable[[str, nn.Module, RuleContext], list[Block]]


def _scheme_fill(ctx: RuleContext, fan_in: float, fan_out: float, gain: float) -> Fill:
    return lambda t, g: ctx.scheme.init_weight(t, fan_in, fan_out, gain, g)


def weight_block(ctx: RuleContext, name: str, parameter: str, fan_in: float, fan_out: float, gain: float,
                 guessed: bool = False, rows: slice | None = None, label: str = "", cols: slice | None = None,
                 rule: str | None = None) -> Block:
    """A block filled by the scheme's formula with these fans and gain."""
    used = gain if ctx.scheme.uses_gain else None
    return Block(name, parameter, rule or ctx.scheme.name, _scheme_fill(ctx, fan_in, fan_out, gain), rows=rows,
                 cols=cols, label=label, fan_in=fan_in, fan_out=fan_out, gain=used,
                 gain_guessed=guessed and ctx.scheme.uses_gain,
                 shape_std=None if ctx.scheme.shape_std is None else ctx.scheme.shape_std(gain))


def packed_blocks(ctx: RuleContext, name: str, module: nn.Module, rule: str | None = None) -> list[Block] | None:
    """q, k and v of a packed projection inside an attention module (:func:`.structure.packed_qkv`),
    each a d × d layer with fans (d, d) and gain 1, as for MultiheadAttention's ``in_proj``;
    None if ``module`` is no packed projection or the scheme is ``default`` (torch's own, over the
    whole matrix)."""
    packed = packed_qkv(module, ctx.parent(name))
    if packed is None or ctx.scheme.name == "default":
        return None
    d = packed.d
    return [weight_block(ctx, name, "weight", d, d, 1.0, label=label, rule=rule,
                         **({"cols": part} if packed.transposed else {"rows": part}))
            for label, part in packed.blocks()]


def uniform_fill(bound: float) -> Fill:
    return lambda t, g: init.uniform_(t, -bound, bound, g)


def constant_block(name: str, parameter: str, value: float, rule: str | None = None, rows: slice | None = None,
                   label: str = "") -> Block:
    return Block(name, parameter, rule or f"constant {value:g}", lambda t, g: init.constant_(t, value), rows=rows,
                 label=label)


def kept_block(name: str, parameter: str, rows: slice | None = None, label: str = "") -> Block:
    """A block left as it is, on purpose (bias="keep")."""
    return Block(name, parameter, "kept (bias='keep')", lambda t, g: None, rows=rows, label=label)


def bias_blocks(ctx: RuleContext, name: str, parameter: str, torch_bound: float, rows: slice | None = None,
                label: str = "") -> list[Block]:
    """The bias rule for one bias (or block): zeros, a number, torch's U(±torch_bound), or kept."""
    if ctx.bias == "keep":
        return [kept_block(name, parameter, rows, label)]
    if ctx.bias == "default":
        return [Block(name, parameter, f"U(±{torch_bound:.3g}) (torch)", uniform_fill(torch_bound), rows=rows,
                      label=label)]
    if ctx.bias == "zeros":
        return [constant_block(name, parameter, 0.0, "zeros", rows, label)]
    return [constant_block(name, parameter, float(ctx.bias), None, rows, label)]


# ---------------------------------------------------------------- Linear, Conv, Bilinear
def linear_rule(name: str, module: nn.Module, ctx: RuleContext) -> list[Block]:
    """Linear, ConvNd, ConvTransposeNd: the scheme with the layer's true fans; a Linear that packs
    q, k and v (out = 3·in, inside an attention module) as three d × d layers."""
    if isinstance(module.weight, nn.parameter.UninitializedParameter):
        raise UserError(f"layer {name!r} is lazy and not materialized yet; run one forward pass first")
    fan_in, fan_out = layer_fans(module)
    gain, guessed = ctx.gain_of(name)
    blocks = packed_blocks(ctx, name, module) or [weight_block(ctx, name, "weight", fan_in, fan_out, gain, guessed)]
    if ctx.scheme.name == "default":  # torch's bound read off this weight now, so the fill holds for any tensor
        blocks[0].fill = uniform_fill(torch_default_bound(module.weight))  # (a base width's plan fills a wider model)
    if module.bias is not None:
        blocks += bias_blocks(ctx, name, "bias", torch_default_bound(module.weight))
    return blocks


def bilinear_rule(name: str, module: nn.Module, ctx: RuleContext) -> list[Block]:
    """Bilinear y_k = x1ᵀ W_k x2 + b_k: fan_in = in1·in2 (the terms summed into one output),
    fan_out = out·(in1+in2)/2 (the outputs one input element reaches, averaged over the two
    inputs). torch's default: U(±1/√in1) for weight and bias."""
    out, in1, in2 = module.weight.shape
    torch_bound = 1.0 / math.sqrt(in1)
    if ctx.scheme.name == "default":
        blocks = [Block(name, "weight", f"U(±{torch_bound:.3g}) (torch)", uniform_fill(torch_bound))]
    else:
        gain, guessed = ctx.gain_of(name)
        blocks = [weight_block(ctx, name, "weight", in1 * in2, out * (in1 + in2) / 2, gain, guessed)]
    if module.bias is not None:
        blocks += bias_blocks(ctx, name, "bias", torch_bound)
    return blocks


# ---------------------------------------------------------------- Embedding
def embedding_rule(name: str, module: nn.Module, ctx: RuleContext) -> list[Block]:
    """N(0, 1/d), so that each embedding vector has expected squared norm 1. A lookup has no
    fan to scale by (its one-hot input has fan_in 1, which would give He and LeCun N(0, 1));
    torch's N(0, 1) gives vectors of norm √d, 22 for d = 512, which swamp a positional
    encoding or a residual sum: the reason GPT-2 draws N(0, 0.02²) and the original
    Transformer multiplies by √d only where it wants that. ``normal`` and ``default`` keep
    torch's N(0, 1)."""
    d = module.weight.shape[1]
    scheme = ctx.scheme.name
    if scheme == "zeros":
        fill, rule = (lambda t, g: init.zeros_(t)), "zeros"
    elif scheme in ("normal", "default"):
        fill, rule = (lambda t, g: init.normal_(t, 0.0, 1.0, g)), "N(0, 1) (torch)"
    elif scheme.endswith("uniform"):
        fill, rule = uniform_fill(math.sqrt(3.0 / d)), "U(±√(3/d))"
    else:
        fill, rule = (lambda t, g: init.normal_(t, 0.0, 1.0 / math.sqrt(d), g)), "N(0, 1/d)"
    padding = getattr(module, "padding_idx", None)
    if padding is not None:
        inner = fill

        def fill(t: torch.Tensor, g: torch.Generator | None) -> None:
            inner(t, g)
            t[padding].zero_()

        rule += f", row {padding} (padding) 0"
    return [Block(name, "weight", rule, fill, fan_in=1.0, fan_out=float(d))]


# ---------------------------------------------------------------- recurrent layers
_GATES: dict[type, tuple[tuple[str, str], ...]] = {  # (gate, its activation) in torch's row order
    nn.LSTM: (("input", "sigmoid"), ("forget", "sigmoid"), ("cell", "tanh"), ("output", "sigmoid")),
    nn.LSTMCell: (("input", "sigmoid"), ("forget", "sigmoid"), ("cell", "tanh"), ("output", "sigmoid")),
    nn.GRU: (("reset", "sigmoid"), ("update", "sigmoid"), ("new", "tanh")),
    nn.GRUCell: (("reset", "sigmoid"), ("update", "sigmoid"), ("new", "tanh")),
}
_RECURRENT_NAME = re.compile(r"^(weight|bias)_(ih|hh|hr)(?:_l(\d+))?(_reverse)?$")


def _gates(module: nn.Module) -> tuple[tuple[str, str], ...]:
    for kind, gates in _GATES.items():
        if isinstance(module, kind):
            return gates
    return (("", module.nonlinearity),)  # RNN, RNNCell: one block, its own nonlinearity


def recurrent_rule(name: str, module: nn.Module, ctx: RuleContext) -> list[Block]:
    """RNN, LSTM, GRU and their cells, every layer and direction: per-gate blocks."""
    hidden = module.hidden_size
    gates = _gates(module)
    proj = getattr(module, "proj_size", 0) or 0
    torch_bound = 1.0 / math.sqrt(hidden)  # reset_parameters: U(±1/√hidden) for everything
    blocks: list[Block] = []
    for parameter, tensor in module.named_parameters(recurse=False):
        match = _RECURRENT_NAME.match(parameter)
        if match is None:
            continue  # not a recurrent parameter: left to the warning
        kind, which = match.group(1), match.group(2)
        if ctx.scheme.name == "default" and not (kind == "bias" and ctx.bias != "default"):
            blocks.append(Block(name, parameter, f"U(±{torch_bound:.3g}) (torch)", uniform_fill(torch_bound)))
            continue
        if which == "hr":  # the LSTM's projection (proj, hidden): a linear layer
            blocks.append(weight_block(ctx, name, parameter, hidden, proj, 1.0))
            continue
        for index, (gate, activation) in enumerate(gates):
            rows = slice(index * hidden, (index + 1) * hidden)
            label = f"{gate} gate" if gate else ""
            if kind == "bias":
                if gate == "forget" and ctx.forget_bias is not None and ctx.bias != "keep":  # keep: bias_blocks keeps
                    value = ctx.forget_bias if which == "ih" else 0.0  # b_ih + b_hh = forget_bias
                    blocks.append(constant_block(name, parameter, value, f"forget bias {value:g}", rows, label))
                else:
                    blocks += bias_blocks(ctx, name, parameter, torch_bound, rows, label)
                continue
            gain = ctx.gains_fixed if ctx.gains_fixed is not None else init.calculate_gain(activation)
            if which == "hh" and ctx.recurrent == "orthogonal":
                blocks.append(Block(name, parameter, "orthogonal", lambda t, g: init.orthogonal_(t, 1.0, g), rows=rows,
                                    label=label, fan_in=float(tensor.shape[1]), fan_out=float(hidden), gain=1.0,
                                    shape_std=orthogonal_std(1.0)))
            else:
                blocks.append(weight_block(ctx, name, parameter, tensor.shape[1], hidden, gain, rows=rows, label=label))
    return blocks


# ---------------------------------------------------------------- attention
def _xavier_bound(weight: torch.Tensor) -> float:
    """torch's xavier_uniform_ bound for ``weight``, sqrt(3)·sqrt(2/(fan_in + fan_out)) as torch
    computes it, fixed now (not read off the tensor a fill is given)."""
    fan_in, fan_out = init.fans(weight)
    return math.sqrt(3.0) * math.sqrt(2.0 / float(fan_in + fan_out))


def attention_rule(name: str, module: nn.Module, ctx: RuleContext) -> list[Block]:
    """MultiheadAttention: q, k and v as three E×E (E×kdim, E×vdim) layers."""
    e = module.embed_dim
    blocks: list[Block] = []
    if module.in_proj_weight is not None:
        if ctx.scheme.name == "default":  # torch: xavier_uniform_ over the packed (3E, E) matrix
            blocks.append(Block(name, "in_proj_weight", "xavier_uniform over 3E×E (torch)",
                                uniform_fill(_xavier_bound(module.in_proj_weight))))
        else:
            for index, label in enumerate("qkv"):
                blocks.append(weight_block(ctx, name, "in_proj_weight", e, e, 1.0,
                                           rows=slice(index * e, (index + 1) * e), label=label))
    else:
        for label, size in (("q", e), ("k", module.kdim), ("v", module.vdim)):
            parameter = f"{label}_proj_weight"
            if ctx.scheme.name == "default":
                blocks.append(Block(name, parameter, "xavier_uniform (torch)",
                                    uniform_fill(_xavier_bound(getattr(module, parameter)))))
            else:
                blocks.append(weight_block(ctx, name, parameter, size, e, 1.0, label=label))
    if module.in_proj_bias is not None:
        blocks += [constant_block(name, "in_proj_bias", 0.0, "zeros")] if ctx.bias == "default" else \
            bias_blocks(ctx, name, "in_proj_bias", 0.0)
    for parameter in ("bias_k", "bias_v"):
        if getattr(module, parameter) is not None:
            if ctx.scheme.name == "default":  # torch: xavier_normal_ on (1, 1, E), std 1/√E
                blocks.append(Block(name, parameter, "N(0, 1/E) (torch)",
                                    lambda t, g: init.normal_(t, 0.0, 1.0 / math.sqrt(e), g)))
            else:
                blocks.append(weight_block(ctx, name, parameter, e, e, 1.0))
    return blocks


# ---------------------------------------------------------------- norms, PReLU
NORMS: tuple[type[nn.Module], ...] = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm,
                                      *((nn.RMSNorm,) if hasattr(nn, "RMSNorm") else ()))


def norm_rule(name: str, module: nn.Module, ctx: RuleContext) -> list[Block]:
    """Norms: scale 1, shift 0, the identity they start as."""
    blocks = []
    if getattr(module, "weight", None) is not None:
        blocks.append(constant_block(name, "weight", 1.0, "ones"))
    if getattr(module, "bias", None) is not None:
        blocks.append(kept_block(name, "bias") if ctx.bias == "keep" else constant_block(name, "bias", 0.0, "zeros"))
    return blocks


def prelu_rule(name: str, module: nn.Module, ctx: RuleContext) -> list[Block]:
    """PReLU: slope 0.25 (He et al. 2015)."""
    return [constant_block(name, "weight", 0.25)]


# ---------------------------------------------------------------- the registry
RULES: dict[type[nn.Module], Rule] = {
    nn.Linear: linear_rule,
    nn.Conv1d: linear_rule, nn.Conv2d: linear_rule, nn.Conv3d: linear_rule,
    nn.ConvTranspose1d: linear_rule, nn.ConvTranspose2d: linear_rule, nn.ConvTranspose3d: linear_rule,
    nn.Bilinear: bilinear_rule,
    nn.Embedding: embedding_rule, nn.EmbeddingBag: embedding_rule,
    nn.RNN: recurrent_rule, nn.LSTM: recurrent_rule, nn.GRU: recurrent_rule,
    nn.RNNCell: recurrent_rule, nn.LSTMCell: recurrent_rule, nn.GRUCell: recurrent_rule,
    nn.MultiheadAttention: attention_rule,
    nn.PReLU: prelu_rule,
    **{norm: norm_rule for norm in NORMS},
}
_USER_RULES: dict[type[nn.Module], Rule] = {}


def register_rule(module_type: type[nn.Module], rule: Rule) -> Rule:
    """Initialize modules of ``module_type`` (and its subclasses) with ``rule(name, module,
    context) -> list[Block]`` from now on, before any built-in rule. Returns ``rule``.

    Examples:
        >>> def scale_rule(name, module, ctx):  # doctest: +SKIP
        ...     return [Block(name, "scale", "ones", lambda t, g: t.fill_(1.0))]
        >>> register_rule(MyScale, scale_rule)  # doctest: +SKIP
    """
    if not (isinstance(module_type, type) and issubclass(module_type, nn.Module)):
        raise TypeError(f"module_type must be a subclass of torch.nn.Module, got {module_type!r}")
    if not callable(rule):
        raise TypeError(f"rule must be callable, got {type(rule).__name__}")
    _USER_RULES[module_type] = rule
    return rule


def rule_for(module: nn.Module) -> Rule | None:
    """The rule for ``module``: a registered one first, then the built-in one of its exact
    type, then of its nearest base class; None if none applies."""
    for table in (_USER_RULES, RULES):
        for kind in type(module).__mro__:
            if kind in table:
                return table[kind]
    return None
