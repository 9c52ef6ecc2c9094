"""What every experiment does the same way: a progress bar, the versions it ran with, and
a checkpoint folder per run."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import torch
from tqdm.auto import tqdm

from ..runs.checkpoint import Checkpoint
from ..version import __version__

__all__ = ["progress_bar", "versions", "checkpoint_in"]


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
