"""The estimators' plumbing: the one conversion and the one pass over X (estimators.inputs), the
declarative hyperparameter checks (estimators.params), and the RBM trainer's divergence check
that the estimators rely on (boltzmann.trainer).

Device: CPU (small tensors, well under a second)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from weightinit.boltzmann import RBM, RBMConfig, RBMTrainer
from weightinit.boltzmann.trainer import DIVERGENCE_WEIGHT, RBMDivergedError, divergence, train_rbm
from weightinit.errors import UserError
from weightinit.estimators._inputs import as_tensor, check_finite, summarize
from weightinit.estimators._params import Auto, Boolean, Choice, Integer, RandomState, Real, Sizes


# ---------------------------------------------------------------- inputs
def test_as_tensor_shares_a_float32_c_array_and_copies_anything_else():
    x = np.random.default_rng(0).random((50, 7), dtype=np.float32)
    assert np.shares_memory(as_tensor(x).numpy(), x)
    for other in (x.astype(np.float64), np.asfortranarray(x), sp.csr_matrix(x)):
        t = as_tensor(other)
        assert t.dtype == torch.float32 and t.is_contiguous() and torch.equal(t, torch.from_numpy(x))


@pytest.mark.parametrize("rows", [1, 3, 5000])
def test_summarize_matches_numpy_in_one_chunked_pass(rows, monkeypatch):
    import weightinit.estimators._inputs as inputs

    monkeypatch.setattr(inputs, "CHUNK_BYTES", 64)  # many chunks, even for small data
    x = np.random.default_rng(rows).normal(3, 2, size=(rows, 5)).astype(np.float32)
    s = summarize(torch.from_numpy(x), squares=True)
    assert s.finite and s.n == rows
    assert np.allclose(s.mean.numpy(), x.mean(0), atol=1e-5)
    assert np.allclose(s.std.numpy(), x.std(0), atol=1e-4)
    assert (s.minimum, s.maximum) == (x.min(), x.max())


@pytest.mark.parametrize("bad, message", [(np.nan, "Input X contains NaN"), (np.inf, "Input X contains infinity")])
def test_non_finite_values_get_scikit_learns_message(bad, message):
    x = np.ones((20, 3), dtype=np.float32)
    x[7, 1] = bad
    summary = summarize(torch.from_numpy(x))
    assert not summary.finite
    with pytest.raises(ValueError, match=message):
        check_finite(x, summary)


def test_std_needs_the_squared_sums():
    with pytest.raises(RuntimeError, match="squares=True"):
        _ = summarize(torch.ones(3, 2)).std


# ---------------------------------------------------------------- params
@pytest.mark.parametrize(
    "constraint, value, error, message",
    [(Integer(1), 0, UserError, "x must be >= 1, got 0"),
     (Integer(1), 1.5, TypeError, "x must be an integer, got 1.5"),
     (Real(0, strict=True), 0.0, UserError, "x must be > 0, got 0.0"),
     (Real(0, maximum=1), 1.0, UserError, r"x must be in \[0, 1\), got 1.0"),
     (Real(0, strict=True, maximum=1), 1.0, UserError, r"x must be in \(0, 1\), got 1.0"),
     (Real(0), "a", TypeError, "x must be a real number"),
     (Choice(("a", "b")), "c", UserError, r"x='c' is not supported; use one of \['a', 'b'\]"),
     (Boolean(), 1, TypeError, "x must be a bool, got 1"),
     (Sizes(), (10, 0), UserError, r"x must be a non-empty tuple of positive integers, such as \(500, 500\), "
                                   r"got \(10, 0\)"),
     (Sizes(), (), UserError, "non-empty tuple"),
     (Sizes(), "500", UserError, "non-empty tuple"),
     (Auto(Integer(1)), "big", TypeError, "x must be an integer, got 'big'.*; or use 'auto'"),
     (Auto(Integer(1)), 0, UserError, "x must be >= 1, got 0; or use 'auto'"),
     (RandomState(), -1, UserError, "x must be >= 0, got -1")],
)
def test_constraints_name_the_parameter_the_value_and_what_is_allowed(constraint, value, error, message):
    with pytest.raises(error, match=message):
        constraint.check("x", value)


@pytest.mark.parametrize("constraint, value", [(Sizes(), 5), (Sizes(), [3, np.int64(4)]), (Auto(Integer(1)), "auto"),
                                               (RandomState(), np.random.RandomState(0)), (RandomState(), None),
                                               (Boolean(), np.bool_(True))])
def test_constraints_accept_what_they_allow(constraint, value):
    constraint.check("x", value)


# ---------------------------------------------------------------- the trainer's divergence check
def _data() -> torch.Tensor:
    return (torch.rand(200, 16, generator=torch.Generator().manual_seed(0)) > 0.5).float()


def test_a_healthy_rbm_has_no_divergence():
    rbm = RBM(16, 8).reset_parameters(_data(), torch.Generator().manual_seed(0))
    assert divergence(rbm, _data()[:10]) is None


@pytest.mark.parametrize("value, what", [(float("nan"), "W holds NaN or inf"),
                                         (2 * DIVERGENCE_WEIGHT, "max |W| = 2e+04 > 10000")])
def test_divergence_names_what_went_wrong(value, what):
    rbm = RBM(16, 8)
    with torch.no_grad():
        rbm.W[0, 0] = value
    assert divergence(rbm, None) == what


def test_trainer_stops_a_diverging_run_naming_lr():
    rbm = RBM(16, 8, visible="gaussian").reset_parameters(_data(), torch.Generator().manual_seed(0))
    trainer = RBMTrainer(rbm, RBMConfig(lr=50.0, batch_size=10, device="cpu"))
    message = r"RBM training diverged in epoch 1 \(.*\); the learning rate lr=50 is the likely cause: try a smaller one"
    with pytest.raises(RBMDivergedError, match=message + r", such as lr=5") as caught:
        trainer.epoch(_data())
    assert isinstance(caught.value, UserError) and caught.value.epoch == 1 and caught.value.lr == 50.0


def test_train_rbm_raises_the_divergence_too():
    with pytest.raises(UserError, match="diverged in epoch 1"):
        train_rbm(RBM(16, 8, visible="gaussian"), _data(), RBMConfig(lr=50.0, batch_size=10, device="cpu"))


def test_the_check_changes_nothing_in_a_healthy_run():
    # the check reads parameters and one batch only: no draw from the generator
    config = RBMConfig(epochs=2, batch_size=20, device="cpu", persistent=True)
    rbm = RBM(16, 8)
    train_rbm(rbm, _data(), config)
    generator = torch.Generator().manual_seed(0)
    reference = RBM(16, 8).reset_parameters(_data(), generator)
    trainer = RBMTrainer(reference, config, generator)
    for _ in range(2):
        trainer.epoch(_data())
    assert torch.equal(rbm.W, reference.W)


# ---------------------------------------------------------------- threads
def test_small_models_run_on_one_thread_and_the_setting_comes_back():
    from weightinit.estimators._threads import threads_for

    before = torch.get_num_threads()
    with threads_for(10, [64, 100]):
        inside_small = torch.get_num_threads()
    with threads_for(100, [784, 500]):
        inside_large = torch.get_num_threads()
    with pytest.raises(KeyError), threads_for(10, [64, 100]):
        raise KeyError("restored even on an error")
    assert inside_small == 1 and inside_large == before and torch.get_num_threads() == before
