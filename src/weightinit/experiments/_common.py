"""What every experiment does the same way: a progress bar, the versions it ran with, and
a checkpoint folder per run."""

from __future__ import annotations

import os
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path

import torch
from tqdm.auto import tqdm

from .._version import __version__
from ..runs.checkpoint import Checkpoint

__all__ = ["progress_bar", "versions", "checkpoint_in", "mean_std"]


def progress_bar(total: int, description: str, enabled: bool) -> tqdm:
    """A tqdm bar on stderr, shown when ``enabled`` and stderr is a terminal, gone when done."""
    return tqdm(total=total, desc=description, file=sys.stderr, leave=False, disable=None if enabled else True,
                mininterval=0.5)


def versions() -> dict[str, str]:
    """The versions a result was computed with, for its ``results.json``."""
    return {"weightinit": __version__, "torch": torch.__version__}


def checkpoint_in(folder: str | os.PathLike | None, key: str) -> Checkpoint | None:
    """The checkpoint of run ``key`` inside ``folder``, or None when not checkpointing."""
    return None if folder is None else Checkpoint(Path(folder) / key)


def mean_std(values: Sequence[float], form: str = "{:.3f}") -> str:
    """``mean ± std`` of ``values`` (runs over seeds), each number formatted by ``form``; the
    value alone for one run."""
    text = form.format(statistics.fmean(values))
    return text + (" ± " + form.format(statistics.stdev(values)) if len(values) > 1 else "")
