"""The base model of a parametrization, and how this model's parameters stand against it.

The base is declared, never trained: a model of the base width (and depth), best built on the
meta device, where it costs no memory and no random draws
(``with torch.device("meta"): base = GPT(vocab, width=64)``), or a function that builds one
(called here under the meta device). Only its parameters' names and shapes, and the rules
:func:`weightinit.modelinit.plan_init` gives them, are read.

Names are matched after the stacks of blocks (:func:`weightinit.modelinit.depth.stacks`) are
lined up: with a base of ``L_b`` blocks and a model of ``L``, block ``l`` of the model stands
against block ``l·L_b // L`` of the base (the block at the same relative depth).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from ..errors import UserError
from ..modelinit.depth import stacks

__all__ = ["build_base", "StackMap"]


def build_base(base: nn.Module | Callable[[], nn.Module] | None) -> nn.Module:
    """``base`` as a module: a module as it is; a function called under the meta device."""
    if isinstance(base, nn.Module):
        return base
    if callable(base):
        with torch.device("meta"):
            built = base()
        if not isinstance(built, nn.Module):
            raise UserError(f"base must build a torch.nn.Module, got {type(built).__name__}")
        return built
    raise UserError("base must be the base model (an nn.Module, best built on the meta device) or a function "
                    f"that builds it, got {type(base).__name__}; muP needs the base widths")


class StackMap:
    """The stacks of ``model`` lined up with those of ``base``: :meth:`base_name` maps a qualified
    name of the model to the base's, :meth:`depth_ratio` gives ``L / L_b`` of the stack a name is in."""

    def __init__(self, model: nn.Module, base: nn.Module) -> None:
        ours, theirs = stacks(model), stacks(base)
        if [name for name, _ in ours] != [name for name, _ in theirs]:
            raise UserError(f"the model's stacks of blocks {[n for n, _ in ours]} are not the base's "
                            f"{[n for n, _ in theirs]}: the base must be the same architecture at another size")
        self.depths = {name: (len(blocks), len(other)) for (name, blocks), (_, other) in zip(ours, theirs)}

    def _split(self, name: str) -> tuple[str, int, str] | None:
        """``(stack, index, rest)`` of a name inside a block of a stack, else None."""
        for stack in self.depths:
            prefix = f"{stack}." if stack else ""
            if name.startswith(prefix):
                head, _, rest = name[len(prefix):].partition(".")
                if head.isdigit():
                    return stack, int(head), rest
        return None

    def base_name(self, name: str) -> str:
        """The base's name of the module or parameter ``name`` of the model."""
        split = self._split(name)
        if split is None:
            return name
        stack, index, rest = split
        ours, theirs = self.depths[stack]
        prefix = f"{stack}." if stack else ""
        return f"{prefix}{index * theirs // ours}" + (f".{rest}" if rest else "")

    def block_name(self, name: str) -> str | None:
        """The qualified name of the block (``stack.index``) that ``name`` is inside; None outside every stack."""
        split = self._split(name)
        if split is None:
            return None
        stack, index, _ = split
        return f"{stack}.{index}" if stack else str(index)

    def depth_ratio(self, name: str) -> float | None:
        """``L / L_b`` of the stack ``name`` is inside a block of; None outside every stack."""
        split = self._split(name)
        if split is None:
            return None
        ours, theirs = self.depths[split[0]]
        return ours / theirs
