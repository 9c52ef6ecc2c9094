r"""The field's recipes for transformers, as schemes: each weight gets a draw by its role in the
model (an embedding; q, k or v; the attention output; an MLP layer; the last layer of a residual
branch), read off the model's structure by :func:`weightinit.modelinit.depth.layer_roles`, with
the depth L of its stack, its block's index l, the residual stream's width d and its own fans.
Biases start at 0 and norms at 1 under every preset.

==============  ==================================================================  ====================================
preset          what each weight gets                                               source
==============  ==================================================================  ====================================
``gpt2``        N(0, 0.02²); residual-branch outputs N(0, (0.02/√(2L))²)            Radford et al. 2019 (GPT-2);
                                                                                    transformers' GPT-2 init
``megatron``    the same numbers: ``init_method_normal(0.02)``, and                 Shoeybi et al. 2019 (Megatron-LM)
                ``scaled_init_method_normal`` on attention and MLP outputs
``olmo2``       N(0, 0.02²) cut at ±3σ, every weight and embedding                  Team OLMo 2024 (OLMo 2)
``mitchell``    cut at ±3σ: N(0, 1/d) embeddings, N(0, 1/fan_in) weights, outputs   Groeneveld et al. 2024 (OLMo-1,
                N(0, 1/(2·fan_in·(l+1)))                                            ``InitFnType.mitchell``)
``torchtitan``  attention output, MLP down and up projections of block l                 torchtitan's Llama
                N(0, (0.02/√(2(l+1)))²); the rest N(0, 0.02²); token embeddings N(0, 1);  (``depth_init=True``)
                the head N(0, 1/d) cut at ±3σ
``small_init``  N(0, 2/(5d)), every weight and embedding                            Nguyen & Salazar 2019; GPT-NeoX
``wang_init``   small_init; residual-branch outputs N(0, (2/(L√d))²)                GPT-NeoX's default pair (Wang &
                                                                                    Komatsuzaki 2021, GPT-J)
``deepnet``     Xavier normal, gain β on v, attention output and MLP layers         Wang et al. 2022 (DeepNet), its
                (β = (8L)^-1/4; encoder-decoder: 0.87(N⁴M)^-1/16 and (12M)^-1/4)    algorithm as the paper states it
``mimetic``     attention: Wq Wkᵀ ≈ 0.7 Z + 0.7 I per head, Wv Wo ≈ 0.4 Z − 0.4 I;      Trockman & Kolter 2023
                every other weight N(0, 0.02²)                                      (:mod:`.mimetic`)
``t_fixup``     Xavier uniform, v, attention output and MLP layers × 0.67·N^-1/4    Huang et al. 2020 (T-Fixup),
                (decoder: (9M)^-1/4); embeddings N(0, 1/d) × (9N)^-1/4              its algorithm as the paper states it
==============  ==================================================================  ====================================

In an encoder-decoder, N and M are the encoder's and the decoder's number of blocks; a single
stack (GPT, BERT, ViT) counts as an encoder for T-Fixup (its blocks have the encoder's two
branches) and uses N = M = L for DeepNet. DeepNet's α (the residual multiplier of
x + α·f(x) before the norm) and T-Fixup's removal of every norm and of the learning-rate
warm-up change the model and its training, not its initialization: they are yours to make.
In a model without a stack of blocks (an MLP) nothing has a role but "weight", and d is each
layer's fan-in. ``gpt2`` on transformers' GPT-2 reproduces the model's own ``_init_weights``
(tests/modelinit/test_presets.py checks it parameter by parameter); the others are checked
against their papers' formulas, whose reference code (Megatron-LM, OLMo, GPT-NeoX, torchscale,
the T-Fixup repository) is not installable here.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from .. import init
from .depth import MLP_IN, LayerRole, layer_roles, linear_io
from .mimetic import apply_mimetic
from .rules import Block, Fill
from .schemes import Scheme, register_scheme

__all__ = ["Draw", "Role", "Preset", "PRESETS", "apply_preset", "register_preset"]

GPT2_STD = 0.02  # GPT-2's, Megatron's and OLMo 2's std (transformers' initializer_range)
OUTPUTS = ("attn_out", "mlp_out")  # the layers that end a residual branch
BRANCH = ("v", "attn_out", *MLP_IN, "mlp_out")  # the layers DeepNet and T-Fixup scale


@dataclass(frozen=True)
class Draw:
    """N(0, std²), cut at ±``cut``·std when ``cut`` is given (std: the normal's before the
    cut), or with ``uniform`` U(±√3·std), which has that std."""

    std: float
    cut: float | None = None
    uniform: bool = False

    def fill(self) -> Fill:
        """The fill of a block: ``(tensor, generator) -> None``."""
        std, cut = self.std, self.cut
        if std == 0:
            return lambda t, g: init.zeros_(t)
        if self.uniform:
            return lambda t, g: init.uniform_(t, -math.sqrt(3.0) * std, math.sqrt(3.0) * std, g)
        if cut is None:
            return lambda t, g: init.normal_(t, 0.0, std, g)
        return lambda t, g: init.trunc_normal_(t, 0.0, std, -cut * std, cut * std, g)

    def text(self) -> str:
        """The draw in words, for the plan's rule column."""
        if self.std == 0:
            return "zeros"
        if self.uniform:
            return f"U(±{math.sqrt(3.0) * self.std:.3g})"
        return f"N(0, {self.std:.3g}²)" + ("" if self.cut is None else f" cut at ±{self.cut:g}σ")


