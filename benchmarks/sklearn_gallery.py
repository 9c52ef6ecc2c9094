"""weightinit's estimators on scikit-learn's own ground, side by side with scikit-learn's.

1. The gallery example "Restricted Boltzmann Machine features for digit classification"
   (``examples/neural_networks/plot_rbm_logistic_classification.py``): the digits nudged by
   one pixel in four directions (5 x 1,797 images), scaled to [0, 1], split 80/20
   (``random_state=0``); ``Pipeline([BernoulliRBM(n_components=100, learning_rate=0.06,
   n_iter=10, random_state=seed), LogisticRegression(solver="newton-cg", C=6000)])`` with
   scikit-learn's RBM and with weightinit's (the same arguments): macro F1 on the test part and
   the fit time of each step (the RBM's ``fit_transform``, then the logistic regression on its
   features: what ``Pipeline.fit`` does). The gallery passes ``tol=1`` to the
   logistic regression; with scikit-learn 1.9 (whose solvers minimize the mean loss over the
   samples, so the gradient starts below 1) newton-cg then stops before its first iteration
   (``n_iter_`` 0) and both pipelines score a macro F1 of 0.02, so this keeps newton-cg's
   default ``tol=1e-4``.
2. ``DBNClassifier()`` against ``MLPClassifier()``, both with their defaults (``random_state``
   set), on ``load_digits`` (X / 16, ``train_test_split(test_size=0.3, random_state=0)``):
   accuracy and fit time.
3. The same two on MNIST: the first 10,000 training images, the full 10,000-image test set
   (skipped with --no-mnist).
4. With --ablation, the digits comparison of 2. for DBNClassifier with one default changed at
   a time (the evidence for the defaults in its docstring).

Every fit is timed once, in this process, one after the other (never in parallel). Run:

    .venv/bin/python benchmarks/sklearn_gallery.py [--seeds 0 1 2] [--no-mnist] [--ablation]
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import numpy as np
import torch
from scipy.ndimage import convolve
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.model_selection import train_test_split
from sklearn.neural_network import BernoulliRBM as SklearnRBM
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import minmax_scale

from weightinit.data import load_dataset
from weightinit.estimators import BernoulliRBM, DBNClassifier

# the gallery's 1-pixel shifts: up, left, right, down
DIRECTIONS = [
    [[0, 1, 0], [0, 0, 0], [0, 0, 0]],
    [[0, 0, 0], [1, 0, 0], [0, 0, 0]],
    [[0, 0, 0], [0, 0, 1], [0, 0, 0]],
    [[0, 0, 0], [0, 0, 0], [0, 1, 0]],
]


def nudged_digits() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The gallery's data: digits and their four 1-pixel shifts, min-max scaled, split 80/20."""
    X, y = load_digits(return_X_y=True)
    X = np.asarray(X, "float32")
    shifted = [np.apply_along_axis(lambda x, w=w: convolve(x.reshape(8, 8), mode="constant", weights=w).ravel(), 1, X)
               for w in DIRECTIONS]
    X, y = np.concatenate([X, *shifted]), np.concatenate([y] * 5)
    X = minmax_scale(X, feature_range=(0, 1))
    return train_test_split(X, y, test_size=0.2, random_state=0)


def timed(fit) -> float:
    start = time.perf_counter()
    fit()
    return time.perf_counter() - start


def timed_result(call):
    """(seconds, what ``call()`` returned)."""
    start = time.perf_counter()
    result = call()
    return time.perf_counter() - start, result


