"""Atomic file writes, weights files, and the folder a run writes into.

A write goes to a temporary file in the destination's folder, is flushed and fsynced, then
renamed over the destination: a crash leaves either the old file or the new one, never half
of one.
"""

from __future__ import annotations

import io
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import torch

__all__ = ["atomic_writer", "write_bytes_atomic", "write_text_atomic", "write_weights", "run_folder"]


@contextmanager
def atomic_writer(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO]:
    """Open a temporary file beside ``path``; on a clean exit fsync it and rename it to
    ``path``; on an exception delete it and leave ``path`` untouched."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    with atomic_writer(path, "wb") as handle:
        handle.write(data)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    with atomic_writer(path, "w") as handle:
        handle.write(text)


def write_weights(path: str | os.PathLike, state: dict) -> None:
    """A dict of tensors and plain values, saved so that ``torch.load(path, weights_only=True)``
    reads it back (no pickled code), written atomically."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    write_bytes_atomic(path, buffer.getvalue())


@contextmanager
def run_folder(
    out: str | os.PathLike | None, kind: str, root: str | os.PathLike = "runs", *, resume: bool = False
) -> Iterator[Path]:
    """The folder a run writes into: ``out``, or ``runs/<YYYYmmdd-HHMMSS>-<kind>`` (with a
    suffix if taken). An ``out`` that holds files of another run is refused, unless the run
    ``resume``s it. If the run fails before writing anything, the folder is removed again.
    """
    if resume:
        if out is None or not Path(out).expanduser().is_dir():
            raise ValueError(f"resume needs --out naming the folder of the run to continue, got {out!r}")
        yield Path(out).expanduser()
        return
    if out is not None:
        folder = Path(out).expanduser()
        if folder.exists() and not folder.is_dir():
            raise ValueError(f"out={str(out)!r} exists and is not a folder")
        if folder.is_dir() and any(folder.iterdir()):
            raise ValueError(f"out={str(out)!r} already holds another run; choose a new or empty folder")
    else:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        folder = Path(root) / f"{stamp}-{kind}"
        suffix = 1
        while folder.exists():
            suffix += 1
            folder = Path(root) / f"{stamp}-{kind}-{suffix}"
    # the folders this call creates, outermost first, to be removed again if nothing is written
    created = [p for p in (*reversed(folder.parents), folder) if not p.exists()]
    folder.mkdir(parents=True, exist_ok=True)
    try:
        yield folder
    except BaseException:
        for path in reversed(created):
            if path.is_dir() and not any(path.iterdir()):
                path.rmdir()
        raise
