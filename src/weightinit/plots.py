"""Figures as PNG files, drawn on matplotlib ``Figure`` objects: no pyplot, no display, and
no change to the matplotlib backend of the program that imports weightinit."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from matplotlib.figure import Figure

from .diagnostics import Report
from .runs.files import atomic_writer

__all__ = ["plot_curves", "plot_tiles", "plot_std_by_layer", "plot_histograms"]

_SPLIT_NAMES = {"test": "test", "valid": "validation"}


def _mean_curves(runs: Sequence[tuple[str, list[dict]]], key: str) -> dict[str, tuple[list[int], list[float]]]:
    """Per label, the per-epoch mean of ``key`` over its runs (the epochs every run reached)."""
    curves = {}
    for label in dict.fromkeys(name for name, _ in runs):
        histories = [history for name, history in runs if name == label]
        n = min(len(h) for h in histories)
        values = [sum(h[e][key] for h in histories) / len(histories) for e in range(n)]
        curves[label] = ([histories[0][e]["epoch"] for e in range(n)], values)
    return curves


def plot_curves(runs: Sequence[tuple[str, list[dict]]], path: str | Path, title: str, *,
                evaluated_on: str = "test") -> Path:
    """Train loss (log scale) and accuracy on the evaluated split per epoch, one line per
    label (the mean over the runs that share it): ``curves.png``.

    ``runs`` holds ``(label, history)`` pairs, a history being the per-epoch records of
    :meth:`weightinit.train.History.to_dicts`; ``evaluated_on`` names their split ("test" or
    "valid")."""
    fig = Figure(figsize=(11, 4.2))
    ax_loss, ax_acc = fig.subplots(1, 2)
    split = _SPLIT_NAMES.get(evaluated_on, evaluated_on)
    losses, accuracies = _mean_curves(runs, "train_loss"), _mean_curves(runs, f"{evaluated_on}_accuracy")
    for init in losses:
        epochs, loss = losses[init]
        finite = [(e, v) for e, v in zip(epochs, loss) if math.isfinite(v) and v > 0]
        (line,) = ax_loss.plot(*zip(*finite), marker="o", markersize=3, label=init) if finite else ax_loss.plot([], [])
        ax_acc.plot(*accuracies[init], marker="o", markersize=3, color=line.get_color(), label=init)
    ax_loss.set(yscale="log", xlabel="epoch", ylabel="train loss (mean over batches)", title="Training loss")
    ax_acc.set(xlabel="epoch", ylabel=f"{split} accuracy", title=f"{split.capitalize()} accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(True, which="both", alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)  # epochs are whole numbers
    ax_acc.legend(fontsize=8, loc="lower right")
    fig.suptitle(title)
    return _save(fig, path, dpi=110)


def _save(fig: Figure, path: str | Path, dpi: int) -> Path:
    """Write ``fig`` as a PNG atomically."""
    fig.tight_layout()
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
    range) or samples (``per_tile=False``: probabilities shown on one [0, 1] scale)."""
    grid = _tile(images, image_shape, per_tile)
    fig = Figure(figsize=(7, 7 * grid.shape[0] / grid.shape[1] + 0.4))
    ax = fig.subplots()
    ax.imshow(grid, cmap="gray", interpolation="nearest")
    ax.set_axis_off()
    ax.set_title(title)
    return _save(fig, path, dpi=100)


def plot_std_by_layer(reports: dict[str, Report], path: str | Path, title: str) -> Path:
    """Std of activations (left) and of back-propagated gradients (right) against depth, log
    scale, one line per init: vanishing and exploding signals at a glance."""
    fig = Figure(figsize=(11, 4.2))
    ax_act, ax_grad = fig.subplots(1, 2)
    for init, report in reports.items():
        depth = list(range(1, len(report.layers) + 1))
        (line,) = ax_act.plot(depth, [max(s.post_std, 1e-30) for s in report.layers], marker="o", label=init)
        ax_grad.plot(depth, [max(s.grad_std, 1e-30) for s in report.layers], marker="o", color=line.get_color(),
                     label=init)
    ax_act.set(yscale="log", xlabel="layer", ylabel="std of the layer's output after its activation",
               title="Activations")
    ax_grad.set(yscale="log", xlabel="layer", ylabel="std of dLoss/d(layer output)", title="Back-propagated gradients")
    for ax in (ax_act, ax_grad):
        ax.grid(True, which="both", alpha=0.3)
        ax.set_xticks(depth)
    ax_grad.legend(fontsize=8)
    fig.suptitle(title)
    return _save(fig, path, dpi=110)


def plot_histograms(reports: dict[str, Report], key: str, path: str | Path, title: str) -> Path:
    """Per-layer histograms of activations (``key="post"``, Glorot & Bengio fig. 6) or
    back-propagated gradients (``"grad"``, fig. 7), one panel per init."""
    import numpy as np

    fig = Figure(figsize=(4.2 * len(reports), 3.6))
    axes = fig.subplots(1, len(reports), squeeze=False)
    for ax, (init, report) in zip(axes[0], reports.items()):
        values = [s.samples[key].numpy() for s in report.layers[:-1]] or [s.samples[key].numpy() for s in report.layers]
        high = max(float(np.percentile(np.abs(v), 99.5)) for v in values) or 1.0
        bins = np.linspace(-high, high, 61)
        for i, v in enumerate(values, 1):
            ax.hist(v, bins=bins, histtype="step", density=True, label=f"layer {i}")
        ax.set(title=init, yscale="log", xlabel="value")
        ax.legend(fontsize=7)
    fig.suptitle(title)
    return _save(fig, path, dpi=100)
