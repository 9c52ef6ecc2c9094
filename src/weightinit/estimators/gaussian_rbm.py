"""``GaussianBernoulliRBM``: an RBM for real-valued features (scikit-learn has none), with
unit-variance Gaussian visible units on standardized X."""

from __future__ import annotations

import numpy as np
import torch

from ._inputs import Summary
from ._params import Boolean
from ._rbm_base import RBM_PARAMETERS, RBMEstimator

__all__ = ["GaussianBernoulliRBM"]


class GaussianBernoulliRBM(RBMEstimator):
    """Gaussian-Bernoulli Restricted Boltzmann Machine, for real-valued features.

    The visible units are Gaussian of unit variance, the hidden ones Bernoulli:

    .. math::
        E(v, h) = \\tfrac12\\|v - b\\|^2 - c^\\top h - h^\\top W v,\\qquad
        p(h_j = 1 | v) = \\sigma(W_j v + c_j),\\qquad v | h \\sim N(W^\\top h + b, I).

    Unit variance fits standardized data, so X is standardized first (``standardize=True``):
    each feature by the training set's mean and standard deviation (``mean_``, ``scale_``),
    the same for every later ``transform``. The negative phase uses the Gaussian's mean for
    the reconstruction instead of a sample (``sample_visible=False``; Hinton's guide, sec.
    3.2, uses probabilities for reconstructions: less sampling noise). Gaussian units need a
    learning rate one to two orders of magnitude below a binary RBM's (the guide, sec. 13.2),
    hence ``learning_rate=0.01``; on digits, 0.03 diverged and 0.001 learned worse features
    (logistic regression on them: 0.90 against 0.95).

    Parameters
    ----------
    n_components : int, default=256
        Number of hidden units.
    learning_rate : float, default=0.01
        Learning rate of the mean-over-batch gradient.
    batch_size : int, default=10
        Samples per minibatch.
    n_iter : int, default=10
        Passes over the training set.
    verbose : int, default=0
        Print the mean free energy and the time after each pass.
    random_state : int, RandomState instance or None, default=None
        Seeds one ``torch.Generator`` for the weights, the data order and the sampling.
    k : int, default=1
        Gibbs steps in the negative phase.
    persistent : bool, default=False
        Persistent chains (PCD) or chains restarted at the data (CD, the default here:
        PCD's chains mix slowly with Gaussian units).
    momentum : float, default=0.0
        Momentum of the updates, in [0, 1).
    weight_decay : float, default=0.0
        L2 penalty on the weights.
    device : {"cpu", "cuda", "auto"}, default="cpu"
    precision : {"float32", "bf16"}, default="float32"
    compile : bool, default=False
        Fuse each update's element-wise operations with ``torch.compile``.
    sample_visible : bool, default=False
        Sample the Gaussian visible units of the negative phase; by default their mean is
        used (see above).
    standardize : bool, default=True
        Standardize X with the training set's mean and std; set False for data already
        standardized (or for units of your own choosing).

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
    intercept_hidden_ : ndarray of shape (n_components,)
    intercept_visible_ : ndarray of shape (n_features,)
        In standardized units.
    mean_ : ndarray of shape (n_features,)
        The training set's feature means (zeros without ``standardize``).
    scale_ : ndarray of shape (n_features,)
        The training set's feature standard deviations, 1 where a feature is constant (ones
        without ``standardize``).
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Defined only when X has feature names that are all strings.

    References
    ----------
    Hinton, G. E. & Salakhutdinov, R. R. (2006). Reducing the dimensionality of data with
    neural networks. Science 313.
    Hinton, G. E. (2010). A practical guide to training restricted Boltzmann machines,
    sec. 13.2. UTML TR 2010-003.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(50, 4))
    >>> GaussianBernoulliRBM(n_components=3, random_state=0).fit(X).transform(X).shape
    (50, 3)
    """

    VISIBLE = "gaussian"
    PARAMETERS = {**RBM_PARAMETERS, "standardize": Boolean()}

    def __init__(
        self,
        n_components=256,
        *,
        learning_rate=0.01,
        batch_size=10,
        n_iter=10,
        verbose=0,
        random_state=None,
        k=1,
        persistent=False,
        momentum=0.0,
        weight_decay=0.0,
        device="cpu",
        precision="float32",
        compile=False,
        sample_visible=False,
        standardize=True,
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
        self.compile = compile
        self.sample_visible = sample_visible
        self.standardize = standardize

    def _visible_units(self, x: torch.Tensor, summary: Summary, *, fit: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """(x - mean_) / scale_, the training set's standardization (learned when ``fit``)."""
        if fit:
            if self.standardize:
                self.mean_, self.scale_ = summary.mean.cpu().numpy(), summary.scale
            else:
                self.mean_, self.scale_ = np.zeros(x.shape[1]), np.ones(x.shape[1])
        if not self.standardize:
            return x, summary.mean.to(x.dtype)
        mean, scale = (torch.as_tensor(a, dtype=x.dtype, device=x.device) for a in (self.mean_, self.scale_))
        v = (x - mean) / scale
        return v, (summary.mean.to(x.dtype) - mean) / scale

    def _from_visible_units(self, v: torch.Tensor) -> torch.Tensor:
        if not self.standardize:
            return v
        mean, scale = (torch.as_tensor(a, dtype=torch.float32, device=v.device) for a in (self.mean_, self.scale_))
        return v * scale + mean

    def score_samples(self, X):
        """The negative free energy of each sample,
        :math:`-F(v) = -\\tfrac12\\|v - b\\|^2 + \\sum_j \\mathrm{softplus}(W_j v + c_j)`, on
        standardized v: :math:`\\log p(v)` up to a constant (:math:`\\log Z` and the
        standardization's Jacobian), so it ranks samples and compares models on the same data
        scale, not across scales.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        score : ndarray of shape (n_samples,)
        """
        rbm = self._scoring_rbm()
        _, x, _ = self._read(X, reset=False, dtype=torch.float64)
        return (-rbm.free_energy(x)).cpu().double().numpy()

    def _report(self, iteration: int, x: torch.Tensor, seconds: float) -> None:
        energy = float(self._rbm.free_energy(x[:10_000]).mean())
        print(f"[{type(self).__name__}] Iteration {iteration}, mean free energy = {energy:.2f}, "
              f"time = {seconds:.2f}s")
