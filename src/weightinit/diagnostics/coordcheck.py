r"""The coordinate check (Yang et al. 2022, "Tensor Programs V", Appendix D): train one model at
several widths for a few steps on one fixed batch, and see which activations change size with the
width. Under muP the typical coordinate of every hidden vector keeps its size as the model
widens; a module whose size grows (or shrinks) with the width has a wrong learning rate or
multiplier at or before it.

**What is recorded.** For every module (forward hooks on the leaf modules, each
``nn.MultiheadAttention`` and each block of a residual stack, :func:`weightinit.modelinit.depth.stacks`;
not dropout or identity layers), at step ``t`` on the fixed batch ``X``:

.. math::

    c_t = \operatorname{mean}_i |x_t(X)_i|, \qquad \Delta_t = \operatorname{mean}_i |x_t(X)_i - x_0(X)_i|

over every coordinate of its output for the whole batch (all its calls), averaged over the seeds.
**Step 0 is at initialization, step t after t optimizer steps** (``mup``'s ``get_coord_data``
counts from 1: its ``t = 1`` is step 0 here). ``c_t`` is what ``mup`` plots; ``Δ_t``, what
training changed, is what muP keeps Θ(1) ("maximal update"), and it shows a learning rate too
*small* for the width, which ``c_t`` hides behind the initial value. A forward multiplier ``a``
absorbed into a layer's weights (weightinit's muP puts attention's 1/d_head into the query) is
divided out of that layer's record, so its coordinates are those of ``mup``'s formulation. Where
an attention module has its own query and key layers (or is an ``nn.MultiheadAttention``), its
logits ``q·k/√d_head`` (before mask and softmax) are recorded as ``<module>.logits``.

**The slope** of module's ``c_t`` against the widths ``w_1..w_n``, by least squares in log-log:

.. math::

    s_t = \frac{\sum_j (u_j - \bar u)(v_j - \bar v)}{\sum_j (u_j - \bar u)^2}, \qquad
    u_j = \log w_j,\ v_j = \log c_t(w_j)

so ``c_t ∝ width^s_t``; ``|s_t| <= 0.1`` (:data:`STABLE_SLOPE`) is "stable", else "grows" or
"shrinks". Under SP with Adam a hidden layer's update grows like the width; under muP the
readout's logits start ``∝ width^-1/2`` (its std is ∝ 1/width) and are Θ(1) once trained.

**Families** (:func:`module_families`): ``input`` (embeddings, the first layer), ``hidden`` (other
linear layers outside a stack), ``attention q/k/v``, ``attention logits``, ``attention out``,
``MLP in``, ``MLP out`` (by role, :func:`weightinit.modelinit.depth.layer_roles`), ``norm``,
``block`` (the residual stream after a block) and ``readout`` (the module whose output is the
model's); an activation joins the layer it follows.

References:
    Yang, Hu, Babuschkin, Sidor, Liu, Farhi, Ryder, Pachocki, Chen, Gao (2022), "Tensor Programs V:
    Tuning Large Neural Networks via Zero-Shot Hyperparameter Transfer", arXiv:2203.03466,
    Appendix D (coordinate check); microsoft/mup, ``mup/coord_check.py``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import UserError
from ..modelinit.depth import layer_roles, stacks
from ._coordhooks import Recorder

__all__ = ["STABLE_SLOPE", "FAMILIES", "MAY_SHRINK", "ModuleCoords", "CoordCheck", "Failure", "record_coordinates",
           "coord_check", "module_families", "loglog_slope", "verdict", "violates", "cross_entropy"]

STABLE_SLOPE = 0.1  # |slope| at most this: "stable" (the and mup's tolerance for a flat line)
FAMILIES = ("input", "hidden", "attention q/k/v", "attention logits", "attention out", "MLP in", "MLP out", "norm",
            "block", "readout", "other")  # the order of the figure's panels and the table's rows
MAY_SHRINK = ("readout", "attention logits")  # families that may shrink with the width (:func:`violates`)
_ROLE_FAMILIES = {"q": "attention q/k/v", "k": "attention q/k/v", "v": "attention q/k/v", "qkv": "attention q/k/v",
                  "attn_out": "attention out", "mlp_out": "MLP out"}


def cross_entropy(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of logits ``(..., classes)`` against integer targets ``(...)`` (a classifier's
    (B, C) against (B,), a language model's (B, T, V) against (B, T))."""
    return F.cross_entropy(output.reshape(-1, output.shape[-1]), target.reshape(-1))


