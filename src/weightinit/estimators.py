"""scikit-learn estimators over weightinit's PyTorch models.

``BernoulliRBM`` is a drop-in for :class:`sklearn.neural_network.BernoulliRBM`: the same
constructor, methods and fitted attributes, plus ``k``, ``persistent``, ``momentum``,
``weight_decay``, ``device`` and ``precision``. ``DBNClassifier`` pre-trains a Deep Belief
Network and fine-tunes it. The maths lives in :mod:`weightinit.boltzmann`.

The two estimators share one module (and scikit-learn's conventions) while they are two; a
third one would split it into a package, one estimator per module.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from .boltzmann.rbm import RBM
from .boltzmann.trainer import RBMConfig, RBMTrainer
from .checks import check_int
from .runs.devices import resolve_device

__all__ = ["BernoulliRBM", "DBNClassifier"]


class BernoulliRBM(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Bernoulli Restricted Boltzmann Machine trained by PCD-k or CD-k, on the CPU or a GPU.

    Like scikit-learn's, it treats X as probabilities in [0, 1]; values outside are clipped
    to it with a warning (scikit-learn uses them unchecked). Unlike it, training runs in float32 (or bfloat16 matmuls)
    through PyTorch, visible biases start at log(p/(1-p)) of the data (Hinton's guide), and ``score_samples``
    is the *exact* pseudo-likelihood (every unit, not one random unit per sample): the same
    expectation, without the noise, and the same for any order of the rows.

    Parameters
    ----------
    n_components : int, default=256
        Number of hidden units.
    learning_rate : float, default=0.1
        Learning rate of the mean-over-batch gradient.
    batch_size : int, default=10
        Samples per minibatch.
    n_iter : int, default=10
        Passes over the training set.
    verbose : int, default=0
        Print the pseudo-likelihood after each pass.
    random_state : int, RandomState instance or None, default=None
        Seeds the weights, the data order and the Gibbs sampling.
    k : int, default=1
        Gibbs steps in the negative phase.
    persistent : bool, default=True
        Persistent chains (PCD, as scikit-learn) or chains restarted at the data (CD).
    momentum : float, default=0.0
        Momentum of the updates (scikit-learn has none; Hinton's guide uses 0.5 then 0.9).
    weight_decay : float, default=0.0
        L2 penalty on the weights.
    device : {"cpu", "cuda", "auto"}, default="cpu"
    precision : {"float32", "bf16"}, default="float32"

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
    intercept_hidden_ : ndarray of shape (n_components,)
    intercept_visible_ : ndarray of shape (n_features,)
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Defined only when X has feature names that are all strings.

    References
    ----------
    Hinton, G. E. (2002). Training products of experts by minimizing contrastive divergence.
    Tieleman, T. (2008). Training restricted Boltzmann machines using approximations to the
    likelihood gradient.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0, 0, 0], [0, 1, 1], [1, 0, 1], [1, 1, 1]], dtype=float)
    >>> BernoulliRBM(n_components=2, random_state=0).fit(X).transform(X).shape
    (4, 2)
    """

    def __init__(
        self,
        n_components=256,
        *,
        learning_rate=0.1,
        batch_size=10,
        n_iter=10,
        verbose=0,
        random_state=None,
        k=1,
        persistent=True,
        momentum=0.0,
        weight_decay=0.0,
        device="cpu",
        precision="float32",
    ):
        self.n_components = n_components
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.n_iter = n_iter
        self.verbose = verbose
        self.random_state = random_state
        self.k = k
        self.persistent = persistent
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.device = device
        self.precision = precision

    # ------------------------------------------------------------ helpers
    def _validate(self, X, reset: bool) -> np.ndarray:
        X = validate_data(self, X, accept_sparse="csr", dtype=(np.float64, np.float32), reset=reset)
        return X.toarray() if sp.issparse(X) else X

    def _tensor(self, X: np.ndarray) -> torch.Tensor:
        """X as float32 probabilities on the model's device; values outside [0, 1] are clipped
        to it, with a warning (scikit-learn's RBM uses them unchecked)."""
        t = torch.tensor(X, dtype=torch.float32, device=self._rbm.W.device)
        if t.numel() and (t.min() < 0 or t.max() > 1):
            warnings.warn(f"X holds values outside [0, 1] (min {float(t.min()):g}, max {float(t.max()):g}); "
                          "a Bernoulli RBM reads them as probabilities, so they were clipped to [0, 1]",
                          UserWarning, stacklevel=3)
            t.clamp_(0, 1)
        return t

    def _config(self) -> RBMConfig:
        """The trainer's configuration; it validates every hyperparameter, naming the bad one."""
        check_int("n_components", self.n_components, 1)
        check_int("n_iter", self.n_iter, 0)
        return RBMConfig(
            epochs=max(int(self.n_iter), 1), batch_size=self.batch_size, lr=float(self.learning_rate), k=self.k,
            persistent=self.persistent, momentum=float(self.momentum), final_momentum=float(self.momentum),
            momentum_epochs=0, weight_decay=float(self.weight_decay), seed=0,
            device=self.device, precision=self.precision,
        )

    def _start(self, X: np.ndarray) -> None:
        """Build and initialize the RBM and its trainer, seeded from random_state."""
        config = self._config()
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        device = resolve_device(self.device)
        self._rbm = RBM(X.shape[1], int(self.n_components)).to(device)
        generator = torch.Generator(device=device).manual_seed(seed)
        self._rbm.reset_parameters(self._tensor(X), generator)
        self._trainer = RBMTrainer(self._rbm, config, generator)
        self._sync()

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
            self._rbm = RBM(self.components_.shape[1], self.components_.shape[0]).to(device)
            self._load()
            self._trainer = RBMTrainer(self._rbm, self._config(), torch.Generator(device=device))
            self._trainer.load_state_dict(trainer_state)

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

    # ------------------------------------------------------------ API
    def fit(self, X, y=None):
        """Fit the model to X, of shape (n_samples, n_features); y is ignored."""
        X = self._validate(X, reset=True)
        self._start(X)
        data = self._tensor(X)
        for iteration in range(self.n_iter):
            start = time.perf_counter()
            self._trainer.epoch(data)
            if self.verbose:
                self._sync()
                print(f"[{type(self).__name__}] Iteration {iteration + 1}, pseudo-likelihood = "
                      f"{self.score_samples(X).mean():.2f}, time = {time.perf_counter() - start:.2f}s")
        self._sync()
        return self

    def partial_fit(self, X, y=None):
        """One pass over the minibatches of X, continuing any previous fit."""
        first = not hasattr(self, "components_")
        X = self._validate(X, reset=first)
        if first:
            self._start(X)
        else:
            self._load()
        self._trainer.epoch(self._tensor(X))
        self._sync()
        return self

    def transform(self, X):
        """Hidden unit probabilities p(h = 1 | v), of shape (n_samples, n_components)."""
        rbm = self._fitted_rbm()
        X = self._validate(X, reset=False)
        return rbm.prob_h(self._tensor(X)).cpu().numpy().astype(X.dtype, copy=False)

    def score_samples(self, X):
        """Exact log pseudo-likelihood of each sample, of shape (n_samples,)."""
        rbm = self._fitted_rbm()
        X = self._validate(X, reset=False)
        return rbm.pseudo_likelihood(self._tensor(X), exact=True).cpu().double().numpy()

    def gibbs(self, v):
        """One Gibbs step from v: the sampled visible units (0./1., in v's dtype)."""
        rbm = self._fitted_rbm()
        v = self._validate(v, reset=False)
        sample = rbm.sample_v(rbm.sample_h(self._tensor(v), self._trainer.generator), self._trainer.generator)
        return sample.cpu().numpy().astype(v.dtype, copy=False)

    @property
    def _n_features_out(self):
        return self.components_.shape[0]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags


