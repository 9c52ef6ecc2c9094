"""Figures as PNG files, drawn on matplotlib ``Figure`` objects: no pyplot, no display, and
no change to the matplotlib backend of the program that imports weightinit.

What every figure does: axes labelled with what is measured, a title that says what was run;
several runs of one label drawn as their mean with a band of ± one std; a diverged run marked
(×) where it stopped; a value a log axis cannot show (a std of exactly 0) marked at the foot
of the axis (▼) and said in the legend, never drawn at a made-up 1e-30; panels with their own
x scale say so, and the factor is in the axis label.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from pathlib import Path

from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FormatStrFormatter, MaxNLocator, ScalarFormatter
from matplotlib.transforms import blended_transform_factory

from ..diagnostics.dynamics import UPDATE_RATIO_REFERENCE
from ..diagnostics.layer_stats import Report
from ..runs.files import atomic_writer

__all__ = ["plot_curves", "plot_dynamics", "plot_tiles", "plot_std_by_layer", "plot_histograms"]

_SPLIT_NAMES = {"test": "test", "valid": "validation"}
_DIVERGED = {"marker": "x", "color": "crimson", "markersize": 9, "markeredgewidth": 2, "linestyle": "none"}
_ZERO = {"marker": "v", "markersize": 8, "linestyle": "none", "clip_on": False}


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def _band(histories: list[list[dict]], key: str) -> tuple[list[int], list[float], list[float]]:
    """Per epoch that some run reached, the epoch number, the mean of ``key`` over the runs
    with a finite value there, and their std (0 for one run)."""
    epochs, means, stds = [], [], []
    for e in range(max(len(h) for h in histories)):
        values = [h[e][key] for h in histories if e < len(h) and _finite(h[e].get(key))]
        if not values:
            continue
        epochs.append(next(h[e]["epoch"] for h in histories if e < len(h)))
        means.append(statistics.fmean(values))
        stds.append(statistics.stdev(values) if len(values) > 1 else 0.0)
    return epochs, means, stds


def _diverged(history: list[dict], flagged: bool) -> bool:
    """Whether a run diverged: flagged so, or a non-finite training loss in its history."""
    return flagged or any(not _finite(r.get("train_loss")) for r in history)


def plot_curves(runs: Sequence[tuple[str, list[dict]]], path: str | Path, title: str, *,
                evaluated_on: str = "test", diverged: Sequence[bool] | None = None, measure: str = "accuracy",
                chance: float | None = None) -> Path:
    """Train loss (log scale) and accuracy on the evaluated split per epoch, one line per
    label: the mean over the runs that share it, with a band of ± one std when there are
    several (seeds): ``curves.png``.

    ``runs`` holds ``(label, history)`` pairs, a history being the per-epoch records of
    :meth:`weightinit.training.History.to_dicts`; ``evaluated_on`` names their split ("test" or
    "valid"); ``diverged`` flags the runs that diverged (a run whose loss is NaN/inf counts
    anyway). A diverged run is left out of its label's mean and band and drawn on its own,
    dashed, with a × where it stopped; the label says how many diverged.

    ``measure="loss"`` draws the evaluated split's loss in the right panel instead of its
    accuracy (a language model's), with plain numbers on the training loss's log axis;
    ``chance`` draws a dotted line at a uniform guess's loss (ln(classes)) in the training-loss
    panel, where a history's epoch-0 record can show the loss at initialization."""
    fig = Figure(figsize=(11, 4.4))
    ax_loss, ax_acc = fig.subplots(1, 2)
    panels = ((ax_loss, "train_loss", True), (ax_acc, f"{evaluated_on}_{measure}", False))
    split = _SPLIT_NAMES.get(evaluated_on, evaluated_on)
    flags = list(diverged) if diverged is not None else [False] * len(runs)
    any_band = any_diverged = False
    for label in dict.fromkeys(name for name, _ in runs):
        mine = [(h, _diverged(h, flag)) for (name, h), flag in zip(runs, flags) if name == label and h]
        ok, bad = [h for h, d in mine if not d], [h for h, d in mine if d]
        shown = label + (f" (mean ± std of {len(ok)})" if len(ok) > 1 else "")
        if bad:
            shown += f", {len(bad)} of {len(mine)} diverged" + (" (dashed)" if ok else "")
        color = None
        for ax, key, log in panels:
            if not ok:
                break
            epochs, mean, std = _band(ok, key)
            points = [(e, m, s) for e, m, s in zip(epochs, mean, std) if not log or m > 0]
            if not points:
                continue
            x, m, s = map(list, zip(*points))
            (line,) = ax.plot(x, m, marker="o", markersize=3, color=color, label=shown)
            color = line.get_color()
            if len(ok) > 1:
                low = [max(a - b, a / 10) if log else a - b for a, b in zip(m, s)]  # a log axis cannot go to 0
                ax.fill_between(x, low, [a + b for a, b in zip(m, s)], color=color, alpha=0.2, linewidth=0)
                any_band = True
        for history in bad:
            for ax, key, log in panels:
                points = [(r["epoch"], r[key]) for r in history if _finite(r.get(key)) and (not log or r[key] > 0)]
                style = {"linestyle": "--", "alpha": 0.8} if ok else {}
                (line,) = ax.plot(*zip(*points), marker="o", markersize=3, color=color, label=None if ok else shown,
                                  **style) if points else ax.plot([], [], color=color)
                color = line.get_color()
                if points:  # × on its last point: the run stopped there
                    ax.plot(*points[-1], **{**_DIVERGED, "color": color})
                else:  # not one finite value: × at the top of the axis, at its last epoch
                    ax.plot([history[-1]["epoch"]], [1.0], transform=blended_transform_factory(ax.transData,
                            ax.transAxes), clip_on=False, **{**_DIVERGED, "color": color})
            shown = None  # one legend entry per label
            any_diverged = True
    ax_loss.set(yscale="log", xlabel="epoch", ylabel="training loss (mean over the epoch's batches, log scale)",
                title="Training loss")
    ax_acc.set(xlabel="epoch", ylabel=f"{split} {measure}", title=f"{split.capitalize()} {measure}")
    if measure == "loss":
        ax_loss.yaxis.set_major_formatter(ScalarFormatter())
        ax_loss.yaxis.set_minor_formatter(FormatStrFormatter("%.1f"))
    if chance is not None:
        ax_loss.axhline(chance, color="gray", linestyle=":", linewidth=1.2)
        ax_loss.text(0.99, chance, f"uniform guess: ln({round(math.exp(chance))}) = {chance:.2f}",
                     transform=blended_transform_factory(ax_loss.transAxes, ax_loss.transData), ha="right",
                     va="bottom", fontsize=7, color="gray")
    for ax in (ax_loss, ax_acc):
        ax.grid(True, which="both", alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
    handles, labels = ax_acc.get_legend_handles_labels()
    if any_diverged:
        handles.append(Line2D([], [], **{**_DIVERGED, "color": "gray"}))
        labels.append("diverged: the run stopped there")
    if any_band:
        title += " (bands: ± one std over seeds)"
    fig.suptitle(title)
    # the legend below both panels, where it hides no curve
    columns = min(3, len(labels)) or 1
    rows = -(-len(labels) // columns)
    fig.set_figheight(4.4 + 0.22 * rows)
    fig.legend(handles, labels, fontsize=8, loc="lower center", ncol=columns, frameon=False)
    return _save(fig, path, dpi=110, bottom=(0.22 * rows + 0.1) / (4.4 + 0.22 * rows))


_DYNAMICS_PANELS = (  # key, column title, y label, log scale
    ("activation_std", "Activation std", "std of the layer's outputs\n(after its activation, log scale)", True),
    ("inactive", "Saturated or dead units", "share of outputs saturated\n(tanh, sigmoid) or dead (ReLU)", False),
    ("grad_std", "Weight-gradient std", "std of dLoss/dW (log scale)", True),
    ("update_ratio_log10", "Update size", "log10(|ΔW| / |W|) of the step", False),
)


def _dynamics_value(record: dict, key: str) -> float | None:
    """A record's value for one panel: "inactive" is the dead share (ReLU family) or else the
    saturated share (tanh, sigmoid, softsign); None where the layer has neither."""
    if key == "inactive":
        return record["dead"] if record.get("dead") is not None else record.get("saturated")
    return record.get(key)


def plot_dynamics(runs: Sequence[tuple[str, list[dict]]], path: str | Path, title: str, *,
                  labels: dict[str, str] | None = None) -> Path:
    """Per layer (rows) and measure (columns), how each run's layers evolve while training:
    activation std, saturated or dead share, weight-gradient std and the update-to-weight ratio
    log10(|ΔW|/|W|) with its healthy -3 drawn (``dynamics.png``).

    ``runs`` holds ``(label, records)`` pairs, the records of
    :meth:`weightinit.diagnostics.dynamics.Dynamics.to_dicts` (one per recorded step and layer); several
    runs of one label (seeds) are drawn as their mean. ``labels`` maps a record's module name
    to the layer's name in the diagnose table and figures
    (:func:`weightinit.diagnostics.layer_stats.layer_labels`); without it, a row says its module name."""
    layers = list(dict.fromkeys(r["layer"] for _, records in runs for r in records))
    if not layers:
        raise ValueError("plot_dynamics needs recorded dynamics; got runs with no records")
    fig = Figure(figsize=(13, 2.3 * len(layers) + 1.2))
    axes = fig.subplots(len(layers), len(_DYNAMICS_PANELS), squeeze=False, sharex=True)
    # one pass over the records: (label, layer, measure) -> step -> values over the label's runs
    values: dict[tuple[str, str, str], dict[int, list[float]]] = {}
    for name, records in runs:
        for r in records:
            for key, _, _, log in _DYNAMICS_PANELS:
                value = _dynamics_value(r, key)
                if _finite(value) and (not log or value > 0):
                    values.setdefault((name, r["layer"], key), {}).setdefault(r["step"], []).append(value)
    handles: dict[str, Line2D] = {}
    for i, label in enumerate(dict.fromkeys(name for name, _ in runs)):
        color = f"C{i % 10}"  # one colour per label in every panel
        for row, layer in enumerate(layers):
            for col, (key, _, _, _) in enumerate(_DYNAMICS_PANELS):
                by_step = values.get((label, layer, key))
                if not by_step:
                    continue
                steps = sorted(by_step)
                (line,) = axes[row][col].plot(steps, [statistics.fmean(by_step[t]) for t in steps], color=color,
                                              linewidth=1.2)
                handles.setdefault(label, line)  # its legend entry, from whichever panel drew it first
    for row, layer in enumerate(layers):
        for col, (key, column, ylabel, log) in enumerate(_DYNAMICS_PANELS):
            ax = axes[row][col]
            if log:
                ax.set_yscale("log")
            if key == "update_ratio_log10":
                ax.axhline(UPDATE_RATIO_REFERENCE, color="gray", linestyle="--", linewidth=1)
                ax.text(0.01, UPDATE_RATIO_REFERENCE, " -3: healthy", transform=blended_transform_factory(
                        ax.transAxes, ax.transData), va="bottom", fontsize=7, color="gray")
            if key == "inactive":
                ax.set_ylim(-0.03, 1.03)
                if not ax.lines:
                    ax.text(0.5, 0.5, "no activation follows this layer\n(its output is linear)", ha="center",
                            va="center", transform=ax.transAxes, fontsize=8, color="gray")
            ax.grid(True, which="both", alpha=0.3)
            ax.set_title(f"{column}\n" + (labels or {}).get(layer, f"module {layer!r}"), fontsize=9)
            ax.set_ylabel(ylabel, fontsize=7)
            if row == len(layers) - 1:
                ax.set_xlabel("optimizer step")
    labels = list(handles)
    fig.suptitle(title)
    columns = min(4, len(labels)) or 1
    rows = -(-len(labels) // columns)
    height = fig.get_figheight()
    fig.legend(list(handles.values()), labels, fontsize=8, loc="lower center", ncol=columns, frameon=False)
    return _save(fig, path, dpi=100, bottom=(0.22 * rows + 0.15) / height, top=1 - 0.45 / height)


def _save(fig: Figure, path: str | Path, dpi: int, bottom: float = 0.0, top: float = 1.0) -> Path:
    """Write ``fig`` as a PNG atomically (``bottom``: the share of its height kept free for a
    legend; ``top``: where the panels end, below the title)."""
    fig.tight_layout(rect=(0, bottom, 1, top))
    path = Path(path)
    with atomic_writer(path) as handle:
        fig.savefig(handle, format="png", dpi=dpi)
    return path


def _tile(images, image_shape: tuple[int, ...], per_tile: bool, columns: int = 10):
    """Arrange (N, D) rows as a grid of image_shape tiles, each scaled to its own range
    (``per_tile``) or all to [0, 1]."""
    import numpy as np

    images = np.asarray(images, dtype=np.float64)
    n = len(images)
    rows = -(-n // columns)
    height, width = image_shape if len(image_shape) == 2 else (1, int(np.prod(image_shape)))
    grid = np.full((rows * (height + 1) + 1, columns * (width + 1) + 1), np.nan)
    for index, image in enumerate(images):
        low, high = (image.min(), image.max()) if per_tile else (0.0, 1.0)
        tile = np.clip((image - low) / (high - low), 0, 1) if high > low else np.zeros_like(image)
        r, c = divmod(index, columns)
        grid[1 + r * (height + 1): 1 + r * (height + 1) + height, 1 + c * (width + 1): 1 + c * (width + 1) + width] = \
            tile.reshape(height, width)
    return grid


def plot_tiles(images, image_shape: tuple[int, ...], path: str | Path, title: str, *, per_tile: bool = True) -> Path:
    """A grid of images (one per row of ``images``): RBM filters (each tile scaled to its own
    range) or samples (``per_tile=False``: probabilities shown on one [0, 1] scale). The
    title may hold line breaks; the figure grows to fit them."""
    grid = _tile(images, image_shape, per_tile)
    lines = title.count("\n") + 1
    fig = Figure(figsize=(7, 7 * grid.shape[0] / grid.shape[1] + 0.3 * lines + 0.2))
    ax = fig.subplots()
    ax.imshow(grid, cmap="gray", interpolation="nearest", vmin=0, vmax=1)
    ax.set_axis_off()
    ax.set_title(title, fontsize=10)
    return _save(fig, path, dpi=100)


def plot_std_by_layer(reports: dict[str, Report], path: str | Path, title: str) -> Path:
    """Std of activations (left) and of back-propagated gradients (right) against depth, log
    scale, one line per init: vanishing and exploding signals at a glance. A std of exactly 0
    (a dead layer) cannot sit on a log axis: it is marked ▼ at the axis' foot."""
    fig = Figure(figsize=(11, 4.8))
    ax_act, ax_grad = fig.subplots(1, 2)
    depth: list[int] = []
    names: list[str] = []
    zeros = False
    for init, report in reports.items():
        depth = list(range(1, len(report.layers) + 1))
        names = [_layer_label(s) for s in report.layers]
        color = None
        for ax, values in ((ax_act, [s.post_std for s in report.layers]),
                           (ax_grad, [s.grad_std for s in report.layers])):
            shown = [v if _finite(v) and v > 0 else float("nan") for v in values]  # a gap, not a fake value
            (line,) = ax.plot(depth, shown, marker="o", color=color, label=init)
            color = line.get_color()
            at_zero = [d for d, v in zip(depth, values) if v == 0]
            if at_zero:
                ax.plot(at_zero, [0.0] * len(at_zero), color=color,
                        transform=blended_transform_factory(ax.transData, ax.transAxes), **_ZERO)
                zeros = True
    ax_act.set(yscale="log", xlabel="layer (in forward order; the last gives the output)",
               ylabel="std of the layer's output after its activation", title="Activations")
    ax_grad.set(yscale="log", xlabel="layer (in forward order; the last gives the output)",
                ylabel="std of dLoss/d(layer output)", title="Back-propagated gradients")
    for ax in (ax_act, ax_grad):
        ax.grid(True, which="both", alpha=0.3)
        if depth:
            ax.set_xticks(depth, names, rotation=30, ha="right", rotation_mode="anchor", fontsize=7)
        shown = [v for line in ax.get_lines() if line.get_transform() == ax.transData
                 for v in line.get_ydata() if _finite(v) and v > 0]
        if not shown:
            ax.set_ylim(1e-3, 1)  # nothing positive to show: a sane empty log axis
        elif max(shown) / min(shown) < 10:  # at least a decade: a narrow log axis makes a tiny spread look huge
            middle = math.sqrt(max(shown) * min(shown))
            ax.set_ylim(middle / math.sqrt(10), middle * math.sqrt(10))
    handles, labels = ax_grad.get_legend_handles_labels()
    if zeros:
        handles.append(Line2D([], [], color="gray", **_ZERO))
        labels.append("std exactly 0 (no place on a log axis)")
    ax_grad.legend(handles, labels, fontsize=8)
    fig.suptitle(title)
    return _save(fig, path, dpi=110)


def _layer_label(stats) -> str:
    """A layer's name in every figure: the diagnose table's, ``"layer 1 (Linear 64->256)"``
    (:func:`weightinit.diagnostics.layer_stats.layer_label`); its module name for a report without one."""
    return stats.label or stats.name


_HISTOGRAM_OF = {"post": "activation value (layer output after its activation)",
                 "grad": "back-propagated gradient dLoss/d(layer output)"}


def _scaled(high: float) -> tuple[float, str]:
    """A power of ten to divide values by, so that tick labels stay short, and its label."""
    exponent = math.floor(math.log10(high)) if high > 0 else 0
    if -2 <= exponent <= 2:
        return 1.0, ""
    return 10.0**exponent, f" (×1e{exponent})"


def plot_histograms(reports: dict[str, Report], key: str, path: str | Path, title: str) -> Path:
    """Per-layer histograms of activations (``key="post"``, Glorot & Bengio fig. 6) or
    back-propagated gradients (``"grad"``, fig. 7), one column per init: the hidden layers in
    the top row, the output layer (the logits, for a classifier) below on its own x scale, as
    its values can be orders of magnitude larger. Each panel has its own x range, stated as a
    factor in its axis label; the y axis is a density on a log scale. Layers are named as in
    the diagnose table (``"layer 1 (Linear 64->256)"``)."""
    import numpy as np

    first = next(iter(reports.values()), None)
    two_rows = first is not None and len(first.layers) > 1
    fig = Figure(figsize=(max(4.4 * len(reports), 6), 7.6 if two_rows else 4.0))
    axes = fig.subplots(2 if two_rows else 1, len(reports), squeeze=False)
    for column, (init, report) in enumerate(reports.items()):
        groups = [report.layers[:-1], report.layers[-1:]] if two_rows else [report.layers]
        colors = {id(s): f"C{i % 10}" for i, s in enumerate(report.layers)}  # a layer's colour in both rows
        for row, (ax, layers) in enumerate(zip(axes[:, column], groups)):
            values = [(s, v[np.isfinite(v)]) for s in layers for v in [s.samples[key].numpy()]]
            high = max((float(np.percentile(np.abs(v), 99.5)) for _, v in values if v.size), default=0.0) or 1.0
            factor, note = _scaled(high)
            bins = np.linspace(-high / factor, high / factor, 61)
            for s, v in values:
                if v.size:
                    ax.hist(v / factor, bins=bins, histtype="step", density=True, label=_layer_label(s),
                            color=colors[id(s)])
            which = "" if not two_rows else (" — hidden layers" if row == 0 else " — output layer")
            logits = key == "post" and len(layers) == 1 and layers[0] is report.layers[-1] and \
                layers[0].activation == "linear"  # no activation follows the output layer
            xlabel = "output value (logits: no activation follows)" if logits else _HISTOGRAM_OF.get(key, "value")
            ax.set(title=init + which, yscale="log", xlabel=xlabel + note)
            ax.xaxis.set_major_locator(MaxNLocator(5, symmetric=True))
            if column == 0:
                ax.set_ylabel("density (log scale)")
            ax.legend(fontsize=7)
    fig.suptitle(f"{title}\neach panel has its own x scale (its factor is in the axis label); central 99% shown",
                 fontsize=10)
    return _save(fig, path, dpi=100)
