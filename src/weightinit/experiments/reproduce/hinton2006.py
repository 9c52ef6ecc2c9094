"""Hinton, Osindero & Teh (2006), "A fast learning algorithm for deep belief nets": the
784-500-500-2000 network on MNIST, pre-trained greedily as a DBN and fine-tuned, beside the
same network trained from random initializations (sigmoid with Xavier, ReLU with He)
(:func:`hinton2006`); and as published (:func:`hinton2006_updown`): the labels in the top RBM,
up-down fine-tuning, classification by free energy (:mod:`weightinit.boltzmann.updown`)."""

from __future__ import annotations

import copy
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace

from ...boltzmann.dbn import DBN
from ...boltzmann.rbm import RBM
from ...boltzmann.trainer import RBMConfig, RBMHistory
from ...boltzmann.updown import UpDownConfig, UpDownDBN, train_top
from ...data.datasets import Dataset
from ...data.transforms import split_validation
from ...runs.files import write_weights
from ...training.loop import TrainConfig
from .._common import versions
from .._config import MAX_UNITS, count
from .._result import ResultBase, artifact, output_folder, plain_fields, write_json, write_texts
from ..dbn import Control, DBNConfig, DBNResult, dbn_experiment, default_n_valid, resolve

__all__ = ["LAYERS", "REFERENCES", "controls", "hinton2006", "UPDOWN_LAYERS", "UPDOWN_TOP", "UpDownResult",
           "UpDownExperimentConfig", "hinton2006_updown"]

LAYERS = (784, 500, 500, 2000)
UPDOWN_LAYERS = (784, 500, 500)  # up-down: the lower layers; the top RBM joins the labels to the last
UPDOWN_TOP = 2000  # the top RBM's hidden units

# Published MNIST test errors (%) of the 784-500-500-2000 network, for the table.
REFERENCES = {
    "Hinton, Osindero & Teh 2006 (DBN, up-down fine-tuning)": 1.25,
    "Hinton & Salakhutdinov 2006 (DBN + back-prop fine-tuning)": 1.2,
    "deeplearning.net tutorial DBN": 1.34,
    "plain back-prop of that era": 1.6,
}


def controls(control_train: TrainConfig) -> tuple[Control, Control]:
    """The randomly initialized networks the DBN is set beside, named with their settings."""
    settings = f"{control_train.optimizer} lr {control_train.lr:g}, {control_train.epochs} epochs"
    return (Control(f"random init, sigmoid, xavier_uniform ({settings})", "xavier_uniform", "sigmoid"),
            Control(f"random init, ReLU, he_normal ({settings})", "he_normal", "relu"))


def hinton2006(dataset: Dataset, config: DBNConfig, *, checkpoint_dir: str | os.PathLike | None = None,
               progress: bool = False, on_layer: Callable[[int, RBMHistory | None], None] | None = None,
               ) -> DBNResult:
    """The DBN of :data:`LAYERS` (its hidden layers over the data's features: the paper's
    network on MNIST) pre-trained with ``config.pretrain`` and fine-tuned with ``config.train``;
    the :func:`controls` with ``config.control_train`` (default ``config.train``); the
    published errors in ``references``. ``config.layers`` and ``config.controls`` are the paper's;
    the settings left as None are fitted to the data first (:func:`~weightinit.experiments.dbn.resolve`)."""
    config = resolve(replace(config, layers=(dataset.n_features, *LAYERS[1:])), dataset)
    control_train = config.control_train or config.train
    config = replace(config, controls=controls(control_train), control_train=control_train)
    result = dbn_experiment(dataset, config, checkpoint_dir=checkpoint_dir, progress=progress, on_layer=on_layer)
    result.experiment = "hinton2006"
    result.references = dict(REFERENCES)
    return result


@dataclass(frozen=True)
class UpDownExperimentConfig:
    """What ``hinton2006_updown`` runs: the lower layers' pre-training, the top RBM (over the
    last layer and the labels, ``top_hidden`` units) and up-down fine-tuning; ``n_valid``
    training images held out (None: a sixth)."""

    pretrain: RBMConfig = field(default_factory=RBMConfig)
    top: RBMConfig = field(default_factory=RBMConfig)
    updown: UpDownConfig = field(default_factory=UpDownConfig)
    n_valid: int | None = None
    top_hidden: int = UPDOWN_TOP

    def __post_init__(self) -> None:
        count("top_hidden", self.top_hidden, 1, MAX_UNITS)
        if self.n_valid is not None:
            count("n_valid", self.n_valid)

    def n_valid_for(self, dataset: Dataset) -> int:
        return default_n_valid(len(dataset.train)) if self.n_valid is None else self.n_valid


