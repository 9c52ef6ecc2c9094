"""Atomic file writes, weights files, and the folder a run writes into.

A write goes to a temporary file in the destination's folder, is flushed and fsynced, then
renamed over the destination: a crash leaves either the old file or the new one, never half
of one. A weights file gets a ``<name>.sha256`` beside it (``sha256sum -c`` reads it);
:func:`read_weights` checks it and unpickles with ``weights_only=True``, so a corrupted file
is reported and a crafted one runs nothing.

The weights files a run leaves for its user (``rbm.pt``, ``dbn.pt``, ``classifier.pt``,
``weights.pt``) share one format, :data:`WEIGHTS_FORMAT` (:func:`weights_record`)::

    {"format": "weightinit.weights/1",   # this layout, versioned
     "kind": "mlp" | "model" | "rbm" | "dbn",
     "state_dict": {...},                # the module's tensors: load_state_dict() takes it
     ...}                                # plain values that rebuild the module (sizes, activation, ...)

``torch.load(path, weights_only=True)`` reads it; ``weightinit.load(path)`` checks the hash
and returns the module itself.

A run folder (:func:`run_folder`) is locked with ``flock`` while a process writes it: the
kernel drops the lock when the process ends, however it ends.
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import pickle
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import torch

from ..errors import CorruptFileError, UserError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: run folders are not locked there
    fcntl = None

__all__ = ["atomic_writer", "write_bytes_atomic", "write_text_atomic", "write_weights", "read_weights",
           "verify_sha256", "weights_record", "WEIGHTS_FORMAT", "CorruptFileError", "run_folder", "lock_folder",
           "check_out_folder"]

WEIGHTS_FORMAT = "weightinit.weights/1"
WEIGHTS_KINDS = ("mlp", "model", "rbm", "dbn")


def weights_record(kind: str, state_dict: dict, **spec) -> dict:
    """A weights file's content in :data:`WEIGHTS_FORMAT`: ``kind`` ("mlp", "model", "rbm",
    "dbn"), the tensors, and the plain values ``spec`` that rebuild the module."""
    if kind not in WEIGHTS_KINDS:
        raise UserError(f"kind={kind!r} is not supported; use one of {list(WEIGHTS_KINDS)}")
    return {"format": WEIGHTS_FORMAT, "kind": kind, "state_dict": state_dict, **spec}


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


def write_weights(path: str | os.PathLike, state: dict) -> str:
    """A dict of tensors and plain values, saved so that ``torch.load(path, weights_only=True)``
    reads it back (no pickled code), written atomically, with its sha256 in ``<path>.sha256``.
    Returns the sha256."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    data = buffer.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    write_bytes_atomic(path, data)
    write_text_atomic(_sidecar(path), f"{digest}  {Path(path).name}\n")
    return digest


def _sidecar(path: str | os.PathLike) -> Path:
    path = Path(path)
    return path.with_name(path.name + ".sha256")


def verify_sha256(path: str | os.PathLike, sha256: str | None = None) -> None:
    """Check ``path`` against ``sha256`` or, when not given, the ``<path>.sha256`` written
    beside it, without unpickling it.

    Raises:
        CorruptFileError: the file or its ``.sha256`` is missing, or the bytes differ.
    """
    path = Path(path)
    try:
        if sha256 is None:
            sha256 = _sidecar(path).read_text(encoding="utf-8", errors="replace").split(" ")[0].strip()
        data = path.read_bytes()
    except OSError as error:
        raise CorruptFileError(f"{error.filename}: cannot be read ({error.strerror or error})") from None
    _check_digest(path, data, sha256)


def _check_digest(path: Path, data: bytes, sha256: str) -> None:
    actual = hashlib.sha256(data).hexdigest()
    if actual != sha256:
        raise CorruptFileError(f"{path}: sha256 is {actual[:16]}..., expected {sha256[:16]}... as recorded "
                               "when it was written; the file is truncated or was altered")


