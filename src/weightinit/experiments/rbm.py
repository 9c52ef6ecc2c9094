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
100 times, while its AIS log-likelihood looks like any other number; the check says so."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch

from .._checks import check_choice, check_int, check_positive_int
from ..boltzmann.conservative import raise_log_likelihood
from ..boltzmann.partition import ais_log_partition, average_log_likelihood
from ..boltzmann.rbm import RBM, VISIBLE_TYPES
from ..boltzmann.trainer import RBMConfig, RBMEpoch, train_rbm
from ..data.datasets import Dataset
from ..data.transforms import standardize
from ..errors import UserError
from ..runs.checkpoint import Checkpoint
from ._common import progress_bar, versions

__all__ = ["RBMTestMeasures", "RBMLearningCheck", "RBMResult", "rbm_experiment", "learning_check", "binarize_images",
           "gibbs_chains", "SAMPLE_STEPS", "CHAIN_STEPS", "CHAIN_FRAMES", "WEIGHT_CHANGE_MIN", "SPREAD_RATIO_MIN"]

SAMPLE_STEPS = 1000  # Gibbs steps from a test image to a sample of samples.png
CHAIN_STEPS = 1000  # Gibbs steps between two frames of chains.png (the classic tutorials' spacing)
CHAIN_FRAMES = 10  # frames per chain, the start included

# The learning check's thresholds (see RBMLearningCheck), from runs on digits (500 hidden units, seed 0,
# OMP_NUM_THREADS=1), by the number of updates:
#     recipe     updates   weight change   spread ratio   samples.png
#     pcd            150       0.12            0.05       100 copies of the mean image (the former default)
#     pcd            500       0.80            0.08       the mean image, faintly varied
#     pcd          1,000       2.39            0.17       faint blobs, hardly a digit
#     pcd          2,000       4.97            0.35       blurred digits
#     pcd          6,000      11.84            0.64       digits (the default since: 400 epochs)
#     pcd gaussian   150       0.13            0.13       (lr 0.01) the mean image
#     pcd gaussian 6,000       3.90            0.74
#     guide          150       4.97            0.44       (CD-1 at lr 0.1, no averaging, learns in fewer updates)
#     cd1          6,000      28.78            0.80
# W_0 ~ N(0, 0.01^2), so a change of 1 is W's own initial size: below it the weights barely moved. The spread
# threshold lies between the 1,000 updates whose samples hardly show a digit and the 2,000 whose samples do.
WEIGHT_CHANGE_MIN = 1.0
SPREAD_RATIO_MIN = 0.2


@dataclass
class RBMTestMeasures:
    reconstruction_error: float
    pseudo_likelihood: float | None  # Bernoulli visible units only
    log_likelihood: float  # average per test image, nats, with the AIS estimate of log Z
    ais: dict  # weightinit.boltzmann.partition.AISResult as a dict
    # the log-likelihood's error bar from AIS's: [-F - log_z_high, -F - log_z_low] (3 standard errors)
    log_likelihood_low: float = float("nan")
    log_likelihood_high: float = float("nan")
    # RAISE (weightinit.boltzmann.conservative) on the first n_images test images, beside AIS's estimate on the
    # same images: {"log_likelihood", "std_err", "n_images", "n_steps", "ais_same_images", "gap" (AIS minus RAISE,
    # paired image by image), "gap_std_err"}; None when skipped
    conservative: dict | None = None
    binarized: bool = False  # train and test images stochastically binarized before training


