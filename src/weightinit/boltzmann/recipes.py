"""Named RBM training recipes: documented settings beside the published result each is for,
and the rules that fit a recipe's length to the data.

``weightinit rbm --recipe NAME`` starts from a recipe's settings; any option typed beside it
wins. The numbers are average test log-likelihoods of 500-hidden-unit RBMs on MNIST
(stochastically binarized, nats per image, AIS), as published; what weightinit measures with
each recipe is in the README.

A recipe's epochs are MNIST's: 10 passes over 60,000 images in batches of 100 are 6,000
parameter updates, but over scikit-learn's 1,437 digits only 150, too few for the weights to
leave their N(0, 0.01²) start (and the pcd recipe's moving average, over about 1,000 updates,
still holds mostly the start). So the length that fits the data is counted in updates,
:math:`U = E \\lceil n / B \\rceil` for E epochs of n samples in batches of B:

- :func:`rbm_epochs`: a recipe's epochs, or more, for at least :data:`MIN_UPDATES` updates
  (MNIST: unchanged; digits: 400 epochs in batches of 100);
- :func:`auto_pretrain_epochs`: the DBN pre-training rule of the DBN estimators, about
  :data:`AUTO_PRETRAIN_UPDATES` updates per layer within :data:`AUTO_PRETRAIN_EPOCHS`;
- :func:`ais_steps_for`: AIS temperatures in proportion to the visible units, MNIST's 14,500
  (Salakhutdinov & Murray 2008) for its 784.

References:
    Hinton 2010, "A Practical Guide to Training Restricted Boltzmann Machines" (UTML TR 2010-003).
    Salakhutdinov & Murray 2008, "On the quantitative analysis of deep belief networks", ICML.
    Tieleman 2008, "Training restricted Boltzmann machines using approximations to the
    likelihood gradient", ICML.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from .._checks import check_choice
from .trainer import RBMConfig

__all__ = ["Recipe", "RECIPES", "recipe_config", "updates_per_epoch", "epochs_for_updates", "rbm_epochs",
           "auto_pretrain_epochs", "ais_steps_for", "MIN_UPDATES", "QUICK_UPDATES", "AUTO_PRETRAIN_UPDATES",
           "AUTO_PRETRAIN_EPOCHS", "AIS_STEPS_MNIST", "MNIST_PIXELS"]

# rbm_epochs: the default recipe's (pcd) updates on MNIST, 10 epochs of 600 batches of 100. On digits
# (pcd, 500 hidden, seeds 0): 150 updates leave W's std at 0.0101 and samples.png 100 copies of the mean
# image; 2,000 give blurred digits; 6,000 digits a student recognizes, in 9 s of training (OMP_NUM_THREADS=1)
MIN_UPDATES = 6_000
QUICK_UPDATES = 2_000  # --quick: the fewest updates whose samples still differ from one another (digits)

# auto_pretrain_epochs: about this many RBM updates per layer, within these epochs (the DBN estimators' rule;
# estimators/dbn_base.py documents what it scored on digits and MNIST)
AUTO_PRETRAIN_UPDATES = 2000
AUTO_PRETRAIN_EPOCHS = (5, 100)

AIS_STEPS_MNIST = 14_500  # Salakhutdinov & Murray 2008's temperatures, for MNIST's 784 visible units
MNIST_PIXELS = 784


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
        "decay 1e-4, the parameters' moving average (0.999) evaluated, 10 epochs on MNIST (6,000 updates; at "
        "least as many on smaller data)",
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


def updates_per_epoch(n_samples: int, batch_size: int) -> int:
    """Parameter updates in one pass over ``n_samples`` in batches of ``batch_size``:
    :math:`\\lceil n / B \\rceil` (the last batch may be short).

    Examples:
        >>> updates_per_epoch(60_000, 100), updates_per_epoch(1437, 100)
        (600, 15)
    """
    return math.ceil(n_samples / batch_size)


def epochs_for_updates(updates: int, n_samples: int, batch_size: int) -> int:
    """The fewest epochs that make at least ``updates`` updates: :math:`\\lceil U / \\lceil n/B \\rceil \\rceil`."""
    return math.ceil(updates / updates_per_epoch(n_samples, batch_size))


def rbm_epochs(recipe_epochs: int, n_samples: int, batch_size: int, min_updates: int = MIN_UPDATES) -> int:
    """The epochs of an RBM run when ``--epochs`` is not given: the recipe's, or more on a small
    data set, so that the run makes at least ``min_updates`` parameter updates,

    .. math::
        E = \\max\\big(E_{recipe}, \\lceil U_{min} / \\lceil n / B \\rceil \\rceil\\big).

    With :data:`MIN_UPDATES` (6,000, the default recipe's 10 epochs on MNIST) MNIST and
    Fashion-MNIST keep every recipe's epochs; digits (1,437 images, batches of 100) gets 400.

    Examples:
        >>> rbm_epochs(10, 60_000, 100), rbm_epochs(10, 1437, 100), rbm_epochs(50, 1437, 100)
        (10, 400, 400)
    """
    return max(recipe_epochs, epochs_for_updates(min_updates, n_samples, batch_size))


def auto_pretrain_epochs(n_samples: int, batch_size: int) -> int:
    """``pretrain_epochs="auto"`` of the DBN estimators and the default of ``weightinit dbn``
    on a small data set: about 2,000 updates per layer, 5 to 100 epochs,

    .. math::
        E = \\min\\big(\\max(\\lceil 2000 / \\lceil n/B \\rceil \\rceil, 5), 100\\big).

    A small data set gets more passes (digits: 1,257 samples in batches of 100, 13 updates a
    pass, 100 passes), a large one the 5 passes that suffice at 600 updates a pass (MNIST).

    Examples:
        >>> auto_pretrain_epochs(1257, 100), auto_pretrain_epochs(60_000, 100)
        (100, 5)
    """
    low, high = AUTO_PRETRAIN_EPOCHS
    return int(min(max(epochs_for_updates(AUTO_PRETRAIN_UPDATES, n_samples, batch_size), low), high))


def ais_steps_for(n_visible: int) -> int:
    """AIS temperatures when ``--ais-steps`` is not given: MNIST's 14,500 (Salakhutdinov &
    Murray 2008) in proportion to the visible units,

    .. math::
        K = \\lceil 14500 \\cdot D / 784 \\rceil,

    since the variance of AIS's log-weight is a sum over the units it anneals, each term
    falling as 1/K (exactly so for independent units; Neal 2001): K in proportion to D keeps
    MNIST's precision. Digits' 64 pixels get 1,184; on a trained digits RBM (pcd, 6,000
    updates) 1,184 steps gave log Z 223.49 and 223.54 (two seeds, 3 s.e. ±0.22) where 14,500
    gave 223.52 and 223.54, in 1.9 s instead of 31 s.

    Examples:
        >>> ais_steps_for(784), ais_steps_for(64)
        (14500, 1184)
    """
    return math.ceil(AIS_STEPS_MNIST * n_visible / MNIST_PIXELS)
