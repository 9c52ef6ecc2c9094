"""Inside recurrent and attention blocks at initialization: what the per-layer table of
:mod:`weightinit.diagnostics` cannot see, because these modules apply their nonlinearities
internally (LSTM gates) or call their weights as functions (attention's q, k, v).

Recurrent layers (``nn.LSTM``, ``nn.GRU``, ``nn.RNN``; every layer, both directions,
``proj_size``): the pass is recomputed step by step from the layer's own weights on the
input it really received. For each gate, over all steps and samples, the pre-activation

.. math::
    a_t = W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh}

(GRU's new gate: :math:`W_{in} x_t + b_{in} + r_t \\odot (W_{hn} h_{t-1} + b_{hn})`), its
mean and std, the mean of the gate's output and its saturated fraction (sigmoid gates:
within 0.05 of 0 or 1; tanh: |a| > 0.9; a ReLU RNN: dead units). A forget gate saturated
near 1 remembers everything, near 0 nothing (Hochreiter & Schmidhuber 1997; Jozefowicz et
al. 2015 on the forget bias). The hidden state's std at each step shows a memory that
fades or grows along the sequence (Pascanu et al. 2013).

Attention (``nn.MultiheadAttention``, as in ``nn.TransformerEncoderLayer``): the logits
:math:`q_i \\cdot k_j / \\sqrt{d_{head}}` of every head (Vaswani et al. 2017), their std, and
the entropy of each softmax row relative to :math:`\\log S` (S the keys the row may attend
to): 1 is uniform attention, 0 a one-hot. A too-peaked softmax is attention's saturation,
and an entropy that collapses early goes with unstable training (Zhai et al. 2023,
"Stabilizing Transformer Training by Preventing Attention Entropy Collapse").

The functions read the modules' public parameters and change nothing.
"""

from __future__ import annotations

import inspect
import math
import warnings
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import PackedSequence

from ..modelinit.activations import ACTIVATIONS, BOUNDED, RECTIFIER, SIGMOID, activation_of

__all__ = ["RECURRENT", "GateStats", "RecurrentStats", "AttentionStats", "failure_of", "saturation",
           "recurrent_pass", "recurrent_stats", "attention_logits", "attention_stats"]

RECURRENT = (nn.LSTM, nn.GRU, nn.RNN)
PEAKED = 0.9  # a softmax row whose largest weight exceeds this attends to one key


def failure_of(nonlinearity: str) -> str | None:
    """The failure mode (``activations.BOUNDED``, ``SIGMOID``, ``RECTIFIER`` or None) of the
    activation ``calculate_gain`` calls ``nonlinearity``."""
    module = ACTIVATIONS.get(nonlinearity)
    entry = None if module is None else activation_of(module())
    return None if entry is None else entry.failure


def saturation(failure: str | None, post: torch.Tensor) -> tuple[float | None, float | None]:
    """(saturated fraction, dead fraction) of an activation's outputs ``post`` of shape
    (samples, units, ...), by its failure mode: bounded |a| > 0.9; sigmoid within 0.05 of 0 or
    1; rectifier: the units at 0 for every sample."""
    if failure == BOUNDED:
        return float((post.abs() > 0.9).float().mean()), None
    if failure == SIGMOID:
        return float(((post < 0.05) | (post > 0.95)).float().mean()), None
    if failure == RECTIFIER:
        units = post.transpose(0, 1).reshape(post.shape[1], -1)  # (units/channels, everything else)
        return None, float((units.abs().max(1).values <= 1e-8).float().mean())
    return None, None


@dataclass
class GateStats:
    gate: str  # LSTM: input, forget, cell, output; GRU: reset, update, new; RNN: hidden
    activation: str  # sigmoid, tanh or relu
    pre_mean: float
    pre_std: float
    post_mean: float
    saturated: float | None  # sigmoid / tanh gates
    dead: float | None  # a ReLU RNN's units at 0 at every step of every sample


