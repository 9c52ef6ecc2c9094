"""Figures, drawn with matplotlib's Agg backend (no display needed)."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from .files import atomic_writer  # noqa: E402

__all__ = ["plot_curves"]


def _mean_curves(runs: list[dict], key: str) -> dict[str, tuple[list[int], list[float]]]:
    """Per init, the per-epoch mean of ``key`` over its seeds (epochs every run reached)."""
    curves = {}
    for init in dict.fromkeys(run["init"] for run in runs):
        histories = [run["history"] for run in runs if run["init"] == init]
        n = min(len(h) for h in histories)
        values = [sum(h[e][key] for h in histories) / len(histories) for e in range(n)]
        curves[init] = ([histories[0][e]["epoch"] for e in range(n)], values)
    return curves


def plot_curves(results: dict, path: str | Path) -> Path:
    """Train loss (log scale) and test accuracy per epoch, one line per init: ``curves.png``."""
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4.2))
    runs = results["runs"]
    losses, accuracies = _mean_curves(runs, "train_loss"), _mean_curves(runs, "test_accuracy")
    for init in losses:
        epochs, loss = losses[init]
        finite = [(e, v) for e, v in zip(epochs, loss) if math.isfinite(v) and v > 0]
        (line,) = ax_loss.plot(*zip(*finite), marker="o", markersize=3, label=init) if finite else ax_loss.plot([], [])
        ax_acc.plot(*accuracies[init], marker="o", markersize=3, color=line.get_color(), label=init)
    ax_loss.set(yscale="log", xlabel="epoch", ylabel="train loss (mean over batches)", title="Training loss")
    ax_acc.set(xlabel="epoch", ylabel="test accuracy", title="Test accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(True, which="both", alpha=0.3)
    ax_acc.legend(fontsize=8, loc="lower right")
    fig.suptitle(f"{results['dataset']} {results['arch']} {results['activation']}: initialization compared")
    fig.tight_layout()
    path = Path(path)
    with atomic_writer(path) as handle:
        fig.savefig(handle, format="png", dpi=110)
    plt.close(fig)
    return path
