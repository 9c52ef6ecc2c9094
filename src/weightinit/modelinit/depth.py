"""The depth of a model, read off its structure: its stack of repeated blocks, and the residual
branches inside each block, found without a list of names.

Depth-aware recipes (GPT-2's and Megatron's scaled output layers, GPT-NeoX's ``wang_init``,
Fixup, torchtitan's per-layer std) need to know which layers end a residual branch (their
output is added to the residual stream) and how deep the stack is. Libraries name those layers
differently (``c_proj`` in GPT-2, ``o_proj``/``down_proj`` in Llama, ``attention.output.dense``
and ``output.dense`` in BERT, ``o``/``wo`` in T5, ``proj``/``fc2`` in timm's ViT), so they are
found by structure:

- **the stack**: an ``nn.ModuleList`` whose items are all of one class and each hold at least
  two linear layers (``nn.Linear``, or a transposed one such as transformers' ``Conv1D``); a
  model may have several (T5's encoder and decoder);
- **the width** ``d`` of a block: the input width of its first linear layer (the residual
  stream feeds q/k/v first);
- **the branches** of a block: for each part of it (its direct children, and the items of a
  list among them, as T5 keeps its sub-layers in one), the linear layers inside that part, in
  order; the part is a residual branch if its last linear layer maps back to width ``d``. The
  branch ends at that layer.

``nn.TransformerEncoderLayer`` and ``nn.TransformerDecoderLayer`` keep their exact branches
(:func:`weightinit.modelinit.residual.find_branches`).
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from .structure import linear_shape

__all__ = ["Branch", "linear_io", "stacks", "residual_branches"]


@dataclass(frozen=True)
class Branch:
    """A residual branch: its linear layers' qualified names in order (the last one ends it),
    the index of its block in its stack, the stack's length and the residual stream's width."""

    layers: tuple[str, ...]
    block: int
    depth: int
    width: int

    @property
    def end(self) -> str:
        return self.layers[-1]


def linear_io(module: nn.Module) -> tuple[int, int] | None:
    """``(in, out)`` of a linear layer (``nn.Linear`` or a transposed one), None otherwise."""
    if isinstance(module, nn.Linear):
        return module.in_features, module.out_features
    return linear_shape(module)


def _linears(module: nn.Module, prefix: str) -> list[tuple[str, tuple[int, int]]]:
    found = []
    for name, sub in module.named_modules(prefix=prefix):
        io = linear_io(sub)
        if io is not None:
            found.append((name, io))
    return found


def stacks(model: nn.Module) -> list[tuple[str, list[nn.Module]]]:
    """``(name, blocks)`` of every stack of repeated blocks in ``model`` (module docstring)."""
    found = []
    for name, module in model.named_modules():
        if not isinstance(module, nn.ModuleList) or len(module) == 0:
            continue
        items = list(module)
        if len({type(item) for item in items}) == 1 and all(len(_linears(item, "")) >= 2 for item in items):
            found.append((name, items))
    return found


def _parts(block: nn.Module, prefix: str) -> list[tuple[str, nn.Module]]:
    parts = []
    for name, child in block.named_children():
        if isinstance(child, (nn.ModuleList, nn.Sequential)) and linear_io(child) is None:
            parts += [(f"{prefix}{name}.{inner}", item) for inner, item in child.named_children()]
        else:
            parts.append((f"{prefix}{name}", child))
    return parts


def residual_branches(model: nn.Module) -> list[Branch]:
    """The residual branches of every block of every stack in ``model`` (module docstring), in
    model order; [] for a model without a stack (an MLP)."""
    branches = []
    for stack_name, blocks in stacks(model):
        for index, block in enumerate(blocks):
            prefix = f"{stack_name}.{index}." if stack_name else f"{index}."
            linears = _linears(block, prefix.rstrip("."))
            width = linears[0][1][0]
            for part_name, part in _parts(block, prefix):
                inside = _linears(part, part_name)
                if inside and inside[-1][1][1] == width:
                    branches.append(Branch(tuple(n for n, _ in inside), index, len(blocks), width))
    return branches
