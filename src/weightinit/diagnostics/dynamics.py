"""Training dynamics: what an initialization does to each layer *while* the network trains.

``fit(..., dynamics=Dynamics(model, every=50))`` records, every ``every`` optimizer steps and
for every Linear/Conv layer (with the activation after it, by :mod:`weightinit.modelinit.fans`' rule):

- the mean and std of the layer's activations (after its activation function) on that batch;
- the saturated fraction (tanh, sigmoid, softsign: the share of outputs in the flat tails) or
  the dead fraction (ReLU family: the share of units that output 0 for the whole batch),
  measured as :mod:`weightinit.diagnostics` does at step 0;
- the std of the gradient of the layer's weights;
- the update-to-weight ratio log10(|ΔW| / |W|) of that step, whose healthy value is about -3
  (Karpathy's rule of thumb: much lower, the layer barely learns; much higher, it thrashes).

Recording costs one hook call per layer on the recorded steps only; the other steps pay a
flag check. Each record also keeps a sample of the activations and gradients for histograms
(TensorBoard).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn

from .._checks import check_positive_int
from ..modelinit.fans import layers_with_activations
from .layer_stats import saturation_fractions

__all__ = ["DynamicsRecord", "Dynamics", "UPDATE_RATIO_REFERENCE"]

UPDATE_RATIO_REFERENCE = -3.0  # log10(|ΔW|/|W|) of a layer learning at a healthy pace
_SAMPLE = 2_000  # values kept per layer and record for histograms


@dataclass
class DynamicsRecord:
    """One layer at one recorded training step: activation statistics, gradient std and the
    size of the update relative to the weights (log10 |dW|/|W|)."""

    step: int  # optimizer steps done before this one, from 0
    epoch: int
    layer: str
    activation_mean: float
    activation_std: float
    saturated: float | None
    dead: float | None
    grad_std: float  # std of dLoss/dW
    update_ratio_log10: float  # log10(|ΔW| / |W|) of this step
    samples: dict = field(default_factory=dict, repr=False)  # "activation", "grad": value samples


def _sample(t: torch.Tensor) -> torch.Tensor:
    flat = t.detach().flatten().float().cpu()
    if len(flat) > _SAMPLE:
        flat = flat[torch.linspace(0, len(flat) - 1, _SAMPLE).long()]
    return flat


class Dynamics:
    """Records per-layer statistics of ``model`` every ``every`` steps of :func:`weightinit.training.fit`."""

    def __init__(self, model: nn.Module, every: int = 50) -> None:
        self.every = check_positive_int("every", every)
        self.records: list[DynamicsRecord] = []
        self._pairs = layers_with_activations(model)
        self._armed = False
        self._outputs: dict[str, torch.Tensor] = {}
        self._weights: dict[str, torch.Tensor] = {}
        self._grads: dict[str, torch.Tensor] = {}
        self._hooks = []
        for name, layer, activation in self._pairs:
            watched = activation if activation is not None else layer
            self._hooks.append(watched.register_forward_hook(self._keep(name)))

    def _keep(self, name: str):
        def hook(module, inputs, output):
            if self._armed:
                self._outputs[name] = output.detach()
        return hook

    def before_forward(self, step: int) -> None:
        self._armed = step % self.every == 0

    def before_update(self, step: int) -> None:
        """After the backward pass, before the optimizer step: the gradients and weights."""
        if not self._armed:
            return
        for name, layer, _ in self._pairs:
            self._weights[name] = layer.weight.detach().clone()
            grad = layer.weight.grad
            self._grads[name] = torch.zeros(1) if grad is None else grad.detach().clone()

    def after_update(self, step: int, epoch: int) -> None:
        """After the optimizer step: the update ratio; the step's records are complete."""
        if not self._armed:
            return
        for name, layer, activation in self._pairs:
            if name not in self._outputs:
                continue  # a layer this forward pass did not use
            out, before, grad = self._outputs[name], self._weights[name], self._grads[name]
            change = float((layer.weight.detach() - before).norm())
            norm = float(before.norm())
            ratio = math.log10(change / norm) if change > 0 and norm > 0 else float("-inf")
            saturated, dead = saturation_fractions(activation, out.float())
            self.records.append(DynamicsRecord(
                step, epoch, name, float(out.float().mean()), float(out.float().std()), saturated, dead,
                float(grad.float().std()) if grad.numel() > 1 else 0.0, ratio,
                {"activation": _sample(out), "grad": _sample(grad)}))
        self._outputs.clear()
        self._armed = False

    def remove(self) -> None:
        """Detach the hooks: the model is as it was."""
        for hook in self._hooks:
            hook.remove()
        self._hooks.clear()

    def to_dicts(self) -> list[dict]:
        return [{k: v for k, v in record.__dict__.items() if k != "samples"} for record in self.records]
