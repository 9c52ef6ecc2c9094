r"""The field's recipes for transformers, as schemes: a fixed std (or one of the model's
width) for every weight matrix and embedding, and another for the layers that end a residual
branch, which depth-aware recipes shrink so that the residual stream's variance does not grow
with depth. Biases start at 0 and norms at 1 under every preset.

===============  =====================================================  ======================================
preset           weights and embeddings; residual-branch outputs         source
===============  =====================================================  ======================================
``gpt2``         N(0, 0.02²); N(0, (0.02/√(2L))²)                        Radford et al. 2019 (GPT-2); transformers'
                                                                        ``GPT2PreTrainedModel._init_weights``
``megatron``     N(0, 0.02²); N(0, (0.02/√(2L))²)                        Shoeybi et al. 2019 (Megatron-LM):
                                                                        ``init_method_normal``,
                                                                        ``scaled_init_method_normal``
``olmo2``        N(0, 0.02²) cut at ±3σ, outputs alike                   OLMo 2 (Team OLMo 2024): every weight,
                                                                        embeddings included
``small_init``   N(0, 2/(5d)), outputs alike                             Nguyen & Salazar 2019 ("Transformers
                                                                        without Tears"); GPT-NeoX ``small_init``
``wang_init``    N(0, 2/(5d)); N(0, (2/(L√d))²)                          GPT-NeoX's default pair: ``small_init``,
                                                                        and ``wang_init`` (Wang & Komatsuzaki
                                                                        2021, GPT-J) on the output layers
===============  =====================================================  ======================================

L is the number of blocks in the stack a layer belongs to (GPT-2's ``n_layer``: two residual
branches per block, hence 2L), d the width of the residual stream; both are read off the model's
structure (:mod:`weightinit.modelinit.depth`), as are the residual-branch outputs (GPT-2's
``c_proj``, Llama's ``o_proj`` and ``down_proj``, BERT's ``output.dense``, T5's ``o`` and ``wo``).
In a model without a stack of blocks (an MLP) nothing is an output layer and d is each layer's
fan-in. ``gpt2`` and ``megatron`` give the same numbers: two names for the same recipe, each
with its source. ``gpt2`` on transformers' GPT-2 reproduces the model's own ``_init_weights``
(tests/modelinit/test_presets.py checks it parameter by parameter).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from .. import init
from .depth import Branch, residual_branches
from .rules import Block, Fill
from .schemes import Scheme, register_scheme

__all__ = ["Draw", "Preset", "PRESETS", "apply_preset"]

GPT2_STD = 0.02  # GPT-2's, Megatron's and OLMo 2's std (transformers' initializer_range)


@dataclass(frozen=True)
class Draw:
    """N(0, std²), cut at ±``cut``·std when ``cut`` is given (the std of the normal before the cut)."""

    std: float
    cut: float | None = None

    def fill(self) -> Fill:
        std, cut = self.std, self.cut
        if cut is None:
            return lambda t, g: init.normal_(t, 0.0, std, g)
        return lambda t, g: init.trunc_normal_(t, 0.0, std, -cut * std, cut * std, g)

    def text(self) -> str:
        return f"N(0, {self.std:.3g}²)" + ("" if self.cut is None else f" cut at ±{self.cut:g}σ")


@dataclass(frozen=True)
class Preset:
    """A recipe: ``weight(d)`` for every weight matrix and embedding of a model whose residual
    stream has width d, ``output(d, L)`` for a layer that ends a residual branch in a stack of L
    blocks."""

    name: str
    formula: str
    weight: Callable[[int], Draw]
    output: Callable[[int, int], Draw]


def _fixed(std: float, cut: float | None = None) -> Callable[..., Draw]:
    return lambda *_: Draw(std, cut)


def _small_init(d: int) -> Draw:
    return Draw(math.sqrt(2.0 / (5.0 * d)))


PRESETS: dict[str, Preset] = {p.name: p for p in (
    Preset("gpt2", "N(0, 0.02²); residual-branch outputs N(0, (0.02/√(2L))²), L blocks: GPT-2 (Radford et al. 2019)",
           _fixed(GPT2_STD), lambda d, depth: Draw(GPT2_STD / math.sqrt(2 * depth))),
    Preset("megatron", "N(0, 0.02²); attention and MLP output layers N(0, (0.02/√(2L))²): Megatron-LM "
           "(Shoeybi et al. 2019)", _fixed(GPT2_STD), lambda d, depth: Draw(GPT2_STD / math.sqrt(2 * depth))),
    Preset("olmo2", "N(0, 0.02²) cut at ±3σ for every weight and embedding: OLMo 2 (Team OLMo 2024)",
           _fixed(GPT2_STD, 3.0), _fixed(GPT2_STD, 3.0)),
    Preset("small_init", "N(0, 2/(5d)), d the model width, every weight and embedding: Nguyen & Salazar 2019 "
           "(GPT-NeoX small_init)", _small_init, lambda d, depth: _small_init(d)),
    Preset("wang_init", "small_init; residual-branch outputs N(0, (2/(L√d))²): GPT-NeoX's default pair "
           "(wang_init: Wang & Komatsuzaki 2021)", _small_init, lambda d, depth: Draw(2.0 / (depth * math.sqrt(d)))),
)}


def _role(block: Block, module: nn.Module, ends: dict[str, Branch]) -> str | None:
    """"embedding", "output" (a residual branch's last layer) or "weight"; None for a block the
    preset leaves to its rule (a bias, a norm, a constant)."""
    if block.fan_in is None or block.parameter in ("bias", "in_proj_bias") or "bias" in block.parameter:
        return None
    if isinstance(module, nn.Embedding) or "learned vectors" in block.rule:
        return "embedding"
    if block.module in ends:
        return "output"
    return "weight"


def apply_preset(preset: Preset, blocks: list[Block], model: nn.Module, modules: dict[str, nn.Module]) -> None:
    """Give every weight and embedding block of ``model`` the preset's draw (module docstring)."""
    branches = residual_branches(model)
    ends = {branch.end: branch for branch in branches}
    width = branches[0].width if branches else None
    for block in blocks:
        role = _role(block, modules[block.module], ends)
        if role is None:
            continue
        d = width if width is not None else int(block.fan_out if role == "embedding" else block.fan_in)
        if role == "output":
            branch = ends[block.module]
            draw, where = preset.output(branch.width, branch.depth), f"residual output, L={branch.depth}"
        else:
            draw, where = preset.weight(d), role
        block.fill, block.rule, block.gain, block.gain_guessed = draw.fill(), f"{draw.text()} ({where})", None, False


def _base(preset: Preset) -> Callable[..., None]:
    """The per-layer draw the rules use before :func:`apply_preset` gives each block its role
    (d = the layer's fan-in): what a block the preset does not reach gets."""
    def fill(w: torch.Tensor, fan_in: float, fan_out: float, gain: float, g: torch.Generator | None) -> None:
        preset.weight(max(1, int(fan_in))).fill()(w, g)
    return fill


for _preset in PRESETS.values():
    register_scheme(Scheme(_preset.name, _preset.formula, _base(_preset), uses_gain=False, auto_gain=False,
                           preset=_preset))
