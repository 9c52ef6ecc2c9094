"""The RBM experiment: train a restricted Boltzmann machine on a dataset's training images,
then measure it on its test images (reconstruction error, pseudo-likelihood, AIS log Z and
the average test log-likelihood with its error bar, RAISE's conservative estimate beside it)
and draw samples from it: ``samples`` (one state per chain) and ``chains`` (a few chains
shown every ``chain_steps`` Gibbs steps, started from test images and from random states).

With ``binarize``, train and test images are binarized once, stochastically (pixel i is 1
with probability its gray level), from a generator seeded by the run's seed, as the
published likelihoods on MNIST are (Salakhutdinov & Murray 2008): a Bernoulli RBM's
log-likelihood of gray-level images is not a log-probability.

Whether the run learned anything to look at is measured too (:class:`RBMLearningCheck`, in
``results.json`` as ``learning``): how far W moved from its start, and whether the samples
differ from one another as the data do. A run with too few updates (the ``pcd`` recipe's 10
epochs on scikit-learn's digits are 150) keeps its initial weights and draws the mean image
100 times, while its AIS log-likelihood looks like any other number; the check says so.

So the length of a run fits the data: the settings a config leaves as None are set by
:func:`resolve` (which :func:`rbm_experiment` calls, and ``weightinit rbm`` too): the epochs
(``train.epochs``, raised on a smaller data set to at least 6,000 updates,
:func:`~weightinit.boltzmann.recipes.rbm_epochs`; with ``quick`` exactly enough for 2,000),
the AIS temperatures (:func:`~weightinit.boltzmann.recipes.ais_steps_for`, 14,500 per 784
visible units; a quarter with ``quick``) and RAISE's images (100; 20 with ``quick``)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace

import torch

from .._checks import check_choice
from ..boltzmann.conservative import raise_log_likelihood
from ..boltzmann.partition import ais_log_partition, average_log_likelihood
from ..boltzmann.rbm import RBM, VISIBLE_TYPES
from ..boltzmann.recipes import (
    MIN_UPDATES,
    QUICK_UPDATES,
    ais_steps_for,
    epochs_for_updates,
    rbm_epochs,
    updates_per_epoch,
)
from ..boltzmann.trainer import RBMConfig, RBMEpoch, train_rbm
from ..data.datasets import Dataset
from ..data.transforms import standardize
from ..errors import UserError
from ..runs.checkpoint import Checkpoint
from ._common import progress_bar, versions
from ._config import MAX_UNITS, count, names, param
from ._rbm_result import (
    CHAIN_STEPS,
    SPREAD_RATIO_MIN,
    WEIGHT_CHANGE_MIN,
    RBMLearningCheck,
    RBMResult,
    RBMTestMeasures,
    learning_check,
)

__all__ = ["RBMExperimentConfig", "RBMTestMeasures", "RBMLearningCheck", "RBMResult", "rbm_experiment", "resolve",
           "fit_to", "settings_line", "RAISE_IMAGES", "QUICK_RAISE_IMAGES", "QUICK_AIS_SHARE", "learning_check",
           "binarize_images", "gibbs_chains", "SAMPLE_STEPS", "CHAIN_STEPS", "CHAIN_FRAMES", "WEIGHT_CHANGE_MIN",
           "SPREAD_RATIO_MIN"]

SAMPLE_STEPS = 1000  # Gibbs steps from a test image to a sample of samples.png
CHAIN_FRAMES = 10  # frames per chain, the start included
RAISE_IMAGES = 100  # RAISE's test images by default
QUICK_RAISE_IMAGES = 20  # quick: RAISE on 20 test images, not 100
QUICK_AIS_SHARE = 4  # quick: a quarter of the AIS temperatures (digits: 296; log Z within about 0.5 nats)


@dataclass(frozen=True)
class RBMExperimentConfig:
    """What ``rbm_experiment`` runs, checked when made (before any training). The fields that
    are None by default are fitted to the data by :func:`resolve` (module docstring).

    Attributes:
        hidden, visible: the RBM's hidden units and visible type ("bernoulli", "gaussian").
        train: how it trains (:class:`~weightinit.boltzmann.trainer.RBMConfig`); its
            ``epochs`` are the least ``epochs=None`` gives.
        ais_chains, ais_steps: AIS runs and temperatures for log Z; ``ais_steps`` None:
            :func:`~weightinit.boltzmann.recipes.ais_steps_for` the data's visible units.
        n_samples, sample_steps: the samples of samples.png, each after ``sample_steps`` Gibbs
            steps from a test image.
        binarize: binarize train and test images stochastically first (Bernoulli units only).
        raise_images: test images RAISE's conservative estimate runs on (one reverse chain
            each, ``raise_steps`` temperatures, default ``ais_steps``); 0 skips it; None:
            :data:`RAISE_IMAGES` (:data:`QUICK_RAISE_IMAGES` with ``quick``).
        n_chains, chain_steps, chain_frames: the chains of ``chains.png``: half start from
            test images, half from uniform random states; each shows its start, then its
            visible probabilities every ``chain_steps`` Gibbs steps.
        epochs: the epochs to train; None: ``train.epochs``, or more on a small data set, for
            at least :data:`~weightinit.boltzmann.recipes.MIN_UPDATES` updates.
        quick: the shorter run of ``weightinit rbm --quick`` (module docstring).
    """

    hidden: int = 500
    visible: str = "bernoulli"
    train: RBMConfig = field(default_factory=RBMConfig)
    ais_chains: int = 100
    ais_steps: int | None = None
    n_samples: int = 100
    sample_steps: int = SAMPLE_STEPS
    binarize: bool = False
    raise_images: int | None = None
    raise_steps: int | None = None
    n_chains: int = 10
    chain_steps: int = CHAIN_STEPS
    chain_frames: int = CHAIN_FRAMES
    epochs: int | None = None
    quick: bool = False

    def __post_init__(self) -> None:
        count("hidden", self.hidden, 1, MAX_UNITS)
        count("ais_chains", self.ais_chains, 1, MAX_UNITS)
        check_choice("visible", self.visible, VISIBLE_TYPES)
        for name in ("n_samples", "sample_steps", "n_chains", "chain_steps", "chain_frames"):
            count(name, getattr(self, name))
        for name in ("ais_steps", "raise_steps", "epochs"):
            if getattr(self, name) is not None:
                count(name, getattr(self, name))
        if self.raise_images is not None:
            count("raise_images", self.raise_images, 0, MAX_UNITS)
        if self.binarize and self.visible != "bernoulli":
            raise UserError("binarize=True is for Bernoulli visible units; visible='gaussian' takes standardized data")

    @property
    def temperatures(self) -> int | None:
        """RAISE's temperatures: ``raise_steps``, by default ``ais_steps``."""
        return self.ais_steps if self.raise_steps is None else self.raise_steps


