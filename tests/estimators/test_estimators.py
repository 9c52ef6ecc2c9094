"""The scikit-learn BernoulliRBM: check_estimator, scikit-learn's own regression value, pickling,
the one pass over the data, bf16, verbose, divergence.

Device: CPU (digits, seconds)."""

from __future__ import annotations

import inspect
import pickle
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.neural_network import BernoulliRBM as SklearnRBM
from sklearn.utils.estimator_checks import check_estimator

from weightinit.estimators import BernoulliRBM


@pytest.fixture(scope="module")
def digits01():
    x = load_digits().data
    x -= x.min()
    x /= x.max()
    return x


def test_passes_check_estimator():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the clipping warning on the checks' unbounded data
        results = check_estimator(BernoulliRBM(n_components=8, n_iter=3), on_fail=None)
    failed = [(r["check_name"], repr(r["exception"])) for r in results if r["status"] == "failed"]
    assert failed == []
    assert len(results) > 40


def test_scikit_learns_digits_regression_value(digits01):
    # sklearn/neural_network/tests/test_rbm.py::test_fit expects -21.0 (to 0 decimals) of its RBM
    before = digits01.copy()
    rbm = BernoulliRBM(n_components=64, learning_rate=0.1, batch_size=10, n_iter=7, random_state=9).fit(digits01)
    assert rbm.score_samples(digits01).mean() >= -21.5
    assert np.array_equal(digits01, before)


def test_same_constructor_as_scikit_learn():
    ours = inspect.signature(BernoulliRBM).parameters
    theirs = inspect.signature(SklearnRBM).parameters
    for name, param in theirs.items():
        assert ours[name].default == param.default and ours[name].kind == param.kind, name


def test_fitted_attributes_and_methods(digits01):
    x = digits01[:200].astype(np.float32)
    rbm = BernoulliRBM(n_components=16, n_iter=2, random_state=0).fit(x)
    assert rbm.components_.shape == (16, 64) and rbm.intercept_hidden_.shape == (16,)
    assert rbm.intercept_visible_.shape == (64,)
    h = rbm.transform(x)
    assert h.shape == (200, 16) and h.dtype == np.float32 and ((h >= 0) & (h <= 1)).all()
    assert np.allclose(rbm.fit_transform(x),
                       BernoulliRBM(n_components=16, n_iter=2, random_state=0).fit(x).transform(x))
    v = rbm.gibbs(x[:5])
    assert v.shape == (5, 64) and set(np.unique(v)) <= {0.0, 1.0}
    assert rbm.score_samples(x).shape == (200,)
    assert list(rbm.get_feature_names_out()[:2]) == ["bernoullirbm0", "bernoullirbm1"]


def test_pickled_estimator_continues_exactly(digits01):
    a = BernoulliRBM(n_components=16, n_iter=1, batch_size=20, random_state=0).fit(digits01)
    b = pickle.loads(pickle.dumps(a))
    a.partial_fit(digits01)
    b.partial_fit(digits01)
    assert np.array_equal(a.components_, b.components_)
    assert np.array_equal(a.gibbs(digits01[:3]), b.gibbs(digits01[:3]))


def test_user_set_attributes_are_used(digits01):
    rbm = BernoulliRBM(n_components=4, n_iter=1, random_state=0).fit(digits01)
    rbm.components_ = np.zeros_like(rbm.components_)
    rbm.intercept_hidden_ = np.zeros_like(rbm.intercept_hidden_)
    assert np.allclose(rbm.transform(digits01[:3]), 0.5)


def test_values_outside_unit_interval_are_clipped_with_a_warning(digits01):
    with pytest.warns(UserWarning, match=r"outside \[0, 1\] .* clipped"):
        BernoulliRBM(n_components=4, n_iter=1).fit(digits01 * 2)


@pytest.mark.parametrize(
    "params, message",
    [({"n_components": 0}, "n_components must be >= 1, got 0"),
     ({"k": 0}, "k must be >= 1, got 0"),
     ({"learning_rate": -1.0}, "learning_rate must be > 0, got -1.0"),
     ({"momentum": 1.0}, r"momentum must be in \[0, 1\), got 1.0"),
     ({"precision": "fp8"}, "precision='fp8' is not supported"),
     ({"device": "tpu"}, "device='tpu' is not supported")],
)
def test_bad_parameters(digits01, params, message):
    with pytest.raises(ValueError, match=message):
        BernoulliRBM(**params).fit(digits01)


def test_nan_is_refused_with_scikit_learns_message(digits01):
    x = digits01.copy()
    x[0, 0] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        BernoulliRBM().fit(x)


