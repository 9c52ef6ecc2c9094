"""Readers for the files MNIST-like data comes in, validating everything they read.

- IDX (LeCun's format, ``train-images-idx3-ubyte[.gz]``): big-endian header
  ``0x00 0x00 <dtype> <ndim>``, ``ndim`` 32-bit sizes, then the data.
- Keras' ``mnist.npz``: ``x_train, y_train, x_test, y_test``, read with ``allow_pickle=False``.
- The classic ``mnist.pkl.gz`` (deeplearning.net): ``(train, valid, test)`` pairs of float32
  images ``pixel / 256`` and int64 labels; read with an unpickler that can build numpy
  arrays and nothing else, so a crafted file cannot run code.

Every reader returns uint8 images ``(N, rows, cols)`` and uint8 labels ``(N,)`` and raises
:class:`DataError` naming the file and what was expected.
"""

from __future__ import annotations

import gzip
import io
import pickle
import struct
import zlib
from pathlib import Path

import numpy as np

from ..errors import DataError

__all__ = ["DataError", "Arrays", "read_idx", "read_idx_pair", "read_npz", "read_pkl", "idx_bytes"]

# (train_images, train_labels, test_images, test_labels), all uint8
Arrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]

_IDX_UBYTE = 0x08
_GZIP_MAGIC = b"\x1f\x8b"
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")  # a zip archive's first entry, or an empty archive


