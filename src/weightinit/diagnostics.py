"""What an initialization does to the signal, layer by layer: one forward and one backward
pass through hooks, in the spirit of Glorot & Bengio (2010, figs. 6-7) and He et al. (2015).

For every Linear/Conv layer of any ``nn.Module`` (and the activation module that follows it,
by the rule of :mod:`weightinit.layers`): mean and std of its output (pre-activation) and of
the activation's output; the saturated fraction (tanh: |a| > 0.9; sigmoid: within 0.05 of 0
or 1) or the dead fraction (ReLU family: units at 0 for every sample of the batch); the std of
the gradient back-propagated to the layer's output and of the gradient of its weights; and
the ratio of each std to the first layer's. Vanishing or exploding signals show as ratios far
from 1.

The model is left as it was: hooks removed, parameter gradients restored, train/eval mode
restored; the pass runs in eval mode (dropout off) inside ``torch.random.fork_rng``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from .activations import BOUNDED, RECTIFIER, SIGMOID, activation_of
from .errors import UserError
from .layers import forward_checked, layers_with_activations

__all__ = ["LayerStats", "Report", "diagnose", "saturation_fractions"]

_SAMPLE = 20_000  # values kept per layer for histograms


@dataclass
class LayerStats:
    name: str
    kind: str
    activation: str  # the following activation module's class name, "linear" if none
    pre_mean: float
    pre_std: float
    post_mean: float
    post_std: float
    saturated: float | None  # tanh / sigmoid: fraction of saturated outputs
    dead: float | None  # ReLU family: fraction of units at 0 for the whole batch
    grad_std: float  # std of dLoss/d(layer output)
    weight_grad_std: float  # std of dLoss/dW
    post_std_ratio: float = 1.0  # post_std / first layer's
    grad_std_ratio: float = 1.0  # grad_std / first layer's
    samples: dict = field(default_factory=dict, repr=False)  # "post" and "grad" value samples


@dataclass
class Report:
    layers: list[LayerStats]
    loss: float
    first_nonfinite: str | None = None  # the first layer whose output holds NaN/inf, if any

    def to_dicts(self) -> list[dict]:
        return [{k: v for k, v in asdict(layer).items() if k != "samples"} for layer in self.layers]

    def table(self) -> str:
        header = ("layer", "act", "pre std", "post std", "ratio", "sat/dead", "grad std", "ratio", "dW std")
        rows = [header]
        for s in self.layers:
            flag = s.saturated if s.saturated is not None else s.dead
            rows.append((s.name, s.activation, f"{s.pre_std:.3g}", f"{s.post_std:.3g}", f"{s.post_std_ratio:.3g}",
                         "" if flag is None else f"{100 * flag:.1f}%", f"{s.grad_std:.3g}", f"{s.grad_std_ratio:.3g}",
                         f"{s.weight_grad_std:.3g}"))
        widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
        return "\n".join("  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
                         for r in rows)


def _sample(t: torch.Tensor) -> torch.Tensor:
    flat = t.detach().flatten().float().cpu()
    if len(flat) > _SAMPLE:
        flat = flat[torch.linspace(0, len(flat) - 1, _SAMPLE).long()]
    return flat


def saturation_fractions(activation: nn.Module | None, post: torch.Tensor) -> tuple[float | None, float | None]:
    """(saturated fraction, dead fraction) of the activation's outputs, by its failure mode."""
    entry = None if activation is None else activation_of(activation)
    failure = None if entry is None else entry.failure
    if failure == BOUNDED:
        return float((post.abs() > 0.9).float().mean()), None
    if failure == SIGMOID:
        return float(((post < 0.05) | (post > 0.95)).float().mean()), None
    if failure == RECTIFIER:
        units = post.transpose(0, 1).reshape(post.shape[1], -1)  # (units/channels, everything else)
        return None, float((units.abs().max(1).values <= 1e-8).float().mean())
    return None, None


def diagnose(
    model: nn.Module,
    batch: torch.Tensor | tuple[torch.Tensor, torch.Tensor],
    loss_fn: Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor] | None = None,
) -> Report:
    """One forward and backward pass of ``batch`` (``x`` or ``(x, y)``) through ``model``.

    Args:
        loss_fn: ``(output, y) -> scalar``. Default: cross-entropy when labels are given,
            else ``0.5·|output|² / N``, whose gradient is the output itself.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    x, y = batch if isinstance(batch, (tuple, list)) else (batch, None)
    if not isinstance(x, torch.Tensor) or len(x) < 2:
        raise UserError("batch must hold a tensor of at least 2 samples (statistics need more than one)")
    pairs = layers_with_activations(model)
    if not pairs:
        raise UserError(f"{type(model).__name__} has no Linear/Conv layers to diagnose")
    saved_grads = {p: None if p.grad is None else p.grad.clone() for p in model.parameters()}
    was_training = model.training
    captured: dict[str, dict[str, torch.Tensor]] = {name: {} for name, _, _ in pairs}
    hooks = []

    def keep(name: str, key: str):
        def hook(module, inputs, output):
            captured[name][key] = output
            if key == "pre" and output.requires_grad:
                output.register_hook(lambda g: captured[name].__setitem__("grad", g))
        return hook

    for name, layer, activation in pairs:
        hooks.append(layer.register_forward_hook(keep(name, "pre")))
        if activation is not None:
            hooks.append(activation.register_forward_hook(keep(name, "post")))
    try:
        model.eval()
        for p in model.parameters():
            p.grad = None
        with torch.random.fork_rng(devices=[]), torch.enable_grad():
            output = forward_checked(model, x)
            if loss_fn is not None:
                loss = loss_fn(output, y)
            elif y is not None:
                loss = F.cross_entropy(output, y)
            else:
                loss = 0.5 * output.pow(2).sum() / len(x)
            loss.backward()
        stats = []
        for name, layer, activation in pairs:
            c = captured[name]
            if "pre" not in c:
                continue  # a layer the forward pass did not use
            pre = c["pre"].detach()
            post = c.get("post", pre).detach()
            kind = type(activation).__name__ if activation is not None else "linear"
            saturated, dead = saturation_fractions(activation, post)
            grad = c.get("grad", torch.zeros_like(pre))
            weight_grad = layer.weight.grad if layer.weight.grad is not None else torch.zeros(1)
            stats.append(LayerStats(
                name, type(layer).__name__, kind, float(pre.mean()), float(pre.std()), float(post.mean()),
                float(post.std()), saturated, dead, float(grad.std()), float(weight_grad.std()),
                samples={"post": _sample(post), "grad": _sample(grad)},
            ))
        for s in stats:
            s.post_std_ratio = s.post_std / stats[0].post_std if stats[0].post_std else float("nan")
            s.grad_std_ratio = s.grad_std / stats[0].grad_std if stats[0].grad_std else float("nan")
        bad = next((name for name, c in captured.items() if "pre" in c and not torch.isfinite(c["pre"]).all()), None)
        if bad is not None:
            warnings.warn(f"the output of layer {bad!r} is the first to hold NaN or inf", RuntimeWarning, stacklevel=2)
        return Report(stats, float(loss.detach()), bad)
    finally:
        for hook in hooks:
            hook.remove()
        for p, g in saved_grads.items():
            p.grad = g
        model.train(was_training)
