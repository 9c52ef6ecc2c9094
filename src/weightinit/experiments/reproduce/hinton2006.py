"""Hinton, Osindero & Teh (2006), "A fast learning algorithm for deep belief nets": the
784-500-500-2000 network on MNIST, pre-trained greedily as a DBN and fine-tuned, beside the
same network trained from random initializations (sigmoid with Xavier, ReLU with He)."""

from __future__ import annotations

import os
from collections.abc import Callable

import torch

from ...boltzmann.dbn import DBN
from ...boltzmann.trainer import RBMConfig, RBMHistory
from ...data.datasets import Dataset
from ...train import TrainConfig
from ..dbn import Control, DBNResult, dbn_experiment

__all__ = ["LAYERS", "REFERENCES", "controls", "hinton2006"]

LAYERS = (784, 500, 500, 2000)

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