@dataclass
class RecurrentStats:
    name: str  # the module's qualified name
    kind: str  # LSTM, GRU, RNN
    layer: int
    direction: str  # forward or reverse
    gates: list[GateStats]
    hidden_std: list[float]  # std of h_t at each step t = 1..T, in the direction's reading order
    cell_std: list[float] = field(default_factory=list)  # LSTM: std of c_t at each step

    @property
    def label(self) -> str:
        return f"{self.name or self.kind} l{self.layer}" + (" reverse" if self.direction == "reverse" else "")


@dataclass
class AttentionStats:
    name: str
    heads: int
    logit_std: float  # std of q·k/√d over every allowed (query, key) pair of every head
    entropy: float  # mean over softmax rows of entropy / log(keys allowed), 1 = uniform
    peaked: float  # fraction of rows whose largest weight exceeds PEAKED
    head_entropy: list[float]  # the same mean per head
    keys: int  # keys per row (the longest)


# gate names, the activation of each, in the order torch packs them in weight_ih / weight_hh
_GATES = {nn.LSTM: (("input", "sigmoid"), ("forget", "sigmoid"), ("cell", "tanh"), ("output", "sigmoid")),
          nn.GRU: (("reset", "sigmoid"), ("update", "sigmoid"), ("new", "tanh"))}
_APPLY = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu}


def _gate_names(module: nn.Module) -> tuple[tuple[str, str], ...]:
    for kind, gates in _GATES.items():
        if isinstance(module, kind):
            return gates
    return (("hidden", module.nonlinearity),)


def _bound(method, args: tuple, kwargs: dict) -> dict:
    bound = inspect.signature(method).bind(*args, **kwargs)
    bound.apply_defaults()
    return bound.arguments


def recurrent_pass(module: nn.Module, input: torch.Tensor, hx=None) -> list[dict]:
    """Recompute ``module(input, hx)`` (an ``nn.LSTM``, ``nn.GRU`` or ``nn.RNN``, eval mode:
    no dropout between layers) step by step. One dict per layer and direction: ``layer``,
    ``direction``, ``pre`` (gate -> pre-activations of shape (T, B, hidden)), ``hidden`` and,
    for an LSTM, ``cell`` (T, B, ·) in time order. The last layer's hidden states, both
    directions concatenated, are the module's output."""
    if not isinstance(module, RECURRENT):
        raise TypeError(f"module must be one of {[t.__name__ for t in RECURRENT]}, got {type(module).__name__}")
    x = input.unsqueeze(1) if input.dim() == 2 else (input.transpose(0, 1) if module.batch_first else input)
    steps, batch = x.shape[:2]  # (T, B, features)
    directions = 2 if module.bidirectional else 1
    lstm = isinstance(module, nn.LSTM)
    out_size = module.proj_size if lstm and module.proj_size > 0 else module.hidden_size
    h0, c0 = (hx if lstm else (hx, None)) if hx is not None else (None, None)
    if h0 is not None and input.dim() == 2:
        h0, c0 = h0.unsqueeze(1), None if c0 is None else c0.unsqueeze(1)
    gates = _gate_names(module)
    rows, layer_input = [], x
    for layer in range(module.num_layers):
        outputs = []
        for d in range(directions):
            suffix = f"_l{layer}" + ("_reverse" if d else "")
            w_ih, w_hh = getattr(module, "weight_ih" + suffix), getattr(module, "weight_hh" + suffix)
            b_ih = getattr(module, "bias_ih" + suffix) if module.bias else None
            b_hh = getattr(module, "bias_hh" + suffix) if module.bias else None
            w_hr = getattr(module, "weight_hr" + suffix) if lstm and module.proj_size > 0 else None
            index = layer * directions + d
            h = layer_input.new_zeros(batch, out_size) if h0 is None else h0[index]
            c = layer_input.new_zeros(batch, module.hidden_size) if not lstm or c0 is None else c0[index]
            from_input = F.linear(layer_input, w_ih, b_ih)  # (T, B, gates·hidden)
            pre = {g: [] for g, _ in gates}
            hidden, cells = [None] * steps, [None] * steps
            for t in (range(steps - 1, -1, -1) if d else range(steps)):
                from_hidden = F.linear(h, w_hh, b_hh)
                if isinstance(module, nn.GRU):
                    (ir, iz, i_n), (hr, hz, hn) = from_input[t].chunk(3, -1), from_hidden.chunk(3, -1)
                    r = torch.sigmoid(ir + hr)
                    a = {"reset": ir + hr, "update": iz + hz, "new": i_n + r * hn}
                    h = (1 - torch.sigmoid(a["update"])) * torch.tanh(a["new"]) + torch.sigmoid(a["update"]) * h
                else:
                    a = dict(zip([g for g, _ in gates], (from_input[t] + from_hidden).chunk(len(gates), -1)))
                    if lstm:
                        c = torch.sigmoid(a["forget"]) * c + torch.sigmoid(a["input"]) * torch.tanh(a["cell"])
                        h = torch.sigmoid(a["output"]) * torch.tanh(c)
                        h = h if w_hr is None else F.linear(h, w_hr)
                    else:
                        h = _APPLY[module.nonlinearity](a["hidden"])
                for g in pre:
                    pre[g].append(a[g])
                hidden[t], cells[t] = h, c
            in_time = (lambda v: torch.stack(v[::-1])) if d else torch.stack  # the reverse direction read t = T..1
            row = {"layer": layer, "direction": "reverse" if d else "forward",
                   "pre": {g: in_time(v) for g, v in pre.items()}, "hidden": torch.stack(hidden)}
            if lstm:
                row["cell"] = torch.stack(cells)
            rows.append(row)
            outputs.append(row["hidden"])
        layer_input = torch.cat(outputs, -1)  # (T, B, directions·out)
    return rows