def gallery(seeds: list[int]) -> None:
    X_train, X_test, y_train, y_test = nudged_digits()
    print(f"1. gallery: RBM features + logistic regression, nudged digits {X_train.shape} train, "
          f"{X_test.shape} test ({X_train.dtype})")
    print(f"{'RBM':14s} {'seed':>4s} {'macro F1':>9s} {'RBM fit s':>10s} {'logistic fit s':>15s}")
    results: dict[str, list[tuple[float, float, float]]] = {"scikit-learn": [], "weightinit": []}
    for seed in seeds:
        for name, cls in (("scikit-learn", SklearnRBM), ("weightinit", BernoulliRBM)):
            rbm = cls(n_components=100, learning_rate=0.06, n_iter=10, random_state=seed)
            logistic = LogisticRegression(solver="newton-cg", C=6000)
            # Pipeline([("rbm", rbm), ("logistic", logistic)]).fit, its two steps timed apart
            rbm_seconds, features = timed_result(lambda rbm=rbm: rbm.fit_transform(X_train))
            logistic_seconds = timed(lambda logistic=logistic, features=features: logistic.fit(features, y_train))
            pipeline = Pipeline([("rbm", rbm), ("logistic", logistic)])
            f1 = f1_score(y_test, pipeline.predict(X_test), average="macro")
            results[name].append((f1, rbm_seconds, logistic_seconds))
            print(f"{name:14s} {seed:4d} {f1:9.4f} {rbm_seconds:10.2f} {logistic_seconds:15.2f}")
    for name, rows in results.items():
        f1s, rbm_s, logistic_s = zip(*rows)
        print(f"{name:14s} mean {statistics.mean(f1s):9.4f} {statistics.mean(rbm_s):10.2f} "
              f"{statistics.mean(logistic_s):15.2f}")


def classifiers(title: str, X_train, X_test, y_train, y_test, seeds: list[int]) -> None:
    print(f"{title}: {X_train.shape} train, {X_test.shape} test")
    print(f"{'model (defaults)':16s} {'seed':>4s} {'accuracy':>9s} {'fit s':>7s} {'epochs':>7s}")
    results: dict[str, list[tuple[float, float]]] = {"MLPClassifier": [], "DBNClassifier": []}
    for seed in seeds:
        for name, cls in (("MLPClassifier", MLPClassifier), ("DBNClassifier", DBNClassifier)):
            model = cls(random_state=seed)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                seconds = timed(lambda model=model: model.fit(X_train, y_train))
            accuracy = model.score(X_test, y_test)
            results[name].append((accuracy, seconds))
            print(f"{name:16s} {seed:4d} {accuracy:9.4f} {seconds:7.1f} {model.n_iter_:7d}")
    for name, rows in results.items():
        accuracies, seconds = zip(*rows)
        print(f"{name:16s} mean {statistics.mean(accuracies):9.4f} {statistics.mean(seconds):7.1f}")


ABLATION = {
    "defaults": {},
    "pretrain_epochs=0": {"pretrain_epochs": 0},
    "pretrain_epochs=50": {"pretrain_epochs": 50},
    "learning_rate_init=1e-3": {"learning_rate_init": 1e-3},
    "hidden_layer_sizes=(500, 500)": {"hidden_layer_sizes": (500, 500)},
    "early_stopping=True": {"early_stopping": True},
}


def ablation(X_train, X_test, y_train, y_test, seeds: list[int]) -> None:
    print("4. DBNClassifier on digits, one default changed at a time")
    print(f"{'change':32s} {'accuracy per seed':>24s} {'mean':>7s} {'fit s':>7s}")
    for name, change in ABLATION.items():
        accuracies, seconds = [], []
        for seed in seeds:
            model = DBNClassifier(random_state=seed, **change)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                seconds.append(timed(lambda model=model: model.fit(X_train, y_train)))
            accuracies.append(model.score(X_test, y_test))
        print(f"{name:32s} {' '.join(f'{a:.4f}' for a in accuracies):>24s} {statistics.mean(accuracies):7.4f} "
              f"{statistics.mean(seconds):7.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--no-mnist", action="store_true", help="skip the MNIST comparison")
    parser.add_argument("--ablation", action="store_true", help="also DBNClassifier with one default changed")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    gallery(args.seeds)
    X, y = load_digits(return_X_y=True)
    digits = train_test_split(X / 16, y, test_size=0.3, random_state=0)
    classifiers("2. digits (X / 16, 70/30 split)", *digits, seeds=args.seeds)
    if not args.no_mnist:
        mnist = load_dataset("mnist")
        classifiers("3. MNIST, first 10,000 training images, full test set",
                    mnist.train.x[:10_000].numpy(), mnist.test.x.numpy(), mnist.train.y[:10_000].numpy(),
                    mnist.test.y.numpy(), seeds=args.seeds)
    if args.ablation:
        ablation(*digits, seeds=args.seeds)


if __name__ == "__main__":
    main()
