"""The one way a command runs an experiment: in its run folder, the result written there by
the result itself (:meth:`~weightinit.experiments._result.Result.write`, the files a Python
caller gets too), then its text on stdout (or ``--json``), its warnings and what was written
on stderr."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from ..experiments._result import ResultBase
from ..runs import distributed
from .common import emit, say
from .run_folder import open_run

__all__ = ["run_experiment", "report"]


def run_experiment(args: argparse.Namespace, kind: str, work: Callable[[Path], ResultBase], *,
                   events: Callable[[Path], str] | None = None) -> int:
    """Open the run folder of ``kind`` (new, or ``--resume``), compute ``work(folder)``, let the
    result write its files there and report it. Under torchrun only rank 0 writes and speaks.
    ``events(folder)``: a clause added to the last line (where TensorBoard events went)."""
    with open_run(args, kind) as folder:
        result = work(folder)
        if not distributed.is_main():
            return 0
        written = result.write(folder)
    report(result, folder, written, args.json, "" if events is None else events(folder))
    return 0


def report(result: ResultBase, folder: Path, written: list[str], as_json: bool, extra: str = "") -> None:
    """The result's text (or its JSON with ``--json``), its warnings, then the files written."""
    emit(result, result.text(), as_json)
    for warning in result.warnings():
        say(warning)
    say(f"wrote {folder}/: {', '.join(written)}{extra}")
