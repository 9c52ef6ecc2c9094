"""The lecture's pipeline: greedy RBM pre-training of a Deep Belief Network, then
back-propagation fine-tuning of the sigmoid network it initializes (Hinton, Osindero & Teh
2006; Hinton & Salakhutdinov 2006), beside controls trained from random initializations.

Each network's test accuracy is set beside chance (:func:`chance_accuracy`: always guessing
the training set's most frequent class); a network within :data:`NEAR_CHANCE` of the way from
chance to 100% is named in the result's ``near_chance``, so that a run that learned nothing is
said to be one rather than reported as if all were well.

The settings a config leaves as None are fitted to the data by :func:`resolve` (which
:func:`dbn_experiment` calls, and ``weightinit dbn`` too, so that both train alike), counted
in parameter updates (epochs x ceil(images / batch size)) as the DBN estimators count them:

- pre-training (``pretrain_epochs``): ``pretrain.epochs`` (MNIST's 10, Hinton, Osindero & Teh
  2006), or more on a smaller data set: the estimators' ``pretrain_epochs="auto"``, about
  2,000 updates per layer (:func:`~weightinit.boltzmann.recipes.auto_pretrain_epochs`, 5 to
  100 epochs): MNIST 10, digits 100;
- fine-tuning (``optimizer``, ``lr``, ``momentum``): SGD at lr 0.1 with momentum 0.9 (Hinton &
  Salakhutdinov 2006) where it makes at least :data:`SGD_UPDATES` updates (MNIST: 15,000),
  else :data:`FEW_UPDATES`, Adam at lr 3e-3, the DBN estimators' (digits: 360 updates);
- ``quick``: a fifth of the pre-training epochs, fine-tuning epochs for at most
  :data:`QUICK_FINETUNE_UPDATES` updates, :data:`QUICK_CHAIN_STEPS` for chains.png."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace

import torch

from .._checks import check_choice
from ..boltzmann.dbn import DBN, check_layer_sizes
from ..boltzmann.recipes import AUTO_PRETRAIN_UPDATES, auto_pretrain_epochs, epochs_for_updates, updates_per_epoch
from ..boltzmann.trainer import RBMConfig, RBMHistory
from ..data.datasets import Dataset
from ..data.transforms import split_validation
from ..errors import UserError
from ..modelinit.activations import ACTIVATIONS
from ..modelinit.plan import init_model
from ..modelinit.schemes import check_schemes
from ..models.builders import mlp
from ..runs import distributed
from ..training.config import OPTIMIZERS
from ..training.loop import TrainConfig
from ._common import checkpoint_in, progress_bar, versions
from ._config import ConfigError, count, literal, names, number, param, sgd_momentum
from ._dbn_result import NEAR_CHANCE, DBNResult, write_chains
from .finetune import FinetuneResult, finetune

__all__ = ["Control", "DBNConfig", "DBNResult", "dbn_experiment", "resolve", "fit_to", "settings_line",
           "chance_accuracy", "near_chance", "NEAR_CHANCE", "HIDDEN", "default_n_valid", "write_chains", "CHAIN_STEPS",
           "PRETRAIN_EPOCHS", "FINETUNE_EPOCHS", "BATCH_SIZE", "SGD_LR", "SGD_MOMENTUM", "SGD_UPDATES", "FEW_UPDATES",
           "QUICK_SHARE", "QUICK_FINETUNE_UPDATES", "QUICK_CHAIN_STEPS"]

HIDDEN = (500, 500, 2000)  # the hidden layers of Hinton, Osindero & Teh (2006), above the data's features
CHAIN_STEPS = 1000  # Gibbs steps between the frames of chains.png
PRETRAIN_EPOCHS = 10  # MNIST's pre-training epochs per layer, RBMConfig's, the least the fitted default gives
FINETUNE_EPOCHS = 30  # the fine-tuning epochs of DBNConfig's default train (fewer with quick on large data)
BATCH_SIZE = 100  # the batch at which the optimizer rule counts updates
SGD_LR = 0.1  # the fine-tuning learning rate of SGD (Hinton & Salakhutdinov 2006's setting for MNIST)
SGD_MOMENTUM = 0.9  # the fine-tuning momentum of SGD when none is given
# Fine-tuning by SGD where it makes at least this many updates (the count the pre-training rule deems enough for
# an RBM), else by FEW_UPDATES. On digits (360 updates, 100 pre-training epochs): SGD 7.78% test error, Adam
# 4.17%; after 10 pre-training epochs SGD 88.06% (chance), Adam 5.28%.
SGD_UPDATES = AUTO_PRETRAIN_UPDATES
# The optimizer and learning rate of the DBN estimators (DBNClassifier's solver and learning_rate_init, the
# reasons in its docstring): Adam's per-parameter step does not shrink with the gradient, which a sigmoid network
# divides by up to 4 per layer, so that a few hundred updates train the lower layers too
FEW_UPDATES = ("adam", 3e-3)
QUICK_SHARE = 5  # quick: a fifth of the pre-training epochs (at least 1): digits 20, MNIST 2
QUICK_FINETUNE_UPDATES = 1_000  # quick: fine-tuning epochs for at most about this many updates: digits 30, MNIST 2
QUICK_CHAIN_STEPS = 100  # quick: Gibbs steps between the frames of chains.png
# the fields of `train` that DBNConfig's own fields set (fitted when those are None)
_FITTED_TRAIN = ("optimizer", "lr", "momentum")


@dataclass(frozen=True)
class Control:
    """A network trained from a random initialization beside the DBN: its name in the table,
    the init scheme and the hidden activation."""

    name: str
    scheme: str
    activation: str


def default_n_valid(n_train: int) -> int:
    """The validation split when none is given: a sixth of the training set (MNIST's 10,000
    of 60,000), at least 1 and leaving at least 1 to train on."""
    return min(max(1, round(n_train / 6)), max(1, n_train - 1))


def _default_train() -> TrainConfig:
    return TrainConfig(epochs=FINETUNE_EPOCHS, batch_size=BATCH_SIZE, seed=0)


@dataclass(frozen=True)
class DBNConfig:
    """What ``dbn_experiment`` runs, checked when made (before any pre-training). The fields
    that are None by default are fitted to the data by :func:`resolve` (module docstring);
    ``DBNConfig()`` is what ``weightinit dbn`` runs.

    Attributes:
        layers: visible and hidden sizes; None: the data's features, then :data:`HIDDEN`.
        pretrain: the RBMs' pre-training; its ``epochs`` are the least ``pretrain_epochs=None``
            gives.
        train: the DBN's fine-tuning (default :data:`FINETUNE_EPOCHS` epochs, batch 100, seed
            0); its ``optimizer``, ``lr`` and ``momentum`` are set by the fields of those names
            (leave them at TrainConfig's defaults), its ``epochs`` are ``finetune_epochs``'s
            default.
        n_valid: training images held out for model choice; None: :func:`default_n_valid`.
        controls, control_train: networks trained from random inits beside the DBN, and how
            they train (default ``train``: SGD at a high rate suits the pre-trained sigmoid
            net, not a ReLU one).
        dropout, input_dropout: when fine-tuning, after each hidden layer and on the inputs.
        refit: train each network again on the whole training set for the epochs validation
            chose, before its one test evaluation.
        chain_steps: Gibbs steps between the frames of chains.png; None: :data:`CHAIN_STEPS`
            (:data:`QUICK_CHAIN_STEPS` with ``quick``).
        pretrain_epochs: RBM epochs per layer; None: fitted to the data.
        finetune_epochs: None: ``train.epochs`` (with ``quick``, at most
            :data:`QUICK_FINETUNE_UPDATES` updates' worth).
        optimizer: the fine-tuning's, "sgd" or "adam"; None: fitted to the data.
        lr: the fine-tuning's; None: :data:`SGD_LR` for sgd, ``FEW_UPDATES[1]`` for adam.
        momentum: SGD's (refused with adam); None: :data:`SGD_MOMENTUM` for sgd.
        quick: the shorter run of ``weightinit dbn --quick`` (module docstring).
    """

    layers: tuple[int, ...] | None = None
    pretrain: RBMConfig = field(default_factory=RBMConfig)
    train: TrainConfig = field(default_factory=_default_train)
    n_valid: int | None = None
    controls: tuple[Control, ...] = ()
    control_train: TrainConfig | None = None
    dropout: float = 0.0
    input_dropout: float = 0.0
    refit: bool = False
    chain_steps: int | None = None
    pretrain_epochs: int | None = None
    finetune_epochs: int | None = None
    optimizer: str | None = None
    lr: float | None = None
    momentum: float | None = None
    quick: bool = False

    def __post_init__(self) -> None:
        if self.layers is not None:
            object.__setattr__(self, "layers", tuple(check_layer_sizes(list(self.layers))))
        for name in ("n_valid", "chain_steps", "pretrain_epochs", "finetune_epochs"):
            if getattr(self, name) is not None:
                count(name, getattr(self, name))
        for name in ("dropout", "input_dropout"):
            number(name, getattr(self, name), 0, below=1)
        object.__setattr__(self, "controls", tuple(self.controls))
        if self.controls:
            check_schemes([control.scheme for control in self.controls])
        for control in self.controls:
            check_choice("activation", control.activation, ACTIVATIONS)
        if self.optimizer is not None:
            check_choice("optimizer", self.optimizer, OPTIMIZERS)
        if self.lr is not None:
            number("lr", self.lr, 0, strictly=True)
        if self.momentum is not None:
            number("momentum", self.momentum, 0, below=1)
            if self.optimizer is not None:  # else refused by resolve() if the data choose Adam
                sgd_momentum(self.optimizer, self.momentum, SGD_MOMENTUM)
        defaults = TrainConfig()
        for name in _FITTED_TRAIN:
            value, own = getattr(self.train, name), getattr(self, name)
            if value != getattr(defaults, name) and value != own:
                shown = literal(repr(value))
                raise ConfigError(f"{param('train')}.{name} {shown} is set by {param(name)} (None: fitted to the data);"
                                  f" give {param(name)}={shown} instead")

    def layers_for(self, dataset: Dataset) -> list[int]:
        """The layer sizes on ``dataset``: ``layers``, or its features then :data:`HIDDEN`;
        refused when they do not start with its features."""
        layers = list(self.layers) if self.layers is not None else [dataset.n_features, *HIDDEN]
        if layers[0] != dataset.n_features:
            raise ConfigError(f"{param('layers')} start with {layers[0]} units but {literal(dataset.name)} has "
                              f"{dataset.n_features} features; use "
                              f"{dataset.n_features}-{'-'.join(map(str, layers[1:]))}")
        return layers

    def n_valid_for(self, dataset: Dataset) -> int:
        """The validation split on ``dataset``: ``n_valid`` or :func:`default_n_valid`."""
        return default_n_valid(len(dataset.train)) if self.n_valid is None else self.n_valid


def resolve(config: DBNConfig, dataset: Dataset) -> DBNConfig:
    """``config`` with every field left as None set for ``dataset`` (``layers``, ``n_valid``,
    and the settings :func:`fit_to` fits), so that ``pretrain`` and ``train`` hold what will
    run. Resolving a resolved config changes nothing. Refused (:class:`ConfigError`): layers
    that do not start with the data's features, a validation split the data cannot give, a
    momentum given where the data choose Adam."""
    layers, n_valid = config.layers_for(dataset), _n_valid(config, dataset)
    return fit_to(replace(config, layers=tuple(layers), n_valid=n_valid), len(dataset.train) - n_valid)[0]


def settings_line(config: DBNConfig, dataset: Dataset, *, options: bool = False) -> str:
    """What :func:`resolve` makes of ``config`` on ``dataset``, in one line, and why (naming
    parameters, or with ``options`` command-line options)."""
    return names(fit_to(config, len(dataset.train) - _n_valid(config, dataset))[1], options)


def _n_valid(config: DBNConfig, dataset: Dataset) -> int:
    """The validation split on ``dataset``, refused when it leaves nothing to train on."""
    n_valid = config.n_valid_for(dataset)
    try:
        split_validation(dataset, n_valid, option=param("n_valid"))
    except UserError as error:
        raise ConfigError(str(error)) from None
    return n_valid


def fit_to(config: DBNConfig, n_tuning: int) -> tuple[DBNConfig, str]:
    """The settings of ``config`` left as None, fitted to ``n_tuning`` training images (the
    validation split held out), and the line that says what they became and why (with
    :func:`~weightinit.experiments._config.param` placeholders)."""
    pretrain, train, notes = config.pretrain, config.train, []
    epochs = config.pretrain_epochs
    if epochs is None:
        least = pretrain.epochs
        epochs = max(least, auto_pretrain_epochs(n_tuning, pretrain.batch_size))
        why = (f"about {AUTO_PRETRAIN_UPDATES:,} updates per layer, as the DBN estimators" if epochs > least else
               f"MNIST's {least}" if least == PRETRAIN_EPOCHS else f"{param('pretrain')}.epochs {least}")
        if config.quick:
            epochs, why = max(1, epochs // QUICK_SHARE), why + f", / {QUICK_SHARE} ({param('quick')})"
        notes.append(why)
    finetune_epochs = config.finetune_epochs
    if finetune_epochs is None:
        finetune_epochs = train.epochs
        if config.quick:
            finetune_epochs = min(train.epochs, epochs_for_updates(QUICK_FINETUNE_UPDATES, n_tuning, train.batch_size))
    optimizer = config.optimizer
    if optimizer is None:
        # the data choose, not a given batch_size or finetune_epochs: the updates the fine-tuning makes with
        # its default batch and epochs (MNIST keeps SGD whatever batch is given). A momentum given with Adam
        # chosen is refused (on digits SGD tested at 64% error where Adam gets 2-4%: switching silently would
        # teach the wrong lesson)
        default_epochs = finetune_epochs if config.finetune_epochs is None else train.epochs
        chosen_by = default_epochs * updates_per_epoch(n_tuning, BATCH_SIZE)
        optimizer = "sgd" if chosen_by >= SGD_UPDATES else FEW_UPDATES[0]
        than = "at least" if chosen_by >= SGD_UPDATES else "fewer than"
        notes.append(f"{optimizer}: {chosen_by:,} fine-tuning updates (at batch {BATCH_SIZE}) are {than} "
                     f"{SGD_UPDATES:,}")
    lr = config.lr if config.lr is not None else (SGD_LR if optimizer == "sgd" else FEW_UPDATES[1])
    momentum = sgd_momentum(optimizer, config.momentum, SGD_MOMENTUM)
    pretrain = replace(pretrain, epochs=epochs)
    train = replace(train, optimizer=optimizer, lr=lr, momentum=momentum, epochs=finetune_epochs)
    chain_steps = config.chain_steps or (QUICK_CHAIN_STEPS if config.quick else CHAIN_STEPS)
    fitted = replace(config, pretrain=pretrain, train=train, pretrain_epochs=epochs, finetune_epochs=finetune_epochs,
                     optimizer=optimizer, lr=lr, momentum=momentum, chain_steps=chain_steps)
    pretrain_updates = epochs * updates_per_epoch(n_tuning, pretrain.batch_size)
    shown_momentum = f", momentum {momentum:g}" if optimizer == "sgd" else ""
    line = (f"pre-training {epochs} epochs per layer ({pretrain_updates:,} updates), fine-tuning {finetune_epochs} "
            f"epochs ({finetune_epochs * updates_per_epoch(n_tuning, train.batch_size):,} updates) by {optimizer} at "
            f"lr {lr:g}{shown_momentum}")
    return fitted, line + (f" ({'; '.join(notes)})" if notes else "")


def dbn_experiment(
    dataset: Dataset,
    config: DBNConfig | None = None,
    *,
    checkpoint_dir: str | os.PathLike | None = None,
    progress: bool = False,
    on_layer: Callable[[int, RBMHistory | None], None] | None = None,
) -> DBNResult:
    """Greedy RBM pre-training of ``config.layers``, a sigmoid network initialized from it and
    fine-tuned by back-propagation; and, as ``config.controls``, the same network from random
    initializations. Model choice uses a validation split carved from the training set; the
    test set is evaluated once per network (see
    :func:`~weightinit.experiments.finetune.finetune`). The result keeps the DBN and the
    fine-tuned network for its ``write(folder)``. The settings ``config`` leaves as None are
    fitted to ``dataset`` first (:func:`resolve`).

    With ``checkpoint_dir``, every pre-trained layer, every epoch and every finished
    fine-tuning (``finetune-<k>/``) is checkpointed there, and a second call continues.
    """
    config = resolve(config or DBNConfig(), dataset)
    layers, n_valid = list(config.layers), config.n_valid
    pretrain, train, controls, control_train = config.pretrain, config.train, config.controls, config.control_train
    dropout, input_dropout, refit = config.dropout, config.input_dropout, config.refit

    tuning, _ = split_validation(dataset, n_valid)
    dbn = DBN(layers)
    start = time.perf_counter()
    n_batches = math.ceil(len(tuning) / pretrain.batch_size) * pretrain.epochs * (len(layers) - 1)
    with progress_bar(n_batches, "pre-training", progress) as bar:
        dbn.pretrain(tuning.x, pretrain, checkpoint_dir=None if checkpoint_dir is None else str(checkpoint_dir),
                     on_layer=on_layer, on_batch=bar.update)
    pretrain_seconds = time.perf_counter() - start
    model = dbn.to_mlp(dataset.n_classes, "sigmoid", torch.Generator().manual_seed(train.seed), dropout=dropout,
                       input_dropout=input_dropout)

    def run(k: int) -> FinetuneResult:
        if k == 0:
            return finetune(model, dataset, train, n_valid=n_valid, name="DBN pre-training + fine-tuning (sigmoid)",
                            refit=refit, progress=progress, checkpoint=checkpoint_in(checkpoint_dir, "finetune-0"))
        control = controls[k - 1]
        net = mlp([*layers, dataset.n_classes], control.activation, dropout=dropout)
        if input_dropout:
            net.insert(0, torch.nn.Dropout(input_dropout))
        init_model(net, control.scheme, generator=torch.Generator().manual_seed(train.seed))
        return finetune(net, dataset, control_train or train, n_valid=n_valid, name=control.name, refit=refit,
                        progress=progress, checkpoint=checkpoint_in(checkpoint_dir, f"finetune-{k}"))

    # the fine-tunings are independent: under torchrun they are shared among the processes (the
    # DBN's on rank 0, which writes it), or each is data parallel when they are fewer than the processes
    runs = distributed.share_runs(range(len(controls) + 1), run)
    chance = chance_accuracy(dataset.train.y)
    result = DBNResult(
        dataset=dataset.name,
        source=dataset.source,
        arch="-".join(map(str, [*layers, dataset.n_classes])),
        config={"pretrain": asdict(pretrain), "finetune": asdict(train), "controls": asdict(control_train or train),
                "n_valid": n_valid, "dropout": dropout, "input_dropout": input_dropout, "refit": refit},
        seconds={"pretrain": pretrain_seconds, "finetune": runs[0].seconds, "refit": runs[0].refit_seconds,
                 "controls": sum(r.seconds for r in runs[1:])},
        runs=runs,
        versions=versions(),
        chance_accuracy=chance,
        near_chance=[run.name for run in runs if near_chance(run.test_accuracy, chance)],
        dbn=dbn, model=model, data=dataset, chain_steps=config.chain_steps,
    )
    return result


def chance_accuracy(y: torch.Tensor) -> float:
    """The accuracy of always guessing the most frequent class of the labels ``y``, of shape
    (n_samples,): :math:`\\max_k n_k / n` (digits: 0.102, MNIST: 0.112)."""
    return (torch.bincount(y).max() / len(y)).item() if len(y) else 0.0


def near_chance(accuracy: float, chance: float, share: float = NEAR_CHANCE) -> bool:
    """Whether ``accuracy`` lies less than ``share`` of the way from ``chance`` to 1:
    :math:`a < c + s (1 - c)` (a NaN accuracy, from a diverged run, counts as near)."""
    return not accuracy >= chance + share * (1 - chance)
