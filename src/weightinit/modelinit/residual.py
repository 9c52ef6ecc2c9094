"""Depth-aware initialization of residual networks, ``init_model(..., residual=Residual(...))``.

A residual network adds each branch's output to a running sum: with L branches whose outputs
have unit variance, the sum's variance grows like L, and so do the gradients. Three remedies,
each applied to the branches you name (or, for ``nn.TransformerEncoderLayer`` and
``nn.TransformerDecoderLayer``, to those found automatically: the attention block ending in
``self_attn.out_proj`` / ``multihead_attn.out_proj`` and the feed-forward block
``linear1 -> linear2``):

================  ================================================================================
kind              what it does
================  ================================================================================
``"gpt2"``        the last layer of every branch is initialized as the scheme says, then scaled by
                  1/√L (L branches; GPT-2, Radford et al. 2019, and nanoGPT draw std 0.02/√(2·n_layer),
                  two branches per block)
``"zero"``        the last module of every branch starts at 0: a norm's scale γ (Goyal et al. 2017, the
                  last BatchNorm of each ResNet block) or a layer's weight and bias (SkipInit / ReZero
                  in spirit, De & Smith 2020): every block starts as the identity
``"fixup"``       Fixup (Zhang, Dauphin & Ma 2019) for networks without normalization: the last layer
                  of every branch starts at 0, the branch's other weight layers are scaled by
                  L^(-1/(2m-2)) (m layers in the branch). Fixup's scalar multipliers and biases are
                  architecture, not initialization: add them to the model yourself
================  ================================================================================

A branch is given as the list of its modules' qualified names, in forward order:
``Residual("zero", branches=[["layer1.0.bn2"], ["layer1.1.bn2"]])``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from .._checks import check_choice
from ..errors import UserError
from .depth import residual_branches
from .rules import Block, Fill

__all__ = ["RESIDUAL_KINDS", "Residual", "find_branches", "branch_factors", "apply_residual"]

RESIDUAL_KINDS = ("gpt2", "zero", "fixup")


@dataclass(frozen=True)
class Residual:
    """Which depth-aware rule to apply, and to which branches (None: find them)."""

    kind: str
    branches: Sequence[Sequence[str]] | None = None

    def __post_init__(self) -> None:
        check_choice("residual kind", self.kind, RESIDUAL_KINDS)
        if self.branches is not None and not _names_of_branches(self.branches):
            raise UserError("residual branches must be a list of non-empty lists of module names, "
                            f"got {self.branches!r}")


def _names_of_branches(branches) -> bool:
    return not isinstance(branches, str) and all(
        not isinstance(b, str) and len(b) > 0 and all(isinstance(n, str) for n in b) for b in branches)


def find_branches(model: nn.Module) -> list[list[str]]:
    """The residual branches in ``model``, each as its layers' names: those of torch's Transformer
    layers, else those found by structure in any stack of blocks
    (:func:`weightinit.modelinit.depth.residual_branches`: GPT-2, Llama, BERT, T5, ViT, ...)."""
    branches = []
    for name, module in model.named_modules():
        prefix = f"{name}." if name else ""
        if isinstance(module, (nn.TransformerEncoderLayer, nn.TransformerDecoderLayer)):
            branches.append([f"{prefix}self_attn", f"{prefix}self_attn.out_proj"])
            if isinstance(module, nn.TransformerDecoderLayer):
                branches.append([f"{prefix}multihead_attn", f"{prefix}multihead_attn.out_proj"])
            branches.append([f"{prefix}linear1", f"{prefix}linear2"])
    return branches or [list(branch.layers) for branch in residual_branches(model)]


def branch_factors(model: nn.Module, residual: Residual) -> dict[str, tuple[str, float]]:
    """For each module a residual rule touches: ("scale", factor) or ("zero", 0.0)."""
    branches = [list(b) for b in residual.branches] if residual.branches is not None else find_branches(model)
    if not branches:
        raise UserError(f"residual={residual.kind!r}: no residual branches found in {type(model).__name__}; "
                        "name them: Residual(kind, branches=[[module names of branch 1], ...])")
    modules = dict(model.named_modules())
    missing = sorted({n for b in branches for n in b if n not in modules})
    if missing:
        raise UserError(f"residual branches name modules the model does not have: {missing}")
    count = len(branches)
    factors: dict[str, tuple[str, float]] = {}
    for branch in branches:
        last = branch[-1]
        if residual.kind == "gpt2":
            factors[last] = ("scale", 1.0 / math.sqrt(count))
        else:
            factors[last] = ("zero", 0.0)
        if residual.kind == "fixup" and len(branch) > 1:
            scale = count ** (-1.0 / (2 * len(branch) - 2))
            for inner in branch[:-1]:
                factors[inner] = ("scale", scale)
    return factors


def _then_zero(fill: Fill) -> Fill:
    """``fill``, then zero the tensor: the draws are made, so every other parameter gets the same ones."""
    def zeroed(t: torch.Tensor, g: torch.Generator | None) -> None:
        fill(t, g)
        t.zero_()
    return zeroed


def _then_scale(fill: Fill, factor: float) -> Fill:
    """``fill``, then multiply the tensor by ``factor``."""
    def scaled(t: torch.Tensor, g: torch.Generator | None) -> None:
        fill(t, g)
        t.mul_(factor)
    return scaled


def apply_residual(blocks: list[Block], factors: dict[str, tuple[str, float]]) -> None:
    """Scale or zero the weights (and a zeroed layer's bias) of the modules residual rules touch."""
    for block in blocks:
        if block.module not in factors or block.parameter not in ("weight", "bias", "in_proj_weight", "in_proj_bias"):
            continue
        action, factor = factors[block.module]
        if action == "zero":  # drawn, then zeroed: every other parameter gets the draws it gets without
            block.fill = _then_zero(block.fill)
            block.rule = f"zeros (residual branch end; was {block.rule})"
        elif block.parameter in ("weight", "in_proj_weight"):
            block.fill = _then_scale(block.fill, factor)
            block.rule = f"{block.rule} x {factor:.3g} (residual)"
