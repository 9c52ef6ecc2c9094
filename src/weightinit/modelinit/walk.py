"""The walk over a model that decides which rule fills each parameter, for
:func:`weightinit.modelinit.plan.plan_init`.

Modules are visited in ``model.named_modules()`` order (parents before children). Each gets,
by the first that applies:

1. under ``default``, if it is a transformers model (:func:`.structure.is_pretrained_model`):
   its own ``_init_weights`` recipe (:class:`.recipes.TransformersRecipe`) for every parameter
   in it, its submodules included, which are then not visited;
2. a registered rule (:func:`.rules.register_rule`), then the built-in rule of its type or
   nearest base class (:func:`.rules.rule_for`);
3. a rule by structure (:func:`.foreign.structural_rule`).

A parameter shared by several modules (tied weights) is one tensor: the first module whose
rule covers it fills it, once; it is named as having no rule only if none does.

Under the other schemes, a transformers model's buffers are recomputed by its own recipe with
every parameter left alone (:func:`buffer_recipes`).
"""

from __future__ import annotations

from torch import nn

from .foreign import structural_rule
from .recipes import TransformersRecipe
from .rules import Block, RuleContext, rule_for
from .structure import is_pretrained_model

__all__ = ["collect_blocks", "buffer_recipes"]


def _recipe_blocks(root: str, model: nn.Module, covered: set[int]) -> list[Block]:
    """One row per parameter of a transformers model, all filled by its own recipe."""
    recipe = TransformersRecipe(model)
    rule = f"{type(model).__name__}._init_weights (the model's own)"
    prefix = f"{root}." if root else ""
    blocks = []
    for name, tensor in model.named_parameters():
        if id(tensor) in covered:
            continue
        covered.add(id(tensor))
        module, _, parameter = f"{prefix}{name}".rpartition(".")
        blocks.append(Block(module, parameter, rule, lambda t, g: None, recipe=recipe))
    return blocks


def buffer_recipes(model: nn.Module) -> list[TransformersRecipe]:
    """Under a scheme other than ``default``: the own recipe of each outermost transformers
    model in ``model`` that has buffers, to run with every parameter left alone, so that its
    buffers (rotary ``inv_freq``, BERT's ``position_ids``, garbage after ``to_empty()``) are
    recomputed from its config, as its authors compute them, never drawn."""
    roots: list[str] = []
    for name, module in model.named_modules():
        if not any(name.startswith(f"{root}.") or not root for root in roots) and is_pretrained_model(module):
            roots.append(name)
    modules = dict(model.named_modules())
    return [TransformersRecipe(modules[root]) for root in roots if next(modules[root].buffers(), None) is not None]


def collect_blocks(model: nn.Module, context: RuleContext) -> tuple[list[Block], list[tuple[str, int]]]:
    """The blocks the rules give every parameter of ``model``, and ``(name, id)`` of each
    parameter no rule covers (by its first name), by the rules in this module's docstring."""
    blocks: list[Block] = []
    covered: set[int] = set()  # ids of the parameters a block fills
    first_name: dict[int, str] = {}
    recipe_roots: list[str] = []
    for name, module in model.named_modules():
        if any(name.startswith(f"{root}.") or not root for root in recipe_roots):
            continue  # inside a transformers model whose own recipe fills it
        own = dict(module.named_parameters(recurse=False))
        for parameter, tensor in own.items():
            first_name.setdefault(id(tensor), f"{name}.{parameter}" if name else parameter)
        if context.scheme.name == "default" and is_pretrained_model(module):
            recipe_roots.append(name)
            for tensor_name, tensor in module.named_parameters(prefix=name):
                first_name.setdefault(id(tensor), tensor_name)
            blocks += _recipe_blocks(name, module, covered)
            continue
        if not own or all(id(t) in covered for t in own.values()):
            continue
        rule = rule_for(module) or structural_rule(module, context)
        found = [b for b in (rule(name, module, context) if rule else [])
                 if id(getattr(module, b.parameter)) not in covered]
        blocks += found
        covered |= {id(getattr(module, b.parameter)) for b in found}
    untouched = [(n, i) for i, n in first_name.items() if i not in covered]
    return blocks, untouched
