"""What :class:`~weightinit.estimators.DBNClassifier` and
:class:`~weightinit.estimators.DBNRegressor` share: greedy RBM pre-training of the hidden
layers, then back-propagation through the sigmoid network they make, with scikit-learn's MLP
conventions (``max_iter``, ``early_stopping``, ``tol``, ``n_iter_no_change``, ``warm_start``,
``partial_fit``, ``loss_curve_``, ``validation_scores_``, ``verbose``).

Stopping, as :class:`sklearn.neural_network.MLPClassifier`: after each epoch the training
loss (or, with ``early_stopping``, the score on a held-out ``validation_fraction`` of the
training set) is compared with the best so far; ``n_iter_no_change`` epochs in a row without
an improvement of at least ``tol`` end the training. With ``early_stopping`` the network ends
with the weights of its best validation epoch.
"""

from __future__ import annotations

import copy
import math
import time
import warnings

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from ..boltzmann.dbn import DBN
from ..boltzmann.recipes import auto_pretrain_epochs  # pretrain_epochs="auto", the rule `weightinit dbn` shares
from ..boltzmann.trainer import RBMConfig
from ..errors import UserError
from ..init import xavier_uniform_
from ..runs.devices import DEVICES, PRECISIONS, resolve_device
from ..training.loop import DIVERGENCE_LOSS
from ._backprop import SOLVERS, Backprop
from ._inputs import as_tensor, check_finite, summarize
from ._params import Auto, Boolean, Choice, Integer, RandomState, Real, Sizes, validate_params
from ._pretrain import pretrain_layers
from ._threads import threads_for

__all__ = ["DBNBase", "DBN_PARAMETERS", "AUTO_BATCH", "auto_pretrain_epochs"]

AUTO_BATCH = 200  # batch_size="auto": min(200, n_samples), scikit-learn's MLP's

DBN_PARAMETERS = {
    "hidden_layer_sizes": Sizes(),
    "pretrain_epochs": Auto(Integer(0)),
    "pretrain_learning_rate": Real(0, strict=True),
    "k": Integer(1),
    "max_iter": Integer(1),
    "solver": Choice(SOLVERS),
    "learning_rate_init": Real(0, strict=True),
    "momentum": Real(0, maximum=1),
    "alpha": Real(0),
    "dropout": Real(0, maximum=1),
    "batch_size": Auto(Integer(1)),
    "early_stopping": Boolean(),
    "validation_fraction": Real(0, strict=True, maximum=1),
    "n_iter_no_change": Integer(1),
    "tol": Real(0),
    "warm_start": Boolean(),
    "verbose": Integer(0),
    "random_state": RandomState(),
    "device": Choice(DEVICES),
    "precision": Choice(PRECISIONS),
}