@dataclass
class RBMLearningCheck:
    """Whether a run learned something to look at, measured after training.

    - ``weight_change`` :math:`= \\|W - W_0\\|_F / \\|W_0\\|_F`, with :math:`W_0` the weights the
      run started from (Hinton's guide, sec. 8: :math:`N(0, 0.01^2)`);
    - ``spread_ratio`` :math:`= s(\\text{samples}) / s(\\text{starts})`, with :math:`s(X)` the
      mean over visible units of the standard deviation across the rows of X: the samples of
      ``samples.png`` against the test images they start from (as the RBM sees them: binarized
      or standardized). All samples alike gives 0; samples as varied as the data, about 1.

    ``weights_moved`` is ``weight_change >= WEIGHT_CHANGE_MIN``, ``samples_differ`` is
    ``spread_ratio >= SPREAD_RATIO_MIN`` (the thresholds and the measurements they come from
    are beside their definitions in this module); ``learned`` is both.
    """

    updates: int  # parameter updates made: epochs x ceil(n_train / batch_size)
    weight_change: float
    sample_spread: float
    data_spread: float
    spread_ratio: float  # nan when the start images do not vary (then samples_differ: nothing to compare with)
    weights_moved: bool
    samples_differ: bool
    learned: bool


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
    chain_steps: int = CHAIN_STEPS  # Gibbs steps between the frames of chains.png
    learning: RBMLearningCheck | None = None  # whether the weights moved and the samples differ

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
    binarize: bool = False,
    raise_images: int = 100,
    raise_steps: int | None = None,
    n_chains: int = 10,
    chain_steps: int = CHAIN_STEPS,
    chain_frames: int = CHAIN_FRAMES,
    progress: bool = False,
    on_epoch: Callable[[RBMEpoch], None] | None = None,
    checkpoint: Checkpoint | None = None,
) -> tuple[RBM, RBMResult, torch.Tensor, torch.Tensor]:
    """Train an RBM on ``dataset.train``, then measure it on ``dataset.test``.
    With a ``checkpoint``, training saves its state every epoch and continues from it.

    Args:
        binarize: binarize train and test images stochastically first (Bernoulli units only).
        raise_images: test images RAISE's conservative estimate runs on (one reverse chain
            each, ``raise_steps`` temperatures, default ``ais_steps``); 0 skips it.
        n_chains, chain_steps, chain_frames: the chains of ``chains.png``: half start from
            test images, half from uniform random states; each shows its start, then its
            visible probabilities every ``chain_steps`` Gibbs steps.

    Returns the RBM, the result, ``n_samples`` Gibbs samples (mean-field visible units after
    ``sample_steps`` steps from random test images) and the chains, of shape
    (n_chains, chain_frames, n_visible).
    """
    config = config or RBMConfig()
    # everything checked before training, so that a bad AIS setting does not waste the training
    check_positive_int("hidden", hidden)
    check_choice("visible", visible, VISIBLE_TYPES)
    raise_steps = ais_steps if raise_steps is None else raise_steps
    for name, value in (("ais_chains", ais_chains), ("ais_steps", ais_steps), ("n_samples", n_samples),
                        ("sample_steps", sample_steps), ("raise_steps", raise_steps), ("n_chains", n_chains),
                        ("chain_steps", chain_steps), ("chain_frames", chain_frames)):
        check_positive_int(name, value)
    check_int("raise_images", raise_images, 0)
    if binarize and visible != "bernoulli":
        raise UserError("binarize=True is for Bernoulli visible units; visible='gaussian' takes standardized data")
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
    )
    return rbm, result, samples.cpu(), chains.cpu()


@torch.no_grad()
def learning_check(w: torch.Tensor, w_start: torch.Tensor, samples: torch.Tensor, starts: torch.Tensor, *,
                   updates: int) -> RBMLearningCheck:
    """:class:`RBMLearningCheck` of trained weights ``w`` (of shape (n_hidden, n_visible)),
    started from ``w_start``, and of ``samples`` drawn from the images ``starts`` (both of
    shape (n_samples, n_visible))."""
    start_norm = w_start.norm().item()
    change = (w - w_start).norm().item() / start_norm if start_norm > 0 else float("inf")
    sample_spread = samples.float().std(0, correction=0).mean().item()
    data_spread = starts.float().std(0, correction=0).mean().item()
    ratio = sample_spread / data_spread if data_spread > 0 else float("nan")
    moved, differ = change >= WEIGHT_CHANGE_MIN, not ratio < SPREAD_RATIO_MIN  # nan: nothing to compare with
    return RBMLearningCheck(updates=updates, weight_change=change, sample_spread=sample_spread,
                            data_spread=data_spread, spread_ratio=ratio, weights_moved=moved, samples_differ=differ,
                            learned=moved and differ)


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
