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
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import torch

from .._checks import check_choice, check_number
from ..boltzmann.dbn import DBN
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
from .finetune import FinetuneResult, finetune

__all__ = ["Control", "DBNResult", "dbn_experiment", "chance_accuracy", "near_chance", "NEAR_CHANCE"]

# A network is "near chance" when its test accuracy a lies less than this share of the way from chance c to
# 100%: a < c + NEAR_CHANCE (1 - c). Digits (c = 0.102): below 32.6%. Measured there: the former defaults
# (SGD, 10 pre-training epochs) 11.9%, 13.3% on validation; the defaults since (Adam, 100 epochs) 95.8%.
NEAR_CHANCE = 0.25


@dataclass(frozen=True)
class Control:
    """A network trained from a random initialization beside the DBN: its name in the table,
    the init scheme and the hidden activation."""

    name: str
    scheme: str
    activation: str


@dataclass
class DBNResult:
    """What ``dbn_experiment`` measured: ``to_dict()`` is the ``results.json`` schema."""

    dataset: str
    source: str
    arch: str
    config: dict  # pretrain, finetune, controls (their TrainConfig), n_valid, dropout, input_dropout, refit
    seconds: dict  # pretrain, finetune, refit, controls
    runs: list[FinetuneResult]  # the DBN first, then the controls
    versions: dict
    references: dict[str, float] = field(default_factory=dict)  # published test errors (%)
    experiment: str = "dbn"
    chance_accuracy: float | None = None  # always the training set's most frequent class (chance_accuracy)
    near_chance: list[str] = field(default_factory=list)  # the runs whose test accuracy is near it (near_chance)

    def to_dict(self) -> dict:
        return asdict(self)

    def table(self) -> str:
        """Markdown: each network's test error (the test set touched once), best epoch by
        validation (marked "refit" when the tested network was then trained again on all the
        training data for that many epochs), and the published references."""
        lines = ["| network | test error | valid accuracy | best epoch | fine-tuning s |", "|---|---|---|---|---|"]
        for run in self.runs:
            epoch = f"{run.best_epoch}{', refit' if run.refit else ''}"
            lines.append(f"| {run.name} | {run.test_error_percent:.2f}% | {100 * run.valid_accuracy:.2f}% | "
                         f"{epoch} | {run.seconds:.0f} |")
        for name, error in self.references.items():
            lines.append(f"| *published:* {name} | {error:.2f}% | | | |")
        return "\n".join(lines)

    def wall_time(self) -> str:
        """The time of each phase, in one line."""
        s = self.seconds
        refit = f" (refit {s['refit']:.0f} s)" if s.get("refit") else ""
        return (f"pre-training {s['pretrain']:.0f} s, fine-tuning {s['finetune']:.0f} s{refit}, "
                f"controls {s['controls']:.0f} s")


def dbn_experiment(
    dataset: Dataset,
    *,
    layers: Sequence[int],
    pretrain: RBMConfig,
    train: TrainConfig,
    n_valid: int = 10_000,
    controls: Sequence[Control] = (),
    control_train: TrainConfig | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    dropout: float = 0.0,
    input_dropout: float = 0.0,
    refit: bool = False,
    progress: bool = False,
    on_layer: Callable[[int, RBMHistory | None], None] | None = None,
) -> tuple[DBN, torch.nn.Module, DBNResult]:
    """Greedy RBM pre-training of ``layers``, a sigmoid network initialized from it and
    fine-tuned by back-propagation; and, as ``controls``, the same network from random
    initializations. Model choice uses a validation split carved from the training set; the
    test set is evaluated once per network. The controls train with ``control_train``
    (default: ``train``), so that each network can get settings that suit it (SGD at a high
    rate suits the pre-trained sigmoid net, not a ReLU one). With ``refit`` each network is
    trained again on the whole training set for the epochs validation chose, before its one
    test evaluation (see :func:`~weightinit.experiments.finetune.finetune`).

    With ``checkpoint_dir``, every pre-trained layer, every epoch and every finished
    fine-tuning (``finetune-<k>/``) is checkpointed there, and a second call continues.
    """
    layers = list(layers)
    if layers[0] != dataset.n_features:
        raise UserError(f"layers start with {layers[0]} units but {dataset.name} has {dataset.n_features} features")
    # everything the fine-tuning needs is checked before the pre-training
    for name, p in (("dropout", dropout), ("input_dropout", input_dropout)):
        if not 0 <= check_number(name, p) < 1:
            raise UserError(f"{name} must be in [0, 1), got {p!r}")
    if controls:
        check_schemes([control.scheme for control in controls])
    for control in controls:
        check_choice("activation", control.activation, ACTIVATIONS)
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
    )
    return dbn, model, result


def chance_accuracy(y: torch.Tensor) -> float:
    """The accuracy of always guessing the most frequent class of the labels ``y``, of shape
    (n_samples,): :math:`\\max_k n_k / n` (digits: 0.102, MNIST: 0.112)."""
    return (torch.bincount(y).max() / len(y)).item() if len(y) else 0.0


def near_chance(accuracy: float, chance: float, share: float = NEAR_CHANCE) -> bool:
    """Whether ``accuracy`` lies less than ``share`` of the way from ``chance`` to 1:
    :math:`a < c + s (1 - c)` (a NaN accuracy, from a diverged run, counts as near)."""
    return not accuracy >= chance + share * (1 - chance)
