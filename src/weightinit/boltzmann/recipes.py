"""Named RBM training recipes: documented settings beside the published result each is for.

``weightinit rbm --recipe NAME`` starts from a recipe's settings; any option typed beside it
wins. The numbers are average test log-likelihoods of 500-hidden-unit RBMs on MNIST
(stochastically binarized, nats per image, AIS), as published; what weightinit measures with
each recipe is in the README.

References:
    Hinton 2010, "A Practical Guide to Training Restricted Boltzmann Machines" (UTML TR 2010-003).
    Salakhutdinov & Murray 2008, "On the quantitative analysis of deep belief networks", ICML.
    Tieleman 2008, "Training restricted Boltzmann machines using approximations to the
    likelihood gradient", ICML.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from ..checks import check_choice
from .trainer import RBMConfig

__all__ = ["Recipe", "RECIPES", "recipe_config"]


@dataclass(frozen=True)
class Recipe:
    """A recipe: its ``RBMConfig`` settings (the rest stay the defaults), whether the data are
    binarized, and the published figure it is set beside."""

    description: str
    settings: dict = field(default_factory=dict)
    binarize: bool = True  # stochastically binarized data, as the published likelihoods use
    published: str = ""
    measured: str = ""  # what weightinit measured with it (AIS, 3 s.e.; one shared CPU core, OMP_NUM_THREADS=1)


RECIPES: dict[str, Recipe] = {
    "guide": Recipe(
        "Hinton's practical guide: CD-1, lr 0.1, momentum 0.5 then 0.9, 10 epochs, gray-level data "
        "(the pre-training step of a DBN)",
        {}, binarize=False),
    "cd1": Recipe(
        "CD-1 with a linearly decaying lr and L2 weight decay, 50 epochs",
        dict(epochs=50, k=1, lr=0.05, lr_schedule="linear", weight_decay=1e-4),
        published="CD-1: -125.53 nats (Salakhutdinov & Murray 2008, Table 1)",
        measured="-118.93 nats (-119.12 .. -118.70), 178 s of training"),
    "cd25": Recipe(
        "CD-k with k growing linearly from 1 to 25 over the run (Salakhutdinov & Murray 2008), a linearly "
        "decaying lr, L2 weight decay, 30 epochs",
        dict(epochs=30, k=1, k_final=25, lr=0.05, lr_schedule="linear", weight_decay=1e-4),
        published="CD-25: -86.34 nats (Salakhutdinov & Murray 2008, Table 1; trained far longer)"),
    "pcd": Recipe(
        "PCD-1 (Tieleman 2008): 100 persistent chains, lr 0.05 decaying linearly to 0, momentum 0.5, L2 weight "
        "decay 1e-4, the parameters' moving average (0.999) evaluated, 10 epochs (--epochs for more)",
        dict(epochs=10, persistent=True, lr=0.05, lr_schedule="linear", momentum=0.5, final_momentum=0.5,
             weight_decay=1e-4, average=0.999),
        published="none for 500 hidden units; Tieleman 2008 finds PCD ahead of CD-1 and CD-10 in test likelihood "
                  "on MNIST (small RBMs, exact log Z)",
        measured="-97.41 nats (-97.99 .. -95.91) after 10 epochs, 164 s of training; -88.66 after 40 (405 s); "
                 "-86.34 (-86.58 .. -86.02) after 120 (1,048 s)"),
}


def recipe_config(name: str, **overrides) -> tuple[RBMConfig, bool]:
    """The ``RBMConfig`` of recipe ``name`` with ``overrides`` (those not None) applied, and
    whether the recipe binarizes the data.

    Examples:
        >>> config, binarize = recipe_config("pcd", epochs=150)
        >>> config.persistent, config.epochs, binarize
        (True, 150, True)
    """
    check_choice("recipe", name, tuple(RECIPES))
    recipe = RECIPES[name]
    config = RBMConfig(**recipe.settings)
    given = {key: value for key, value in overrides.items() if value is not None}
    return replace(config, **given), recipe.binarize
