"""The theory's figures, drawn on matplotlib ``Figure`` objects (no pyplot): the phase diagram
(phase.png), the trainability heat map with the 6 xi_c curve (schoenholz2017), the Jacobian's
singular values beside the free-probability prediction (pennington2017, diagnose --jacobian),
Brock et al. 2021's signal propagation plot (diagnose --signal-propagation). A module of their
own rather than part of :mod:`.plots`, which keeps to one concern: the training runs' figures."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

from ..runs.files import atomic_writer
from ..theory.phase import PhaseDiagram

__all__ = ["plot_phase_diagram", "plot_trainability", "plot_spectra", "plot_signal_propagation",
           "plot_training_and_spectra", "save"]

XI_CAP = 1000.0  # xi_c drawn up to this many layers (it is infinite on the critical line)


def save(fig: Figure, path: str | Path, dpi: int = 120) -> Path:
    """Write ``fig`` as a PNG atomically."""
    fig.tight_layout()
    path = Path(path)
    with atomic_writer(path) as handle:
        fig.savefig(handle, format="png", dpi=dpi)
    return path


def plot_phase_diagram(diagram: PhaseDiagram, path: str | Path, marked: tuple[float, float] | None = None) -> Path:
    """xi_c as colour over sigma_w² (x) and sigma_b² (y), the critical line chi_1 = 1 in white,
    the ordered and chaotic phases named; ``marked``: a (sigma_w², sigma_b²) point drawn as a star."""
    fig = Figure(figsize=(7.5, 5.2))
    ax = fig.subplots()
    xi = np.clip(np.nan_to_num(np.array(diagram.xi_c), nan=XI_CAP, posinf=XI_CAP), 0.3, XI_CAP)
    mesh = ax.pcolormesh(diagram.sigma_w2, diagram.sigma_b2, xi, shading="nearest", cmap="viridis",
                         norm=LogNorm(vmin=max(0.3, float(xi.min())), vmax=XI_CAP))
    fig.colorbar(mesh, ax=ax, label="ξ_c: correlation depth scale (layers, log scale)")
    line = [(w, b) for w, b in zip(diagram.critical_w2, diagram.sigma_b2) if w is not None]
    if line:
        ax.plot([w for w, _ in line], [b for _, b in line], color="white", linewidth=2.2,
                label="critical line χ₁ = 1 (ξ_c = ∞)")
    if marked is not None:
        ax.plot(*marked, marker="*", color="crimson", markersize=15, linestyle="none",
                label=f"σ_w² = {marked[0]:.3f} at σ_b² = {marked[1]:g}")
    ax.set_xlim(min(diagram.sigma_w2), max(diagram.sigma_w2))
    ax.set_ylim(min(diagram.sigma_b2), max(diagram.sigma_b2))
    ax.set_xlabel("σ_w²: weight variance × fan_in")
    ax.set_ylabel("σ_b²: bias variance")
    top = max(diagram.sigma_b2)
    low_w, high_w = min(diagram.sigma_w2), max(diagram.sigma_w2)
    ax.text(low_w + 0.04 * (high_w - low_w), 0.9 * top, "ordered\n(χ₁ < 1)", color="white", fontsize=12,
            va="top", fontweight="bold")
    ax.text(high_w - 0.04 * (high_w - low_w), 0.1 * top, "chaotic\n(χ₁ > 1)", color="white", fontsize=12,
            ha="right", va="bottom", fontweight="bold")
    ax.set_title(f"Phase diagram of a deep {diagram.activation} network (mean-field theory)")
    ax.legend(loc="center right", fontsize=9, framealpha=0.85)
    return save(fig, path)


def _edges(values: Sequence[float], geometric: bool) -> np.ndarray:
    """Cell edges around ``values`` (midpoints, geometric on a log axis), the ends mirrored."""
    v = np.asarray(values, dtype=float)
    if len(v) == 1:
        return np.array([v[0] / 1.5, v[0] * 1.5]) if geometric else np.array([v[0] - 0.5, v[0] + 0.5])
    mids = np.sqrt(v[1:] * v[:-1]) if geometric else (v[1:] + v[:-1]) / 2
    first = v[0] ** 2 / mids[0] if geometric else 2 * v[0] - mids[0]
    last = v[-1] ** 2 / mids[-1] if geometric else 2 * v[-1] - mids[-1]
    return np.concatenate([[first], mids, [last]])


def plot_trainability(sigma_w2: Sequence[float], depths: Sequence[int], accuracy: Sequence[Sequence[float]],
                      curve_w2: Sequence[float], curve_depth: Sequence[float], path: str | Path, title: str, *,
                      chance: float = 0.1) -> Path:
    """Test accuracy as colour (and in %) over sigma_w² (x) and depth (y, log scale), with the
    6 xi_c curve over it (Schoenholz et al. 2017, Figure 5)."""
    fig = Figure(figsize=(8.5, 5.6))
    ax = fig.subplots()
    acc = np.array(accuracy, dtype=float)
    x, y = _edges(sigma_w2, False), _edges(depths, True)
    mesh = ax.pcolormesh(x, y, np.nan_to_num(acc, nan=chance), shading="flat", cmap="magma", vmin=chance, vmax=1.0)
    fig.colorbar(mesh, ax=ax, label="test accuracy after the training budget")
    for i, depth in enumerate(depths):
        for j, w2 in enumerate(sigma_w2):
            a = acc[i, j]
            ax.text(w2, depth, "–" if not math.isfinite(a) else f"{100 * a:.0f}", ha="center", va="center",
                    fontsize=7, color="white" if not math.isfinite(a) or a < 0.6 else "black")
    ax.plot(curve_w2, curve_depth, color="cyan", linewidth=2.2, label="6 ξ_c (mean-field theory)")
    ax.set_yscale("log")
    ax.set_xlim(x[0], x[-1])
    ax.set_ylim(y[0], y[-1])
    ax.set_yticks(list(depths))
    ax.set_yticklabels([str(d) for d in depths])
    ax.minorticks_off()
    ax.set_xlabel("σ_w²: weight variance × fan_in")
    ax.set_ylabel("depth L (hidden layers, log scale)")
    ax.set_title(title, fontsize=10)
    ax.legend(loc="upper right", fontsize=9, framealpha=0.85)
    return save(fig, path)


SPECTRUM_LOW = 1e-4  # the spectra's left edge (the share of singular values below it is given in the legend)


def _draw_spectra(ax, series: Sequence[dict], title: str) -> None:
    """Each series' measured singular values as a histogram per decade on a log axis, and its
    predicted density (or atom) as a line, on ``ax``."""
    colours = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple"]
    values = np.concatenate([np.asarray(s["singular_values"], dtype=float) for s in series])
    high = max(float(values.max()) * 1.3, 2.5)
    low = min(max(float(values.min()), SPECTRUM_LOW), 0.4)
    edges = np.linspace(np.log10(low), np.log10(high), 46)
    width = np.diff(edges)[0]
    for colour, one in zip(colours, series):
        raw = np.asarray(one["singular_values"], dtype=float)
        counts, _ = np.histogram(np.log10(raw[raw >= low]), bins=edges)
        below = float((raw < low).mean())
        heights = counts / (len(raw) * width)
        ax.stairs(heights, 10 ** edges, fill=True, alpha=0.3, color=colour)
        ax.stairs(heights, 10 ** edges, color=colour, linewidth=1.2,
                  label=f"{one['label']}: measured" + (f" ({100 * below:.0f}% below {low:.0e})" if below else ""))
        predicted = one.get("predicted")
        if predicted is not None and predicted[0] == "atom":
            ax.axvline(predicted[1], color=colour, linewidth=2.5, linestyle="--",
                       label=f"{one['label']}: predicted (all at {predicted[1]:.3g})")
        elif predicted is not None:
            s, density = (np.asarray(v, dtype=float) for v in predicted)
            keep = (s >= low) & (s <= high)
            ax.plot(s[keep], s[keep] * density[keep] * np.log(10), color=colour, linewidth=2.2, linestyle="--",
                    label=f"{one['label']}: free probability")
    ax.set_xscale("log")
    ax.set_xlim(low, high)
    ax.axvline(1.0, color="grey", linestyle=":", linewidth=1)
    ax.axvspan(0.5, 2.0, color="grey", alpha=0.08)
    ax.set_xlabel("singular value s of the Jacobian (log scale; grey: within x2 of 1)")
    ax.set_ylabel("share per decade of s")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, loc="upper left")


def plot_spectra(panels: Sequence[dict], path: str | Path, title: str) -> Path:
    """One panel per depth: each init's measured singular values of the input-output Jacobian
    (a histogram per decade, the grey band within a factor of 2 of 1) and, where given, the
    free-probability prediction (dashed).

    ``panels``: ``{"depth": L, "series": [{"label", "singular_values", "predicted"}]}``, ``predicted``
    None, ``(s, p(s))`` or ``("atom", s)``."""
    fig = Figure(figsize=(5.2 * len(panels), 4.8))
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, panel in zip(axes, panels):
        _draw_spectra(ax, panel["series"], f"depth {panel['depth']}")
    fig.suptitle(title)
    return save(fig, path)


def plot_signal_propagation(signals: dict[str, list[dict]], path: str | Path, title: str) -> Path:
    """Brock et al. 2021's signal propagation plot: per init, the average channel squared mean,
    the average channel variance and the residual branches' variance at each block's output."""
    fig = Figure(figsize=(13.5, 4.2))
    axes = fig.subplots(1, 3)
    keys = [("squared_mean", "average channel squared mean"), ("variance", "average channel variance"),
            ("residual_variance", "residual branches' variance (output - input)")]
    for ax, (key, label) in zip(axes, keys):
        for init, rows in signals.items():
            points = [(r["depth"], r[key]) for r in rows if r[key] is not None]
            ax.plot([d for d, _ in points], [v for _, v in points], marker="o", markersize=3, label=init)
        ax.set_yscale("log")
        ax.set_xlabel("residual block (0: the stream entering the first)")
        ax.set_title(label, fontsize=10)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(title)
    return save(fig, path)


def finite_or(value: float, fallback: float) -> float:
    return value if math.isfinite(value) else fallback


def plot_training_and_spectra(losses: dict[str, list[list[float]]], every: int, target: float, series: Sequence[dict],
                              path: str | Path, title: str) -> Path:
    """Pennington et al. 2017's figure: the training loss against steps of each init (a line per
    seed, the target dashed) beside the singular values of their Jacobians at initialization
    with the free-probability prediction."""
    fig = Figure(figsize=(12.5, 4.8))
    left, right = fig.subplots(1, 2)
    colours = {"gaussian": "tab:blue", "orthogonal": "tab:orange"}
    for init, rows in losses.items():
        for k, row in enumerate(rows):
            steps = [every * (i + 1) for i in range(len(row))]
            left.plot(steps, row, color=colours.get(init), alpha=0.85, linewidth=1.5,
                      label=f"{init} weights" if k == 0 else None)
    left.axhline(target, color="grey", linestyle="--", linewidth=1, label=f"target {target:g}")
    left.set_xlabel("SGD steps")
    left.set_ylabel("training loss (mean over the last steps; one line per seed)")
    left.set_title("training loss", fontsize=10)
    left.legend(fontsize=8)
    left.grid(alpha=0.3)
    _draw_spectra(right, series, "singular values of the Jacobian at initialization")
    fig.suptitle(title)
    return save(fig, path)