def resolve(settings: RBMExperimentConfig, dataset: Dataset) -> RBMExperimentConfig:
    """``settings`` with every field left as None set for ``dataset`` (:func:`fit_to`), so that
    ``train.epochs``, ``epochs``, ``ais_steps`` and ``raise_images`` hold what will run.
    Resolving a resolved config changes nothing."""
    return fit_to(settings, len(dataset.train), dataset.n_features)[0]


def settings_line(settings: RBMExperimentConfig, dataset: Dataset, *, options: bool = False) -> str:
    """What :func:`resolve` makes of ``settings`` on ``dataset``, in one line, and why (naming
    parameters, or with ``options`` command-line options and the recipe's epochs)."""
    return names(fit_to(settings, len(dataset.train), dataset.n_features, base="the recipe's" if options else None)[1],
                 options)


def fit_to(settings: RBMExperimentConfig, n_train: int, n_visible: int,
           base: str | None = None) -> tuple[RBMExperimentConfig, str]:
    """The settings left as None fitted to ``n_train`` training images of ``n_visible`` units,
    and the line that says what they became and why (with
    :func:`~weightinit.experiments._config.param` placeholders; ``base``: what ``train.epochs``
    is called there)."""
    config = settings.train
    per_epoch = updates_per_epoch(n_train, config.batch_size)
    epochs = settings.epochs
    if epochs is not None:
        why = param("epochs")
    elif settings.quick:
        epochs = epochs_for_updates(QUICK_UPDATES, n_train, config.batch_size)
        why = f"{param('quick')}: at least {QUICK_UPDATES:,} updates"
    else:
        epochs = rbm_epochs(config.epochs, n_train, config.batch_size)
        named = f"{base or param('train') + '.epochs'} {config.epochs}"
        why = (named if epochs == config.epochs else named + " raised") + f": at least {MIN_UPDATES:,} updates"
    ais_steps = settings.ais_steps
    if ais_steps is None:
        ais_steps = ais_steps_for(n_visible)
        ais_why = f"ceil(14,500 x {n_visible} visible / 784)"
        if settings.quick:
            ais_steps = math.ceil(ais_steps / QUICK_AIS_SHARE)
            ais_why += f" / {QUICK_AIS_SHARE} ({param('quick')})"
    else:
        ais_why = param("ais_steps")
    raise_images = settings.raise_images
    if raise_images is None:
        raise_images = QUICK_RAISE_IMAGES if settings.quick else RAISE_IMAGES
    fitted = replace(settings, train=replace(config, epochs=epochs), epochs=epochs, ais_steps=ais_steps,
                     raise_images=raise_images)
    line = (f"{epochs} epochs x {per_epoch} batches of {config.batch_size} = {epochs * per_epoch:,} updates ({why}); "
            f"AIS {settings.ais_chains} chains x {ais_steps:,} temperatures ({ais_why})")
    return fitted, line


