"""``param_groups``: a :class:`~weightinit.parametrize.ParamPlan` as ordinary torch.optim parameter
groups, one per distinct (learning rate, weight decay, ε), so that

    torch.optim.AdamW(param_groups(model, plan, lr=1e-3, optimizer="adamw", weight_decay=0.1))

trains ``model`` under the plan's parametrization. Parameters are matched by name, after the
prefixes that wrappers add are taken off (``torch.compile``'s ``_orig_mod.``, DDP's and
DataParallel's ``module.``): a compiled, distributed or reloaded model gets the same groups. A
prefix comes off only where the model given is that wrapper, so a model whose own submodule is
called ``module`` keeps its names.

Each group records the optimizer it was made for (``"made_for"``: ``"adam"``, ``"adamw"`` or
``"sgd"``), since Adam's and SGD's rules differ (:mod:`.rules`);
:func:`weightinit.training.make_optimizer` refuses groups made for another family.
"""

from __future__ import annotations

import sys
from typing import Any

from torch import nn

from .._checks import check_choice, check_number
from ..errors import UserError
from .plan import ParamPlan
from .rules import OPTIMIZER_FAMILIES

__all__ = ["param_groups", "plain_name", "wrapper_prefix", "MADE_FOR"]

MADE_FOR = "made_for"  # the key of a group that names the optimizer its multipliers are for


def _compiled_class() -> type | None:
    """torch.compile's wrapper class, if torch._dynamo is loaded (a model can be one only then:
    importing it here would cost a second)."""
    return getattr(sys.modules.get("torch._dynamo.eval_frame"), "OptimizedModule", None)


def wrapper_prefix(model: nn.Module) -> str:
    """The prefix that the wrappers ``model`` is made of (torch.compile's ``_orig_mod.``, DDP's and
    DataParallel's ``module.``, nested in any order) put before the wrapped model's parameter
    names; "" for a model that is no wrapper. Read off the classes, not the names: a model's own
    submodule may be called ``module``."""
    compiled, prefix = _compiled_class(), ""
    while True:
        if compiled is not None and isinstance(model, compiled):
            prefix, model = prefix + "_orig_mod.", model._orig_mod
        elif isinstance(model, (nn.parallel.DistributedDataParallel, nn.DataParallel)):
            prefix, model = prefix + "module.", model.module
        else:
            return prefix


def plain_name(name: str, model: nn.Module) -> str:
    """``name``, a parameter name of ``model``, without the prefix that wrapping put before it
    (:func:`wrapper_prefix`): only a real wrapper's prefix comes off."""
    prefix = wrapper_prefix(model)
    return name[len(prefix):] if prefix and name.startswith(prefix) else name


def param_groups(
    model: nn.Module,
    plan: ParamPlan,
    *,
    lr: float,
    optimizer: str = "adamw",
    weight_decay: float = 0.0,
    eps: float = 1e-8,
    decay_vectors: bool = False,
) -> list[dict[str, Any]]:
    """torch.optim parameter groups that train ``model`` under ``plan``.

    Args:
        model: the planned model, or it wrapped (``torch.compile``, DDP, DataParallel).
        plan: from :func:`~weightinit.parametrize.parametrize` (or :meth:`ParamPlan.from_dict`).
        lr: the base learning rate (the one tuned at the base width).
        optimizer: ``"adam"``, ``"adamw"`` or ``"sgd"``: which rule of learning rates applies.
        weight_decay: the base weight decay; each group's is divided by its learning-rate
            multiplier (the decay per step stays the base's; for ``"adam"``, whose decay is L2 in the
            gradient, an absorbed multiplier counts twice: :meth:`Multipliers.weight_decay`).
        eps: Adam's base ε (each group's is scaled as the plan says); not set for SGD.
        decay_vectors: decay biases and norms (1-D parameters) too; by default they are not
            decayed, as in GPT-2, nanoGPT and OLMo.

    Returns:
        A list of dicts with ``"params"``, ``"lr"``, ``"lr_scale"`` (the learning-rate
        multiplier, which :func:`weightinit.fit`'s schedule reads), ``"weight_decay"``, for Adam
        ``"eps"``, ``"param_names"`` and ``"made_for"`` (``optimizer``: torch.optim keeps the
        extra key, and :func:`weightinit.training.make_optimizer` refuses groups made for
        another optimizer). Every trainable parameter is in exactly one group.
    """
    check_choice("optimizer", optimizer, tuple(OPTIMIZER_FAMILIES))
    family = OPTIMIZER_FAMILIES[optimizer]
    lr = check_number("lr", lr, minimum=0)
    weight_decay = check_number("weight_decay", weight_decay, minimum=0)
    eps = check_number("eps", eps, minimum=0)
    if not isinstance(plan, ParamPlan):
        raise TypeError(f"plan must be a weightinit.parametrize.ParamPlan, got {type(plan).__name__}")
    rows = {row.name: row for row in plan.rows}
    named = [(plain_name(name, model), p) for name, p in model.named_parameters() if p.requires_grad]
    unknown = [name for name, _ in named if name not in rows]
    if unknown:
        raise UserError(f"the plan does not cover {len(unknown)} parameter(s) of {type(model).__name__} "
                        f"({', '.join(unknown[:3])}{', ...' if len(unknown) > 3 else ''}): plan this model")
    groups: dict[tuple[float, float, float], dict[str, Any]] = {}
    for name, parameter in named:
        row = rows[name]
        if tuple(parameter.shape) != row.shape:
            raise UserError(f"parameter {name!r} has shape {tuple(parameter.shape)}, the plan's {row.shape}: "
                            "plan this model")
        mult = row.multipliers
        coupled = optimizer == "adam"  # torch.optim.Adam's weight_decay is L2 in the gradient; AdamW's is decoupled
        decay = weight_decay * mult.weight_decay(family, coupled) if (decay_vectors or parameter.dim() >= 2) else 0.0
        scale = mult.lr(family)
        key = (scale, decay, mult.eps if family == "adam" else 1.0)
        if key not in groups:
            groups[key] = {"params": [], "param_names": [], "lr": lr * scale, "lr_scale": scale,
                           "weight_decay": decay, **({"eps": eps * mult.eps} if family == "adam" else {}),
                           MADE_FOR: optimizer}
        groups[key]["params"].append(parameter)
        groups[key]["param_names"].append(name)
    return list(groups.values())