@dataclass
class UpDownResult(ResultBase):
    """What ``hinton2006_updown`` measured: ``to_dict()`` is the ``results.json`` schema,
    ``write(folder)`` writes updown.pt (and its .sha256), results.json and report.md."""

    dataset: str
    layers: list[int]  # the lower layers, data first; then the top RBM over [last + labels]
    top_hidden: int
    pretrain: dict  # RBMConfig of the lower layers
    top: dict  # RBMConfig of the top RBM
    updown: dict  # UpDownConfig
    n_valid: int
    greedy: dict  # the network before up-down: {"valid_error", "test_error"}
    valid_errors: list[float]  # after each up-down epoch
    best_epoch: int  # the up-down epoch of lowest validation error (0: before up-down)
    test_error: float  # of that network, tested once
    seconds: dict  # pretrain, top, updown
    references: dict
    versions: dict
    experiment: str = "hinton2006-updown"
    model: UpDownDBN | None = artifact()  # the fine-tuned network of lowest validation error (updown.pt)
    n_classes: int = artifact(10)

    def to_dict(self) -> dict:
        return plain_fields(self)

    def write(self, folder: str | os.PathLike) -> list[str]:
        folder = output_folder(folder)
        write_weights(folder / "updown.pt", {"state_dict": self.model.state_dict(), "layers": self.layers,
                                             "top_hidden": self.top_hidden, "n_classes": self.n_classes})
        return ["updown.pt", write_json(folder, self), *write_texts(folder, {
            "report.md": f"# hinton2006 --method up-down on {self.dataset}\n\n```\n{self.table()}\n```\n\n"
                         f"Seconds: {self.seconds}\n"})]

    def table(self) -> str:
        """The run's errors beside the paper's."""
        arch = "-".join(map(str, self.layers)) + f" + labels - {self.top_hidden}"
        rows = [f"Hinton, Osindero & Teh 2006 as published ({arch}) on {self.dataset}",
                f"  greedy (pre-trained, labels in the top RBM)  valid {100 * self.greedy['valid_error']:.2f}%  "
                f"test {100 * self.greedy['test_error']:.2f}%",
                f"  up-down fine-tuned (epoch {self.best_epoch} of {len(self.valid_errors)}, chosen on validation)  "
                f"valid {100 * min([self.greedy['valid_error'], *self.valid_errors]):.2f}%  "
                f"test {100 * self.test_error:.2f}%",
                "  published: up-down 1.25%, greedy without fine-tuning 2.49% (Hinton et al. 2006)"]
        return "\n".join(rows)


def hinton2006_updown(dataset: Dataset, config: UpDownExperimentConfig | None = None, *,
                      checkpoint_dir: str | os.PathLike | None = None,
                      on_layer: Callable[[int, RBMHistory | None], None] | None = None,
                      on_epoch: Callable[[str, int, float, float], None] | None = None,
                      ) -> tuple[UpDownDBN, UpDownResult]:
    """The paper's own method: the DBN 784-500-500 pre-trained greedily (``pretrain``), the top
    RBM over [500 units + 10 softmax labels] with ``top_hidden`` units (``top``), then up-down
    fine-tuning (``updown``); classification by the free energy of each label.

    The training images less the last ``n_valid`` train everything; after each up-down epoch
    the validation error is measured, the network of lowest validation error is kept (the one
    before up-down included), and the test set is touched once for it and once for the greedy
    network. ``on_epoch(stage, epoch, valid_error, seconds)`` reports the top RBM's epochs
    (stage "top", no error: nan) and up-down's ("updown").
    """
    config = config or UpDownExperimentConfig()
    pretrain, top, updown, top_hidden = config.pretrain, config.top, config.updown, config.top_hidden
    n_valid = config.n_valid_for(dataset)
    train, valid = split_validation(dataset, n_valid)
    layers = [dataset.n_features, *UPDOWN_LAYERS[1:]]
    start = time.perf_counter()
    dbn = DBN(layers)
    dbn.pretrain(train.x, pretrain, checkpoint_dir=checkpoint_dir, on_layer=on_layer)
    seconds = {"pretrain": time.perf_counter() - start}
    start = time.perf_counter()
    top_rbm = RBM(layers[-1] + dataset.n_classes, top_hidden).to(dbn.rbms[0].W.device)
    train_top(top_rbm, dbn.transform(train.x.to(top_rbm.W.device)), train.y, top,
              on_epoch=None if on_epoch is None else lambda e, s: on_epoch("top", e, float("nan"), s))
    seconds["top"] = time.perf_counter() - start
    model = UpDownDBN(dbn.rbms, top_rbm, dataset.n_classes)
    greedy = {"valid_error": model.error_rate(valid.x, valid.y), "test_error": model.error_rate(dataset.test.x,
                                                                                                  dataset.test.y)}
    best = (greedy["valid_error"], 0, copy.deepcopy(model.state_dict()))
    valid_errors: list[float] = []

    def after_epoch(epoch: int, epoch_seconds: float) -> None:
        nonlocal best
        error = model.error_rate(valid.x, valid.y)
        valid_errors.append(error)
        if error < best[0]:
            best = (error, epoch, copy.deepcopy(model.state_dict()))
        if on_epoch is not None:
            on_epoch("updown", epoch, error, epoch_seconds)

    start = time.perf_counter()
    model.fine_tune(train.x, train.y, updown, on_epoch=after_epoch)
    seconds["updown"] = time.perf_counter() - start
    model.load_state_dict(best[2])
    result = UpDownResult(
        dataset=dataset.name, layers=layers, top_hidden=top_hidden, pretrain=asdict(pretrain), top=asdict(top),
        updown=asdict(updown), n_valid=n_valid, greedy=greedy, valid_errors=valid_errors, best_epoch=best[1],
        test_error=model.error_rate(dataset.test.x, dataset.test.y), seconds=seconds,
        references={"Hinton, Osindero & Teh 2006 (up-down)": 1.25, "the same, greedy only": 2.49},
        versions=versions(), model=model, n_classes=dataset.n_classes)
    return result
