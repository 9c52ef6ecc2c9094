"""``BernoulliRBM``: a drop-in for :class:`sklearn.neural_network.BernoulliRBM`, trained by
weightinit's PyTorch CD/PCD trainer (float32, or bfloat16 matmuls with ``precision="bf16"``)."""

from __future__ import annotations

import warnings

import torch

from ._inputs import Summary
from ._rbm_base import RBMEstimator

__all__ = ["BernoulliRBM"]


class BernoulliRBM(RBMEstimator):
    """Bernoulli Restricted Boltzmann Machine trained by PCD-k or CD-k, on the CPU or a GPU.

    Like scikit-learn's, it treats X as probabilities in [0, 1]; values outside are clipped
    to it with a warning (scikit-learn uses them unchecked). Unlike it, training runs in
    float32 (or with bfloat16 matmul inputs) through PyTorch, visible biases start at
    :math:`\\log(p / (1 - p))` of the data's mean p (Hinton's guide, sec. 8), and
    ``score_samples`` is the *exact* pseudo-likelihood (every unit, not one random unit per
    sample): the same expectation, without the noise, and the same for any order of the rows.

    The energy is :math:`E(v, h) = -b^\\top v - c^\\top h - h^\\top W v`; one update on a batch
    of B samples (PCD-1, Tieleman 2008) moves W by
    :math:`\\eta\\,(p(h|v_0)^\\top v_0 - p(h|v_1)^\\top v_1) / B`, with :math:`v_1` drawn from
    the persistent chains.

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
        Print the (one-random-unit) pseudo-likelihood and the time after each pass, as
        scikit-learn does.
    random_state : int, RandomState instance or None, default=None
        Seeds one ``torch.Generator`` that draws the weights, the data order and the Gibbs
        sampling.
    k : int, default=1
        Gibbs steps in the negative phase.
    persistent : bool, default=True
        Persistent chains (PCD, as scikit-learn) or chains restarted at the data (CD).
    momentum : float, default=0.0
        Momentum of the updates, in [0, 1) (scikit-learn has none; Hinton's guide uses 0.5
        then 0.9).
    weight_decay : float, default=0.0
        L2 penalty on the weights.
    device : {"cpu", "cuda", "auto"}, default="cpu"
        Where the model trains; "auto" is CUDA when torch sees a GPU.
    precision : {"float32", "bf16"}, default="float32"
        "bf16" rounds the inputs of the matrix products to bfloat16 (float32 accumulation,
        float32 parameters): about 1.5-3x faster on CPUs with AVX512-BF16/AMX and on recent
        GPUs; elsewhere it falls back to float32 with a warning.
    compile : bool, default=False
        Fuse each update's element-wise operations with ``torch.compile``: faster passes
        after a one-off compile of some seconds (needs a C++ compiler on the CPU).
    sample_visible : bool, default=True
        Sample the visible units of the negative phase, as scikit-learn does; False uses
        their probabilities p(v | h) instead (Hinton's guide, sec. 3.2): less sampling noise,
        a better pseudo-likelihood and 40% fewer random numbers, so faster.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        Weights W.
    intercept_hidden_ : ndarray of shape (n_components,)
        Hidden biases c.
    intercept_visible_ : ndarray of shape (n_features,)
        Visible biases b.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Defined only when X has feature names that are all strings.

    See Also
    --------
    GaussianBernoulliRBM : real-valued (standardized) visible units.
    sklearn.neural_network.BernoulliRBM : the estimator this one replaces.

    References
    ----------
    Hinton, G. E. (2002). Training products of experts by minimizing contrastive divergence.
    Neural Computation 14(8).
    Tieleman, T. (2008). Training restricted Boltzmann machines using approximations to the
    likelihood gradient. ICML.
    Hinton, G. E. (2010). A practical guide to training restricted Boltzmann machines.
    UTML TR 2010-003.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0, 0, 0], [0, 1, 1], [1, 0, 1], [1, 1, 1]], dtype=float)
    >>> BernoulliRBM(n_components=2, random_state=0).fit(X).transform(X).shape
    (4, 2)
    """

    VISIBLE = "bernoulli"

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
        compile=False,
        sample_visible=True,
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

    def _visible_units(self, x: torch.Tensor, summary: Summary, *, fit: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """x itself (probabilities), clipped to [0, 1] with a warning where it leaves it."""
        mean = summary.mean.to(x.dtype)
        if summary.minimum < 0 or summary.maximum > 1:
            warnings.warn(f"X holds values outside [0, 1] (min {summary.minimum:g}, max {summary.maximum:g}); "
                          "a Bernoulli RBM reads them as probabilities, so they were clipped to [0, 1]",
                          UserWarning, stacklevel=4)
            x = x.clamp(0, 1)  # a new tensor: X itself is never written
            mean = x.mean(0)
        return x, mean

    def score_samples(self, X):
        """Exact log pseudo-likelihood of each sample,
        :math:`\\sum_i \\log p(v_i | v_{-i}) = \\sum_i \\log\\sigma(F(\\tilde v^{(i)}) - F(v))`
        with :math:`\\tilde v^{(i)}` = v with unit i flipped (Besag 1975).

        scikit-learn's estimate takes one random unit i per sample and scales by the number
        of features: the same expectation, with noise. This sums every unit: n_features
        times the work of a ``transform``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        pseudo_likelihood : ndarray of shape (n_samples,)
        """
        rbm = self._scoring_rbm()
        _, x, _ = self._read(X, reset=False, dtype=torch.float64)
        return rbm.pseudo_likelihood(x, exact=True).cpu().double().numpy()

    def _report(self, iteration: int, x: torch.Tensor, seconds: float) -> None:
        # scikit-learn's line; the pseudo-likelihood is its one-random-unit estimate (cheap),
        # from a generator of its own so that verbose output never changes the training
        generator = torch.Generator(device=x.device).manual_seed(self._monitor_seed + iteration)
        pl = float(self._rbm.pseudo_likelihood(x, generator=generator).mean())
        print(f"[{type(self).__name__}] Iteration {iteration}, pseudo-likelihood = {pl:.2f}, time = {seconds:.2f}s")
