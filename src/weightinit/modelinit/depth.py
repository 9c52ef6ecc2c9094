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
  branch ends at that layer; in an attention part it is the values' path, v (or the packed
  q/k/v projection) then the output, as for torch's own Transformer layers.

``nn.TransformerEncoderLayer`` and ``nn.TransformerDecoderLayer`` keep their exact branches
(:func:`weightinit.modelinit.residual.find_branches`).

:func:`layer_roles` names the role of each linear layer inside the blocks, as recipes such as
DeepNet and T-Fixup need them: in a part that holds an attention module (one with a head count
or "Attention" in its class name), the first linear layers are the q, k and v projections (or
one packed projection, whose row blocks its rule labels q, k, v) and the last is the attention
output; in any other part, the layers are the MLP's, the one that maps back to width ``d`` its
output. In a gated MLP (SwiGLU: ``down(act(gate(x)) * up(x))``) the two input layers are told
apart by a probe (:func:`gate_and_up`): the MLP's output is linear in the up projection's weight,
not in the gate's. A model with two stacks is an encoder-decoder: the stack whose blocks hold two
attention parts (self- and cross-attention) is the decoder; any other set of stacks (two encoders, say)
counts as stacks of their own, each with its own depth. A list inside a block of a stack (a
mixture of experts, T5's sub-layers) is part of that block, not a stack.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn

from .structure import is_attention, linear_shape

__all__ = ["Branch", "LayerRole", "MLP_IN", "linear_io", "stacks", "residual_branches", "layer_roles", "gate_and_up"]

MLP_IN = ("mlp_in", "mlp_gate", "mlp_up")  # an MLP's input layers: plain, or a gated MLP's gate and up projections


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
        """The branch's last layer: its output is added to the residual stream."""
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
    found: list[tuple[str, list[nn.Module]]] = []
    for name, module in model.named_modules():
        if not isinstance(module, nn.ModuleList) or len(module) == 0:
            continue
        if any(name.startswith(f"{outer}.") for outer, _ in found):
            continue  # a list inside a block (experts, heads, T5's sub-layers): part of that block
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
            attention = {name for name, _ in _attention_parts(block, prefix)}
            for part_name, part in _parts(block, prefix):
                inside = _linears(part, part_name)
                if inside and inside[-1][1][1] == width:
                    if part_name in attention:  # the values' path: v (or the packed q/k/v), then the output
                        inside = inside[-2:]
                    branches.append(Branch(tuple(n for n, _ in inside), index, len(blocks), width))
    return branches


@dataclass(frozen=True)
class LayerRole:
    """A linear layer's place in a stack of blocks: ``kind`` is "q", "k", "v", "qkv" (packed, or
    a MultiheadAttention's in-projection), "attn_out", "mlp_in" (or a gated MLP's "mlp_gate" and
    "mlp_up") or "mlp_out"; ``block`` its
    block's index, ``depth`` the stack's length, ``width`` the residual stream's, ``stack``
    "encoder", "decoder" or "single" (one stack), and ``encoder_depth``, ``decoder_depth`` the
    two stacks' lengths in an encoder-decoder (else 0)."""

    kind: str
    block: int
    depth: int
    width: int
    stack: str
    encoder_depth: int = 0
    decoder_depth: int = 0


def _attention_parts(block: nn.Module, prefix: str) -> list[tuple[str, nn.Module]]:
    return [(name, part) for name, part in _parts(block, prefix)
            if any(is_attention(sub) or isinstance(sub, nn.MultiheadAttention) for sub in part.modules())]


def _attention_kinds(names: list[str], part: nn.Module, part_name: str) -> dict[str, str]:
    """q, k, v (or qkv) and attn_out for the linear layers of an attention part, in order."""
    kinds = {}
    in_proj = [name for name, sub in part.named_modules(prefix=part_name)
               if isinstance(sub, nn.MultiheadAttention)]
    for name in in_proj:
        kinds[name] = "qkv"
    if not names:
        return kinds
    *projections, last = names
    kinds[last] = "attn_out"
    if len(projections) == 3:
        kinds.update(zip(projections, ("q", "k", "v")))
    else:
        kinds.update({name: "qkv" for name in projections})
    return kinds


def layer_roles(model: nn.Module) -> dict[str, LayerRole]:
    """The role of every linear layer (and MultiheadAttention in-projection) in the stacks of
    ``model``, by qualified module name (module docstring)."""
    found = stacks(model)
    kinds_of = {}
    for stack_name, blocks in found:
        prefix = f"{stack_name}.0." if stack_name else "0."
        kinds_of[stack_name] = "decoder" if len(_attention_parts(blocks[0], prefix)) >= 2 else "encoder"
    if sorted(kinds_of.values()) != ["decoder", "encoder"]:  # not one encoder and one decoder: each its own
        kinds_of = {name: "single" for name in kinds_of}
    depths = {kind: sum(len(blocks) for name, blocks in found if kinds_of[name] == kind)
              for kind in ("encoder", "decoder")}
    roles, probed = {}, {}
    for stack_name, blocks in found:
        for index, block in enumerate(blocks):
            prefix = f"{stack_name}.{index}." if stack_name else f"{index}."
            width = _linears(block, prefix.rstrip("."))[0][1][0]
            attention = {name for name, _ in _attention_parts(block, prefix)}
            for part_name, part in _parts(block, prefix):
                inside = _linears(part, part_name)
                if part_name in attention:
                    kinds = _attention_kinds([n for n, _ in inside], part, part_name)
                else:
                    kinds = {n: "mlp_out" if io[1] == width else "mlp_in" for n, io in inside}
                    kinds.update(gate_and_up(part, part_name, inside, probed))
                for name, kind in kinds.items():
                    roles[name] = LayerRole(kind, index, len(blocks), width, kinds_of[stack_name],
                                            depths["encoder"], depths["decoder"])
    return roles


def _probe_signature(part: nn.Module, part_name: str, inside: list[tuple[str, tuple[int, int]]]) -> tuple:
    """What a probe's answer depends on: the part's modules (their classes and settings, as
    ``repr`` prints them), its parameters' names, shapes and dtypes, and its linear layers."""
    cut = len(part_name) + 1
    return (repr(part), tuple((n, tuple(t.shape), t.dtype) for n, t in part.named_parameters()),
            tuple((name[cut:], io) for name, io in inside))


def gate_and_up(part: nn.Module, part_name: str, inside: list[tuple[str, tuple[int, int]]],
                probed: dict[tuple, dict[str, str]] | None = None) -> dict[str, str]:
    """``{name: "mlp_gate" | "mlp_up"}`` for the two input layers of a gated MLP (module
    docstring), {} for any other part or when the probe cannot tell. The probe runs a copy of
    ``part`` with weights of its own (the model's may be garbage after ``to_empty()``; its own
    generator: the global RNG is untouched), in eval mode, without gradients, twice: the MLP's
    output doubles when the up projection's weight does, not when the gate's does.

    ``probed`` keeps the answers by the part's signature (:func:`_probe_signature`, in names
    relative to the part), so the 22 identical MLPs of a Llama are probed once, not 22 times:
    each probe copies the MLP and draws its weights (0.3 s at TinyLlama's size)."""
    if len(inside) != 3 or inside[0][1] != inside[1][1]:
        return {}
    if probed is None:
        return _probe_gate_and_up(part, part_name, inside)
    cut = len(part_name) + 1
    key = _probe_signature(part, part_name, inside)
    if key not in probed:
        probed[key] = {name[cut:]: kind for name, kind in _probe_gate_and_up(part, part_name, inside).items()}
    return {f"{part_name}.{name}": kind for name, kind in probed[key].items()}


def _probe_gate_and_up(part: nn.Module, part_name: str, inside: list[tuple[str, tuple[int, int]]]) -> dict[str, str]:
    fresh = {id(p): nn.Parameter(torch.empty_like(p), requires_grad=False) for p in part.parameters()}
    probe = copy.deepcopy(part, memo=fresh).eval()  # the copy's parameters are new and drawn below, never copied
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for t in probe.parameters():
            t.normal_(0, max(1, t.shape[-1]) ** -0.5, generator=generator)
        modules = dict(probe.named_modules(prefix=part_name))
        (first, (n_in, _)), (second, _) = inside[0], inside[1]
        x = torch.randn(2, 3, n_in, generator=generator).to(next(probe.parameters()))
        try:
            base = probe(x)
            for name, other in ((first, second), (second, first)):
                for t in modules[name].parameters():
                    t.mul_(2.0)
                doubled = probe(x)
                for t in modules[name].parameters():
                    t.div_(2.0)
                if torch.allclose(doubled, 2.0 * base, rtol=1e-4, atol=1e-6):
                    return {name: "mlp_up", other: "mlp_gate"}
        except (RuntimeError, TypeError, ValueError, IndexError):
            pass  # a part whose forward takes more than one tensor: it cannot be probed, so no gate is named
    return {}
