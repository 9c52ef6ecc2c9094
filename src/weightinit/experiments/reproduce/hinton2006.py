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
from dataclasses import asdict, dataclass

import torch

from ...boltzmann.dbn import DBN
from ...boltzmann.rbm import RBM
from ...boltzmann.trainer import RBMConfig, RBMHistory
from ...boltzmann.updown import UpDownConfig, UpDownDBN, train_top
from ...data.datasets import Dataset
from ...data.transforms import split_validation
from ...training.loop import TrainConfig
from .._common import versions
from ..dbn import Control, DBNResult, dbn_experiment

__all__ = ["LAYERS", "REFERENCES", "controls", "hinton2006", "UPDOWN_LAYERS", "UPDOWN_TOP", "UpDownResult",
           "hinton2006_updown"]

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


def hinton2006(dataset: Dataset, *, pretrain: RBMConfig, train: TrainConfig, control_train: TrainConfig,
               n_valid: int = 10_000, dropout: float = 0.0, input_dropout: float = 0.0, refit: bool = False,
               checkpoint_dir: str | os.PathLike | None = None, progress: bool = False,
               on_layer: Callable[[int, RBMHistory | None], None] | None = None,
               ) -> tuple[DBN, torch.nn.Module, DBNResult]:
    """The DBN of :data:`LAYERS` (its hidden layers over the data's features: the paper's
    network on MNIST) pre-trained with ``pretrain`` and fine-tuned with ``train``; the controls
    with ``control_train``; the published errors in ``references``."""
    dbn, model, result = dbn_experiment(
        dataset, layers=(dataset.n_features, *LAYERS[1:]), pretrain=pretrain, train=train, n_valid=n_valid,
        controls=controls(control_train),
        control_train=control_train, checkpoint_dir=checkpoint_dir, dropout=dropout, input_dropout=input_dropout,
        refit=refit, progress=progress, on_layer=on_layer)
    result.experiment = "hinton2006"
    result.references = dict(REFERENCES)
    return dbn, model, result


@dataclass
class UpDownResult:
    """What ``hinton2006_updown`` measured: ``to_dict()`` is the ``results.json`` schema."""

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

    def to_dict(self) -> dict:
        return asdict(self)

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


def hinton2006_updown(dataset: Dataset, *, pretrain: RBMConfig, top: RBMConfig, updown: UpDownConfig,
                      n_valid: int = 10_000, top_hidden: int = UPDOWN_TOP,
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
        versions=versions())
    return model, result