@dataclass(frozen=True)
class Role:
    """A weight block's role: ``kind`` ("embedding"; "position" and "token" for learned vectors of
    n > 1 and of 1 rows; "patch", a convolution outside the stacks; "head", the last linear layer
    outside them, when it does not map to the stream's width; "weight"; or a
    :class:`~weightinit.modelinit.depth.LayerRole` kind), its place in a stack (``layer``,
    None outside one), the residual stream's width ``d`` (outside a stack: the fan-in, or an
    embedding's dimension), the block's fans, and the depth of the model's (encoder) stack."""

    kind: str
    layer: LayerRole | None
    d: int
    fan_in: float
    fan_out: float
    model_depth: int = 1  # outside a stack: the blocks of the model's (encoder) stack, 1 without one
    packed: bool = False  # a q, k or v block of a packed projection (its matrix has 3 x fan_out rows)

    @property
    def is_embedding(self) -> bool:
        """A lookup table or learned vectors: a token embedding, positions, a class token."""
        return self.kind in ("embedding", "position", "token")

    @property
    def depth(self) -> int:
        """L: the blocks of this layer's stack (outside a stack, :attr:`model_depth`)."""
        return self.model_depth if self.layer is None else self.layer.depth

    def xavier(self, gain: float = 1.0) -> float:
        """Glorot & Bengio's std, gain·√(2/(fan_in + fan_out))."""
        return gain * math.sqrt(2.0 / (self.fan_in + self.fan_out))


@dataclass(frozen=True)
class Preset:
    """A recipe: the :class:`Draw` each :class:`Role` gets."""

    name: str
    formula: str
    draw: Callable[[Role], Draw]
    joint: Callable[..., None] | None = None  # redraws blocks together (mimetic's q with k, v with the output)
    bias: Callable[[Role], Draw | float | None] | None = None  # a bias's draw or value by its layer's role (None: 0)


def _gpt2(role: Role) -> Draw:
    return Draw(GPT2_STD / math.sqrt(2 * role.depth) if role.kind in OUTPUTS else GPT2_STD)


def _mitchell(role: Role) -> Draw:
    if role.is_embedding:
        return Draw(1.0 / math.sqrt(role.d), 3.0)
    block = 0 if role.layer is None else role.layer.block
    if role.kind in OUTPUTS:
        return Draw(1.0 / math.sqrt(2.0 * role.fan_in * (block + 1)), 3.0)
    return Draw(1.0 / math.sqrt(role.fan_in), 3.0)


def _small_init(role: Role) -> Draw:
    return Draw(math.sqrt(2.0 / (5.0 * role.d)))


def _wang_init(role: Role) -> Draw:
    return Draw(2.0 / (role.depth * math.sqrt(role.d))) if role.kind in OUTPUTS else _small_init(role)


def _deepnet_beta(layer: LayerRole) -> float:
    if layer.stack == "encoder":
        return 0.87 * (layer.encoder_depth ** 4 * layer.decoder_depth) ** (-1 / 16)
    if layer.stack == "decoder":
        return (12 * layer.depth) ** -0.25
    return (8 * layer.depth) ** -0.25


