"""Rules for the modules no rule covers by type, found by their structure
(:mod:`weightinit.modelinit.structure`): the norms, transposed linear layers and learned
vectors of other libraries' models (transformers' ``Conv1D``, ``LlamaRMSNorm``,
``T5LayerNorm``, ViT's class token), and, under ``default``, a module's own
``reset_parameters()``.

==========================  ======================================================================
module (recognized by)      what each parameter gets
==========================  ======================================================================
own ``reset_parameters()``  under ``default`` only: that method, run once with the global RNG
                            forked and seeded from the generator (the module's own recipe)
norm                        weight 1, bias 0: "ones (norm, by structure)"; a norm that computes
                            (1 + w)·x̂ (Gemma) gets w = 0, the same identity
transposed linear           weight (in, out): the scheme with fan_in = in = weight.shape[0],
(``Conv1D``)                fan_out = out (``torch.nn.init`` reads them swapped); packed q/k/v
                            (out = 3·in inside an attention module, GPT-2's ``c_attn``) as three
                            d × d column blocks; bias: the bias rule. Under ``default``: torch's
                            ``nn.Linear`` recipe with the true fan_in, U(±1/√in) for both
learned vectors (1, n, d)   as an embedding's rows (:func:`.rules.embedding_rule`): N(0, 1/d),
                            U(±√(3/d)) under the uniform schemes, zeros under ``zeros``, N(0, 1)
                            under ``normal``; left to the warning under ``default`` (torch has no
                            recipe for a bare parameter)
==========================  ======================================================================
"""

from __future__ import annotations

import math

from torch import nn

from .. import init
from .recipes import OwnReset
from .rules import (
    Block,
    Fill,
    Rule,
    RuleContext,
    bias_blocks,
    constant_block,
    kept_block,
    packed_blocks,
    uniform_fill,
    weight_block,
)
from .structure import learned_vectors, linear_shape, norm_has_offset, norm_parameters

__all__ = ["structural_rule", "norm_rule_by_structure", "transposed_linear_rule", "vectors_rule", "own_reset_rule"]


def norm_rule_by_structure(name: str, module: nn.Module, ctx: RuleContext) -> list[Block]:
    """A norm of any class: scale 1 (0 if it stores 1 + w), shift 0: the identity it starts as."""
    if norm_has_offset(module):
        blocks = [constant_block(name, "weight", 0.0, "zeros (norm computing (1 + w)·x̂, by structure)")]
    else:
        blocks = [constant_block(name, "weight", 1.0, "ones (norm, by structure)")]
    if getattr(module, "bias", None) is not None:
        blocks.append(kept_block(name, "bias") if ctx.bias == "keep" else
                      constant_block(name, "bias", 0.0, "zeros (norm, by structure)"))
    return blocks


def transposed_linear_rule(name: str, module: nn.Module, ctx: RuleContext) -> list[Block]:
    """A linear layer whose weight is stored (in, out), y = x @ W + b: the scheme with the true fans."""
    shape = linear_shape(module)
    assert shape is not None  # checked by structural_rule
    n_in, n_out = shape
    torch_bound = 1.0 / math.sqrt(n_in)
    if ctx.scheme.name == "default":  # torch's nn.Linear recipe, with the true fan_in
        blocks = [Block(name, "weight", f"U(±{torch_bound:.3g}) (torch's Linear; weight stored (in, out))",
                        uniform_fill(torch_bound), fan_in=float(n_in), fan_out=float(n_out))]
        return blocks + bias_blocks(ctx, name, "bias", torch_bound)
    rule = f"{ctx.scheme.name} (weight stored (in, out))"
    gain, guessed = ctx.gain_of(name)
    blocks = packed_blocks(ctx, name, module, rule) or \
        [weight_block(ctx, name, "weight", n_in, n_out, gain, guessed, rule=rule)]
    return blocks + bias_blocks(ctx, name, "bias", torch_bound)


def _normal_fill(std: float) -> Fill:
    return lambda t, g: init.normal_(t, 0.0, std, g)


def vectors_rule(name: str, module: nn.Module, ctx: RuleContext) -> list[Block]:
    """Learned vectors of shape (1, n, d) (a class token, learned positions): as embedding rows."""
    scheme = ctx.scheme.name
    if scheme == "default":
        return []
    blocks = []
    for parameter in learned_vectors(module):
        d = getattr(module, parameter).shape[-1]
        if scheme == "zeros":
            fill, rule = (lambda t, g: init.zeros_(t)), "zeros"
        elif scheme == "normal":
            fill, rule = (lambda t, g: init.normal_(t, 0.0, 1.0, g)), "N(0, 1)"
        elif scheme.endswith("uniform"):
            fill, rule = uniform_fill(math.sqrt(3.0 / d)), "U(±√(3/d))"
        else:
            fill, rule = _normal_fill(1.0 / math.sqrt(d)), "N(0, 1/d)"
        blocks.append(Block(name, parameter, f"{rule} (learned vectors, by structure)", fill, fan_in=1.0,
                            fan_out=float(d)))
    return blocks


def own_reset_rule(name: str, module: nn.Module, ctx: RuleContext) -> list[Block]:
    """``default`` for a module with its own ``reset_parameters()``: that, once, for all its parameters."""
    recipe = OwnReset(module)
    rule = f"its own reset_parameters() ({type(module).__name__})"
    return [Block(name, parameter, rule, lambda t, g: None, recipe=recipe)
            for parameter, _ in module.named_parameters(recurse=False)]


def structural_rule(module: nn.Module, ctx: RuleContext) -> Rule | None:
    """The rule for a module no rule covers by type, by the first that applies: its own
    ``reset_parameters()`` (under ``default``), norm, transposed linear, learned vectors; None if none does."""
    if ctx.scheme.name == "default" and callable(getattr(module, "reset_parameters", None)):
        return own_reset_rule
    if norm_parameters(module):
        return norm_rule_by_structure
    if linear_shape(module) is not None:
        return transposed_linear_rule
    if learned_vectors(module):
        return vectors_rule
    return None
