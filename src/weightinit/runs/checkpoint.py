"""Checkpoints of a run in progress, the result of a finished one, and the settings a resumed
run must share with the run it continues.

One :class:`Checkpoint` folder per run (an init and seed of ``compare``, an RBM layer, a
fine-tuning)::

    checkpoint.json    {"file": "state-000012.pt", "sha256": "...", "count": 12}
    state-000012.pt    the latest state (model, optimizer, RNG states, epoch, history, ...)
    result.json        written once the run has finished: its results
    weights.pt         and its final weights (with weights.pt.sha256)

A save writes a new ``state-N.pt`` atomically, then points ``checkpoint.json`` (atomically)
at it with its sha256, then deletes the older states: a crash at any instant leaves a
``checkpoint.json`` naming a complete file whose hash matches. Loading checks the hash and
unpickles with ``weights_only=True`` (:func:`weightinit.runs.files.read_weights`).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

from ..errors import UserError
from .files import CorruptFileError, read_weights, verify_sha256, write_text_atomic, write_weights

__all__ = ["Checkpoint", "differing_keys", "require_same_settings", "check_same_settings", "verify_finished"]


class Checkpoint:
    """The checkpoint folder of one run (created on the first write)."""

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)

    @property
    def _pointer(self) -> Path:
        return self.folder / "checkpoint.json"

    def save(self, state: dict) -> None:
        """Write ``state`` (tensors, containers and plain values) as the latest checkpoint."""
        self.folder.mkdir(parents=True, exist_ok=True)
        count = self._read_pointer()["count"] + 1 if self._pointer.is_file() else 1
        name = f"state-{count:06d}.pt"
        digest = write_weights(self.folder / name, state)
        write_text_atomic(self._pointer, json.dumps({"file": name, "sha256": digest, "count": count}) + "\n")
        for old in self.folder.glob("state-*.pt*"):
            if not old.name.startswith(name):
                old.unlink(missing_ok=True)

    def load(self) -> dict | None:
        """The latest state, or None if the run has no checkpoint yet."""
        if not self._pointer.is_file():
            return None
        pointer = self._read_pointer()
        return read_weights(self.folder / pointer["file"], sha256=pointer["sha256"])

    def _read_pointer(self) -> dict:
        try:
            pointer = json.loads(self._pointer.read_text(encoding="utf-8"))
            if not (isinstance(pointer["file"], str) and pointer["file"].startswith("state-")
                    and "/" not in pointer["file"] and isinstance(pointer["sha256"], str)
                    and isinstance(pointer["count"], int)):
                raise ValueError
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            raise CorruptFileError(f"{self._pointer}: not a checkpoint pointer "
                                   '(expected {"file": "state-N.pt", "sha256": ..., "count": N})') from None
        return pointer

    def finish(self, result: dict, weights: dict | None = None) -> None:
        """Record the finished run: its final ``weights`` (optional) then ``result.json``
        (last, so that a result on disk always has its weights); the states are deleted."""
        self.folder.mkdir(parents=True, exist_ok=True)
        if weights is not None:
            write_weights(self.folder / "weights.pt", weights)
        # allow_nan: a diverged run's NaN losses survive the round trip exactly
        write_text_atomic(self.folder / "result.json", json.dumps(result, allow_nan=True) + "\n")
        self._pointer.unlink(missing_ok=True)
        for old in self.folder.glob("state-*.pt*"):
            old.unlink(missing_ok=True)

    def result(self) -> dict | None:
        """The finished run's results, or None if it has not finished. Its weights, if it left
        any, must still match their sha256 (else :class:`CorruptFileError`)."""
        path = self.folder / "result.json"
        if not path.is_file():
            return None
        try:
            result = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError):
            raise CorruptFileError(f"{path}: not valid JSON; delete it to run this part again") from None
        self.verify()
        return result

    def verify(self) -> None:
        """Check the files this checkpoint vouches for against their recorded sha256: the
        finished run's weights, or the state ``checkpoint.json`` names; nothing is unpickled."""
        weights, sidecar = self.folder / "weights.pt", self.folder / "weights.pt.sha256"
        if (self.folder / "result.json").is_file() and (weights.exists() or sidecar.exists()):
            _verify(weights, f"delete {self.folder} to run this part again")
        elif self._pointer.is_file():
            pointer = self._read_pointer()
            try:
                verify_sha256(self.folder / pointer["file"], pointer["sha256"])
            except CorruptFileError as error:
                raise CorruptFileError(f"{error}; delete {self.folder} to run this part again") from None

    def weights(self) -> dict:
        """The finished run's final weights."""
        return read_weights(self.folder / "weights.pt")


def _verify(path: Path, remedy: str) -> None:
    try:
        verify_sha256(path)
    except CorruptFileError as error:
        raise CorruptFileError(f"{error}; {remedy}") from None


def verify_finished(folder: str | os.PathLike) -> None:
    """Before a resumed run trusts anything in ``folder``, check every file it would trust
    against its recorded sha256: each checkpoint's finished weights or latest state, and every
    other weights file below the top level that has a ``.sha256`` (a DBN's pre-trained layers).
    The top level (the run's outputs) is written again at the end, so it is not checked.

    Raises:
        CorruptFileError: naming the first file that is missing, truncated or altered.
    """
    folder = Path(folder)
    vouched = set()
    for marker in sorted([*folder.rglob("result.json"), *folder.rglob("checkpoint.json")]):
        Checkpoint(marker.parent).verify()
        vouched.add(marker.parent)
    for sidecar in sorted(folder.rglob("*.pt.sha256")):
        weights = sidecar.with_name(sidecar.name[: -len(".sha256")])
        if sidecar.parent != folder and sidecar.parent not in vouched and weights.exists():
            _verify(weights, f"delete it and {sidecar.name} to compute it again")


def differing_keys(a, b, prefix: str = "") -> list[str]:
    """The dotted keys where two JSON-like values differ (``"train.lr"``), sorted."""
    if isinstance(a, dict) and isinstance(b, dict):
        keys: list[str] = []
        for key in sorted(set(a) | set(b)):
            keys += differing_keys(a.get(key), b.get(key), f"{prefix}{key}.")
        return keys
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return []
    return [] if a == b else [prefix.rstrip(".") or "(value)"]


def require_same_settings(saved, settings, where: str) -> None:
    """Refuse ``settings`` (JSON-like; tuples count as lists) that differ from ``saved``,
    naming the differing keys; ``where`` begins the message ("checkpoint X was made")."""
    differing = differing_keys(saved, json.loads(json.dumps(settings)))
    if differing:
        raise UserError(f"{where} with other settings ({', '.join(differing)} differ); "
                         "use the same settings or a new folder")


def check_same_settings(path: str | os.PathLike, settings: dict, *, resume: bool) -> None:
    """A new run writes its ``settings`` to ``path``; a resumed one must find the same there.

    Raises:
        ValueError: resuming a folder whose settings differ (naming the keys), or a folder
            without settings.
    """
    path = Path(path)
    settings = json.loads(json.dumps(settings))  # tuples -> lists, as they come back from the file
    if resume:
        if not path.is_file():
            raise UserError(f"{path.parent} holds no run to resume ({path.name} is missing)")
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError):
            raise CorruptFileError(f"{path}: not valid JSON") from None
        require_same_settings(saved, settings, f"cannot resume {path.parent}: it was run")
        return
    write_text_atomic(path, json.dumps(settings, indent=2, sort_keys=True) + "\n")
