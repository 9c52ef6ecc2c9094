"""Boltzmann machines: the RBM (:mod:`.rbm`), its contrastive-divergence update (:mod:`.cd`)
and trainer (:mod:`.trainer`), its partition function (:mod:`.partition`), and the Deep
Belief Network built from a stack of them (:mod:`.dbn`), which registers the ``dbn`` scheme."""

from .dbn import DBN
from .partition import AISResult, ais_log_partition, average_log_likelihood, log_partition_exact
from .rbm import RBM
from .trainer import RBMConfig, RBMHistory, RBMTrainer, train_rbm

__all__ = ["DBN", "RBM", "RBMConfig", "RBMHistory", "RBMTrainer", "train_rbm", "AISResult", "ais_log_partition",
           "average_log_likelihood", "log_partition_exact"]