def record_coordinates(model: nn.Module, optimizer: torch.optim.Optimizer,
                       batch: tuple[torch.Tensor, torch.Tensor], *, steps: int,
                       loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = cross_entropy,
                       changes: bool = True, absorbed: dict[str, float] | None = None,
                       ) -> tuple[dict[str, list[tuple[float, float]]], str | None]:
    """Train ``model`` ``steps`` steps of ``optimizer`` on the one ``batch`` ``(x, y)`` and record,
    per module, ``(c_t, Δ_t)`` at steps 0..steps (module docstring; ``Δ_0 = 0``; without ``changes``,
    Δ is not computed and stays 0); ``absorbed``: {module: a}, a forward multiplier absorbed into
    that module's weights, divided out of what it records (module docstring). Step t's values
    come from the forward pass that step t+1's update uses, so ``steps`` updates give ``steps + 1``
    records and the last pass is not back-propagated. The model is left trained, its hooks removed.

    Returns:
        ``({module: [(c_0, Δ_0), ..., (c_steps, Δ_steps)]}`` in the order the modules first ran,
        and the name of the module whose output is the model's output (None if none is).
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise UserError(f"steps must be an integer >= 0, got {steps!r}")
    x, y = batch
    recorder = Recorder(model, changes, absorbed or {})
    records: dict[str, list[tuple[float, float]]] = {}
    readout = None
    try:
        model.train()
        for step in range(steps + 1):
            recorder.start_pass()
            with torch.set_grad_enabled(step < steps):
                output = model(x)
            if step == 0:
                readout = next((n for n, o in recorder.outputs.items() if o is output), None)
            for name in recorder.order:
                total, change, count = recorder.sums.get(name, (math.nan, math.nan, 1))
                records.setdefault(name, []).append((total / count, change / count))
            if step < steps:
                optimizer.zero_grad(set_to_none=True)
                loss = loss_fn(output, y)
                if not torch.isfinite(loss):
                    raise UserError(f"the loss is {float(loss)} at step {step}: the learning rate is too large "
                                    "for this width (lower --lr)")
                loss.backward()
                optimizer.step()
    finally:
        recorder.remove()
    return records, readout


def module_families(model: nn.Module, order: Sequence[str], readout: str | None) -> dict[str, str]:
    """The family (:data:`FAMILIES`) of each recorded module ``order`` (in the order they ran),
    ``readout`` the one whose output is the model's (module docstring)."""
    modules = dict(model.named_modules())
    roles = layer_roles(model)
    blocks = {id(block) for _, items in stacks(model) for block in items}
    families: dict[str, str] = {}
    previous, seen_parameters = None, False
    for name in order:
        module = modules.get(name)
        own = module is not None and any(True for _ in module.parameters(recurse=False))
        if name == readout:
            family = "readout"
        elif name.endswith(".logits") and module is None:
            family = "attention logits"
        elif module is None:
            family = "other"
        elif id(module) in blocks:
            family = "block"
        elif isinstance(module, nn.MultiheadAttention):
            family = "attention out"
        elif name in roles:
            family = _ROLE_FAMILIES.get(roles[name].kind, "MLP in")
        elif isinstance(module, nn.Embedding) or (own and not seen_parameters):
            family = "input"
        elif "norm" in type(module).__name__.lower():
            family = "norm"
        elif own and module.weight is not None and getattr(module.weight, "dim", lambda: 0)() >= 2:
            family = "hidden"
        elif not own and previous is not None:
            family = families[previous]  # an activation: the family of the layer it follows
        else:
            family = "other"
        seen_parameters = seen_parameters or own
        families[name] = family
        if family not in ("block", "attention logits"):
            previous = name
    return families