def test_wrong_types_are_type_errors(digits01):
    with pytest.raises(TypeError, match="n_iter must be an integer, got 2.5"):
        BernoulliRBM(n_iter=2.5).fit(digits01)
    with pytest.raises(TypeError, match="persistent must be a bool"):
        BernoulliRBM(persistent="yes").fit(digits01)


def test_float32_input_is_used_without_a_copy_and_left_unmodified(digits01, monkeypatch):
    import weightinit.estimators._rbm_base as rbm_base

    x = np.ascontiguousarray(digits01[:300], dtype=np.float32)
    seen = []
    real = rbm_base.as_tensor
    monkeypatch.setattr(rbm_base, "as_tensor", lambda X, *args: seen.append(real(X, *args)) or seen[-1])
    before = x.copy()
    BernoulliRBM(n_components=8, n_iter=2, batch_size=20, random_state=0).fit(x)
    assert np.shares_memory(seen[0].numpy(), x)  # one conversion: none at all
    assert np.array_equal(x, before)


def test_read_only_input_is_accepted(digits01):
    x = digits01[:100].astype(np.float32)
    x.setflags(write=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        h = BernoulliRBM(n_components=4, n_iter=1, random_state=0).fit(x).transform(x)
    assert h.shape == (100, 4)


def test_same_fit_for_float32_and_float64_input(digits01):
    a = BernoulliRBM(n_components=8, n_iter=2, random_state=0).fit(digits01)
    b = BernoulliRBM(n_components=8, n_iter=2, random_state=0).fit(digits01.astype(np.float32))
    assert np.allclose(a.components_, b.components_, atol=1e-6)


def test_sparse_input_gives_the_dense_fit(digits01):
    import scipy.sparse as sp

    a = BernoulliRBM(n_components=8, n_iter=2, random_state=0).fit(digits01)
    b = BernoulliRBM(n_components=8, n_iter=2, random_state=0).fit(sp.csr_matrix(digits01))
    assert np.array_equal(a.components_, b.components_)
    assert np.allclose(a.transform(digits01[:5]), b.transform(sp.csr_matrix(digits01[:5])))


def test_bf16_trains_as_well(digits01):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # where the CPU lacks bf16 it falls back, warning
        rbm = BernoulliRBM(n_components=32, n_iter=3, batch_size=20, random_state=0, precision="bf16").fit(digits01)
    ref = BernoulliRBM(n_components=32, n_iter=3, batch_size=20, random_state=0).fit(digits01)
    assert rbm.score_samples(digits01).mean() > ref.score_samples(digits01).mean() - 1.0


def test_verbose_prints_scikit_learns_line(digits01, capsys):
    BernoulliRBM(n_components=4, n_iter=2, random_state=0, verbose=1).fit(digits01)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[1].startswith("[BernoulliRBM] Iteration 2, pseudo-likelihood = -")
    assert lines[1].endswith("s")


def test_verbose_does_not_change_the_fit(digits01, capsys):
    a = BernoulliRBM(n_components=8, n_iter=2, random_state=0, verbose=1).fit(digits01)
    b = BernoulliRBM(n_components=8, n_iter=2, random_state=0).fit(digits01)
    assert np.array_equal(a.components_, b.components_)


def test_divergence_names_the_learning_rate(digits01):
    with pytest.raises(ValueError, match=r"BernoulliRBM training diverged in pass 1 .* learning_rate=1000000.0 is the "
                                         "likely cause"):
        BernoulliRBM(n_components=8, n_iter=3, learning_rate=1e6, random_state=0).fit(digits01)


@pytest.mark.slow
def test_in_a_grid_search_pipeline(digits01):
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import Pipeline

    y = load_digits().target
    pipe = Pipeline([("rbm", BernoulliRBM(learning_rate=0.06, n_iter=10, random_state=0)),
                     ("logistic", LogisticRegression(C=1000, max_iter=1000))])
    search = GridSearchCV(pipe, {"rbm__n_components": [16, 32]}, cv=2).fit(digits01[:600], y[:600])
    assert search.best_score_ > 0.7


def test_mean_field_reconstructions_are_an_option(digits01):
    sampled = BernoulliRBM(n_components=16, n_iter=3, batch_size=20, random_state=0).fit(digits01)
    mean_field = BernoulliRBM(n_components=16, n_iter=3, batch_size=20, random_state=0,
                              sample_visible=False).fit(digits01)
    assert not np.array_equal(sampled.components_, mean_field.components_)
    assert mean_field.score_samples(digits01).mean() > sampled.score_samples(digits01).mean() - 1.0
