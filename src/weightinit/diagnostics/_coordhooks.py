"""The forward hooks of the coordinate check (:mod:`weightinit.diagnostics.coordcheck`): per module,
the sum of |x| and of |x - x_0| over its output and their count, in one forward pass; the
attention logits recomputed from the query and key outputs (or a MultiheadAttention's inputs)."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..modelinit.depth import layer_roles, stacks

__all__ = ["Recorder", "hooked_modules"]

_PASS_THROUGH = (nn.Dropout, nn.Identity)  # output = input: nothing to record


def _first_tensor(output: object) -> torch.Tensor | None:
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, (tuple, list)) and output and isinstance(output[0], torch.Tensor):
        return output[0]  # nn.MultiheadAttention: (attention output, weights)
    return None


def hooked_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The modules whose output is recorded (module docstring), in ``named_modules`` order."""
    blocks = {id(block) for _, items in stacks(model) for block in items}
    return [(name, m) for name, m in model.named_modules()
            if name and not isinstance(m, _PASS_THROUGH)
            and (not any(True for _ in m.children()) or isinstance(m, nn.MultiheadAttention) or id(m) in blocks)]


def _heads(module: nn.Module) -> int | None:
    values = (getattr(module, a, None) for a in ("num_heads", "n_head", "heads", "n_heads"))
    return next((v for v in values if isinstance(v, int) and not isinstance(v, bool) and v > 0), None)


def _logits(q: torch.Tensor, k: torch.Tensor, heads: int) -> torch.Tensor:
    """``q·k/√d_head`` per head from q and k of shape (..., T, d): (..., heads, T, T)."""
    *lead, t, d = q.shape
    split = (lambda z: z.reshape(*lead, z.shape[-2], heads, d // heads).transpose(-3, -2))
    return split(q) @ split(k).transpose(-1, -2) / math.sqrt(d // heads)


class Recorder:
    """Forward hooks that add up ``sum |x|`` (and ``sum |x - x_0|``) and the count per module."""

    def __init__(self, model: nn.Module, changes: bool, absorbed: dict[str, float]) -> None:
        self.model, self.changes, self.absorbed = model, changes, absorbed
        self.sums: dict[str, list[float]] = {}  # name -> [sum |x|, sum |x - x0|, count]
        self.first: dict[str, list[torch.Tensor]] = {}  # name -> outputs at step 0, by call
        self.calls: dict[str, int] = {}
        self.outputs: dict[str, object] = {}  # name -> its last output (to find the readout)
        self.order: dict[str, None] = {}  # the modules in the order they first ran
        self.stash: dict[str, torch.Tensor] = {}  # q and k outputs, for the logits
        self.handles = []
        roles = layer_roles(model)
        attention: dict[str, dict[str, str]] = {}  # parent -> {"q": name, "k": name}
        for name, role in roles.items():
            if role.kind in ("q", "k"):
                attention.setdefault(name.rpartition(".")[0], {})[role.kind] = name
        modules = dict(model.named_modules())
        self.pairs = {parent: (qk["q"], qk["k"], _heads(modules[parent])) for parent, qk in attention.items()
                      if set(qk) == {"q", "k"} and _heads(modules[parent])}
        stashed = {n for q, k, _ in self.pairs.values() for n in (q, k)}
        for name, module in hooked_modules(model):
            self.handles.append(module.register_forward_hook(self._hook(name, name in stashed)))
        for parent in self.pairs:
            self.handles.append(modules[parent].register_forward_hook(self._logits_hook(parent)))
        for name, module in modules.items():
            if isinstance(module, nn.MultiheadAttention):
                self.handles.append(module.register_forward_hook(self._mha_hook(name), with_kwargs=True))

    def add(self, name: str, x: torch.Tensor) -> None:
        x = x.detach().float() / self.absorbed.get(name, 1.0)
        call = self.calls.get(name, 0)
        self.calls[name] = call + 1
        if name not in self.sums:
            self.sums[name] = [0.0, 0.0, 0]
            self.order.setdefault(name, None)
        totals = self.sums[name]
        totals[0] += float(x.abs().sum())
        totals[2] += x.numel()
        if self.changes:
            first = self.first.setdefault(name, [])
            if len(first) <= call:
                first.append(x.clone())
            elif first[call].shape == x.shape:
                totals[1] += float((x - first[call]).abs().sum())

    def _hook(self, name: str, stash: bool) -> Callable:
        def hook(module: nn.Module, inputs: tuple, output: object) -> None:
            x = _first_tensor(output)
            if x is None:
                return
            if stash:
                self.stash[name] = x
            self.outputs[name] = output
            self.add(name, x)
        return hook

    def _logits_hook(self, parent: str) -> Callable:
        q, k, heads = self.pairs[parent]

        def hook(module: nn.Module, inputs: tuple, output: object) -> None:
            if q in self.stash and k in self.stash and self.stash[q].shape[-1] % heads == 0:
                self.add(f"{parent}.logits", _logits(self.stash[q], self.stash[k], heads))
        return hook

    def _mha_hook(self, name: str) -> Callable:
        def hook(module: nn.MultiheadAttention, args: tuple, kwargs: dict, output: object) -> None:
            query = args[0] if args else kwargs.get("query")
            key = args[1] if len(args) > 1 else kwargs.get("key")
            if module.in_proj_weight is None or query is None or key is None:
                return  # separate q/k/v weights of different sizes: not recorded
            w_q, w_k, _ = module.in_proj_weight.chunk(3)
            b_q, b_k, _ = module.in_proj_bias.chunk(3) if module.in_proj_bias is not None else (None, None, None)
            if not module.batch_first:
                query, key = query.transpose(0, 1), key.transpose(0, 1)  # (B, T, d)
            with torch.no_grad():
                self.add(f"{name}.logits", _logits(F.linear(query, w_q, b_q), F.linear(key, w_k, b_k),
                                                    module.num_heads))
        return hook

    def start_pass(self) -> None:
        self.sums, self.calls, self.stash, self.outputs = {}, {}, {}, {}

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()