class DBNClassifier(ClassifierMixin, BaseEstimator):
    """A Deep Belief Network classifier: greedy RBM pre-training of the hidden layers, then a
    sigmoid network initialized from them and fine-tuned by back-propagation (Hinton,
    Osindero & Teh 2006; Hinton & Salakhutdinov 2006).

    Inputs in [0, 1] feed Bernoulli visible units; any other input is standardized (the
    training set's mean and std, kept in ``mean_``/``scale_``) and feeds Gaussian ones.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default=(500, 500, 2000)
    pretrain_epochs : int, default=10
        RBM epochs per layer (0: no pre-training; the hidden layers keep the RBMs'
        N(0, 0.01²) initial weights).
    pretrain_learning_rate : float, default=0.1
    k : int, default=1
        Gibbs steps of CD-k.
    finetune_epochs : int, default=30
    learning_rate : float, default=0.1
    optimizer : {"sgd", "adam"}, default="sgd"
    momentum : float, default=0.9
        SGD momentum of the fine-tuning.
    batch_size : int, default=100
    random_state : int, RandomState instance or None, default=None
    device : {"cpu", "cuda", "auto"}, default="cpu"

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    n_features_in_ : int
    model_ : torch.nn.Sequential
        The fine-tuned network (logits out).
    dbn_ : weightinit.boltzmann.dbn.DBN
        The pre-trained stack.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = DBNClassifier(hidden_layer_sizes=(64,), finetune_epochs=5).fit(X / 16, y)  # doctest: +SKIP
    """

    def __init__(
        self,
        hidden_layer_sizes=(500, 500, 2000),
        *,
        pretrain_epochs=10,
        pretrain_learning_rate=0.1,
        k=1,
        finetune_epochs=30,
        learning_rate=0.1,
        optimizer="sgd",
        momentum=0.9,
        batch_size=100,
        random_state=None,
        device="cpu",
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.pretrain_epochs = pretrain_epochs
        self.pretrain_learning_rate = pretrain_learning_rate
        self.k = k
        self.finetune_epochs = finetune_epochs
        self.learning_rate = learning_rate
        self.optimizer = optimizer
        self.momentum = momentum
        self.batch_size = batch_size
        self.random_state = random_state
        self.device = device

    def _inputs(self, X: np.ndarray) -> torch.Tensor:
        x = torch.tensor(X, dtype=torch.float32)
        if self.visible_ == "gaussian":
            x = ((x - torch.as_tensor(self.mean_, dtype=torch.float32))
                 / torch.as_tensor(self.scale_, dtype=torch.float32))
        return x.to(resolve_device(self.device))

    def fit(self, X, y):
        """Pre-train on X, then fine-tune on (X, y)."""
        from .boltzmann.dbn import DBN
        from .data.datasets import Split
        from .train import TrainConfig, fit

        X, y = validate_data(self, X, y, accept_sparse=False, dtype=(np.float64, np.float32))
        check_classification_targets(y)
        self.classes_, encoded = np.unique(y, return_inverse=True)
        sizes = [X.shape[1], *[int(s) for s in np.atleast_1d(self.hidden_layer_sizes)]]
        check_int("pretrain_epochs", self.pretrain_epochs, 0)
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        self.visible_ = "bernoulli" if X.min() >= 0 and X.max() <= 1 else "gaussian"
        self.mean_, self.scale_ = X.mean(0), X.std(0)
        self.scale_ = np.where(self.scale_ > 0, self.scale_, 1.0)
        x = self._inputs(X)
        self.dbn_ = DBN(sizes, visible=self.visible_)
        generator = torch.Generator().manual_seed(seed)
        if self.pretrain_epochs:
            config = RBMConfig(epochs=int(self.pretrain_epochs), lr=float(self.pretrain_learning_rate), k=self.k,
                               batch_size=self.batch_size, seed=seed, device=self.device)
            self.dbn_.pretrain(x, config)
        else:
            for rbm in self.dbn_.rbms:
                rbm.reset_parameters(generator=generator)
        self.model_ = self.dbn_.to_mlp(len(self.classes_), "sigmoid", generator)
        labels = torch.as_tensor(encoded, dtype=torch.int64)
        fit(self.model_, Split(x, labels.to(x.device)), TrainConfig(optimizer=self.optimizer,
                                           lr=float(self.learning_rate),
                                           momentum=float(self.momentum) if self.optimizer == "sgd" else 0.0,
                                           epochs=max(int(self.finetune_epochs), 1), batch_size=self.batch_size,
                                           seed=seed, device=self.device))
        return self

    def predict_proba(self, X):
        """Class probabilities, of shape (n_samples, n_classes), columns in ``classes_`` order."""
        check_is_fitted(self, ("model_", "classes_"))
        X = validate_data(self, X, reset=False, dtype=(np.float64, np.float32))
        self.model_.eval()
        with torch.no_grad():
            return torch.softmax(self.model_(self._inputs(X)), dim=1).cpu().double().numpy()

    def predict(self, X):
        """The most probable class of each sample."""
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]
