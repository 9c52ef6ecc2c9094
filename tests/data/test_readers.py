"""File readers: IDX (raw and gzip), Keras npz, the classic pickle; every corruption is a DataError."""

from __future__ import annotations

import gzip
import pickle
import struct

import numpy as np
import pytest

from weightinit.data.readers import DataError, idx_bytes, read_idx, read_idx_pair, read_npz, read_pkl

from ..mnist_files import small_arrays


@pytest.mark.parametrize("compress", [False, True])
def test_idx_round_trip(tmp_path, compress):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    data = idx_bytes(images)
    path = tmp_path / "images"
    path.write_bytes(gzip.compress(data) if compress else data)
    assert np.array_equal(read_idx(path, expect_ndim=3), images)


def test_idx_header_is_the_standard_one():
    assert idx_bytes(np.zeros((60000, 28, 28), np.uint8))[:16] == struct.pack(">IIII", 2051, 60000, 28, 28)
    assert idx_bytes(np.zeros(10000, np.uint8))[:8] == struct.pack(">II", 2049, 10000)


@pytest.mark.parametrize(
    "payload, message",
    [
        (b"\x00\x00", "too short for an IDX header"),
        (struct.pack(">II", 2049, 3) + b"\x01\x02\x03", "not an unsigned-byte IDX file of 3 dimensions"),
        (b"\x00\x00\x0d\x03" + b"\x00" * 12, "not an unsigned-byte IDX file"),  # float dtype
        (b"\x00\x00\x08\x03\x00\x00", "truncated inside its header"),
        (struct.pack(">IIII", 2051, 2, 2, 2) + b"\x00" * 7, "holds 7 bytes of data, expected 8"),
        (struct.pack(">IIII", 2051, 2, 2, 2) + b"\x00" * 9, "holds 9 bytes of data, expected 8"),
    ],
)
def test_idx_corruption_is_reported_with_the_file(tmp_path, payload, message):
    path = tmp_path / "bad-idx3-ubyte"
    path.write_bytes(payload)
    with pytest.raises(DataError, match=message) as info:
        read_idx(path, expect_ndim=3)
    assert str(path) in str(info.value)


def test_truncated_gzip_is_reported(tmp_path):
    path = tmp_path / "x.gz"
    path.write_bytes(gzip.compress(idx_bytes(np.zeros((5, 4, 4), np.uint8)))[:-12])
    with pytest.raises(DataError, match="corrupt or truncated gzip"):
        read_idx(path, expect_ndim=3)


def test_idx_pair_counts_must_match(tmp_path):
    (tmp_path / "i").write_bytes(idx_bytes(np.zeros((3, 2, 2), np.uint8)))
    (tmp_path / "l").write_bytes(idx_bytes(np.zeros(4, np.uint8)))
    with pytest.raises(DataError, match="has 3 images but .* has 4 labels"):
        read_idx_pair(tmp_path / "i", tmp_path / "l")


def test_missing_file_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="cannot read"):
        read_idx(tmp_path / "nope", expect_ndim=1)


def test_npz_reader(tmp_path):
    x_tr, y_tr, x_te, y_te = small_arrays()
    np.savez(tmp_path / "mnist.npz", x_train=x_tr, y_train=y_tr, x_test=x_te, y_test=y_te)
    for got, want in zip(read_npz(tmp_path / "mnist.npz"), (x_tr, y_tr, x_te, y_te)):
        assert np.array_equal(got, want)


def test_npz_missing_arrays_and_wrong_dtype(tmp_path):
    x_tr, y_tr, x_te, y_te = small_arrays()
    np.savez(tmp_path / "a.npz", x_train=x_tr, y_train=y_tr)
    with pytest.raises(DataError, match=r"lacks the arrays \['x_test', 'y_test'\]"):
        read_npz(tmp_path / "a.npz")
    np.savez(tmp_path / "b.npz", x_train=x_tr.astype(np.float32), y_train=y_tr, x_test=x_te, y_test=y_te)
    with pytest.raises(DataError, match="x_train must be uint8 with 3 dimensions, got float32"):
        read_npz(tmp_path / "b.npz")


