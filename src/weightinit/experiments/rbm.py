"""The RBM experiment: train a restricted Boltzmann machine on a dataset's training images,
then measure it on its test images (reconstruction error, pseudo-likelihood, AIS log Z and
the average test log-likelihood) and draw samples from it."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch

from ..boltzmann.partition import ais_log_partition, average_log_likelihood
from ..boltzmann.rbm import RBM, VISIBLE_TYPES
from ..boltzmann.trainer import RBMConfig, RBMEpoch, train_rbm
from ..checks import check_choice, check_positive_int
from ..data.datasets import Dataset
from ..data.transforms import standardize
from ..runs.checkpoint import Checkpoint
from .common import progress_bar, versions

__all__ = ["RBMTestMeasures", "RBMResult", "rbm_experiment", "SAMPLE_STEPS"]

SAMPLE_STEPS = 1000  # Gibbs steps from a test image to a sample of samples.png


@dataclass
class RBMTestMeasures:
    reconstruction_error: float
    pseudo_likelihood: float | None  # Bernoulli visible units only
    log_likelihood: float  # average per test image, nats, with the AIS estimate of log Z
    ais: dict  # weightinit.boltzmann.partition.AISResult as a dict


@dataclass
class RBMResult:
    """What ``rbm_experiment`` measured: ``to_dict()`` is the ``results.json`` schema."""

    dataset: str
    source: str
    model: dict  # n_visible, n_hidden, visible
    config: dict  # the RBMConfig
    history: list[dict]  # per epoch: reconstruction error, pseudo-likelihood, seconds
    test: RBMTestMeasures
    seconds: dict  # train, ais
    versions: dict
    sample_steps: int  # Gibbs steps between the test images the samples start from and the samples

    def to_dict(self) -> dict:
        return {"experiment": "rbm", **asdict(self)}


def rbm_experiment(
    dataset: Dataset,
    *,
    hidden: int = 500,
    visible: str = "bernoulli",
    config: RBMConfig | None = None,
    ais_chains: int = 100,
    ais_steps: int = 14_500,
    n_samples: int = 100,
    sample_steps: int = SAMPLE_STEPS,
    progress: bool = False,
    on_epoch: Callable[[RBMEpoch], None] | None = None,
    checkpoint: Checkpoint | None = None,
) -> tuple[RBM, RBMResult, torch.Tensor]:
    """Train an RBM on ``dataset.train``, then measure it on ``dataset.test``.
    With a ``checkpoint``, training saves its state every epoch and continues from it.

    Returns the RBM, the result and ``n_samples`` Gibbs samples (mean-field visible units after
    ``sample_steps`` steps from random test images).
    """
    config = config or RBMConfig()
    # everything checked before training, so that a bad AIS setting does not waste the training
    check_positive_int("hidden", hidden)
    check_choice("visible", visible, VISIBLE_TYPES)
    for name, value in (("ais_chains", ais_chains), ("ais_steps", ais_steps), ("n_samples", n_samples),
                        ("sample_steps", sample_steps)):
        check_positive_int(name, value)
    train_x, test_x = dataset.train.x, dataset.test.x
    if visible == "gaussian":
        train_x, test_x = standardize(train_x, test_x)
    rbm = RBM(dataset.n_features, hidden, visible)
    with progress_bar(config.epochs * math.ceil(len(train_x) / config.batch_size),
                      f"RBM {dataset.n_features}-{hidden}", progress) as bar:
        history = train_rbm(rbm, train_x, config, monitor=test_x, on_batch=bar.update, on_epoch=on_epoch,
                            checkpoint=None if checkpoint is None else checkpoint.save,
                            resume=None if checkpoint is None else checkpoint.load())
    device = rbm.W.device
    test_x = test_x.to(device)
    generator = torch.Generator(device=device).manual_seed(config.seed + 2)
    start = time.perf_counter()
    ais = ais_log_partition(rbm, data=train_x, n_chains=ais_chains, n_steps=ais_steps, generator=generator)
    ais_seconds = time.perf_counter() - start
    pseudo = rbm.pseudo_likelihood(test_x, generator=generator).mean().item() if visible == "bernoulli" else None
    chains = test_x[torch.randperm(len(test_x), generator=torch.Generator().manual_seed(config.seed))[:n_samples]]
    samples = rbm.prob_v(rbm.sample_h(rbm.gibbs(chains, sample_steps, generator), generator))
    result = RBMResult(
        dataset=dataset.name,
        source=dataset.source,
        model={"n_visible": rbm.n_visible, "n_hidden": hidden, "visible": visible},
        config=asdict(config),
        history=history.to_dicts(),
        test=RBMTestMeasures(reconstruction_error=rbm.reconstruction_error(test_x), pseudo_likelihood=pseudo,
                             log_likelihood=average_log_likelihood(rbm, test_x, ais.log_z), ais=asdict(ais)),
        seconds={"train": sum(e.seconds for e in history.epochs), "ais": ais_seconds},
        versions=versions(),
        sample_steps=sample_steps,
    )
    return rbm, result, samples.cpu()