class DBNBase(BaseEstimator):
    """Base of the DBN estimators (not for direct use). A subclass supplies the targets
    (:meth:`_targets`), the loss (:meth:`_loss`), the validation score (:meth:`_score_tensors`)
    and the output's meaning (``predict``/``predict_proba``)."""

    PARAMETERS = DBN_PARAMETERS
    Y_NUMERIC = True  # y must be numbers (a regressor); a classifier takes any labels
    PRETRAIN_BATCH = 100  # the RBMs' minibatch (Hinton's guide sec. 4: 10-100)

    # the classifier and the regressor take the same parameters with the same defaults (as
    # MLPClassifier and MLPRegressor do); scikit-learn reads them from this signature
    def __init__(
        self,
        hidden_layer_sizes=(256, 256),
        *,
        pretrain_epochs="auto",
        pretrain_learning_rate=0.1,
        k=1,
        max_iter=200,
        solver="adam",
        learning_rate_init=3e-3,
        momentum=0.9,
        alpha=1e-4,
        dropout=0.0,
        batch_size="auto",
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-4,
        warm_start=False,
        verbose=0,
        random_state=None,
        device="cpu",
        precision="float32",
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.pretrain_epochs = pretrain_epochs
        self.pretrain_learning_rate = pretrain_learning_rate
        self.k = k
        self.max_iter = max_iter
        self.solver = solver
        self.learning_rate_init = learning_rate_init
        self.momentum = momentum
        self.alpha = alpha
        self.dropout = dropout
        self.batch_size = batch_size
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.warm_start = warm_start
        self.verbose = verbose
        self.random_state = random_state
        self.device = device
        self.precision = precision

    # ------------------------------------------------------------ subclass hooks
    def _targets(self, y, *, fit: bool, classes=None) -> torch.Tensor:
        raise NotImplementedError

    def _n_outputs(self) -> int:
        raise NotImplementedError

    def _loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _score_tensors(self, x: torch.Tensor, target: torch.Tensor) -> float:
        raise NotImplementedError

    def _stratify(self, target: torch.Tensor) -> torch.Tensor | None:
        return None

    # ------------------------------------------------------------ inputs
    def _inputs(self, X, *, fit: bool, dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor | None]:
        """X as the first RBM's visible units on the device: probabilities when the training
        set lies in [0, 1] (Bernoulli units), else standardized by the training set's mean and
        std (Gaussian units); one conversion and one pass. Returns the units and, when
        ``fit``, their column means."""
        x = as_tensor(X, resolve_device(self.device), dtype)
        summary = summarize(x, squares=fit)
        check_finite(X, summary)
        if fit:
            self.visible_ = "bernoulli" if summary.minimum >= 0 and summary.maximum <= 1 else "gaussian"
            self.mean_, self.scale_ = summary.mean.cpu().numpy(), summary.scale
        if self.visible_ == "bernoulli":
            return x.clamp(0, 1) if summary.minimum < 0 or summary.maximum > 1 else x, (
                summary.mean.to(dtype) if fit else None)
        mean, scale = (torch.as_tensor(a, dtype=dtype, device=x.device) for a in (self.mean_, self.scale_))
        v = (x - mean) / scale
        return v, ((summary.mean.to(dtype) - mean) / scale if fit else None)

    def _batch_size(self, n: int) -> int:
        return min(AUTO_BATCH, n) if self.batch_size == "auto" else max(1, min(int(self.batch_size), n))

    # ------------------------------------------------------------ building
    def _build(self, x: torch.Tensor, mean: torch.Tensor, generator: torch.Generator) -> None:
        """Pre-train the stack on x and turn it into the network ``model_`` (fresh output layer)."""
        sizes = [x.shape[1], *(int(s) for s in np.atleast_1d(self.hidden_layer_sizes))]
        self.dbn_ = DBN(sizes, visible=self.visible_).to(x.device)
        batch = min(self.PRETRAIN_BATCH, len(x))
        epochs = (auto_pretrain_epochs(len(x), batch) if self.pretrain_epochs == "auto"
                  else int(self.pretrain_epochs))
        self.pretrain_epochs_ = epochs
        # the RBMs draw on their device (a CUDA tensor takes a CUDA generator), seeded from the one generator
        on_device = generator if x.device.type == "cpu" else torch.Generator(device=x.device).manual_seed(
            int(torch.randint(0, 2**62, (1,), generator=generator)))
        if epochs:
            configs = [RBMConfig(epochs=epochs, batch_size=batch, k=int(self.k), device=self.device,
                                 precision=self.precision,
                                 # Gaussian visible units need a 10x smaller rate (Hinton's guide sec. 13.2)
                                 lr=float(self.pretrain_learning_rate) / (10 if i == 0 and self.visible_ == "gaussian"
                                                                          else 1))
                       for i in range(len(self.dbn_.rbms))]
            pretrain_layers(self.dbn_, x, mean, configs, on_device, verbose=int(self.verbose))
        else:  # no pre-training: a plain sigmoid MLP, Glorot-uniform weights (gain 1) and zero biases
            for rbm in self.dbn_.rbms:
                rbm.reset_parameters(generator=on_device)
                xavier_uniform_(rbm.W, generator=on_device)
        with torch.random.fork_rng(devices=[]):  # nn.Linear's own init draws from the global CPU RNG: left as it was
            self.model_ = self.dbn_.to_mlp(self._n_outputs(), "sigmoid", generator, dropout=float(self.dropout))

    def _backprop(self, generator: torch.Generator) -> Backprop:
        return Backprop(self.model_, self._loss, solver=self.solver, learning_rate=float(self.learning_rate_init),
                        momentum=float(self.momentum), alpha=float(self.alpha), batch_size=self._finetune_batch,
                        generator=generator)

    def _split(self, x: torch.Tensor, target: torch.Tensor, generator: torch.Generator):
        """(train x, train target, validation x, validation target): ``validation_fraction``
        of the rows held out (per class, for a classifier), drawn from ``generator``."""
        n = len(x)
        order = torch.randperm(n, generator=generator)
        labels = self._stratify(target)
        if labels is None:
            n_valid = math.ceil(self.validation_fraction * n)
            valid = order[:n_valid]
        else:  # each class's rows in random order, its first share held out
            labels = labels.cpu()[order]
            by_class = order[torch.argsort(labels, stable=True)]
            counts = torch.bincount(labels)
            take = torch.round(counts.double() * self.validation_fraction).long()
            starts = torch.cumsum(counts, 0) - counts
            valid = torch.cat([by_class[s : s + t] for s, t in zip(starts.tolist(), take.tolist())])
        if len(valid) < 2 or len(valid) >= n:
            raise UserError(f"validation_fraction={self.validation_fraction!r} of {n} samples leaves a validation "
                            f"set of {len(valid)}: it needs at least 2 samples and some left to train on; increase "
                            "validation_fraction or the data, or set early_stopping=False")
        keep = torch.ones(n, dtype=torch.bool)
        keep[valid] = False
        train = keep.nonzero().squeeze(1).to(x.device)
        valid = valid.to(x.device)
        return x[train], target[train], x[valid], target[valid]

    # ------------------------------------------------------------ fitting
    def _fit(self, X, y, *, incremental: bool, classes=None):
        fitted = hasattr(self, "model_")
        fresh = not fitted or not (self.warm_start or incremental)
        if fresh:
            validate_params(self, self.PARAMETERS)
        if incremental and self.early_stopping:
            raise UserError("partial_fit does not support early_stopping=True: it trains one epoch on the data "
                            "given; use fit, or set early_stopping=False")
        X, y = validate_data(self, X, y, reset=fresh, dtype=(np.float64, np.float32), ensure_all_finite=False,
                             multi_output=True, y_numeric=self.Y_NUMERIC)
        sizes = [X.shape[1], *(int(s) for s in np.atleast_1d(self.hidden_layer_sizes))]
        with threads_for(self._batch_size(len(X)), sizes, self.device):
            return self._train(X, y, fresh=fresh, incremental=incremental, classes=classes)

    def _train(self, X, y, *, fresh: bool, incremental: bool, classes):
        """_fit's work on validated data: targets, inputs, (pre-training,) fine-tuning epochs."""
        target = self._targets(y, fit=fresh, classes=classes)
        x, mean = self._inputs(X, fit=fresh)
        target = target.to(x.device)
        if fresh:
            self._start(x, mean)
        elif not incremental:
            self.n_iter_ = 0
        valid = None
        if self.early_stopping:
            x, target, *valid = self._split(x, target, self._generator)
            self.validation_scores_ = self.validation_scores_ if self.validation_scores_ is not None else []
            self.best_validation_score_ = -math.inf
        if fresh:  # the fine-tuning batch: min(200, training rows) for batch_size="auto"
            self._finetune_batch = self._batch_size(len(x))
            self._trainer = self._backprop(self._generator)
        best_state = self._epochs(x, target, valid, 1 if incremental else int(self.max_iter), warn=not incremental)
        if best_state is not None:
            self.model_.load_state_dict(best_state)
        self.model_.eval()
        return self

    def _start(self, x: torch.Tensor, mean: torch.Tensor) -> None:
        """A fresh fit: one generator seeded from ``random_state``, the pre-trained network, empty curves."""
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        self._generator = torch.Generator().manual_seed(seed)
        self._build(x, mean, self._generator)
        self.loss_curve_, self.t_, self.n_iter_ = [], 0, 0
        self.best_loss_ = None if self.early_stopping else math.inf
        self.validation_scores_ = [] if self.early_stopping else None
        self.best_validation_score_ = -math.inf if self.early_stopping else None

    def _epochs(self, x: torch.Tensor, target: torch.Tensor, valid: list[torch.Tensor] | None, epochs: int, *,
                warn: bool) -> dict | None:
        """Up to ``epochs`` fine-tuning epochs with MLPClassifier's stopping rule (see the module
        docstring), and its ConvergenceWarning (``warn``) when they all ran; returns the best
        validation epoch's weights (with ``early_stopping``)."""
        no_improvement, best_state = 0, None
        for _ in range(epochs):
            start = time.perf_counter()
            loss = self._trainer.epoch(x, target)
            if not math.isfinite(loss) or loss > DIVERGENCE_LOSS:
                raise UserError(f"fine-tuning diverged in epoch {self.n_iter_ + 1} (loss {loss:.3g}); "
                                f"learning_rate_init={self.learning_rate_init!r} is the likely cause: try a smaller "
                                "one")
            self.n_iter_ += 1
            self.t_ += len(x)
            self.loss_curve_.append(loss)
            self.loss_ = loss
            line = f"Iteration {self.n_iter_}, loss = {loss:.8f}"
            if valid is not None:
                score = self._score_tensors(*valid)
                self.validation_scores_.append(score)
                line += f", validation score = {score:.6f}"
                improved = score >= self.best_validation_score_ + self.tol
                if score > self.best_validation_score_:
                    self.best_validation_score_ = score
                    best_state = {k: v.detach().clone() for k, v in self.model_.state_dict().items()}
            else:
                improved = loss <= self.best_loss_ - self.tol
                self.best_loss_ = min(self.best_loss_, loss)
            no_improvement = 0 if improved else no_improvement + 1
            if self.verbose:
                print(f"{line}, time = {time.perf_counter() - start:.2f}s")
            if no_improvement > self.n_iter_no_change:
                if self.verbose:
                    what = "Validation score" if valid is not None else "Training loss"
                    print(f"{what} did not improve more than tol={self.tol:f} for {self.n_iter_no_change} "
                          "consecutive epochs. Stopping.")
                return best_state
        if warn:
            warnings.warn(f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached and the "
                          "optimization hasn't converged yet.", ConvergenceWarning, stacklevel=5)
        return best_state

    # ------------------------------------------------------------ output
    def _forward(self, X) -> torch.Tensor:
        """The network's output for X (logits, or standardized predictions), float64 on the CPU.

        Computed by a float64 copy of the network: in float32 a sample's output depended on the
        other samples of X (a matrix product sums in another order for other numbers of rows and
        on other CPUs), so a permuted X predicted other probabilities in the 7th digit
        (scikit-learn's ``check_methods_sample_order_invariance``); in float64 the differences
        are of order 1e-16. Training stays in float32."""
        check_is_fitted(self, "model_")
        X = validate_data(self, X, reset=False, dtype=(np.float64, np.float32), ensure_all_finite=False)
        x, _ = self._inputs(X, fit=False, dtype=torch.float64)
        model = copy.deepcopy(self.model_).double().eval()
        with torch.no_grad():
            return torch.cat([model(part) for part in x.split(8192)]).cpu()

    def __getstate__(self) -> dict:
        # torch.Generator does not pickle: keep its state (inside the trainer's state) instead
        state = dict(self.__dict__)
        trainer = state.pop("_trainer", None)
        state.pop("_generator", None)
        if trainer is not None:
            state["_trainer_state"] = trainer.state_dict()
        return state

    def __setstate__(self, state: dict) -> None:
        trainer_state = state.pop("_trainer_state", None)
        self.__dict__.update(state)
        if trainer_state is not None:
            self._generator = torch.Generator()
            self._trainer = self._backprop(self._generator)
            self._trainer.load_state_dict(trainer_state)

