"""Download MNIST's IDX files from a list of mirrors, verified by sha256, written atomically.

Each file is tried on each mirror in turn. The download goes to a temporary file beside its
destination; its *decompressed* bytes must have the sha256 of the official IDX file (so a
mirror that recompressed the data is fine, and one that altered it is not), and only then is
it renamed into place. A failed file leaves nothing behind; the error lists every attempt.
"""

from __future__ import annotations

import hashlib
import http.client
import sys
import tempfile
import urllib.error
import urllib.request
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path

from tqdm.auto import tqdm

from ..errors import DataError, UserError
from ..runs.files import atomic_writer
from .datasets import IDX_NAMES, MNIST_IDX_SHA256

__all__ = ["MNIST_MIRRORS", "MNIST_FILES", "fetch_mnist"]

# Where torchvision and TensorFlow fetch MNIST from today (the original host is often down).
MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)

# file name -> sha256 of its decompressed content
MNIST_FILES = {f"{IDX_NAMES[key]}.gz": digest for key, digest in MNIST_IDX_SHA256.items()}


class _Rejected(Exception):
    """One attempt failed; the message says why."""


class _ContentHasher:
    """sha256 of the decompressed bytes of a gzip stream, fed block by block."""

    def __init__(self) -> None:
        self._digest = hashlib.sha256()
        self._inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)

    def feed(self, block: bytes) -> None:
        try:
            while block:
                self._digest.update(self._inflate.decompress(block))
                block = b""
                if self._inflate.eof and self._inflate.unused_data:  # a further gzip member
                    block = self._inflate.unused_data
                    self._inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
        except zlib.error as error:
            raise _Rejected(f"not a valid gzip stream ({error})") from None

    def hexdigest(self) -> str:
        if not self._inflate.eof:
            raise _Rejected("the gzip stream is truncated")
        return self._digest.hexdigest()


def _content_sha256(path: Path) -> str:
    hasher = _ContentHasher()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            hasher.feed(block)
    return hasher.hexdigest()


def _download(url: str, destination: Path, expected: str, timeout: float, progress: bool) -> None:
    """Stream ``url`` into ``destination`` atomically if its content has sha256 ``expected``."""
    try:
        response = urllib.request.urlopen(url, timeout=timeout)  # noqa: S310 - URLs are the user's mirrors
    except urllib.error.HTTPError as error:
        raise _Rejected(f"HTTP {error.code}") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as error:
        raise _Rejected(f"{getattr(error, 'reason', error)}") from None
    size = int(response.headers.get("Content-Length") or 0) or None
    hasher = _ContentHasher()
    received = 0
    with response, atomic_writer(destination) as handle:
        bar = tqdm(total=size, unit="B", unit_scale=True, desc=destination.name, file=sys.stderr,
                   disable=None if progress else True, leave=False)
        with bar:
            try:
                while block := response.read(1 << 16):
                    handle.write(block)
                    hasher.feed(block)
                    received += len(block)
                    bar.update(len(block))
            except (OSError, http.client.HTTPException) as error:
                raise _Rejected(f"connection broke off ({type(error).__name__})") from None
        if size is not None and received != size:
            raise _Rejected(f"got {received} bytes of {size}")
        digest = hasher.hexdigest()
        if digest != expected:
            raise _Rejected(f"sha256 of the content is {digest[:16]}..., expected {expected[:16]}...")


def fetch_mnist(
    destination: str | Path,
    mirrors: Sequence[str] = MNIST_MIRRORS,
    *,
    files: Mapping[str, str] = MNIST_FILES,
    timeout: float = 60.0,
    progress: bool = True,
    option: str = "destination",
) -> list[Path]:
    """Download the IDX files into ``destination`` (created if needed) and return their paths.

    A file already there with the right content is kept. ``files`` maps each file name to
    the sha256 of its decompressed content (default: MNIST's four files). ``option`` names
    ``destination`` in messages (``--to`` on the command line).

    Raises:
        DataError: a file could not be had from any mirror; lists each attempt.
        UserError: ``destination`` cannot be created or written (checked before any download).
    """
    if isinstance(mirrors, str):
        mirrors = [mirrors]
    if not mirrors:
        raise UserError("mirrors must name at least one base URL")
    for mirror in mirrors:
        if not isinstance(mirror, str) or not mirror.startswith(("http://", "https://", "file://")):
            raise UserError(f"mirror={mirror!r} is not an http(s):// or file:// URL")
    named = f"{option} {str(destination)!r}" if option.startswith("-") else f"{option}={str(destination)!r}"
    folder = Path(destination).expanduser()
    if folder.exists() and not folder.is_dir():
        raise UserError(f"{named} exists and is not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()  # writable: refused now, not after a download
    except OSError as error:
        raise UserError(f"{named} cannot be created or written: {error.strerror or error}") from None
    paths = []
    for name, expected in files.items():
        path = folder / name
        if path.is_file():
            try:
                if _content_sha256(path) == expected:
                    paths.append(path)
                    continue
            except _Rejected:
                pass
        attempts = []
        for mirror in mirrors:
            url = mirror.rstrip("/") + "/" + name
            try:
                _download(url, path, expected, timeout, progress)
                break
            except _Rejected as why:
                attempts.append(f"{url}: {why}")
        else:
            raise DataError(f"could not download {name}: " + "; ".join(attempts))
        paths.append(path)
    return paths
