"""``DBNRegressor``: a Deep Belief Network regressor with scikit-learn's MLPRegressor API."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.base import RegressorMixin

from ._dbn_base import DBNBase

__all__ = ["DBNRegressor"]


class DBNRegressor(RegressorMixin, DBNBase):
    """A Deep Belief Network regressor: greedy RBM pre-training of the hidden layers, then
    the sigmoid network they make, topped by a linear output layer and fine-tuned by
    back-propagation on the squared error (Hinton & Salakhutdinov 2006).

    The targets are standardized for training (the training set's mean and std, kept in
    ``y_mean_`` and ``y_scale_``) and predictions mapped back: one learning rate then suits
    targets of any scale. The loss is half the mean squared error of the standardized
    targets plus scikit-learn's L2 penalty,
    :math:`\\frac{1}{2B}\\sum_i \\|\\hat z_i - z_i\\|^2 + \\frac{\\alpha}{2B}\\sum w^2`
    with :math:`z = (y - \\bar y) / s_y`; ``loss_curve_`` is in these units. With
    ``early_stopping`` the validation score is :math:`R^2`.

    Parameters, defaults and their reasons are :class:`DBNClassifier`'s.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default=(256, 256)
    pretrain_epochs : int or "auto", default="auto"
    pretrain_learning_rate : float, default=0.1
    k : int, default=1
    max_iter : int, default=200
    solver : {"adam", "sgd"}, default="adam"
    learning_rate_init : float, default=3e-3
    momentum : float, default=0.9
    alpha : float, default=1e-4
    dropout : float, default=0.0
    batch_size : int or "auto", default="auto"
    early_stopping : bool, default=False
    validation_fraction : float, default=0.1
    n_iter_no_change : int, default=10
    tol : float, default=1e-4
    warm_start : bool, default=False
    verbose : int, default=0
    random_state : int, RandomState instance or None, default=None
    device : {"cpu", "cuda", "auto"}, default="cpu"
    precision : {"float32", "bf16"}, default="float32"

    Attributes
    ----------
    n_outputs_ : int
    y_mean_, y_scale_ : ndarray of shape (n_outputs_,)
    model_, dbn_, pretrain_epochs_, visible_, mean_, scale_, loss_, loss_curve_, best_loss_,
    validation_scores_, best_validation_score_, n_iter_, t_, n_features_in_
        As :class:`DBNClassifier`'s (validation scores are :math:`R^2`).

    See Also
    --------
    DBNClassifier, sklearn.neural_network.MLPRegressor

    References
    ----------
    Hinton, G. E. & Salakhutdinov, R. R. (2006). Reducing the dimensionality of data with
    neural networks. Science 313.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).uniform(size=(200, 3))
    >>> y = X.sum(1)
    >>> DBNRegressor(hidden_layer_sizes=(32,), random_state=0).fit(X, y).predict(X[:2]).shape  # doctest: +SKIP
    (2,)
    """

    # ------------------------------------------------------------ hooks
    def _targets(self, y, *, fit: bool, classes=None) -> torch.Tensor:
        """y standardized, as a float32 (n_samples, n_outputs) tensor."""
        y = np.asarray(y, dtype=np.float64)
        self._y_1d = y.ndim == 1 if fit else self._y_1d
        y = y.reshape(len(y), -1)
        if fit:
            self.n_outputs_ = y.shape[1]
            std = y.std(0)
            self.y_mean_, self.y_scale_ = y.mean(0), np.where(std > 0, std, 1.0)
        return torch.as_tensor((y - self.y_mean_) / self.y_scale_, dtype=torch.float32)

    def _n_outputs(self) -> int:
        return self.n_outputs_

    def _loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return 0.5 * ((output - target) ** 2).mean()

    @torch.no_grad()
    def _score_tensors(self, x: torch.Tensor, target: torch.Tensor) -> float:
        """R² on (x, target), averaged over outputs (uniform), as ``score``."""
        self.model_.eval()
        output = torch.cat([self.model_(part) for part in x.split(8192)]).double()
        self.model_.train()
        target = target.double()
        residual = ((target - output) ** 2).sum(0)
        total = ((target - target.mean(0)) ** 2).sum(0)
        r2 = torch.where(total > 0, 1 - residual / total.clamp_min(1e-300), torch.zeros_like(total))
        return float(r2.mean())

    # ------------------------------------------------------------ API
    def fit(self, X, y):
        """Pre-train on X, then fine-tune on (X, y).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)

        Returns
        -------
        self : DBNRegressor
        """
        return self._fit(X, y, incremental=False)

    def partial_fit(self, X, y):
        """One fine-tuning epoch on (X, y); the first call pre-trains the RBMs on this X and
        standardizes y by its mean and std.

        Returns
        -------
        self : DBNRegressor
        """
        return self._fit(X, y, incremental=True)

    def predict(self, X):
        """Predictions, of shape (n_samples,) or (n_samples, n_outputs) as y was."""
        z = self._forward(X).numpy() * self.y_scale_ + self.y_mean_
        return z.ravel() if self._y_1d else z

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