def read_weights(path: str | os.PathLike, sha256: str | None = None) -> dict:
    """Load a file written by :func:`write_weights`: its sha256 is checked against ``sha256``
    or, when not given, the ``.sha256`` file beside it (if there is one), then it is unpickled
    with ``weights_only=True`` (tensors, containers and plain values only).

    Raises:
        CorruptFileError: the file is missing, truncated, altered, or holds anything else
            (a pickle that would run code on loading included); the message names the file.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise CorruptFileError(f"{path}: cannot be read ({error.strerror or error})") from None
    if sha256 is None and _sidecar(path).is_file():
        sha256 = _sidecar(path).read_text(encoding="utf-8", errors="replace").split(" ")[0].strip()
    if sha256 is not None:
        _check_digest(path, data, sha256)
    try:
        state = torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, TypeError, AttributeError,
            ImportError, IndexError, KeyError, UnicodeDecodeError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CorruptFileError(f"{path}: not a weights file that can be loaded safely ({reason[:200]})") from None
    if not isinstance(state, dict):
        raise CorruptFileError(f"{path}: expected a dict of tensors, found {type(state).__name__}")
    return state


@contextmanager
def lock_folder(folder: Path, option: str = "out") -> Iterator[None]:
    """Hold an exclusive OS lock (``flock``) on ``folder`` for the block; refuse at once if
    another process holds it. The kernel releases it when the process ends, even by a crash."""
    if fcntl is None:  # pragma: no cover
        yield
        return
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError as error:
        raise UserError(f"{_named(option, folder)} cannot be opened ({error.strerror or error})") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UserError(f"{folder} is being written by another weightinit process (it holds the folder's "
                            "lock); wait until it ends, or use another folder") from None
        except OSError as error:  # pragma: no cover - a file system without locks (some network mounts)
            if error.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP):
                raise
        yield
    finally:
        os.close(fd)


def _named(option: str, value) -> str:
    """``--out 'x'`` for a command-line option, ``out='x'`` for a parameter."""
    return f"{option} {str(value)!r}" if option.startswith("-") else f"{option}={str(value)!r}"


def check_out_folder(out: str | os.PathLike | None, option: str = "out") -> None:
    """Refuse, without creating anything, an ``out`` that cannot hold a new run: a file, a
    folder holding files, or a path under a file or an unwritable folder."""
    if out is None:
        return
    folder = Path(out).expanduser()
    if folder.exists() and not folder.is_dir():
        raise UserError(f"{_named(option, out)} exists and is not a folder")
    if folder.is_dir() and any(folder.iterdir()):
        raise UserError(f"{_named(option, out)} already holds another run; choose a new or empty folder")
    existing = next((p for p in (folder, *folder.parents) if p.exists() or p.is_symlink()), None)
    if existing is not None and not existing.is_dir():
        raise UserError(f"{_named(option, out)} cannot be created: {str(existing)!r} is a file, not a folder")
    if existing is not None and not os.access(existing, os.W_OK | os.X_OK):
        raise UserError(f"{_named(option, out)} cannot be created: {str(existing)!r} is not writable")


def _make_folder(folder: Path, shown: str, option: str) -> None:
    """``mkdir -p`` that reports the user's path and the reason, not a traceback."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()  # writable: refused now, not at the first file
    except OSError as error:
        raise UserError(f"{_named(option, shown)} cannot be created or written: {error.strerror or error}"
                        + (f" ({error.filename})" if error.filename and str(error.filename) != shown else "")) from None


@contextmanager
def run_folder(
    out: str | os.PathLike | None, kind: str, root: str | os.PathLike = "runs", *, resume: bool = False,
    option: str = "out",
) -> Iterator[Path]:
    """The folder a run writes into: ``out``, or ``runs/<YYYYmmdd-HHMMSS>-<kind>`` (with a
    suffix if taken), locked (:func:`lock_folder`) for the block. An ``out`` that holds files
    of another run is refused, unless the run ``resume``s it. If the run fails before writing
    anything, the folder is removed again. ``option`` names ``out`` in messages ("--out").
    """
    if resume:
        if out is None or not Path(out).expanduser().is_dir():
            raise UserError(f"--resume needs the folder of an earlier run, got {str(out)!r} (not a folder)")
        with lock_folder(Path(out).expanduser(), option):
            yield Path(out).expanduser()
        return
    if out is not None:
        check_out_folder(out, option)
        folder = Path(out).expanduser()
    else:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        folder = Path(root) / f"{stamp}-{kind}"
        suffix = 1
        while folder.exists():
            suffix += 1
            folder = Path(root) / f"{stamp}-{kind}-{suffix}"
    # the folders this call creates, outermost first, to be removed again if nothing is written
    created = [p for p in (*reversed(folder.parents), folder) if not p.exists()]
    try:
        _make_folder(folder, str(out if out is not None else folder), option)
        with lock_folder(folder, option):
            if any(folder.iterdir()):  # another process took it between the check and the lock
                raise UserError(f"{_named(option, folder)} already holds another run; choose a new or empty folder")
            yield folder
    except BaseException:
        for path in reversed(created):
            if path.is_dir() and not any(path.iterdir()):
                path.rmdir()
        raise
