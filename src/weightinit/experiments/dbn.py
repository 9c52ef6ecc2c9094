"""The lecture's pipeline: greedy RBM pre-training of a Deep Belief Network, then
back-propagation fine-tuning of the sigmoid network it initializes (Hinton, Osindero & Teh
2006; Hinton & Salakhutdinov 2006), beside controls trained from random initializations.

Each network's test accuracy is set beside chance (:func:`chance_accuracy`: always guessing
the training set's most frequent class); a network within :data:`NEAR_CHANCE` of the way from
chance to 100% is named in the result's ``near_chance``, so that a run that learned nothing is
said to be one rather than reported as if all were well."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import torch

from .._checks import check_choice, check_int, check_number
from ..boltzmann.dbn import DBN, check_layer_sizes
from ..boltzmann.trainer import RBMConfig, RBMHistory
from ..data.datasets import Dataset
from ..data.transforms import split_validation
from ..errors import UserError
from ..modelinit.activations import ACTIVATIONS
from ..modelinit.plan import init_model
from ..modelinit.schemes import check_schemes
from ..models.builders import mlp
from ..runs import distributed
from ..training.loop import TrainConfig
from ._common import checkpoint_in, progress_bar, versions
from ._config import ConfigError, literal, param
from ._dbn_result import NEAR_CHANCE, DBNResult, write_chains
from .finetune import FinetuneResult, finetune

__all__ = ["Control", "DBNConfig", "DBNResult", "dbn_experiment", "chance_accuracy", "near_chance", "NEAR_CHANCE",
           "HIDDEN", "default_n_valid", "write_chains", "CHAIN_STEPS"]

HIDDEN = (500, 500, 2000)  # the hidden layers of Hinton, Osindero & Teh (2006), above the data's features
CHAIN_STEPS = 1000  # Gibbs steps between the frames of chains.png


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


@dataclass(frozen=True)
class DBNConfig:
    """What ``dbn_experiment`` runs, checked when made (before any pre-training).

    Attributes:
        layers: visible and hidden sizes; None: the data's features, then :data:`HIDDEN`.
        pretrain, train: the RBMs' pre-training and the DBN's fine-tuning.
        n_valid: training images held out for model choice; None: :func:`default_n_valid`.
        controls, control_train: networks trained from random inits beside the DBN, and how
            they train (default ``train``: SGD at a high rate suits the pre-trained sigmoid
            net, not a ReLU one).
        dropout, input_dropout: when fine-tuning, after each hidden layer and on the inputs.
        refit: train each network again on the whole training set for the epochs validation
            chose, before its one test evaluation.
        chain_steps: Gibbs steps between the frames of chains.png.
    """

    layers: tuple[int, ...] | None = None
    pretrain: RBMConfig = field(default_factory=RBMConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    n_valid: int | None = None
    controls: tuple[Control, ...] = ()
    control_train: TrainConfig | None = None
    dropout: float = 0.0
    input_dropout: float = 0.0
    refit: bool = False
    chain_steps: int = CHAIN_STEPS

    def __post_init__(self) -> None:
        if self.layers is not None:
            object.__setattr__(self, "layers", tuple(check_layer_sizes(list(self.layers))))
        if self.n_valid is not None:
            check_int("n_valid", self.n_valid, 1)
        for name in ("dropout", "input_dropout"):
            value = getattr(self, name)
            if not 0 <= check_number(name, value) < 1:
                raise UserError(f"{name} must be in [0, 1), got {value!r}")
        object.__setattr__(self, "controls", tuple(self.controls))
        if self.controls:
            check_schemes([control.scheme for control in self.controls])
        for control in self.controls:
            check_choice("activation", control.activation, ACTIVATIONS)
        check_int("chain_steps", self.chain_steps, 1)

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
    fine-tuned network for its ``write(folder)``.

    With ``checkpoint_dir``, every pre-trained layer, every epoch and every finished
    fine-tuning (``finetune-<k>/``) is checkpointed there, and a second call continues.
    """
    config = config or DBNConfig()
    layers = config.layers_for(dataset)
    n_valid = config.n_valid_for(dataset)
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
