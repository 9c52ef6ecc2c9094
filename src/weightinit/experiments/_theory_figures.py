"""The theory's figures, drawn on matplotlib ``Figure`` objects (no pyplot): the phase diagram
(phase.png), the trainability heat map with the 6 xi_c curve (schoenholz2017), the Jacobian's
singular values beside the free-probability prediction (pennington2017, diagnose --jacobian).
They live here, beside the experiments that draw them, rather than in ``reporting.plots``
(the shared figure module) to keep that module one concern: the training runs' figures."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

from ..runs.files import atomic_writer
from ..theory.phase import PhaseDiagram

__all__ = ["plot_phase_diagram", "plot_trainability", "plot_spectra", "save"]

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


def plot_spectra(panels: Sequence[dict], path: str | Path, title: str) -> Path:
    """One panel per depth: each init's measured singular values of the input-output Jacobian
    (histogram, density) and, where given, the free-probability prediction (a line).

    ``panels``: ``{"depth": L, "series": [{"label", "singular_values", "predicted": (s, density) | None}]}``."""
    fig = Figure(figsize=(4.6 * len(panels), 4.2))
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    colours = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple"]
    for ax, panel in zip(axes, panels):
        values = np.concatenate([np.asarray(s["singular_values"], dtype=float) for s in panel["series"]])
        positive = values[values > 0]
        low = max(float(positive.min()) if positive.size else 1e-3, 1e-4)
        high = float(values.max()) if values.size else 10.0
        bins = np.geomspace(low / 1.2, high * 1.2, 40)
        for colour, series in zip(colours, panel["series"]):
            ax.hist(np.asarray(series["singular_values"], dtype=float), bins=bins, density=True, alpha=0.45,
                    color=colour, label=f"{series['label']}: measured")
            if series.get("predicted") is not None:
                s, density = series["predicted"]
                ax.plot(s, density, color=colour, linewidth=2, label=f"{series['label']}: free probability")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("singular value of the input-output Jacobian")
        ax.set_ylabel("density")
        ax.axvline(1.0, color="grey", linestyle=":", linewidth=1)
        ax.set_title(f"depth {panel['depth']}")
        ax.legend(fontsize=7)
    fig.suptitle(title)
    return save(fig, path)


def finite_or(value: float, fallback: float) -> float:
    return value if math.isfinite(value) else fallback
