"""Data: MNIST and friends in memory (:mod:`.datasets`), their file formats (:mod:`.readers`),
the verified download (:mod:`.fetch`) and transforms (:mod:`.transforms`)."""

from ..errors import DataError
from .datasets import DATASETS, Dataset, Split, default_data_dir, load_dataset
from .transforms import split_validation, standardize

__all__ = ["DATASETS", "DataError", "Dataset", "Split", "default_data_dir", "load_dataset", "split_validation",
           "standardize"]
