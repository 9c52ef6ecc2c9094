"""An exponential moving average of a model's weights, evaluated and kept in place of the
last iterate (Polyak & Juditsky 1992), as ``TrainConfig(ema=0.999)`` asks."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

__all__ = ["WeightAverage"]


class WeightAverage:
    """An exponential moving average of a model's parameters, updated after every optimizer
    step t (0, 1, ...): :math:`\\bar\\theta \\leftarrow d_t \\bar\\theta + (1 - d_t)\\theta` with
    :math:`d_t = \\min(d, \\tfrac{1 + t}{10 + t})`, TensorFlow's ExponentialMovingAverage
    warm-up, so that the first epochs' average is not dominated by the initial weights.

    Averaging the iterates (Polyak & Juditsky 1992) cancels much of SGD's and dropout's
    step-to-step noise: a cheap ensemble of the last few thousand steps' weights. Buffers
    (e.g. BatchNorm statistics) are not averaged.
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.params = [p for p in model.parameters()]
        self.average = [p.detach().clone() for p in self.params]
        self.decay = decay

    @torch.no_grad()
    def update(self, step: int) -> None:
        decay = min(self.decay, (1 + step) / (10 + step))
        torch._foreach_lerp_(self.average, [p.detach() for p in self.params], 1 - decay)

    @torch.no_grad()
    def copy_to_model(self) -> None:
        """Overwrite the model's parameters with the average."""
        torch._foreach_copy_([p.detach() for p in self.params], self.average)

    @contextmanager
    def applied(self) -> Iterator[None]:
        """The model holds the averaged weights inside the block, its own ones again after."""
        live = [p.detach().clone() for p in self.params]
        self.copy_to_model()
        try:
            yield
        finally:
            with torch.no_grad():
                torch._foreach_copy_([p.detach() for p in self.params], live)

    def state_dict(self) -> list[torch.Tensor]:
        return [a.detach().clone() for a in self.average]

    def load_state_dict(self, state: list[torch.Tensor]) -> None:
        with torch.no_grad():
            torch._foreach_copy_(self.average, [a.to(p.device) for a, p in zip(state, self.params)])