def _deepnet(role: Role) -> Draw:
    if role.is_embedding:
        return Draw(1.0 / math.sqrt(role.d))
    gain = _deepnet_beta(role.layer) if role.layer is not None and role.kind in BRANCH else 1.0
    return Draw(role.xavier(gain))


def _t_fixup(role: Role) -> Draw:
    layer = role.layer
    if role.is_embedding:
        return Draw((9 * role.depth) ** -0.25 / math.sqrt(role.d))
    scale = 1.0
    if layer is not None and role.kind in BRANCH:
        scale = (9 * layer.depth) ** -0.25 if layer.stack == "decoder" else 0.67 * layer.depth ** -0.25
    return Draw(scale * role.xavier(), uniform=True)


def _torchtitan(role: Role) -> Draw:
    if role.kind == "embedding":
        return Draw(1.0)
    if role.kind == "head":
        return Draw(role.d ** -0.5, 3.0)
    if role.kind in ("attn_out", "mlp_out", "mlp_up"):
        return Draw(GPT2_STD / math.sqrt(2 * ((0 if role.layer is None else role.layer.block) + 1)))
    return Draw(GPT2_STD)


PRESETS: dict[str, Preset] = {p.name: p for p in (
    Preset("gpt2", "N(0, 0.02²); residual-branch outputs N(0, (0.02/√(2L))²), L blocks: GPT-2 (Radford et al. 2019)",
           _gpt2),
    Preset("megatron", "N(0, 0.02²); attention and MLP output layers N(0, (0.02/√(2L))²): Megatron-LM "
           "(Shoeybi et al. 2019)", _gpt2),
    Preset("olmo2", "N(0, 0.02²) cut at ±3σ for every weight and embedding: OLMo 2 (Team OLMo 2024)",
           lambda role: Draw(GPT2_STD, 3.0)),
    Preset("mitchell", "cut at ±3σ: N(0, 1/d) embeddings, N(0, 1/fan_in) weights, residual-branch outputs "
           "N(0, 1/(2·fan_in·(l+1))): OLMo-1 (Groeneveld et al. 2024)", _mitchell),
    Preset("torchtitan", "depth init: the attention output, the MLP's down and up projections of block l "
           "N(0, (0.02/√(2(l+1)))²), the rest N(0, 0.02²), token embeddings N(0, 1), head N(0, 1/d) cut at ±3σ: "
           "torchtitan's Llama", _torchtitan),
    Preset("small_init", "N(0, 2/(5d)), d the model width, every weight and embedding: Nguyen & Salazar 2019 "
           "(GPT-NeoX small_init)", _small_init),
    Preset("wang_init", "small_init; residual-branch outputs N(0, (2/(L√d))²): GPT-NeoX's default pair "
           "(wang_init: Wang & Komatsuzaki 2021)", _wang_init),
    Preset("deepnet", "Xavier normal, gain β = (8L)^-1/4 on v, attention output and MLP layers (encoder-decoder: "
           "0.87(N⁴M)^-1/16, (12M)^-1/4): DeepNet (Wang et al. 2022)", _deepnet),
    Preset("mimetic", "attention: Wq Wkᵀ ≈ 0.7 Z + 0.7 I per head, Wv Wo ≈ 0.4 Z - 0.4 I (Z ~ N(0, 1/d)); the "
           "rest N(0, 0.02²): mimetic init (Trockman & Kolter 2023)", lambda role: Draw(GPT2_STD), apply_mimetic),
    Preset("t_fixup", "Xavier uniform, v, attention output and MLP layers x 0.67·N^-1/4 (decoder (9M)^-1/4), "
           "embeddings N(0, 1/d) x (9N)^-1/4: T-Fixup (Huang et al. 2020)", _t_fixup),
)}


_CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d)


def _role(block: Block, module: nn.Module, roles: dict[str, LayerRole], width: int | None, depth: int,
          head: str | None) -> Role | None:
    """The role of a weight block; None for a block the preset leaves to its rule (a bias, a
    norm, a constant)."""
    if block.fan_in is None or "bias" in block.parameter:
        return None
    fan_in, fan_out = float(block.fan_in), float(block.fan_out)
    if "learned vectors" in block.rule:
        rows = getattr(module, block.parameter).shape[-2]
        return Role("token" if rows == 1 else "position", None, width or int(fan_out), fan_in, fan_out, depth)
    if isinstance(module, nn.Embedding):
        return Role("embedding", None, width or int(fan_out), fan_in, fan_out, depth)
    layer = roles.get(block.module)
    if layer is None:
        kind = "patch" if isinstance(module, _CONV) else "head" if block.module == head else "weight"
        return Role(kind, None, width or max(1, int(fan_in)), fan_in, fan_out, depth)
    packed = layer.kind == "qkv" and block.label in ("q", "k", "v")
    kind = block.label if packed else layer.kind
    return Role(kind, layer, layer.width, fan_in, fan_out, depth, packed=packed)


