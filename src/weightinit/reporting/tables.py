"""Results as text: the terminal tables, ``results.json``, ``results.csv`` and ``report.md``
of the compare and RBM experiments (the DBN and the papers' results render their own
tables).

Every file is written atomically; an output folder never holds half a run.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ..boltzmann.trainer import RBMEpoch
from ..experiments.compare import INIT_LOSS_ROWS, CompareResult, InitSummary
from ..experiments.rbm import RBMResult
from ..runs.files import write_text_atomic

__all__ = ["chance_note", "timing_note", "format_table", "markdown_table", "to_json", "write_compare_outputs",
           "RBM_HEADER", "rbm_epoch_row", "rbm_summary"]

_COLUMNS = ("init", "test accuracy", "loss at init", "loss in epoch 1", "final train loss", "s/epoch")


def _accuracy(row: InitSummary) -> str:
    text = f"{100 * row.test_accuracy:.2f}%"
    if row.runs > 1:
        text += f" ± {100 * row.test_accuracy_std:.2f}"
    if row.diverged:
        text += f" (diverged {row.diverged}/{row.runs})"
    return text


def _loss(value: float) -> str:
    return "nan" if math.isnan(value) else f"{value:.4g}"


def _cells(summary: list[InitSummary]) -> list[tuple[str, ...]]:
    return [(r.init, _accuracy(r), _loss(r.initial_loss), _loss(r.first_epoch_loss), _loss(r.final_train_loss),
             f"{r.seconds_per_epoch:.2f}" + ("*" if r.batched else "")) for r in summary]


def timing_note(summary: list[InitSummary]) -> str:
    """What the s/epoch column means when runs trained in the batched sweep ("" when none did):
    their time is the sweep's, shared, so it cannot rank the inits."""
    batched = [r for r in summary if r.batched]
    if not batched:
        return ""
    whom = (f"all {len(summary)} inits" if len(batched) == len(summary) else
            "the init marked *" if len(batched) == 1 else f"the {len(batched)} inits marked *")
    return (f"s/epoch*: {whom} trained together as one stacked model (the batched sweep), so each shows the "
            "sweep's time per epoch, shared by all of them, not its own; --no-batched times each init alone")


def chance_note(n_classes: int) -> str:
    """How to read the "loss at init" column."""
    return (f"loss at init: cross-entropy before the first step, on (up to) the first {INIT_LOSS_ROWS:,} training "
            f"images; a uniform guess scores ln({n_classes}) = {math.log(n_classes):.3f}")


def format_table(summary: list[InitSummary]) -> str:
    """A plain-text table, best accuracy first, aligned for the terminal."""
    rows = [_COLUMNS, *_cells(summary)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS))]
    lines = ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths)))
             for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown_table(summary: list[InitSummary]) -> str:
    rows = ["| " + " | ".join(_COLUMNS) + " |", "|" + "---|" * len(_COLUMNS)]
    rows += ["| " + " | ".join(cells) + " |" for cells in _cells(summary)]
    return "\n".join(rows)


def _finite_or_none(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite_or_none(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite_or_none(v) for v in value]
    return value


def to_json(results: Any) -> str:
    """Strict JSON of a result (its ``to_dict()``) or a dict; NaN and inf, from diverged runs,
    become null."""
    data = results.to_dict() if hasattr(results, "to_dict") else results
    return json.dumps(_finite_or_none(data), indent=2, allow_nan=False) + "\n"


def _csv(runs: list) -> str:
    fields = ["init", "seed", "test_accuracy", "initial_loss", "first_epoch_loss", "final_train_loss",
              "seconds_per_epoch", "diverged"]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(asdict(run) for run in runs)
    return buffer.getvalue()


def _markdown(results: CompareResult, figure: str | None) -> str:
    settings = ", ".join(f"{k}={v}" for k, v in results.config.items() if k != "inits")
    lines = [
        f"# Initialization compared on {results.dataset}",
        "",
        f"Network {results.arch}"
        + (f" with {results.activation}" if results.config.get("model", "mlp") == "mlp" else "") + f"; {settings}.",
        f"Data: {results.source}. Versions: " + ", ".join(f"{k} {v}" for k, v in results.versions.items()) + ".",
        "",
        markdown_table(results.summary),
        "",
    ]
    if results.n_classes is not None:
        lines += [chance_note(results.n_classes) + ".", ""]
    if timing_note(results.summary):
        lines += [timing_note(results.summary) + ".", ""]
    diverged = [run for run in results.runs if run.diverged]
    for run in diverged:
        at = run.diverged_at
        lines.append(f"- `{run.init}` (seed {run.seed}) diverged at epoch {at['epoch']}, batch {at['batch']} "
                     f"(loss {at['loss']:.4g}).")
    if diverged:
        lines.append("")
    if figure:
        lines += [f"![training curves]({figure})", ""]
    return "\n".join(lines)


def write_compare_outputs(results: CompareResult, folder: Path, figure: str | None = "curves.png") -> list[Path]:
    """Write ``results.json``, ``results.csv`` and ``report.md`` into ``folder``."""
    outputs = {
        "results.json": to_json(results),
        "results.csv": _csv(results.runs),
        "report.md": _markdown(results, figure),
    }
    paths = []
    for name, text in outputs.items():
        write_text_atomic(folder / name, text)
        paths.append(folder / name)
    return paths


def rbm_epoch_row(record: RBMEpoch) -> str:
    """One line of the per-epoch RBM table."""
    pl = "" if record.pseudo_likelihood is None else f"{record.pseudo_likelihood:10.2f}"
    return f"{record.epoch:5d}  {record.reconstruction_error:10.3f}  {pl:>10}  {record.seconds:7.2f}"


RBM_HEADER = "epoch  recon err   pseudo-LL   s/epoch"


def rbm_summary(results: RBMResult) -> str:
    """The final measures of an RBM run, a line each."""
    test, ais = results.test, results.test.ais
    lines = [f"test reconstruction error  {test.reconstruction_error:.3f}"]
    if test.pseudo_likelihood is not None:
        lines.append(f"test pseudo-likelihood     {test.pseudo_likelihood:.2f}")
    lines += [
        f"AIS log Z                  {ais['log_z']:.2f}  (3 s.e.: {ais['log_z_low']:.2f} .. {ais['log_z_high']:.2f}; "
        f"{ais['n_chains']} chains x {ais['n_steps']} steps, {results.seconds['ais']:.1f} s)",
        f"test log-likelihood        {test.log_likelihood:.2f} nats per image",
    ]
    return "\n".join(lines)
