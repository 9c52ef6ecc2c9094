"""The learning-rate transfer figure (Yang et al. 2022, Figure 1): for each model a row of two
panels, SP and muP, the loss after the budget against log2 of the learning rate, a line per
width (light to dark as the model widens), each width's best rate marked with a dot. The two
panels of a row share their y axis, so the curves compare across parametrizations."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.ticker import FormatStrFormatter, NullFormatter

from ..runs.files import atomic_writer

__all__ = ["plot_transfer"]

_TITLES = {"sp": "standard parametrization (SP)", "mup": "muP"}
_DATASETS = {"mnist": "MNIST", "shakespeare": "Shakespeare"}


def _ticks(low: float, high: float) -> list[float]:
    """Round values between ``low`` and ``high`` for a log axis: 1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8 per decade,
    thinned to at most 7."""
    found = [k * 10.0 ** e for e in range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1)
             for k in (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8) if low <= k * 10.0 ** e <= high]
    return found[:: max(1, math.ceil(len(found) / 7))]


def plot_transfer(parts: Sequence[Any], path: str | Path, title: str) -> Path:
    """Draw the figure of ``parts`` (records with ``model``, ``dataset``, ``widths``, ``log2_lrs``,
    ``steps`` and ``losses[param][str(width)]``, None where a run diverged) to ``path``."""
    fig = Figure(figsize=(11, 4.2 * len(parts)))
    axes = fig.subplots(len(parts), 2, squeeze=False, sharey="row")
    colours = colormaps["viridis"]
    for row, part in zip(axes, parts):
        finite = [v for p in ("sp", "mup") for w in part.widths for v in part.losses[p][str(w)] if v is not None]
        low, high = (min(finite), max(finite)) if finite else (0.0, 1.0)
        for ax, parametrization in zip(row, ("sp", "mup")):
            for i, width in enumerate(part.widths):
                colour = colours(0.1 + 0.8 * i / max(1, len(part.widths) - 1))
                values = [math.nan if v is None else v for v in part.losses[parametrization][str(width)]]
                ax.plot(part.log2_lrs, values, "-o", color=colour, markersize=3, linewidth=1.5, label=f"width {width}")
                best = min(((v, k) for v, k in zip(values, part.log2_lrs) if not math.isnan(v)), default=None)
                if best is not None:
                    ax.plot([best[1]], [best[0]], "o", color=colour, markersize=9, markeredgecolor="black")
            ax.set_title(f"{part.model.upper()} on {_DATASETS.get(part.dataset, part.dataset)}: "
                         f"{_TITLES[parametrization]}", fontsize=10)
            ax.set_xlabel("log2 learning rate (Adam)")
            ax.set_xticks(part.log2_lrs)
            ax.set_yscale("log")
            top = min(high, 4 * low) * 1.05  # the region around the optima; the rest leaves the top
            ax.set_ylim(0.95 * low, top)
            ax.set_yticks(_ticks(0.95 * low, top), minor=False)
            ax.yaxis.set_major_formatter(FormatStrFormatter("%.3g"))
            ax.yaxis.set_minor_formatter(NullFormatter())
            ax.grid(alpha=0.3)
        row[0].set_ylabel(f"training loss after {part.steps} steps (log)")
        row[1].legend(fontsize=8, title="dots: each width's best", title_fontsize=8)
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    path = Path(path)
    with atomic_writer(path) as handle:
        fig.savefig(handle, format="png", dpi=110)
    return path
