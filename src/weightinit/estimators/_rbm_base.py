"""What the two RBM estimators share: scikit-learn's transformer API over
:class:`weightinit.boltzmann.RBM` and :class:`weightinit.boltzmann.RBMTrainer`.

``fit`` costs what scikit-learn's costs besides the training: X is validated once (shape,
dtype, sparse format), converted once to a C-contiguous float32 tensor (no copy at all for a
C-contiguous float32 array), and read once more, in a single chunked pass
(:func:`~weightinit.estimators._inputs.summarize`) that checks it for NaN/inf and yields the
column means the visible biases start from. scikit-learn's own fit makes the same one pass
(its NaN/inf check). The subclasses say how X becomes visible units: probabilities in [0, 1]
(:class:`~weightinit.estimators.BernoulliRBM`) or standardized values
(:class:`~weightinit.estimators.GaussianBernoulliRBM`).

``transform`` and ``score_samples`` compute in float64 (:meth:`RBMEstimator._scoring_rbm`): a
sample's result must not depend on the other samples beside it, and in float32 it does.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from ..boltzmann.rbm import RBM
from ..boltzmann.trainer import RBMConfig, RBMDivergedError, RBMTrainer
from ..errors import UserError
from ..runs.devices import DEVICES, PRECISIONS, resolve_device
from ._inputs import Summary, as_tensor, check_finite, summarize
from ._params import Boolean, Choice, Integer, RandomState, Real, validate_params
from ._threads import threads_for

__all__ = ["RBMEstimator", "RBM_PARAMETERS"]

RBM_PARAMETERS = {
    "n_components": Integer(1),
    "learning_rate": Real(0, strict=True),
    "batch_size": Integer(1),
    "n_iter": Integer(0),
    "verbose": Integer(0),
    "random_state": RandomState(),
    "k": Integer(1),
    "persistent": Boolean(),
    "momentum": Real(0, maximum=1),
    "weight_decay": Real(0),
    "device": Choice(DEVICES),
    "precision": Choice(PRECISIONS),
    "compile": Boolean(),
    "sample_visible": Boolean(),
}


class RBMEstimator(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Base of the RBM estimators (not for direct use): fit, partial_fit, transform, gibbs,
    pickling. A subclass sets ``VISIBLE`` and turns X into visible units (:meth:`_visible_units`)."""

    VISIBLE = "bernoulli"
    PARAMETERS: dict = RBM_PARAMETERS

    # ------------------------------------------------------------ data
    def _validate(self, X, reset: bool):
        """scikit-learn's validation (shape, dtype, sparse format, n_features_in_), without
        its NaN/inf scan: :meth:`_visible_units` makes that check in its one pass."""
        return validate_data(self, X, accept_sparse="csr", dtype=(np.float64, np.float32), reset=reset,
                             ensure_all_finite=False)

    def _read(self, X, reset: bool, dtype: torch.dtype = torch.float32) -> tuple[Any, torch.Tensor, torch.Tensor]:
        """X validated, as visible units of ``dtype`` on the model's device (one conversion, one
        pass), and those units' column means (for the visible biases' start)."""
        X = self._validate(X, reset=reset)
        device = resolve_device(self.device) if reset else self._rbm.W.device
        x = as_tensor(X, device, dtype)
        summary = summarize(x, squares=reset and self.VISIBLE == "gaussian")
        check_finite(X, summary)
        return X, *self._visible_units(x, summary, fit=reset)

    def _visible_units(self, x: torch.Tensor, summary: Summary, *, fit: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """The visible units the RBM sees for the float32 tensor ``x`` (whose pass gave
        ``summary``), and their column means; ``fit``: x is the training set (a subclass
        keeps what it learns from it, e.g. the standardization)."""
        raise NotImplementedError

    # ------------------------------------------------------------ model and trainer
    def _config(self) -> RBMConfig:
        return RBMConfig(
            epochs=max(int(self.n_iter), 1), batch_size=int(self.batch_size), lr=float(self.learning_rate),
            k=int(self.k), persistent=bool(self.persistent), momentum=float(self.momentum),
            final_momentum=float(self.momentum), momentum_epochs=0, weight_decay=float(self.weight_decay), seed=0,
            device=self.device, precision=self.precision, compile=bool(self.compile),
            sample_visible=bool(self.sample_visible),
        )

    def _start(self, n_features: int, visible_mean: torch.Tensor) -> None:
        """Build the RBM and its trainer, seeded once from ``random_state`` (one torch.Generator
        draws the weights, the data order and the Gibbs noise)."""
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        device = resolve_device(self.device)
        self._rbm = RBM(n_features, int(self.n_components), self.VISIBLE).to(device)
        generator = torch.Generator(device=device).manual_seed(seed)
        self._rbm.reset_parameters(generator=generator, mean=visible_mean)
        self._trainer = RBMTrainer(self._rbm, self._config(), generator)
        self._monitor_seed = seed + 1  # verbose's pseudo-likelihood draws: never the training stream

    def _epoch(self, x: torch.Tensor) -> float:
        """One pass of CD/PCD updates over ``x``; a divergence names this estimator's parameter."""
        try:
            return self._trainer.epoch(x)
        except RBMDivergedError as error:
            raise UserError(f"{type(self).__name__} training diverged in pass {error.epoch} ({error.what}); "
                            f"learning_rate={self.learning_rate!r} is the likely cause: try a smaller one, "
                            f"such as {float(self.learning_rate) / 10:g}") from None

    def _sync(self) -> None:
        """Expose the torch parameters as scikit-learn's fitted attributes (float64 copies)."""
        self.components_ = self._rbm.W.detach().cpu().double().numpy()
        self.intercept_hidden_ = self._rbm.b_h.detach().cpu().double().numpy()
        self.intercept_visible_ = self._rbm.b_v.detach().cpu().double().numpy()

    def _load(self) -> None:
        """Take the fitted attributes back into torch (a user may have set them)."""
        with torch.no_grad():
            for name, param in (("components_", self._rbm.W), ("intercept_hidden_", self._rbm.b_h),
                                ("intercept_visible_", self._rbm.b_v)):
                param.copy_(torch.as_tensor(getattr(self, name), dtype=torch.float32))

    def _fitted_rbm(self) -> RBM:
        check_is_fitted(self, ("components_", "intercept_hidden_", "intercept_visible_"))
        self._load()
        return self._rbm

    def _scoring_rbm(self) -> RBM:
        """The fitted RBM in float64, for the methods whose results scikit-learn compares
        sample by sample (``transform``, ``score_samples``).

        A sample's result must not depend on where it sits in X or on what else X holds. In
        float32 it did: a matrix product takes other kernels, summing in another order, for
        other numbers of rows and on other CPUs (AVX2 against AVX-512), so a permuted X scored
        differently in the 7th digit and failed ``check_methods_sample_order_invariance``. In
        float64 those differences are of order 1e-16, nine decades below the checks' 1e-7 and
        below float32's own resolution, so a float32 result rounds to the same value whatever
        the batch. Training stays in float32 (or bf16); scoring costs about twice a float32
        pass."""
        rbm = self._fitted_rbm()
        scoring = RBM(rbm.n_visible, rbm.n_hidden, self.VISIBLE).to(device=rbm.W.device, dtype=torch.float64)
        with torch.no_grad():
            for name, param in (("components_", scoring.W), ("intercept_hidden_", scoring.b_h),
                                ("intercept_visible_", scoring.b_v)):
                param.copy_(torch.as_tensor(getattr(self, name), dtype=torch.float64))
        return scoring

    def __getstate__(self) -> dict:
        # torch.Generator does not pickle: keep the trainer's state, rebuild on unpickling.
        state = dict(self.__dict__)
        rbm, trainer = state.pop("_rbm", None), state.pop("_trainer", None)
        if trainer is not None:
            state["_trainer_state"] = trainer.state_dict()
            state["_device"] = str(rbm.W.device)
        return state

    def __setstate__(self, state: dict) -> None:
        trainer_state = state.pop("_trainer_state", None)
        device = state.pop("_device", "cpu")
        self.__dict__.update(state)
        if trainer_state is not None:
            self._rbm = RBM(self.components_.shape[1], self.components_.shape[0], self.VISIBLE).to(device)
            self._load()
            self._trainer = RBMTrainer(self._rbm, self._config(), torch.Generator(device=device))
            self._trainer.load_state_dict(trainer_state)

    # ------------------------------------------------------------ API
    def fit(self, X, y=None):
        """Fit the model to X.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data.
        y : None
            Ignored.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        validate_params(self, self.PARAMETERS)
        X, x, mean = self._read(X, reset=True)
        self._start(X.shape[1], mean)
        with threads_for(int(self.batch_size), [X.shape[1], int(self.n_components)], x.device):
            for iteration in range(1, int(self.n_iter) + 1):
                start = time.perf_counter()
                self._epoch(x)
                if self.verbose:
                    self._report(iteration, x, time.perf_counter() - start)
        self._sync()
        return self

    def partial_fit(self, X, y=None):
        """One pass over the minibatches of X, continuing any previous fit (the first call
        starts the model, its visible biases from this X's mean).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : None
            Ignored.

        Returns
        -------
        self : object
        """
        first = not hasattr(self, "components_")
        if first:
            validate_params(self, self.PARAMETERS)
        else:
            self._load()
        X, x, mean = self._read(X, reset=first)
        if first:
            self._start(X.shape[1], mean)
        with threads_for(int(self.batch_size), [X.shape[1], int(self.n_components)], x.device):
            self._epoch(x)
        self._sync()
        return self

    def transform(self, X):
        """Hidden unit probabilities :math:`p(h_j = 1 | v) = \\sigma(W_j v + c_j)`.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        h : ndarray of shape (n_samples, n_components), in X's dtype (float32 or float64)
        """
        rbm = self._scoring_rbm()
        X, x, _ = self._read(X, reset=False, dtype=torch.float64)
        with torch.no_grad():
            h = torch.sigmoid(rbm.hidden_input(x))
        return h.cpu().numpy().astype(X.dtype, copy=False)

    def gibbs(self, v):
        """One Gibbs step from v: h ~ p(h | v), then v ~ p(v | h).

        Parameters
        ----------
        v : array-like of shape (n_samples, n_features)

        Returns
        -------
        v_new : ndarray of shape (n_samples, n_features), in v's dtype
            The sampled visible units (in X's units for a standardizing estimator).
        """
        rbm = self._fitted_rbm()
        v, x, _ = self._read(v, reset=False)
        generator = self._trainer.generator
        sample = rbm.sample_v(rbm.sample_h(x, generator), generator)
        return self._from_visible_units(sample).cpu().numpy().astype(v.dtype, copy=False)

    def _from_visible_units(self, v: torch.Tensor) -> torch.Tensor:
        """Visible units back in X's units (the identity unless the subclass standardizes)."""
        return v

    def _report(self, iteration: int, x: torch.Tensor, seconds: float) -> None:
        """verbose: one line per pass, as scikit-learn's BernoulliRBM prints."""
        raise NotImplementedError

    @property
    def _n_features_out(self):
        return self.components_.shape[0]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags
