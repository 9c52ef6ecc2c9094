"""DBNClassifier and DBNRegressor: scikit-learn's conventions (check_estimator for the regressor;
the classifier's runs in test_dbn.py), stopping rules, partial_fit, warm_start, pickling,
verbose output, reproducibility, refusals.

Device: CPU (digits and tiny networks, a few seconds)."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import check_estimator

from weightinit.estimators import DBNClassifier, DBNRegressor
from weightinit.estimators._dbn_base import auto_pretrain_epochs

SMALL = dict(hidden_layer_sizes=(32,), pretrain_epochs=2, max_iter=30, batch_size=32, random_state=0)


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:600] / 16, y[:600]


def _quiet(fit):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return fit()


@pytest.mark.slow
def test_regressor_passes_check_estimator():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(DBNRegressor(hidden_layer_sizes=(16,), pretrain_epochs=1, max_iter=50, batch_size=10),
                                  on_fail=None)
    assert [(r["check_name"], repr(r["exception"])) for r in results if r["status"] == "failed"] == []


def test_classifier_learns_digits_and_reports_its_curve(digits):
    X, y = digits
    clf = _quiet(lambda: DBNClassifier(**SMALL).fit(X[:450], y[:450]))
    assert clf.score(X[450:], y[450:]) > 0.85
    assert clf.n_iter_ == len(clf.loss_curve_) <= 30 and clf.loss_ == clf.loss_curve_[-1]
    assert clf.loss_curve_[-1] < clf.loss_curve_[0] and clf.best_loss_ == min(clf.loss_curve_)
    assert clf.validation_scores_ is None and clf.best_validation_score_ is None
    assert clf.t_ == 450 * clf.n_iter_ and clf.n_features_in_ == 64 and list(clf.classes_) == list(range(10))
    proba = clf.predict_proba(X[450:])
    assert proba.shape == (150, 10) and np.allclose(proba.sum(1), 1)
    assert np.allclose(np.log(proba), clf.predict_log_proba(X[450:]))
    assert clf.visible_ == "bernoulli" and clf.pretrain_epochs_ == 2


def test_string_labels_and_binary_problems(digits):
    X, y = digits
    labels = np.where(y % 2 == 0, "even", "odd")
    clf = _quiet(lambda: DBNClassifier(**SMALL).fit(X, labels))
    assert list(clf.classes_) == ["even", "odd"] and set(clf.predict(X[:20])) <= {"even", "odd"}
    assert clf.score(X, labels) > 0.8


def test_one_class_is_refused(digits):
    X, _ = digits
    with pytest.raises(ValueError, match=r"y has 1 class \(\[3\]\); a classifier needs at least 2 classes"):
        DBNClassifier(**SMALL).fit(X, np.full(len(X), 3))


def test_early_stopping_keeps_the_best_validation_epoch(digits):
    X, y = digits
    clf = DBNClassifier(**{**SMALL, "max_iter": 60}, early_stopping=True, n_iter_no_change=3).fit(X, y)
    assert len(clf.validation_scores_) == clf.n_iter_ < 60
    assert clf.best_validation_score_ == max(clf.validation_scores_) and clf.best_loss_ is None
    assert clf.score(X, y) > 0.7


def test_stopping_on_the_training_loss_follows_mlp_rules(digits):
    X, y = digits
    clf = DBNClassifier(**{**SMALL, "max_iter": 200}, tol=1.0, n_iter_no_change=2).fit(X, y)
    # tol=1: no epoch improves the loss by 1, so training stops after n_iter_no_change + 1 epochs more than the first
    assert clf.n_iter_ == 4


def test_max_iter_reached_warns(digits):
    X, y = digits
    with pytest.warns(ConvergenceWarning, match=r"Maximum iterations \(2\) reached"):
        DBNClassifier(**{**SMALL, "max_iter": 2}).fit(X, y)


@pytest.mark.slow
def test_same_seed_same_model_and_the_global_rng_is_left_alone(digits):
    X, y = digits
    state = torch.get_rng_state()
    a = _quiet(lambda: DBNClassifier(**SMALL, dropout=0.2).fit(X, y))
    assert torch.equal(state, torch.get_rng_state())
    b = _quiet(lambda: DBNClassifier(**SMALL, dropout=0.2).fit(X, y))
    assert np.array_equal(a.predict_proba(X), b.predict_proba(X))
    c = _quiet(lambda: DBNClassifier(**{**SMALL, "random_state": 1}).fit(X, y))
    assert not np.array_equal(a.predict_proba(X), c.predict_proba(X))


def test_partial_fit_one_epoch_per_call(digits):
    X, y = digits
    clf = DBNClassifier(**SMALL)
    with pytest.raises(ValueError, match="classes must be given on the first call to partial_fit"):
        clf.partial_fit(X, y)
    clf.partial_fit(X[:300], y[:300], classes=np.arange(10))
    pretrained = clf.dbn_.rbms[0].W.clone()
    for _ in range(5):
        clf.partial_fit(X, y)
    assert clf.n_iter_ == 6 and len(clf.loss_curve_) == 6 and clf.t_ == 300 + 5 * 600
    assert torch.equal(pretrained, clf.dbn_.rbms[0].W)  # pre-trained once, on the first call
    assert clf.score(X, y) > 0.5
    with pytest.raises(ValueError, match=r"labels \[10\] not in classes_"):
        clf.partial_fit(X[:5], np.full(5, 10))


def test_partial_fit_refuses_early_stopping(digits):
    X, y = digits
    with pytest.raises(ValueError, match="partial_fit does not support early_stopping=True"):
        DBNClassifier(**SMALL, early_stopping=True).partial_fit(X, y, classes=np.arange(10))


def test_warm_start_continues_without_pretraining_again(digits):
    X, y = digits
    clf = _quiet(lambda: DBNClassifier(**{**SMALL, "max_iter": 5}, warm_start=True).fit(X, y))
    first = clf.model_[0].weight.detach().clone()
    dbn = clf.dbn_
    _quiet(lambda: clf.fit(X, y))
    assert clf.dbn_ is dbn and clf.n_iter_ == 5 and len(clf.loss_curve_) == 10
    assert not torch.equal(first, clf.model_[0].weight)
    cold = _quiet(lambda: DBNClassifier(**{**SMALL, "max_iter": 5}).fit(X, y))
    _quiet(lambda: cold.fit(X, y))
    assert len(cold.loss_curve_) == 5  # without warm_start, fit starts over


def test_pickled_classifier_predicts_and_continues_exactly(digits):
    X, y = digits
    a = _quiet(lambda: DBNClassifier(**{**SMALL, "max_iter": 3}).fit(X, y))
    b = pickle.loads(pickle.dumps(a))
    assert np.array_equal(a.predict_proba(X), b.predict_proba(X))
    a.partial_fit(X, y)
    b.partial_fit(X, y)
    assert np.array_equal(a.predict_proba(X), b.predict_proba(X))


def test_verbose_prints_one_line_per_epoch(digits, capsys):
    X, y = digits
    DBNClassifier(**{**SMALL, "max_iter": 50}, tol=1.0, n_iter_no_change=1, verbose=1).fit(X, y)
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("Pre-training layer 1 (64-32), epoch 1, reconstruction error = ")
    assert out[2].startswith("Iteration 1, loss = ") and out[2].endswith("s")
    assert out[-1] == "Training loss did not improve more than tol=1.000000 for 1 consecutive epochs. Stopping."


def test_real_valued_inputs_feed_gaussian_units():
    X, y = load_digits(return_X_y=True)
    clf = _quiet(lambda: DBNClassifier(**SMALL).fit(X[:500] * 3 - 10, y[:500]))  # outside [0, 1]
    assert clf.visible_ == "gaussian" and clf.dbn_.rbms[0].visible == "gaussian"
    assert clf.score(X[500:800] * 3 - 10, y[500:800]) > 0.8


def test_regressor_fits_a_smooth_function_and_several_outputs():
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(400, 4))
    y = X[:, 0] ** 2 + np.exp(X[:, 1]) + 100.0  # an offset the target standardization removes
    reg = _quiet(lambda: DBNRegressor(hidden_layer_sizes=(32,), pretrain_epochs=2, max_iter=200, batch_size=20,
                                      random_state=0).fit(X[:300], y[:300]))
    assert reg.score(X[300:], y[300:]) > 0.8 and reg.predict(X[:3]).shape == (3,)
    Y = np.stack([y, -2 * y], axis=1)
    reg2 = _quiet(lambda: DBNRegressor(hidden_layer_sizes=(32,), pretrain_epochs=1, max_iter=20, random_state=0)
                  .fit(X, Y))
    assert reg2.predict(X[:3]).shape == (3, 2) and reg2.n_outputs_ == 2


def test_regressor_early_stopping_scores_r2():
    rng = np.random.default_rng(1)
    X = rng.uniform(size=(300, 3))
    y = X @ np.array([1.0, -2.0, 0.5])
    reg = _quiet(lambda: DBNRegressor(hidden_layer_sizes=(16,), pretrain_epochs=1, max_iter=300, early_stopping=True,
                                      random_state=0).fit(X, y))
    assert reg.best_validation_score_ == max(reg.validation_scores_) > 0.8


def test_in_a_pipeline_with_cross_validation(digits):
    X, y = digits
    scores = _quiet(lambda: cross_val_score(make_pipeline(StandardScaler(), DBNClassifier(**SMALL)), X, y, cv=2))
    assert scores.mean() > 0.8


@pytest.mark.parametrize(
    "params, error, message",
    [({"hidden_layer_sizes": (10, 0)}, ValueError, r"hidden_layer_sizes must be a non-empty tuple of positive "
                                                   r"integers, such as \(500, 500\), got \(10, 0\)"),
     ({"batch_size": "big"}, TypeError, "batch_size must be an integer, got 'big'.*; or use 'auto'"),
     ({"pretrain_epochs": -1}, ValueError, "pretrain_epochs must be >= 0, got -1; or use 'auto'"),
     ({"validation_fraction": 1.0}, ValueError, r"validation_fraction must be in \(0, 1\), got 1.0"),
     ({"solver": "lbfgs"}, ValueError, r"solver='lbfgs' is not supported; use one of \['adam', 'sgd'\]"),
     ({"dropout": 1.0}, ValueError, r"dropout must be in \[0, 1\), got 1.0"),
     ({"learning_rate_init": 0}, ValueError, "learning_rate_init must be > 0, got 0")],
)
def test_bad_parameters_are_named(digits, params, error, message):
    X, y = digits
    with pytest.raises(error, match=message):
        DBNClassifier(**{**SMALL, **params}).fit(X, y)


def test_a_validation_set_too_small_is_refused(digits):
    X, y = digits
    with pytest.raises(ValueError, match="validation_fraction=0.01 of 20 samples leaves a validation set of 0"):
        DBNClassifier(**SMALL, early_stopping=True, validation_fraction=0.01).fit(X[:20], y[:20])


def test_pretraining_divergence_names_its_learning_rate(digits):
    X, y = digits
    with pytest.raises(ValueError, match=r"pre-training layer 1 diverged .* pretrain_learning_rate=1e\+07"):
        DBNClassifier(**SMALL, pretrain_learning_rate=1e7).fit(X, y)


def test_auto_pretraining_gives_small_data_more_passes():
    assert auto_pretrain_epochs(1_257, 100) == 100  # digits: 13 updates a pass
    assert auto_pretrain_epochs(10_000, 100) == 20
    assert auto_pretrain_epochs(60_000, 100) == 5
