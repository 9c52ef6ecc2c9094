"""The estimators' fine-tuning: minibatch back-propagation, one epoch per call.

:func:`weightinit.training.fit` is the package's training loop for experiments (cross-entropy,
checkpoints, resume, data parallel); an estimator needs less and something else: a loss of its
own (squared error for a regressor), one epoch at a time (``partial_fit``, early stopping
decided by the estimator), and a state that pickles. :class:`Backprop` is that: the data stay
two tensors, each epoch draws a permutation from the estimator's seeded ``torch.Generator``,
and the L2 penalty is scikit-learn's MLP's,

.. math::
    L = \\frac{1}{B}\\sum_{i \\in \\text{batch}} \\ell(f(x_i), y_i)
      + \\frac{\\alpha}{2B} \\sum_{\\text{weights}} w^2,

applied as a weight decay of :math:`\\alpha / B` on the weight matrices (not the biases).

The optimizer and the data order are the training engine's
(:func:`weightinit.training.make_optimizer`, :func:`weightinit.training.epoch_order`), as ``fit``'s are.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from ..training.optimizer import OptimizerSettings, make_optimizer
from ..training.order import epoch_order

__all__ = ["Backprop", "SOLVERS"]

SOLVERS = ("adam", "sgd")


class Backprop:
    """Trains ``model`` to minimize ``loss(model(x), y)`` by Adam or SGD with momentum.

    Args:
        model: maps (B, D) inputs to (B, n_outputs); trained in place.
        loss: mean loss of a batch, ``loss(output, target) -> 0-d tensor``.
        solver: ``"adam"`` (Kingma & Ba 2015) or ``"sgd"`` (with ``momentum``).
        learning_rate, momentum, alpha, batch_size: as the estimator's parameters.
        generator: the seeded generator every epoch's permutation is drawn from.
    """

    def __init__(self, model: nn.Module, loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], *,
                 solver: str, learning_rate: float, momentum: float, alpha: float, batch_size: int,
                 generator: torch.Generator) -> None:
        self.model, self.loss = model, loss
        self.batch_size, self.alpha, self.generator = batch_size, alpha, generator
        weights = [p for name, p in model.named_parameters() if name.endswith("weight")]
        others = [p for name, p in model.named_parameters() if not name.endswith("weight")]
        groups = [{"params": weights, "weight_decay": alpha / batch_size}, {"params": others, "weight_decay": 0.0}]
        self.optimizer = make_optimizer(groups, OptimizerSettings(solver, learning_rate, momentum))
        self._weights = weights

    def epoch(self, x: torch.Tensor, y: torch.Tensor) -> float:
        """One pass over (x, y) in a random order; returns the mean loss over the samples plus
        the L2 penalty at the end of the epoch (scikit-learn's MLP reports the same)."""
        n, batch = len(x), self.batch_size
        order = epoch_order(n, self.generator, x.device)
        # dropout draws from the global RNG: seeded from the generator, inside fork_rng (left as it was)
        seed = int(torch.randint(0, 2**62, (1,), generator=self.generator, device=self.generator.device))
        total = torch.zeros((), dtype=torch.float64, device=x.device)
        self.model.train()
        cuda = x.device.type == "cuda"
        with torch.random.fork_rng(devices=[x.device.index or 0] if cuda else []):
            # the generator dropout draws from on x's device (torch.manual_seed would reseed every device)
            (torch.cuda.default_generators[x.device.index or 0] if cuda else torch.default_generator).manual_seed(seed)
            for _, index in order.batches(batch):
                loss = self.loss(self.model(x.index_select(0, index)), y.index_select(0, index))
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                self.optimizer.step()
                total += loss.detach().double() * len(index)
        penalty = sum(float((w.detach() ** 2).sum()) for w in self._weights) * 0.5 * self.alpha / min(batch, n)
        value = float(total) / n + penalty
        return value if math.isfinite(value) else float("nan")

    def state_dict(self) -> dict:
        return {"optimizer": self.optimizer.state_dict(), "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