def loglog_slope(widths: Sequence[float], values: Sequence[float]) -> float:
    """The least-squares slope of ``log(values)`` against ``log(widths)`` (module docstring):
    ``values ∝ width^slope``. NaN if a value is not positive and finite or fewer than two widths differ."""
    if len(widths) != len(values):
        raise UserError(f"{len(widths)} widths but {len(values)} values")
    if any(not (math.isfinite(v) and v > 0) for v in values) or len(set(widths)) < 2:
        return math.nan
    u = [math.log(w) for w in widths]
    v = [math.log(c) for c in values]
    mu, mv = sum(u) / len(u), sum(v) / len(v)
    return sum((a - mu) * (b - mv) for a, b in zip(u, v)) / sum((a - mu) ** 2 for a in u)


def verdict(slope: float, tolerance: float = STABLE_SLOPE) -> str:
    """``"stable"`` if ``|slope| <= tolerance``, else ``"grows"`` or ``"shrinks"`` (``"nan"`` for NaN)."""
    if math.isnan(slope):
        return "nan"
    if abs(slope) <= tolerance:
        return "stable"
    return "grows" if slope > 0 else "shrinks"


@dataclass
class ModuleCoords:
    """One module across the widths: ``family``, its class (``kind``), and per width the seeds'
    mean of ``c_t`` (``size``) and of ``Δ_t`` (``change``) at steps 0..steps; ``slopes`` and
    ``change_slopes`` per step (``change_slopes[0]`` is NaN: nothing has changed at init)."""

    name: str
    family: str
    kind: str
    size: dict[int, list[float]]
    change: dict[int, list[float]]
    slopes: list[float] = field(default_factory=list)
    change_slopes: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class Failure:
    """A module whose ``measure`` ("size": ``c_t``; "change": ``Δ_t``) changes with the width at ``step``:
    its ``slope`` is outside what its family allows (:meth:`CoordCheck.failures`)."""

    module: str
    family: str
    step: int
    measure: str
    slope: float

    def __str__(self) -> str:
        what = "mean |x|" if self.measure == "size" else "mean |x - x_0|"
        return (f"{self.module} ({self.family}): {what} {verdict(self.slope)} with the width, slope {self.slope:+.2f} "
                f"at step {self.step}")


def violates(family: str, slope: float, tolerance: float = STABLE_SLOPE) -> bool:
    """Whether ``slope`` fails the check for a module of ``family``: ``|slope| > tolerance``, except
    for the two outputs that muP lets shrink (:data:`MAY_SHRINK`): the readout (drawn with std ∝
    1/width, its logits start ∝ width^-1/2) and the attention logits (with 1/d_head, q·k of
    independent q and k starts ∝ d_head^-1/2, and d_head grows at most like the width). Both reach
    Θ(1) only as training correlates what they multiply, so they fail when they grow, or shrink
    faster than width^-1/2: ``slope > tolerance`` or ``slope < -1/2 - tolerance``. NaN fails."""
    if math.isnan(slope):
        return True
    if family in MAY_SHRINK:
        return slope > tolerance or slope < -0.5 - tolerance
    return abs(slope) > tolerance


@dataclass
class CoordCheck:
    """A coordinate check: the ``widths``, ``steps`` and ``seeds`` it ran, and each recorded
    module in the order it ran (:class:`ModuleCoords`)."""

    widths: list[int]
    steps: int
    seeds: list[int]
    modules: list[ModuleCoords]

    def families(self) -> dict[str, list[ModuleCoords]]:
        """The modules by family, families in :data:`FAMILIES` order."""
        found = {family: [m for m in self.modules if m.family == family] for family in FAMILIES}
        return {family: found[family] for family in FAMILIES if found[family]}

    def module(self, name: str) -> ModuleCoords:
        """The record of module ``name``."""
        for m in self.modules:
            if m.name == name:
                return m
        raise UserError(f"no module {name!r} was recorded; recorded: {[m.name for m in self.modules]}")

    def failures(self, tolerance: float = STABLE_SLOPE, steps: Iterable[int] | None = None,
                 measures: Sequence[str] = ("size",)) -> list[Failure]:
        """Every module, step (default 1..steps: after training started) and measure ("size",
        "change") whose slope :func:`violates` its family's rule, in forward order, then step."""
        steps = list(range(1, self.steps + 1) if steps is None else steps)
        found = []
        for m in self.modules:
            for t in steps:
                for measure in measures:
                    slope = (m.slopes if measure == "size" else m.change_slopes)[t]
                    if measure == "change" and t == 0:
                        continue
                    if violates(m.family, slope, tolerance):
                        found.append(Failure(m.name, m.family, t, measure, slope))
        return found

    def first_failure(self, tolerance: float = STABLE_SLOPE,
                      measures: Sequence[str] = ("size", "change")) -> Failure | None:
        """The failure of the first module in forward order (at its earliest step): where a wrong
        multiplier shows first; the modules after it may fail only because they read its output."""
        found = self.failures(tolerance, range(0, self.steps + 1), measures)
        return found[0] if found else None

    def to_dict(self) -> dict:
        return {"widths": self.widths, "steps": self.steps, "seeds": self.seeds,
                "modules": [{"name": m.name, "family": m.family, "kind": m.kind, "slopes": m.slopes,
                             "change_slopes": m.change_slopes, "size": {str(w): v for w, v in m.size.items()},
                             "change": {str(w): v for w, v in m.change.items()}} for m in self.modules]}


