"""scikit-learn estimators over weightinit's PyTorch models; they fit in a ``Pipeline`` and
``GridSearchCV`` unchanged, and pass scikit-learn's ``check_estimator``.

=========================  ==============================================================
``BernoulliRBM``           drop-in for :class:`sklearn.neural_network.BernoulliRBM`
                           (same constructor, methods and attributes), plus ``k``,
                           ``persistent``, ``momentum``, ``weight_decay``, ``device``,
                           ``precision`` and ``compile``
``GaussianBernoulliRBM``   an RBM for real-valued features (scikit-learn has none)
``DBNClassifier``          a Deep Belief Network classifier with MLPClassifier's API
``DBNRegressor``           the same network as a regressor, with MLPRegressor's API
=========================  ==============================================================

One estimator per module; what the RBMs share is in :mod:`._rbm_base`, what the DBNs share in
:mod:`._dbn_base` (with :mod:`._pretrain` and :mod:`._backprop`), the input conversion in
:mod:`._inputs` and the declarative hyperparameter checks in :mod:`._params`. The maths lives in
:mod:`weightinit.boltzmann`.
"""

from .bernoulli_rbm import BernoulliRBM
from .dbn_classifier import DBNClassifier
from .dbn_regressor import DBNRegressor
from .gaussian_rbm import GaussianBernoulliRBM

__all__ = ["BernoulliRBM", "GaussianBernoulliRBM", "DBNClassifier", "DBNRegressor"]