def _head(model: nn.Module, roles: dict[str, LayerRole], width: int | None) -> str | None:
    """The last linear layer outside the stacks, if it does not map back to the stream's width
    (a classifier or a language model's head; a pooler maps d to d)."""
    last = None
    for name, module in model.named_modules():
        io = linear_io(module)
        if io is not None and name not in roles and not any(name.startswith(f"{r}.") for r in roles):
            last = (name, io)
    return last[0] if last is not None and last[1][1] != width else None


def apply_preset(preset: Preset, blocks: list[Block], model: nn.Module, modules: dict[str, nn.Module]) -> None:
    """Give every weight and embedding block of ``model`` the preset's draw for its role, and
    every bias the rules left at 0 the preset's bias, if it has one."""
    roles = layer_roles(model)
    first = next(iter(roles.values()), None)
    width = None if first is None else first.width
    depth = 1 if first is None else first.encoder_depth or first.depth
    head = _head(model, roles, width)
    kinds, of_module = {}, {}
    for block in blocks:
        role = _role(block, modules[block.module], roles, width, depth, head)
        if role is None:
            continue
        kinds[id(block)] = role.kind
        of_module.setdefault(block.module, role)
        draw = preset.draw(role)
        where = role.kind if role.layer is None else f"{role.kind}, block {role.layer.block} of {role.layer.depth}"
        fill, rule = draw.fill(), f"{draw.text()} ({where})"
        padding = getattr(modules[block.module], "padding_idx", None) if role.kind == "embedding" else None
        if padding is not None:
            fill, rule = _padding_zeroed(fill, padding), f"{rule}, row {padding} (padding) 0"
        block.fill, block.rule, block.gain, block.gain_guessed = fill, rule, None, False
    if preset.bias is not None:
        for block in blocks:
            role = of_module.get(block.module)
            if "bias" not in block.parameter or block.rule != "zeros" or role is None:
                continue
            value = preset.bias(role)
            if isinstance(value, Draw):
                block.fill, block.rule = value.fill(), f"{value.text()} ({role.kind} bias)"
            elif value is not None:
                block.fill, block.rule = (lambda t, g, v=value: init.constant_(t, v)), f"{value:.4g} ({role.kind} bias)"
    if preset.joint is not None:
        preset.joint(blocks, kinds, lambda block: _view(block, modules), modules)


def _padding_zeroed(fill: Fill, row: int) -> Fill:
    """``fill``, then the padding row of an embedding table set to 0, as the rules and torch do."""
    def zeroed(t: torch.Tensor, g: torch.Generator | None) -> None:
        fill(t, g)
        t[row].zero_()
    return zeroed


def _view(block: Block, modules: dict[str, nn.Module]) -> torch.Tensor:
    """The part of its parameter a block fills."""
    tensor = getattr(modules[block.module], block.parameter)
    tensor = tensor if block.rows is None else tensor[block.rows]
    return tensor if block.cols is None else tensor[:, block.cols]


def _base(preset: Preset) -> Callable[..., None]:
    """The per-layer draw the rules use before :func:`apply_preset` gives each block its role
    (the role "weight", d = the layer's fan-in): what a block the preset does not reach gets."""
    def fill(w: torch.Tensor, fan_in: float, fan_out: float, gain: float, g: torch.Generator | None) -> None:
        preset.draw(Role("weight", None, max(1, int(fan_in)), fan_in, fan_out)).fill()(w, g)
    return fill


def register_preset(preset: Preset) -> Scheme:
    """Add ``preset`` to :data:`~weightinit.modelinit.schemes.SCHEMES` as a scheme of its name."""
    return register_scheme(Scheme(preset.name, preset.formula, _base(preset), uses_gain=False, auto_gain=False,
                                  preset=preset))


for _preset in PRESETS.values():
    register_preset(_preset)