def coord_check(build: Callable[[int, int], tuple], widths: Sequence[int],
                batch: tuple[torch.Tensor, torch.Tensor], *, steps: int = 5, seeds: Sequence[int] = (0, 1, 2),
                loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = cross_entropy,
                changes: bool = True, progress: Callable[[int, int], None] | None = None) -> CoordCheck:
    """The coordinate check of the models ``build(width, seed) -> (model, optimizer)`` (or
    ``(model, optimizer, absorbed)``, as :func:`record_coordinates` takes it) (module docstring):
    each width and seed trained ``steps`` steps on ``batch``, ``c_t`` and ``Δ_t``
    averaged over the seeds, and per module the slope against the width at every step.
    ``progress(width, seed)`` is called after each model is done.

    Examples:
        >>> from weightinit.models import mlp
        >>> def build(width, seed):
        ...     torch.manual_seed(seed)
        ...     model = mlp([20, width, width, 3], "relu")
        ...     return model, torch.optim.Adam(model.parameters(), lr=1e-2)
        >>> batch = (torch.randn(16, 20), torch.randint(0, 3, (16,)))
        >>> check = coord_check(build, [64, 256], batch, steps=2, seeds=[0])
        >>> [m.family for m in check.modules]
        ['input', 'input', 'hidden', 'hidden', 'readout']
    """
    widths, seeds = [int(w) for w in widths], [int(s) for s in seeds]
    if len(set(widths)) < 2:
        raise UserError(f"a coordinate check needs at least two different widths, got {widths}")
    if not seeds:
        raise UserError("seeds must name at least one seed")
    runs: dict[int, list[dict[str, list[tuple[float, float]]]]] = {}
    described: dict[str, tuple[str, str]] = {}
    for width in widths:
        for seed in seeds:
            model, optimizer, *absorbed = build(width, seed)
            records, readout = record_coordinates(model, optimizer, batch, steps=steps, loss_fn=loss_fn,
                                                  changes=changes, absorbed=absorbed[0] if absorbed else None)
            runs.setdefault(width, []).append(records)
            if progress is not None:
                progress(width, seed)
            if not described:
                kinds = {name: type(m).__name__ for name, m in model.named_modules()}
                families = module_families(model, list(records), readout)
                described = {name: (families[name], kinds.get(name, "logits")) for name in records}
    modules = []
    for name, (family, kind) in described.items():
        if not all(name in r for seeds_of in runs.values() for r in seeds_of):
            continue  # a module of some widths only
        size = {w: [sum(r[name][t][0] for r in rs) / len(rs) for t in range(steps + 1)] for w, rs in runs.items()}
        change = {w: [sum(r[name][t][1] for r in rs) / len(rs) for t in range(steps + 1)] for w, rs in runs.items()}
        slopes = [loglog_slope(widths, [size[w][t] for w in widths]) for t in range(steps + 1)]
        change_slopes = [math.nan] + [loglog_slope(widths, [change[w][t] for w in widths])
                                      for t in range(1, steps + 1)]
        modules.append(ModuleCoords(name, family, kind, size, change, slopes, change_slopes))
    return CoordCheck(widths, steps, seeds, modules)
