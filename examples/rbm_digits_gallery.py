"""Restricted Boltzmann Machine features for digit classification, with weightinit's RBM.

scikit-learn's gallery example (``plot_rbm_logistic_classification.py``) with
``weightinit.estimators.BernoulliRBM`` swapped in: the same data, pipeline and hyperparameters,
one import changed. It trains the pipeline with both RBMs and with logistic regression on the
raw pixels, prints each one's classification report summary (macro F1) and fit time, and with
``--plot FILE`` draws the 100 components of weightinit's RBM.

    .venv/bin/python examples/rbm_digits_gallery.py [--plot components.png]

The gallery passes ``tol=1`` to the logistic regression; with scikit-learn 1.9 newton-cg then
stops before its first iteration (its loss is a mean over the samples, so the gradient starts
below 1), so this example keeps newton-cg's default tolerance.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy.ndimage import convolve
from sklearn import datasets, metrics
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.neural_network import BernoulliRBM as SklearnRBM
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import minmax_scale

from weightinit.estimators import BernoulliRBM


def nudge_dataset(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """5x the data: the 8x8 images and their copies moved by 1 pixel up, left, right and down."""
    direction_vectors = [
        [[0, 1, 0], [0, 0, 0], [0, 0, 0]],
        [[0, 0, 0], [1, 0, 0], [0, 0, 0]],
        [[0, 0, 0], [0, 0, 1], [0, 0, 0]],
        [[0, 0, 0], [0, 0, 0], [0, 1, 0]],
    ]

    def shift(x, w):
        return convolve(x.reshape((8, 8)), mode="constant", weights=w).ravel()

    X = np.concatenate([X] + [np.apply_along_axis(shift, 1, X, vector) for vector in direction_vectors])
    return X, np.concatenate([y for _ in range(5)], axis=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plot", metavar="FILE", help="save weightinit's 100 RBM components as an image")
    args = parser.parse_args()

    X, y = datasets.load_digits(return_X_y=True)
    X = np.asarray(X, "float32")
    X, Y = nudge_dataset(X, y)
    X = minmax_scale(X, feature_range=(0, 1))  # 0-1 scaling
    X_train, X_test, Y_train, Y_test = train_test_split(X, Y, test_size=0.2, random_state=0)

    logistic = LogisticRegression(solver="newton-cg", C=6000)
    pipelines = {}
    for name, rbm_class in (("scikit-learn RBM", SklearnRBM), ("weightinit RBM", BernoulliRBM)):
        rbm = rbm_class(n_components=100, learning_rate=0.06, n_iter=10, random_state=0)
        pipelines[name] = Pipeline(steps=[("rbm", rbm), ("logistic", clone(logistic))])
    raw = clone(logistic).set_params(C=100.0)

    for name, model in [*pipelines.items(), ("raw pixel", raw)]:
        start = time.perf_counter()
        model.fit(X_train, Y_train)
        seconds = time.perf_counter() - start
        f1 = metrics.f1_score(Y_test, model.predict(X_test), average="macro")
        print(f"Logistic regression using {name + ' features':28s} macro F1 {f1:.4f}   fit {seconds:5.2f} s")

    if args.plot:
        from matplotlib.figure import Figure

        figure = Figure(figsize=(4.2, 4))
        for i, component in enumerate(pipelines["weightinit RBM"]["rbm"].components_):
            axis = figure.add_subplot(10, 10, i + 1)
            axis.imshow(component.reshape((8, 8)), cmap="gray_r", interpolation="nearest")
            axis.set_xticks(())
            axis.set_yticks(())
        figure.suptitle("100 components extracted by weightinit's RBM", fontsize=12)
        figure.savefig(args.plot)
        print(f"wrote {args.plot}")


if __name__ == "__main__":
    main()
