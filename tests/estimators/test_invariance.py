"""A sample's result does not depend on the other samples beside it, on any CPU's kernels.

scikit-learn's ``check_methods_sample_order_invariance`` and ``check_methods_subset_invariance``
compare each estimator method on X, on X permuted and on slices of X at rtol 1e-7. In float32,
matrix products take other kernels (summing in another order) for other numbers of rows and on
other CPUs, so ``GaussianBernoulliRBM.score_samples`` failed the check on an AMD EPYC whose best
kernels are AVX2, and passed on machines with AVX-512. The estimators now score in float64;
these tests hold every method to 1e-10, far tighter than scikit-learn's checks, and run
themselves again under each of PyTorch's other CPU kernel families
(``ATEN_CPU_CAPABILITY=default|avx2|avx512``), so that a machine with AVX-512 also checks the
AVX2 code path.

Device: CPU.
"""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning

from weightinit.estimators import BernoulliRBM, DBNClassifier, DBNRegressor, GaussianBernoulliRBM

# row counts that take different kernel paths: a single row (matrix-vector), odd sizes that
# leave partial tiles, and more rows than one tile
SUBSETS = (1, 3, 17, 100)


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:300] / 16.0, y[:300]


def _fitted(digits):
    X, y = digits
    warnings.filterwarnings("ignore", category=ConvergenceWarning)  # 3 passes: a fitted model, not a good one
    common = dict(random_state=0, device="cpu")
    return {
        "BernoulliRBM": (BernoulliRBM(n_components=24, n_iter=2, **common).fit(X), ("transform", "score_samples")),
        "GaussianBernoulliRBM": (GaussianBernoulliRBM(n_components=24, n_iter=2, **common).fit(X * 16),
                                 ("transform", "score_samples")),
        "DBNClassifier": (DBNClassifier(hidden_layer_sizes=(32, 16), pretrain_epochs=1, max_iter=3, **common).fit(X, y),
                          ("predict", "predict_proba", "predict_log_proba")),
        "DBNRegressor": (DBNRegressor(hidden_layer_sizes=(32, 16), pretrain_epochs=1, max_iter=3, **common)
                         .fit(X, y.astype(float)), ("predict",)),
    }


@pytest.fixture(scope="module")
def fitted(digits):
    return _fitted(digits)


@pytest.mark.parametrize("name", ["BernoulliRBM", "GaussianBernoulliRBM", "DBNClassifier", "DBNRegressor"])
def test_results_do_not_depend_on_order_or_on_the_other_samples(digits, fitted, name):
    estimator, methods = fitted[name]
    X = digits[0] * (16 if name == "GaussianBernoulliRBM" else 1)
    order = np.random.default_rng(0).permutation(len(X))
    for method in methods:
        whole = getattr(estimator, method)(X)
        np.testing.assert_allclose(getattr(estimator, method)(X[order]), whole[order], rtol=1e-10, atol=1e-12,
                                   err_msg=f"{name}.{method} on X permuted")
        for n in SUBSETS:
            np.testing.assert_allclose(getattr(estimator, method)(X[order[:n]]), whole[order[:n]], rtol=1e-10,
                                       atol=1e-12, err_msg=f"{name}.{method} on {n} rows of X")


def test_float32_input_gives_float32_results_that_round_the_same_whatever_the_batch(digits, fitted):
    X = digits[0].astype(np.float32)
    for name in ("BernoulliRBM", "GaussianBernoulliRBM"):
        estimator = fitted[name][0]
        Xs = X * 16 if name == "GaussianBernoulliRBM" else X
        whole = estimator.transform(Xs)
        assert whole.dtype == np.float32
        np.testing.assert_array_equal(np.concatenate([estimator.transform(part) for part in np.array_split(Xs, 7)]),
                                      whole)


# ---------------------------------------------------------------- the other kernel families
def _capabilities() -> list[str]:
    """PyTorch's CPU kernel families this CPU can run besides the one in use."""
    best = torch.backends.cpu.get_cpu_capability().lower()  # "default", "avx2", "avx512", ...
    order = ["default", "avx2", "avx512"]
    usable = order[: order.index(best) + 1] if best in order else ["default"]
    return [c for c in usable if c != os.environ.get("ATEN_CPU_CAPABILITY", best).lower()]


@pytest.mark.slow
@pytest.mark.skipif("WEIGHTINIT_KERNEL_RUN" in os.environ, reason="already a run under another kernel family")
@pytest.mark.parametrize("capability", _capabilities())
def test_the_same_holds_under_the_other_kernel_families(capability):
    env = {**os.environ, "ATEN_CPU_CAPABILITY": capability, "WEIGHTINIT_KERNEL_RUN": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(Path(__file__))],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    check = subprocess.run([sys.executable, "-c", "import torch; print(torch.backends.cpu.get_cpu_capability())"],
                           capture_output=True, text=True, env=env, timeout=60)
    assert check.stdout.strip().lower() == capability  # the run really took that family's kernels
