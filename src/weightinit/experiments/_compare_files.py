"""What ``compare`` writes and prints: its tables (terminal and markdown), the notes that say
how to read them, ``results.csv`` and ``report.md``."""

from __future__ import annotations

import math

from ..reporting.tables import aligned_table, csv_text
from ..reporting.tables import markdown_table as _markdown

__all__ = ["COLUMNS", "chance_note", "timing_note", "format_table", "markdown_table", "runs_csv", "report_markdown"]

COLUMNS = ("init", "test accuracy", "loss at init", "loss in epoch 1", "final train loss", "s/epoch")
# a language model's (compare --model gpt): per character, on the validation windows, lowest loss first
TEXT_COLUMNS = ("init", "valid loss", "valid accuracy", "loss at init", "loss in epoch 1", "final train loss",
                "s/epoch")
CSV_FIELDS = ("init", "seed", "test_accuracy", "initial_loss", "first_epoch_loss", "final_train_loss",
              "seconds_per_epoch", "diverged")
TEXT_CSV_FIELDS = ("init", "seed", "eval_loss", "test_accuracy", "initial_loss", "first_epoch_loss",
                   "final_train_loss", "seconds_per_epoch", "diverged")


def _accuracy(row) -> str:
    text = f"{100 * row.test_accuracy:.2f}%"
    if row.runs > 1:
        text += f" ± {100 * row.test_accuracy_std:.2f}"
    if row.diverged:
        text += f" (diverged {row.diverged}/{row.runs})"
    return text


def _loss(value: float) -> str:
    return "nan" if math.isnan(value) else f"{value:.4g}"


def _eval_loss(row) -> str:
    text = _loss(row.eval_loss)
    if row.runs > 1 and not math.isnan(row.eval_loss):
        text += f" ± {row.eval_loss_std:.3f}"
    return text + (f" (diverged {row.diverged}/{row.runs})" if row.diverged else "")


def _cells(summary: list, text: bool = False) -> list[tuple[str, ...]]:
    if text:
        return [(r.init, _eval_loss(r), _accuracy(r).split(" (")[0], _loss(r.initial_loss), _loss(r.first_epoch_loss),
                 _loss(r.final_train_loss), f"{r.seconds_per_epoch:.2f}") for r in summary]
    return [(r.init, _accuracy(r), _loss(r.initial_loss), _loss(r.first_epoch_loss), _loss(r.final_train_loss),
             f"{r.seconds_per_epoch:.2f}" + ("*" if r.batched else "")) for r in summary]


def timing_note(summary: list) -> str:
    """What the s/epoch column means when runs trained in the batched sweep ("" when none did):
    their time is the sweep's, shared, so it cannot rank the inits."""
    batched = [r for r in summary if r.batched]
    if not batched:
        return ""
    whom = (f"all {len(summary)} inits" if len(batched) == len(summary) else
            "the init marked *" if len(batched) == 1 else f"the {len(batched)} inits marked *")
    return (f"s/epoch*: {whom} trained together as one stacked model (the batched sweep), so each shows the "
            "sweep's time per epoch, shared by all of them, not its own; --no-batched times each init alone")


def chance_note(n_classes: int, rows: int) -> str:
    """How to read the "loss at init" column (measured on the first ``rows`` training images)."""
    return (f"loss at init: cross-entropy before the first step, on (up to) the first {rows:,} training "
            f"images; a uniform guess scores ln({n_classes}) = {math.log(n_classes):.3f}")


def format_table(summary: list, text: bool = False) -> str:
    """A plain-text table of :class:`~weightinit.experiments.compare.InitSummary` rows, best
    accuracy first, aligned for the terminal (``text``: a language model's columns)."""
    return aligned_table(TEXT_COLUMNS if text else COLUMNS, _cells(summary, text))


def markdown_table(summary: list, text: bool = False) -> str:
    return _markdown(TEXT_COLUMNS if text else COLUMNS, _cells(summary, text))


def runs_csv(runs: list, text: bool = False) -> str:
    """``results.csv``: a row per run (init and seed)."""
    from dataclasses import asdict

    return csv_text((asdict(run) for run in runs), TEXT_CSV_FIELDS if text else CSV_FIELDS)


def report_markdown(results, figure: str | None, text: bool = False) -> str:
    """``report.md`` of a :class:`~weightinit.experiments.compare.CompareResult` (``text``: a language model's)."""
    settings = ", ".join(f"{k}={v}" for k, v in results.config.items() if k != "inits")
    lines = [
        f"# Initialization compared on {results.dataset}",
        "",
        f"Network {results.arch}"
        + (f" with {results.activation}" if results.config.get("model", "mlp") == "mlp" else "") + f"; {settings}.",
        f"Data: {results.source}. Versions: " + ", ".join(f"{k} {v}" for k, v in results.versions.items()) + ".",
        "",
        markdown_table(results.summary, text),
        "",
    ]
    for note in results.findings():  # the loss at init against chance, what s/epoch means
        lines += [note + ".", ""]
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
