"""Tables and JSON from plain records: the renderers the experiments write their files with.

Nothing here knows an experiment: a table is a header and rows of cells, JSON is a dict (or
anything with ``to_dict()``). Every file an experiment writes goes through
:func:`weightinit.runs.files.write_text_atomic`; an output folder never holds half a run.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Sequence
from typing import Any

from ..boltzmann.trainer import RBMEpoch

__all__ = ["to_json", "aligned_table", "markdown_table", "csv_text", "RBM_HEADER", "rbm_epoch_row"]


def aligned_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A plain-text table aligned for the terminal: the first column left, the others right,
    a rule of dashes under the header."""
    rows = [tuple(header), *map(tuple, rows)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths)))
             for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A markdown table of ``header`` and ``rows`` of cells."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    return "\n".join(lines)


def csv_text(records: Iterable[dict], fields: Sequence[str]) -> str:
    """CSV of ``records`` (dicts), the columns ``fields`` (other keys ignored)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(fields), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(records)
    return buffer.getvalue()


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


def rbm_epoch_row(record: RBMEpoch) -> str:
    """One line of the per-epoch RBM table."""
    pl = "" if record.pseudo_likelihood is None else f"{record.pseudo_likelihood:10.2f}"
    return f"{record.epoch:5d}  {record.reconstruction_error:10.3f}  {pl:>10}  {record.seconds:7.2f}"


RBM_HEADER = "epoch  recon err   pseudo-LL   s/epoch"