def rbm_experiment(
    dataset: Dataset,
    settings: RBMExperimentConfig | None = None,
    *,
    progress: bool = False,
    on_epoch: Callable[[RBMEpoch], None] | None = None,
    checkpoint: Checkpoint | None = None,
) -> RBMResult:
    """Train an RBM on ``dataset.train``, then measure it on ``dataset.test``.
    With a ``checkpoint``, training saves its state every epoch and continues from it. The
    settings left as None are fitted to ``dataset`` first (:func:`resolve`).

    The result keeps the RBM, ``n_samples`` Gibbs samples (mean-field visible units after
    ``sample_steps`` steps from random test images) and the chains, of shape (n_chains,
    chain_frames, n_visible), for its ``write(folder)``: rbm.pt, results.json and the figures.
    """
    settings = resolve(settings or RBMExperimentConfig(), dataset)
    config, hidden, visible, binarize = settings.train, settings.hidden, settings.visible, settings.binarize
    ais_chains, ais_steps, n_samples, sample_steps = (settings.ais_chains, settings.ais_steps, settings.n_samples,
                                                      settings.sample_steps)
    raise_images, raise_steps = settings.raise_images, settings.temperatures
    n_chains, chain_steps, chain_frames = settings.n_chains, settings.chain_steps, settings.chain_frames
    train_x, test_x = dataset.train.x, dataset.test.x
    if binarize:
        binarizer = torch.Generator().manual_seed(config.seed)
        train_x, test_x = binarize_images(train_x, binarizer), binarize_images(test_x, binarizer)
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
    # the weights the run started from: the same draw as train_rbm's reset_parameters (seeded by config.seed),
    # also after a --resume, whose RBM never held them
    start_w = RBM(dataset.n_features, hidden, visible).to(device).reset_parameters(
        generator=torch.Generator(device=device).manual_seed(config.seed)).W
    generator = torch.Generator(device=device).manual_seed(config.seed + 2)
    start = time.perf_counter()
    ais = ais_log_partition(rbm, data=train_x, n_chains=ais_chains, n_steps=ais_steps, generator=generator)
    ais_seconds = time.perf_counter() - start
    pseudo = rbm.pseudo_likelihood(test_x, generator=generator).mean().item() if visible == "bernoulli" else None
    starts = test_x[torch.randperm(len(test_x), generator=torch.Generator().manual_seed(config.seed))[:n_samples]]
    samples = rbm.prob_v(rbm.sample_h(rbm.gibbs(starts, sample_steps, generator), generator))
    log_likelihood = average_log_likelihood(rbm, test_x, ais.log_z)
    conservative = None
    if raise_images:
        shown = test_x[:raise_images]
        bound, per_image = raise_log_likelihood(rbm, shown, data=train_x, n_steps=raise_steps, generator=generator,
                                                per_image=True)
        gap = -rbm.free_energy(shown).double() - ais.log_z - per_image  # AIS minus RAISE, image by image
        conservative = {**asdict(bound), "ais_same_images": average_log_likelihood(rbm, shown, ais.log_z),
                        "gap": gap.mean().item(),
                        "gap_std_err": (gap.std() / len(gap) ** 0.5).item() if len(gap) > 1 else float("inf")}
    chains = gibbs_chains(rbm, test_x, n_chains, chain_steps, chain_frames,
                          torch.Generator(device=device).manual_seed(config.seed + 3))
    result = RBMResult(
        dataset=dataset.name,
        source=dataset.source,
        model={"n_visible": rbm.n_visible, "n_hidden": hidden, "visible": visible},
        config=asdict(config),
        history=history.to_dicts(),
        test=RBMTestMeasures(reconstruction_error=rbm.reconstruction_error(test_x), pseudo_likelihood=pseudo,
                             log_likelihood=log_likelihood, ais=asdict(ais),
                             log_likelihood_low=log_likelihood - (ais.log_z_high - ais.log_z),
                             log_likelihood_high=log_likelihood + (ais.log_z - ais.log_z_low),
                             conservative=conservative, binarized=binarize),
        seconds={"train": sum(e.seconds for e in history.epochs), "ais": ais_seconds,
                 "other_measures": time.perf_counter() - start - ais_seconds},
        versions=versions(),
        sample_steps=sample_steps,
        chain_steps=chain_steps,
        learning=learning_check(rbm.W, start_w, samples, starts,
                                updates=len(history.epochs) * math.ceil(len(train_x) / config.batch_size)),
        rbm=rbm, samples=samples.cpu(), chains=chains.cpu(), image_shape=dataset.image_shape,
        n_train=len(dataset.train),
    )
    return result