def recurrent_stats(name: str, module: nn.Module, args: tuple, kwargs: dict) -> list[RecurrentStats]:
    """Per-layer, per-direction gate statistics of ``module`` called as ``module(*args, **kwargs)``.
    A packed sequence is not unpacked: it is skipped with a warning."""
    call = _bound(module.forward, args, kwargs)
    input, hx = call["input"], call.get("hx")
    if isinstance(input, PackedSequence):
        warnings.warn(f"{name!r} was called on a PackedSequence; its gate statistics are not computed",
                      RuntimeWarning, stacklevel=3)
        return []
    found = []
    with torch.no_grad():
        for row in recurrent_pass(module, input, hx):
            gates = []
            for gate, act in _gate_names(module):
                pre = row["pre"][gate].float().flatten(0, 1)  # (T·B, hidden)
                post = _APPLY[act](pre)
                sat, dead = saturation(failure_of(act), post)
                gates.append(GateStats(gate, act, float(pre.mean()), float(pre.std()), float(post.mean()), sat, dead))
            reading = (lambda v: v.flip(0)) if row["direction"] == "reverse" else (lambda v: v)
            found.append(RecurrentStats(
                name, type(module).__name__, row["layer"], row["direction"], gates,
                [float(h.float().std()) for h in reading(row["hidden"])],
                [float(c.float().std()) for c in reading(row["cell"])] if "cell" in row else []))
    return found


def _additive(mask: torch.Tensor, extra: int) -> torch.Tensor:
    """A boolean mask (True: masked) or a float one as what it adds to the logits, with
    ``extra`` allowed keys appended."""
    if mask.dtype == torch.bool:
        mask = torch.zeros(mask.shape, device=mask.device).masked_fill(mask, float("-inf"))
    return F.pad(mask.float(), (0, extra))


