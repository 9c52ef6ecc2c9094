"""The experiment contract: what every experiment's result offers, and the helpers they share.

Every experiment (``compare``, ``diagnose``, ``rbm``, ``dbn``, the papers of
:mod:`weightinit.experiments.reproduce`) takes one config dataclass and returns a result with

- ``to_dict()``: the content of ``results.json``;
- ``table()``: its table, as the terminal and ``report.md`` show it;
- ``findings()``: what the run found, one sentence each;
- ``write(folder)``: every file the command line writes for it (``results.json``, CSV,
  ``report.md``, figures, weights files with their ``.sha256``), returning their names.

So a Python caller gets exactly the files ``weightinit <command>`` writes. The objects a
result keeps only to write its files (a trained network, samples) are *artifacts*: fields
marked with :data:`ARTIFACT`, left out of ``to_dict()``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Hashable, Iterable
from dataclasses import asdict, field, fields, is_dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

from ..reporting.tables import to_json
from ..runs.files import write_text_atomic

__all__ = ["Result", "ResultBase", "ARTIFACT", "artifact", "plain_fields", "write_texts", "group_by", "run_key",
           "bullets", "write_json", "output_folder"]

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)

ARTIFACT = {"artifact": True}  # the metadata of a field that write() uses and results.json leaves out


def artifact(default: Any = None) -> Any:
    """A result field that only ``write()`` uses: not compared, not shown, not in ``to_dict()``."""
    return field(default=default, repr=False, compare=False, metadata=ARTIFACT)


@runtime_checkable
class Result(Protocol):
    """What an experiment returns (see the module's docstring)."""

    def to_dict(self) -> dict: ...

    def table(self) -> str: ...

    def findings(self) -> list[str]: ...

    def write(self, folder: str | os.PathLike) -> list[str]: ...


class ResultBase:
    """The parts of :class:`Result` most results share: no findings or warnings unless they
    say otherwise, and the terminal text ``table()`` then ``findings()`` as a list."""

    def table(self) -> str:
        raise NotImplementedError

    def findings(self) -> list[str]:
        return []

    def warnings(self) -> list[str]:
        """Paragraphs the command line says on stderr after the results (a run that learned
        little, near chance, ...); [] for a healthy run."""
        return []

    def text(self) -> str:
        """What ``weightinit <command>`` prints: the table, then the findings as a list."""
        found = self.findings()
        return "\n".join([self.table(), *([""] + [f"- {f}" for f in found] if found else [])])

    def write(self, folder: str | os.PathLike) -> list[str]:
        raise NotImplementedError


def _plain(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_plain(v) for v in value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def plain_fields(result: Any) -> dict:
    """``asdict(result)`` without its :data:`ARTIFACT` fields (which are never copied)."""
    return {f.name: _plain(getattr(result, f.name)) for f in fields(result) if not f.metadata.get("artifact")}


def output_folder(folder: str | os.PathLike) -> Path:
    """``folder`` as a Path, created (with its parents) if it does not exist: what every
    ``write(folder)`` starts with, so a Python caller may name a new folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def write_texts(folder: str | os.PathLike, texts: dict[str, str]) -> list[str]:
    """Write each ``name: text`` into ``folder`` atomically; the names, in order."""
    for name, text in texts.items():
        write_text_atomic(Path(folder) / name, text)
    return list(texts)


def write_json(folder: str | os.PathLike, result: Any, name: str = "results.json") -> str:
    """``results.json`` of a result (strict JSON: NaN and inf become null); its name."""
    write_text_atomic(Path(folder) / name, to_json(result))
    return name


def group_by(items: Iterable[T], key: Callable[[T], K]) -> dict[K, list[T]]:
    """The items by ``key``, groups in order of first appearance, items in their order."""
    groups: dict[K, list[T]] = {}
    for item in items:
        groups.setdefault(key(item), []).append(item)
    return groups


def run_key(label: str, seed: int, first_seed: int | None = None) -> str:
    """A run's checkpoint folder name: ``label-seed<n>``, or ``label`` alone for the first seed
    when ``first_seed`` is given (the papers' folders before seeds existed)."""
    return label if seed == first_seed else f"{label}-seed{seed}"


def bullets(lines: Iterable[str]) -> list[str]:
    return [f"- {line}" for line in lines]