def test_npz_with_pickled_objects_is_refused(tmp_path):
    np.savez(tmp_path / "c.npz", x_train=np.array([{"a": 1}], dtype=object), y_train=np.zeros(1, np.uint8),
             x_test=np.zeros((1, 2, 2), np.uint8), y_test=np.zeros(1, np.uint8))
    with pytest.raises(DataError, match="x_train holds pickled Python objects, not a plain array; refused") as caught:
        read_npz(tmp_path / "c.npz")
    assert "allow_pickle" not in str(caught.value) and "unsafely" not in str(caught.value)  # our words, not numpy's


def test_npz_garbage_is_reported(tmp_path):
    (tmp_path / "d.npz").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(DataError, match="d.npz is a damaged or truncated .npz archive"):
        read_npz(tmp_path / "d.npz")


@pytest.mark.parametrize("content", [b"garbage" * 10, pickle.dumps({"x_train": 1}), b""])
def test_npz_that_is_no_zip_archive_gets_our_message_not_numpys(tmp_path, content):
    # numpy would say "This file contains pickled (object) data. If you trust the file you can load it unsafely"
    (tmp_path / "mnist.npz").write_bytes(content)
    with pytest.raises(DataError, match="mnist.npz is not a .npz file: a .npz file is a zip archive") as caught:
        read_npz(tmp_path / "mnist.npz")
    assert "unsafely" not in str(caught.value) and "allow_pickle" not in str(caught.value)


def _classic_pickle(path, pixels_train, labels_train, pixels_test, labels_test):
    def pair(x, y):
        return (x.reshape(len(x), -1).astype(np.float32) / np.float32(256), y.astype(np.int64))

    n = len(pixels_train) * 5 // 6
    content = (pair(pixels_train[:n], labels_train[:n]), pair(pixels_train[n:], labels_train[n:]),
               pair(pixels_test, labels_test))
    with gzip.open(path, "wb") as handle:
        pickle.dump(content, handle, protocol=2)


def test_pkl_reader_rebuilds_the_bytes_and_joins_train_and_valid(tmp_path):
    arrays = small_arrays()
    _classic_pickle(tmp_path / "mnist.pkl.gz", *arrays)
    for got, want in zip(read_pkl(tmp_path / "mnist.pkl.gz"), arrays):
        assert np.array_equal(got, want)


class _Exploit:
    def __reduce__(self):
        import os

        return (os.system, ("touch pwned",))


def test_pkl_that_would_run_code_is_refused_and_runs_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with gzip.open(tmp_path / "evil.pkl.gz", "wb") as handle:
        pickle.dump(_Exploit(), handle)
    with pytest.raises(DataError, match="refusing to unpickle posix.system"):
        read_pkl(tmp_path / "evil.pkl.gz")
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize(
    "content, message",
    [
        ((1, 2), "must hold \\(\\(x, y\\), \\(x, y\\), \\(x, y\\)\\)"),
        ((((np.full((2, 784), 0.3, np.float32), np.zeros(2, np.int64)),) * 3), "not multiples of 1/256"),
        ((((np.full((2, 784), 1.5, np.float32), np.zeros(2, np.int64)),) * 3), "pixel/256 values in"),
        ((((np.zeros((2, 10), np.float32), np.zeros(2, np.int64)),) * 3), "must be \\(N, 784\\)"),
    ],
)
def test_pkl_with_the_wrong_content(tmp_path, content, message):
    with gzip.open(tmp_path / "p.pkl.gz", "wb") as handle:
        pickle.dump(content, handle)
    with pytest.raises(DataError, match=message):
        read_pkl(tmp_path / "p.pkl.gz")


def test_pkl_garbage(tmp_path):
    (tmp_path / "g.pkl.gz").write_bytes(gzip.compress(b"this is not a pickle"))
    with pytest.raises(DataError, match="not a readable pickle"):
        read_pkl(tmp_path / "g.pkl.gz")
