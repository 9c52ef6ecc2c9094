"""Greedy layer-wise pre-training for the DBN estimators (Hinton, Osindero & Teh 2006).

:meth:`weightinit.boltzmann.DBN.pretrain` serves the experiments (checkpoints, a monitoring
set measured after every epoch); the estimators need only the training, with what they already
know about the data (its mean) and one seeded generator, so this drives each layer's
:class:`~weightinit.boltzmann.RBMTrainer` directly: no per-epoch monitoring, no extra passes
over the data, unless ``verbose`` asks for a line per epoch.
"""

from __future__ import annotations

import time

import torch

from ..boltzmann.dbn import DBN
from ..boltzmann.rbm import RBM
from ..boltzmann.trainer import RBMConfig, RBMDivergedError, RBMTrainer
from ..errors import UserError

__all__ = ["pretrain_layers", "hidden_probabilities"]


@torch.no_grad()
def hidden_probabilities(rbm: RBM, x: torch.Tensor, chunk: int = 8192) -> torch.Tensor:
    """p(h = 1 | x) for all of x (the next layer's data), a chunk of rows at a time."""
    return torch.cat([torch.sigmoid(rbm.hidden_input(part)) for part in x.split(chunk)])


def pretrain_layers(dbn: DBN, x: torch.Tensor, first_mean: torch.Tensor, configs: list[RBMConfig],
                    generator: torch.Generator, *, verbose: int = 0, parameter: str = "pretrain_learning_rate") -> None:
    """Train ``dbn``'s RBMs bottom up, each on the hidden probabilities of the one below.

    Args:
        x: the visible units of the first RBM (probabilities, or standardized values for a
            Gaussian one), already checked.
        first_mean: x's column means, for the first RBM's visible biases.
        configs: one per layer (its epochs, batch size, learning rate, ...).
        generator: draws every layer's weights, data order and Gibbs noise, in turn.
        verbose: print one line per epoch (reconstruction error on up to 1,000 samples).
        parameter: the estimator's name for the learning rate, for a divergence message.
    """
    data, mean = x, first_mean
    for i, (rbm, config) in enumerate(zip(dbn.rbms, configs)):
        rbm.reset_parameters(generator=generator, mean=mean)
        trainer = RBMTrainer(rbm, config, generator)
        for epoch in range(1, config.epochs + 1):
            start = time.perf_counter()
            try:
                trainer.epoch(data)
            except RBMDivergedError as error:
                raise UserError(f"pre-training layer {i + 1} diverged in epoch {error.epoch} ({error.what}); "
                                f"{parameter}={config.lr:g} is the likely cause: try a smaller one") from None
            if verbose:
                error = rbm.reconstruction_error(data[:1000])
                print(f"Pre-training layer {i + 1} ({rbm.n_visible}-{rbm.n_hidden}), epoch {epoch}, "
                      f"reconstruction error = {error:.4f}, time = {time.perf_counter() - start:.2f}s")
        if i < len(dbn.rbms) - 1:
            data = hidden_probabilities(rbm, data)
            mean = data.mean(0)
