"""What an initialization does to the signal, layer by layer: one forward and one backward
pass through hooks, in the spirit of Glorot & Bengio (2010, figs. 6-7) and He et al. (2015).

For every Linear/Conv layer of any ``nn.Module`` and the activation that follows it: mean and
std of its output (pre-activation) and of the activation's output; the saturated fraction
(tanh: |a| > 0.9; sigmoid: within 0.05 of 0 or 1) or the dead fraction (ReLU family: units at
0 for every sample of the batch); the std of the gradient back-propagated to the layer's
output and of the gradient of its weights; and each std as a multiple of the first layer's.
Vanishing or exploding signals show as multiples far from 1. The activation is the one the
forward pass really applied, traced by :func:`weightinit.modelinit.tracing.tracing`, so
functions count (``F.gelu`` in ``nn.TransformerEncoderLayer``, labelled ``gelu()``); where the
trace sees none, the activation module that follows in module order (:mod:`weightinit.modelinit.fans`).

Recurrent layers (LSTM, GRU, RNN) and ``nn.MultiheadAttention`` get a row for their output
and their insides in two more tables (:mod:`weightinit.diagnostics.blocks`): per gate, its
pre-activation std and saturated fraction and the hidden state's std along the sequence; per
attention block, the std of the q·k/√d logits and the softmax entropy relative to log S. A
module called several times is measured on its last call.

The model is left as it was: hooks removed, parameter gradients restored, train/eval mode
restored; the pass runs in eval mode (dropout off) inside ``torch.random.fork_rng``.

A layer has one name in the table and in every figure, :attr:`LayerStats.label`: its place in
the forward order, its type and size, ``"layer 1 (Linear 64->256)"``, the output layer
included; :attr:`LayerStats.name` is its module name in the model (``"0"`` in an
``nn.Sequential``), for ``model.get_submodule(name)``.

``batch`` may hold numpy arrays: they become tensors (features in the model's dtype, integer
labels int64), as :func:`weightinit.modelinit.plan.as_model_input` converts them.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import PackedSequence

from ..errors import UserError
from ..modelinit.activations import activation_of, gain_args
from ..modelinit.fans import forward_checked, layers_with_activations
from ..modelinit.plan import as_model_input
from ..modelinit.tracing import tracing
from .blocks import (
    RECURRENT,
    AttentionStats,
    RecurrentStats,
    attention_stats,
    failure_of,
    recurrent_stats,
    saturation,
)

__all__ = ["LayerStats", "Report", "diagnose", "saturation_fractions", "layer_label", "layer_labels", "TABLE_KEY"]

BLOCKS = (*RECURRENT, nn.MultiheadAttention)  # modules with their own rows and a table of their insides

_SAMPLE = 20_000  # values kept per layer for histograms


@dataclass
class LayerStats:
    """One weight layer at initialization: its output before and after the activation, the
    saturated or dead share, and the gradient that reaches it (std, and ratio to the first layer's)."""

    name: str  # the module's name in the model ("0" in an nn.Sequential)
    kind: str  # its class name: "Linear", "Conv2d", "LSTM", ...
    activation: str  # the activation module's class name, "gelu()" for a function, "linear" if none, "-" for a block
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
    label: str = ""  # its name in tables and figures: "layer 1 (Linear 64->256)" (:func:`layer_label`)


def _size(layer: nn.Module) -> str:
    """What a layer maps: ``"64->256"`` (features, channels, a recurrent layer's input to hidden
    size), ``"64"`` for attention's embedding; ``""`` if it says nothing of the kind."""
    if hasattr(layer, "in1_features"):  # nn.Bilinear
        return f"{layer.in1_features}+{layer.in2_features}->{layer.out_features}"
    for source, target in (("in_features", "out_features"), ("in_channels", "out_channels"),
                           ("input_size", "hidden_size")):
        if hasattr(layer, source) and hasattr(layer, target):
            return f"{getattr(layer, source)}->{getattr(layer, target)}"
    return str(layer.embed_dim) if hasattr(layer, "embed_dim") else ""


def layer_label(index: int, layer: nn.Module) -> str:
    """The one name a layer goes by in the diagnose table and figures: its place in the forward
    order (from 1), its type and size, e.g. ``"layer 1 (Linear 64->256)"``."""
    size = _size(layer)
    return f"layer {index} ({type(layer).__name__}{' ' + size if size else ''})"


def _entries(model: nn.Module) -> list[tuple[str, nn.Module, nn.Module | None]]:
    """What :func:`diagnose` measures, in module order: every Linear/Conv layer (with the
    activation after it) and every recurrent or attention block, but not the layers inside a
    block (attention's ``out_proj``: the block's own row covers it)."""
    order = {name: i for i, (name, _) in enumerate(model.named_modules())}
    blocks = [(name, module, None) for name, module in model.named_modules() if isinstance(module, BLOCKS)]
    inside = tuple(f"{name}." for name, _, _ in blocks if name)
    layers = [entry for entry in layers_with_activations(model) if not entry[0].startswith(inside)]
    return sorted([*layers, *blocks], key=lambda entry: order[entry[0]])


def layer_labels(model: nn.Module) -> dict[str, str]:
    """Module name -> :func:`layer_label` of every layer :func:`diagnose` measures in ``model``:
    the names its table and figures use, for a figure drawn from other records of the same
    model (``plot_dynamics``)."""
    return {name: layer_label(i, module) for i, (name, module, _) in enumerate(_entries(model), 1)}


# what each column of Report.table() measures: printed once under the tables
TABLE_KEY = "\n".join([
    "columns:",
    "  layer         the layer, in forward order, the output layer last",
    "  module        its name in the model (in an nn.Sequential, \"2\" is model[2])",
    "  act           the activation applied to its output (linear: none; -: a recurrent or attention block)",
    "  pre std       std of the layer's output before its activation; post std: after it",
    "  post std / layer 1, grad std / layer 1",
    "                that std as a multiple of layer 1's: far from 1, the signal shrinks or grows with depth",
    "  sat/dead      saturated outputs (tanh, softsign: |a| > 0.9; sigmoid: within 0.05 of 0 or 1), or dead units",
    "                (ReLU family: 0 for every sample of the batch)",
    "  grad std      std of dLoss/d(layer output), the gradient back-propagated to the layer",
    "  dW std        std of dLoss/dW, the gradient of the layer's weights",
])


def _aligned(rows: list[tuple[str, ...]], left: int) -> str:
    """Rows as columns, the first ``left`` left-aligned, the others right-aligned."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) if i < left else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
                     for r in rows)


def _percent(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.1f}%"


@dataclass
class Report:
    """What :func:`diagnose` found: per-layer statistics, the loss, the first layer whose output is
    not finite, and the insides of recurrent and attention blocks."""

    layers: list[LayerStats]
    loss: float
    first_nonfinite: str | None = None  # the first layer whose output holds NaN/inf, if any
    recurrent: list[RecurrentStats] = field(default_factory=list)  # per recurrent layer and direction
    attention: list[AttentionStats] = field(default_factory=list)  # per MultiheadAttention

    def to_dicts(self) -> list[dict]:
        """The per-layer rows, without their value samples."""
        return [{k: v for k, v in asdict(layer).items() if k != "samples"} for layer in self.layers]

    def to_dict(self) -> dict:
        """Everything: loss, layers, and the recurrent and attention blocks' insides."""
        return {"loss": self.loss, "first_nonfinite": self.first_nonfinite, "layers": self.to_dicts(),
                "recurrent": [asdict(r) for r in self.recurrent], "attention": [asdict(a) for a in self.attention]}

    def table(self) -> str:
        """The per-layer table (its columns: :data:`TABLE_KEY`), then the recurrent gates and the
        attention blocks (when any)."""
        header = ("layer", "module", "act", "pre std", "post std", "post std / layer 1", "sat/dead", "grad std",
                  "grad std / layer 1", "dW std")
        rows = [header]
        for s in self.layers:
            rows.append((s.label or s.name, s.name, s.activation, f"{s.pre_std:.3g}", f"{s.post_std:.3g}",
                         f"{s.post_std_ratio:.3g}", _percent(s.saturated if s.saturated is not None else s.dead),
                         f"{s.grad_std:.3g}", f"{s.grad_std_ratio:.3g}", f"{s.weight_grad_std:.3g}"))
        parts = [_aligned(rows, 3)]
        if self.recurrent:
            rows = [("recurrent layer", "gate", "act", "pre mean", "pre std", "post mean", "sat/dead")]
            for r in self.recurrent:
                for i, g in enumerate(r.gates):
                    rows.append((r.label if i == 0 else "", g.gate, g.activation, f"{g.pre_mean:.3g}",
                                 f"{g.pre_std:.3g}", f"{g.post_mean:.3g}",
                                 _percent(g.saturated if g.saturated is not None else g.dead)))
            steps = [(r.label, r.hidden_std) for r in self.recurrent]
            parts.append("gates: pre-activation W_ih·x_t + W_hh·h_(t-1) + b, over every time step and sample\n"
                         + _aligned(rows, 3) + "\nhidden state h_t: std over samples and units at time step t = 1..T\n"
                         + "\n".join(f"  {label}: " + _along(values) for label, values in steps))
        if self.attention:
            rows = [("attention", "heads", "keys", "logit std", "entropy/log S", "peaked", "entropy per head")]
            for a in self.attention:
                rows.append((a.name, str(a.heads), str(a.keys), f"{a.logit_std:.3g}", f"{a.entropy:.3f}",
                             _percent(a.peaked), " ".join(f"{e:.2f}" for e in a.head_entropy)))
            parts.append("attention: logits q·k/sqrt(d_head); softmax entropy / log S (S: the keys a row may see): "
                         "1 = uniform, 0 = all on one key; peaked = rows whose top weight > 0.9\n" + _aligned(rows, 1))
        return "\n\n".join(parts)


def _along(values: list[float]) -> str:
    """A std per step, shortened to its first, a few middle and its last values."""
    if len(values) <= 6:
        return "  ".join(f"t={t} {v:.3g}" for t, v in enumerate(values, 1))
    picks = sorted({0, len(values) // 4, len(values) // 2, 3 * len(values) // 4, len(values) - 1})
    return "  ".join(f"t={t + 1} {values[t]:.3g}" for t in picks)


def _sample(t: torch.Tensor) -> torch.Tensor:
    flat = t.detach().flatten().float().cpu()
    if len(flat) > _SAMPLE:
        flat = flat[torch.linspace(0, len(flat) - 1, _SAMPLE).long()]
    return flat


def saturation_fractions(activation: nn.Module | None, post: torch.Tensor) -> tuple[float | None, float | None]:
    """(saturated fraction, dead fraction) of the activation module's outputs, by its failure mode."""
    entry = None if activation is None else activation_of(activation)
    return saturation(None if entry is None else entry.failure, post)


def diagnose(
    model: nn.Module,
    batch: torch.Tensor | tuple[torch.Tensor, torch.Tensor],
    loss_fn: Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor] | None = None,
) -> Report:
    """One forward and backward pass of ``batch`` (``x`` or ``(x, y)``) through ``model``.

    Args:
        batch: ``x`` or ``(x, y)``, tensors or numpy arrays (converted: ``x`` to the model's
            dtype, integer ``y`` to int64), at least 2 samples.
        loss_fn: ``(output, y) -> scalar``. Default: cross-entropy when labels are given,
            else ``0.5·|output|² / N``, whose gradient is the output itself.

    Examples:
        >>> model = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 3))
        >>> report = diagnose(model, torch.randn(32, 8))
        >>> [(s.label, s.name, s.activation) for s in report.layers]
        [('layer 1 (Linear 8->16)', '0', 'Tanh'), ('layer 2 (Linear 16->3)', '2', 'linear')]
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    x, y = batch if isinstance(batch, (tuple, list)) else (batch, None)
    x = as_model_input(x, model, "batch's x")
    if y is not None:
        y = as_model_input(y, model, "batch's y", labels=True)
    if x.dim() == 0 or len(x) < 2:
        raise UserError("batch must hold at least 2 samples (statistics need more than one), got "
                        f"{len(x) if x.dim() else 'a scalar'}")
    entries = _entries(model)
    labels = {name: layer_label(i, module) for i, (name, module, _) in enumerate(entries, 1)}
    if not entries:
        raise UserError(f"{type(model).__name__} has no Linear/Conv, recurrent or attention layers to diagnose")
    saved_grads = {p: None if p.grad is None else p.grad.clone() for p in model.parameters()}
    was_training = model.training
    captured: dict[str, dict[str, torch.Tensor]] = {name: {} for name, _, _ in entries}
    calls: dict[str, tuple[tuple, dict]] = {}  # block -> the arguments of its last call
    hooks = []

    def keep(name: str, key: str):
        def hook(module, inputs, output):
            if isinstance(output, tuple) and not isinstance(output, PackedSequence):
                output = output[0]  # a block's output, not its state or attention weights
            if isinstance(output, PackedSequence):
                output = output.data  # (every real step of every sequence, hidden)
            if not isinstance(output, torch.Tensor):
                return
            captured[name][key] = output
            if key == "pre" and output.requires_grad:
                output.register_hook(lambda g: captured[name].__setitem__("grad", g))
        return hook

    def keep_call(name: str):
        def hook(module, args, kwargs):
            calls[name] = (args, kwargs)
        return hook

    for name, layer, activation in entries:
        hooks.append(layer.register_forward_hook(keep(name, "pre")))
        if activation is not None:
            hooks.append(activation.register_forward_hook(keep(name, "post")))
        if isinstance(layer, BLOCKS):
            hooks.append(layer.register_forward_pre_hook(keep_call(name), with_kwargs=True))
    try:
        model.eval()
        for p in model.parameters():
            p.grad = None
        with torch.random.fork_rng(devices=[]), torch.enable_grad(), tracing(model) as trace:
            output = forward_checked(model, x)
            if loss_fn is not None:
                loss = loss_fn(output, y)
            elif y is not None:
                loss = F.cross_entropy(output, y)
            else:
                loss = 0.5 * output.pow(2).sum() / len(x)
            loss.backward()
        stats = []
        for name, layer, activation in entries:
            c = captured[name]
            if "pre" not in c:
                continue  # a layer the forward pass did not use (MultiheadAttention's out_proj: its weights are)
            pre = c["pre"].detach()
            traced = trace.found.get(name, ("linear", None))[0]
            if isinstance(layer, BLOCKS):
                post, kind, failure = pre, "-", None
            elif traced != "linear" and name in trace.outputs:  # what the forward pass applied, module or function
                post, failure = trace.outputs[name].detach(), failure_of(traced)
                same = activation is not None and gain_args(activation)[0] == traced
                kind = type(activation).__name__ if same else f"{trace.functions[name]}()"
            else:  # no activation traced: the module after it in module order, if any
                post = c.get("post", pre).detach()
                entry = None if activation is None else activation_of(activation)
                kind = type(activation).__name__ if activation is not None else "linear"
                failure = None if entry is None else entry.failure
            saturated, dead = saturation(failure, post)
            grad = c.get("grad", torch.zeros_like(pre))
            stats.append(LayerStats(
                name, type(layer).__name__, kind, float(pre.mean()), float(pre.std()), float(post.mean()),
                float(post.std()), saturated, dead, float(grad.std()), _weight_grad_std(layer),
                samples={"post": _sample(post), "grad": _sample(grad)}, label=labels[name],
            ))
        for s in stats:
            s.post_std_ratio = s.post_std / stats[0].post_std if stats[0].post_std else float("nan")
            s.grad_std_ratio = s.grad_std / stats[0].grad_std if stats[0].grad_std else float("nan")
        bad = next((name for name, c in captured.items() if "pre" in c and not torch.isfinite(c["pre"]).all()), None)
        if bad is not None:
            warnings.warn(f"the output of layer {bad!r} is the first to hold NaN or inf", RuntimeWarning, stacklevel=2)
        modules = dict(model.named_modules())
        recurrent = [r for name, call in calls.items() if isinstance(modules[name], RECURRENT)
                     for r in recurrent_stats(name, modules[name], *call)]
        attention = [attention_stats(name, modules[name], *call) for name, call in calls.items()
                     if isinstance(modules[name], nn.MultiheadAttention)]
        return Report(stats, float(loss.detach()), bad, recurrent, attention)
    finally:
        for hook in hooks:
            hook.remove()
        for p, g in saved_grads.items():
            p.grad = g
        model.train(was_training)


def _weight_grad_std(layer: nn.Module) -> float:
    """Std of dLoss/dW: the layer's weight, or every weight of a block (gates, q/k/v and out_proj) together."""
    if isinstance(layer, BLOCKS):
        weights = [p for name, p in layer.named_parameters() if "weight" in name.rsplit(".", 1)[-1]]
    else:
        weights = [layer.weight]
    grads = [w.grad.flatten() for w in weights if w.grad is not None]
    return float(torch.cat(grads).std()) if grads else 0.0