def binarize_images(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Images in [0, 1] binarized stochastically: pixel i is 1 with probability x_i."""
    return (torch.rand(x.shape, generator=generator) < x.cpu()).to(x.dtype)


@torch.no_grad()
def gibbs_chains(rbm: RBM, test_x: torch.Tensor, n_chains: int, steps: int, frames: int,
                 generator: torch.Generator) -> torch.Tensor:
    """Gibbs chains to look at, of shape (n_chains, frames, n_visible): the first half start
    from the first test images, the rest from uniform random binary states (Gaussian units:
    standard normal ones); frame 0 is the start, frame f the visible probabilities (means)
    p(v | h) after f * ``steps`` Gibbs steps."""
    from_data = min(len(test_x), (n_chains + 1) // 2)
    noise = torch.rand((n_chains - from_data, rbm.n_visible), generator=generator, device=test_x.device)
    noise = (noise < 0.5).to(test_x.dtype) if rbm.visible == "bernoulli" else torch.randn(
        noise.shape, generator=generator, device=test_x.device)
    v = torch.cat([test_x[:from_data], noise])
    shown = [v]
    for _ in range(frames - 1):
        v = rbm.gibbs(v, steps, generator)
        shown.append(rbm.prob_v(rbm.sample_h(v, generator)))  # the probabilities behind the chain's next state
    return torch.stack(shown, 1)
