"""The optimizer a training config asks for: :func:`make_optimizer`, Adam or SGD (with momentum),
over a model's parameters or over parameter groups that each scale the learning rate.

Parameter groups are torch.optim's (a list of dicts, each with its ``"params"``) and may carry
options of their own (a ``"weight_decay"``, say). The learning rate is not one of them: the
schedule (:func:`weightinit.training.schedule.set_learning_rate`) sets every group's ``"lr"``
each epoch, to the epoch's rate times the group's ``"lr_scale"`` (default 1.0). That is how
per-parameter learning rates (muP's per-layer multipliers, say) are given:
``[{"params": hidden, "lr_scale": 1 / width}, {"params": readout}]``.

Groups from :func:`weightinit.parametrize.param_groups` name the optimizer their multipliers were
made for (``"made_for"``); :func:`make_optimizer` refuses them under another family (groups made
for SGD under Adam, say, would train every layer at the wrong rate, silently).

Where every parameter is a floating-point tensor on the CPU or a GPU, the optimizer is the fused
implementation: one kernel updates every parameter (on 2 CPU cores it takes Adam's share of an
MNIST epoch from about 0.3 s to 0.1 s), with the same maths as the default implementation
(``tests/training/test_train.py`` compares the two).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import torch

from .._checks import check_choice
from ..errors import UserError
from ..parametrize.groups import MADE_FOR
from ..parametrize.rules import OPTIMIZER_FAMILIES
from .config import OPTIMIZERS, TrainConfig

__all__ = ["OptimizerSettings", "make_optimizer"]


@dataclass(frozen=True)
class OptimizerSettings:
    """The optimizer's settings alone, for a trainer without a :class:`~weightinit.training.TrainConfig`
    (the estimators' fine-tuning): ``optimizer`` "adam" or "sgd", the base learning rate ``lr``,
    and SGD's ``momentum`` (which Adam, keeping its own moment estimates, ignores)."""

    optimizer: str
    lr: float
    momentum: float = 0.0

    def __post_init__(self) -> None:
        check_choice("optimizer", self.optimizer, OPTIMIZERS)


def make_optimizer(params_or_groups: Iterable[torch.Tensor] | Iterable[dict[str, Any]],
                   config: TrainConfig | OptimizerSettings) -> torch.optim.Optimizer:
    """The optimizer ``config`` names over ``params_or_groups``, at the base learning rate ``config.lr``.

    Args:
        params_or_groups: parameters, or torch.optim parameter groups (dicts with ``"params"`` and
            any option of the optimizer, plus ``"lr_scale"``: the group trains with the schedule's
            learning rate times this), such as :func:`weightinit.parametrize.param_groups` gives. A
            group's ``"lr"`` is the schedule's to set: one without ``"lr_scale"`` may not carry one.
            Groups made for another optimizer (their ``"made_for"``) are refused (:func:`_check_made_for`).
        config: ``optimizer`` ("adam" or "sgd"), ``lr`` and ``momentum`` (SGD only).

    Returns:
        ``torch.optim.Adam`` or ``torch.optim.SGD``, fused where every parameter allows it (see the
        module docstring). A group with ``"lr_scale"`` starts at ``config.lr * lr_scale``; the others
        at ``config.lr``. Without groups the optimizer is exactly ``Adam(params, lr=config.lr,
        fused=...)`` or ``SGD(params, lr=config.lr, momentum=config.momentum, fused=...)``.
    """
    items = list(params_or_groups)
    if items and isinstance(items[0], dict):
        _check_made_for(items, config.optimizer)
        items = [_group(group, config.lr) for group in items]
        params = [p for group in items for p in group["params"]]
    else:
        params = items
    fused = all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in params)
    if config.optimizer == "adam":
        return torch.optim.Adam(items, lr=config.lr, fused=fused)
    return torch.optim.SGD(items, lr=config.lr, momentum=config.momentum, fused=fused)


def _group(group: dict[str, Any], lr: float) -> dict[str, Any]:
    """A copy of ``group`` with its parameters listed and, with ``lr_scale``, its starting learning rate."""
    if "lr" in group and "lr_scale" not in group:
        raise UserError("a parameter group scales the learning rate with 'lr_scale', it does not set 'lr': "
                        "the schedule sets every group's lr each epoch")
    params = group["params"]
    group = {**group, "params": [params] if isinstance(params, torch.Tensor) else list(params)}
    if "lr_scale" in group:
        group["lr"] = lr * group["lr_scale"]
    return group


def _check_made_for(groups: list[dict[str, Any]], optimizer: str) -> None:
    """Refuse groups that :func:`weightinit.parametrize.param_groups` made for another optimizer:
    Adam's and SGD's learning-rate multipliers differ (muP's hidden layer trains at 1/m of the rate
    under Adam, at 1 under SGD), and groups made for AdamW carry decoupled weight decay, whose
    multipliers are not those of torch.optim.Adam's L2 decay (the Adam made here). Groups without
    the key (a user's own) are taken as they are."""
    for group in groups:
        made_for = group.get(MADE_FOR)
        if made_for is None:
            continue
        if OPTIMIZER_FAMILIES.get(made_for) != OPTIMIZER_FAMILIES[optimizer]:
            raise UserError(f"the parameter groups were made for optimizer={made_for!r} (param_groups' optimizer=), "
                            f"but the optimizer is {optimizer!r}: their learning-rate multipliers follow another "
                            f"rule; make them with param_groups(..., optimizer={optimizer!r})")
        if made_for == "adamw" and group.get("weight_decay", 0.0) and optimizer == "adam":
            raise UserError("the parameter groups were made for optimizer='adamw' with weight_decay (decoupled), but "
                            "the optimizer is torch.optim.Adam, whose weight_decay is L2 in the gradient and needs "
                            "other multipliers; make them with param_groups(..., optimizer='adam')")