def attention_logits(module: nn.MultiheadAttention, query: torch.Tensor, key: torch.Tensor,
                     key_padding_mask: torch.Tensor | None = None, attn_mask: torch.Tensor | None = None,
                     is_causal: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """``(scores, bias)`` of shape (B, heads, L, S): the scaled dot products q·k/√d of each
    head, and what the masks add to them (0, a float mask's values, -inf where a key is
    masked). ``softmax(scores + bias)`` is the module's attention. ``bias_k`` and
    ``add_zero_attn`` append a key, as the module does."""
    if not isinstance(module, nn.MultiheadAttention):
        raise TypeError(f"module must be a torch.nn.MultiheadAttention, got {type(module).__name__}")
    unbatched = query.dim() == 2
    if unbatched:
        query, key = query.unsqueeze(1), key.unsqueeze(1)
        key_padding_mask = None if key_padding_mask is None else key_padding_mask.unsqueeze(0)
    elif module.batch_first:
        query, key = query.transpose(0, 1), key.transpose(0, 1)  # (L, B, E), (S, B, kdim)
    heads, head_dim, batch = module.num_heads, module.head_dim, query.shape[1]
    e = module.embed_dim
    if module.in_proj_weight is not None:
        w_q, w_k = module.in_proj_weight[:e], module.in_proj_weight[e:2 * e]
    else:
        w_q, w_k = module.q_proj_weight, module.k_proj_weight
    b_q, b_k = (None, None) if module.in_proj_bias is None else (module.in_proj_bias[:e], module.in_proj_bias[e:2 * e])
    q, k = F.linear(query, w_q, b_q), F.linear(key, w_k, b_k)  # (L, B, E), (S, B, E)
    if attn_mask is None and is_causal:
        attn_mask = torch.ones(len(q), len(k), dtype=torch.bool, device=q.device).triu(1)
    extra = []
    if module.bias_k is not None:
        extra.append(module.bias_k.expand(1, batch, e))
    if module.add_zero_attn:
        extra.append(k.new_zeros(1, batch, e))
    length, keys = len(q), len(k) + len(extra)
    k = torch.cat([k, *extra])
    q = q.reshape(length, batch, heads, head_dim).permute(1, 2, 0, 3)  # (B, heads, L, d)
    k = k.reshape(keys, batch, heads, head_dim).permute(1, 2, 0, 3)  # (B, heads, S, d)
    scores = q @ k.transpose(-2, -1) / math.sqrt(head_dim)  # (B, heads, L, S)
    bias = torch.zeros_like(scores, dtype=torch.float32)
    if attn_mask is not None:  # (L, S) or (B·heads, L, S)
        mask = _additive(attn_mask, len(extra))
        bias = bias + (mask.view(batch, heads, length, keys) if mask.dim() == 3 else mask)
    if key_padding_mask is not None:  # (B, S)
        bias = bias + _additive(key_padding_mask, len(extra)).view(batch, 1, 1, keys)
    return scores, bias


def attention_stats(name: str, module: nn.MultiheadAttention, args: tuple, kwargs: dict) -> AttentionStats:
    """Logit std and softmax entropy of ``module`` called as ``module(*args, **kwargs)``."""
    call = _bound(module.forward, args, kwargs)
    with torch.no_grad():
        scores, bias = attention_logits(module, call["query"], call["key"], call.get("key_padding_mask"),
                                        call.get("attn_mask"), bool(call.get("is_causal")))
        scores, bias = scores.float(), bias.float()
        allowed = torch.isfinite(bias)
        n = allowed.sum(-1)  # (B, heads, L): keys each row may attend to
        weights = torch.softmax(scores + bias, -1).nan_to_num(0.0)
        entropy = -torch.special.xlogy(weights, weights).sum(-1)
        rows = n > 1  # a row with one key has nothing to choose
        ratio = torch.where(rows, entropy / n.clamp(min=2).log(), torch.nan)
        peaked = (weights.max(-1).values > PEAKED)[rows]
        head_entropy = [float(ratio[:, h][rows[:, h]].mean()) for h in range(module.num_heads)]
        return AttentionStats(name, module.num_heads, float(scores[allowed].std()), float(ratio[rows].mean()),
                              float(peaked.float().mean()), head_entropy, scores.shape[-1])