def _open_maybe_gzip(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise DataError(f"cannot read {path}: {error.strerror or error}") from None
    if raw[:2] == _GZIP_MAGIC:
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as error:
            raise DataError(f"{path} is a corrupt or truncated gzip file ({error})") from None
    return raw


def read_idx(path: str | Path, *, expect_ndim: int) -> np.ndarray:
    """Read an unsigned-byte IDX file (raw or gzipped) with ``expect_ndim`` dimensions."""
    path = Path(path)
    data = _open_maybe_gzip(path)
    if len(data) < 4:
        raise DataError(f"{path} is too short for an IDX header ({len(data)} bytes)")
    zero, dtype, ndim = data[0:2], data[2], data[3]
    if zero != b"\x00\x00" or dtype != _IDX_UBYTE or ndim != expect_ndim:
        raise DataError(
            f"{path} is not an unsigned-byte IDX file of {expect_ndim} dimensions "
            f"(magic 0x{int.from_bytes(data[:4], 'big'):08x}, expected 0x{_IDX_UBYTE << 8 | expect_ndim:08x})"
        )
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{path} is truncated inside its header")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    expected = int(np.prod(shape, dtype=np.int64))
    if len(data) - header != expected:
        raise DataError(
            f"{path} holds {len(data) - header} bytes of data, expected {expected} for shape {shape} (truncated?)"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def read_idx_pair(images: Path, labels: Path) -> tuple[np.ndarray, np.ndarray]:
    x = read_idx(images, expect_ndim=3)
    y = read_idx(labels, expect_ndim=1)
    if len(x) != len(y):
        raise DataError(f"{images} has {len(x)} images but {labels} has {len(y)} labels")
    return x, y


def idx_bytes(array: np.ndarray) -> bytes:
    """The canonical (uncompressed) IDX encoding of a uint8 array: header + data."""
    header = struct.pack(f">HBB{array.ndim}I", 0, _IDX_UBYTE, array.ndim, *array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def read_npz(path: str | Path) -> Arrays:
    """Read Keras' ``mnist.npz``: a zip archive of four plain ``.npy`` arrays. Anything else
    (not a zip archive, a pickled object inside, a damaged member) is a :class:`DataError`
    that names the file and says what it is, never numpy's own advice."""
    path = Path(path)
    keys = ("x_train", "y_train", "x_test", "y_test")
    try:
        with open(path, "rb") as handle:
            head = handle.read(4)
    except OSError as error:
        raise DataError(f"cannot read {path}: {error.strerror or error}") from None
    if head not in _ZIP_MAGICS:
        raise DataError(f"{path} is not a .npz file: a .npz file is a zip archive of .npy arrays, this one "
                        f"starts with {head!r}")
    arrays = []
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [k for k in keys if k not in archive.files]
            if missing:
                raise DataError(f"{path} lacks the arrays {missing}; expected {list(keys)}")
            for key in keys:
                try:
                    arrays.append(archive[key])
                except ValueError as error:
                    if "pickle" in str(error):
                        raise DataError(f"{path}: {key} holds pickled Python objects, not a plain array; refused "
                                        "(loading it would run code from the file)") from None
                    raise DataError(f"{path}: {key} is not a readable .npy array (damaged or truncated)") from None
    except DataError:
        raise
    except Exception as error:  # noqa: BLE001 - whatever a corrupt archive makes numpy/zipfile raise
        raise DataError(f"{path} is a damaged or truncated .npz archive ({type(error).__name__})") from None
    x_train, y_train, x_test, y_test = arrays
    for name, array, ndim in zip(keys, arrays, (3, 1, 3, 1)):
        if array.dtype != np.uint8 or array.ndim != ndim:
            raise DataError(f"{path}: {name} must be uint8 with {ndim} dimensions, got {array.dtype} {array.shape}")
    return x_train, y_train, x_test, y_test


class _ArraysOnlyUnpickler(pickle.Unpickler):
    """Builds numpy arrays and dtypes; refuses every other global (no code execution)."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),  # how protocol-2 pickles written by Python 3 store bytes
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self._ALLOWED:
            raise DataError(f"refusing to unpickle {module}.{name}: only numpy arrays are allowed")
        return super().find_class(module, name)


def read_pkl(path: str | Path) -> Arrays:
    """Read the classic ``mnist.pkl.gz``; train and valid (50k + 10k) become the 60k train set.

    Its images are ``pixel / 256`` (max 255/256), so ``256·x`` recovers the original bytes
    exactly; anything else is refused.
    """
    path = Path(path)
    data = _open_maybe_gzip(path)
    try:
        content = _ArraysOnlyUnpickler(io.BytesIO(data), encoding="latin1").load()
    except DataError as error:
        raise DataError(f"{path}: {error}") from None
    except Exception as error:  # noqa: BLE001 - a corrupt stream can make the unpickler raise almost anything
        raise DataError(f"{path} is not a readable pickle ({type(error).__name__}: {error})") from None
    try:
        (x_tr, y_tr), (x_va, y_va), (x_te, y_te) = content
    except (TypeError, ValueError):
        raise DataError(f"{path} must hold ((x, y), (x, y), (x, y)) for train, valid and test") from None
    for x, y, part in ((x_tr, y_tr, "train"), (x_va, y_va, "valid"), (x_te, y_te, "test")):
        if not (isinstance(x, np.ndarray) and isinstance(y, np.ndarray) and x.ndim == 2 and x.shape[1] == 784
                and y.ndim == 1 and len(x) == len(y)):
            raise DataError(f"{path}: {part} images must be (N, 784) arrays, with an array of N labels")
    out = []
    for x, y, part in ((np.concatenate([x_tr, x_va]), np.concatenate([y_tr, y_va]), "train+valid"),
                       (x_te, y_te, "test")):
        x = np.asarray(x, dtype=np.float32)
        if not (x.min(initial=0) >= 0 and x.max(initial=0) <= 255 / 256):  # NaN fails both
            raise DataError(f"{path}: {part} images must be pixel/256 values in [0, 255/256]")
        pixels = (x * 256).astype(np.uint8)  # exact: k/256 is a float32 and so is k
        if not np.array_equal(pixels / np.float32(256), x):
            raise DataError(f"{path}: {part} images are not multiples of 1/256 (pixel/256)")
        labels = np.asarray(y)
        if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0 or labels.max() > 255:
            raise DataError(f"{path}: {part} labels must be small non-negative integers")
        out += [pixels.reshape(-1, 28, 28), labels.astype(np.uint8)]
    return out[0], out[1], out[2], out[3]
