"""Boltzmann machines: the RBM (:mod:`.rbm`), its contrastive-divergence update (:mod:`.cd`)
and trainer (:mod:`.trainer`) with named recipes (:mod:`.recipes`), its partition function
(:mod:`.partition`) and a conservative likelihood estimate (:mod:`.conservative`), the Deep
Belief Network built from a stack of them (:mod:`.dbn`), which registers the ``dbn`` scheme,
and Hinton et al. 2006's labeled DBN with up-down fine-tuning (:mod:`.updown`)."""

from .conservative import RAISEResult, raise_log_likelihood
from .dbn import DBN
from .partition import AISResult, ais_log_partition, average_log_likelihood, log_partition_exact
from .rbm import RBM
from .recipes import RECIPES, recipe_config
from .trainer import RBMConfig, RBMHistory, RBMTrainer, train_rbm
from .updown import UpDownConfig, UpDownDBN, train_top

__all__ = ["DBN", "RBM", "RBMConfig", "RBMHistory", "RBMTrainer", "train_rbm", "AISResult", "ais_log_partition",
           "average_log_likelihood", "log_partition_exact", "RAISEResult", "raise_log_likelihood", "RECIPES",
           "recipe_config", "UpDownConfig", "UpDownDBN", "train_top"]
