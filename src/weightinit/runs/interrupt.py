"""Ctrl-C that stops a training loop cleanly: after the current batch, with a checkpoint.

A loop that can checkpoint at any batch runs inside :func:`checkpointable`; while it does,
the first SIGINT only sets a flag that the loop reads after its batch
(:func:`stop_requested`), then the loop writes its checkpoint and raises :class:`Interrupted`.
Outside such a loop (loading data, AIS, writing reports), or at a second Ctrl-C, SIGINT
raises ``KeyboardInterrupt`` as usual. :func:`stop_on_sigint` installs the handler (the CLI
does, for the length of one command).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["Interrupted", "stop_on_sigint", "checkpointable", "stop_requested", "request_stop"]

_stop = threading.Event()
_depth = 0  # how many checkpointable loops are running (nested: a DBN's RBM inside a command)


class Interrupted(Exception):
    """A run stopped at a user's request after writing its checkpoint."""


def request_stop() -> None:
    """Ask the running loop to stop after its current batch (what SIGINT does)."""
    _stop.set()


def stop_requested() -> bool:
    return _stop.is_set()


@contextmanager
def checkpointable() -> Iterator[None]:
    """Mark a loop that checks :func:`stop_requested` after every batch and can checkpoint there."""
    global _depth
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1


def _on_sigint(signum, frame) -> None:  # noqa: ARG001 - the signal handler signature
    if _depth > 0 and not _stop.is_set():
        _stop.set()
        return
    raise KeyboardInterrupt


@contextmanager
def stop_on_sigint() -> Iterator[None]:
    """Route SIGINT through :func:`_on_sigint` (main thread only) and clear the flag around the block."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, _on_sigint)
    _stop.clear()
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        _stop.clear()
