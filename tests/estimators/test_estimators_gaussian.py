"""GaussianBernoulliRBM: check_estimator, standardization, features, pickling, divergence.

Device: CPU (digits, seconds)."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import check_estimator

from weightinit.estimators import GaussianBernoulliRBM


@pytest.fixture(scope="module")
def digits():
    return load_digits(return_X_y=True)  # pixels 0..16: real-valued, not probabilities


def test_passes_check_estimator():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(GaussianBernoulliRBM(n_components=8, n_iter=3), on_fail=None)
    assert [(r["check_name"], repr(r["exception"])) for r in results if r["status"] == "failed"] == []


def test_standardizes_with_the_training_sets_mean_and_std(digits):
    X, _ = digits
    rbm = GaussianBernoulliRBM(n_components=8, n_iter=1, random_state=0).fit(X)
    std = X.std(0)
    assert np.allclose(rbm.mean_, X.mean(0), atol=1e-4)
    assert np.allclose(rbm.scale_, np.where(std > 0, std, 1.0), rtol=1e-4)
    # a constant feature (digits' first pixel) is left unscaled
    assert rbm.scale_[0] == 1.0
    # the visible biases start at the standardized data's mean (0) and stay small
    assert np.abs(rbm.intercept_visible_).max() < 1.0


def test_features_feed_a_classifier(digits):
    X, y = digits
    pipe = make_pipeline(GaussianBernoulliRBM(n_components=64, n_iter=5, random_state=0),
                         LogisticRegression(max_iter=2000))
    assert pipe.fit(X[:1200], y[:1200]).score(X[1200:], y[1200:]) > 0.85


def test_gibbs_returns_x_units_and_score_samples_ranks_data_over_noise(digits):
    X, _ = digits
    rbm = GaussianBernoulliRBM(n_components=32, n_iter=5, random_state=0).fit(X)
    v = rbm.gibbs(X[:200])
    assert v.shape == (200, 64) and abs(v.mean() - X.mean()) < 2.0  # pixels 0..16, not standardized units
    noise = np.random.default_rng(0).uniform(0, 16, size=(200, 64))
    assert rbm.score_samples(X[:200]).mean() > rbm.score_samples(noise).mean()


def test_without_standardize_the_data_is_used_as_given(digits):
    X, _ = digits
    Z = (X - X.mean(0)) / np.where(X.std(0) > 0, X.std(0), 1)
    a = GaussianBernoulliRBM(n_components=8, n_iter=2, random_state=0, standardize=False).fit(Z)
    b = GaussianBernoulliRBM(n_components=8, n_iter=2, random_state=0).fit(X)
    assert np.all(a.mean_ == 0) and np.all(a.scale_ == 1)
    assert np.allclose(a.components_, b.components_, atol=1e-4)


def test_pickled_estimator_continues_exactly(digits):
    X, _ = digits
    a = GaussianBernoulliRBM(n_components=8, n_iter=1, random_state=0).fit(X)
    b = pickle.loads(pickle.dumps(a))
    a.partial_fit(X)
    b.partial_fit(X)
    assert np.array_equal(a.components_, b.components_)


def test_divergence_names_the_learning_rate(digits):
    X, _ = digits
    with pytest.raises(ValueError, match=r"GaussianBernoulliRBM training diverged in pass 1 .*learning_rate=10.0"):
        GaussianBernoulliRBM(n_components=8, n_iter=2, learning_rate=10.0, random_state=0).fit(X)


def test_leaves_the_global_rng_alone(digits):
    X, _ = digits
    state = torch.get_rng_state()
    GaussianBernoulliRBM(n_components=4, n_iter=1, random_state=0).fit(X)
    assert torch.equal(state, torch.get_rng_state())
