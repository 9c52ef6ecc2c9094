"""What the RBM experiment measured (:class:`RBMResult`), whether the run learned anything
to look at (:class:`RBMLearningCheck`), and the files and text of ``weightinit rbm``:
rbm.pt, results.json, filters.png, samples.png and chains.png."""

from __future__ import annotations

import os
import textwrap
from dataclasses import dataclass

import torch

from ..boltzmann.rbm import RBM
from ..boltzmann.recipes import MIN_UPDATES, epochs_for_updates, updates_per_epoch
from ..reporting.plots import plot_tiles
from ..runs.files import weights_record, write_weights
from ._result import ResultBase, artifact, output_folder, plain_fields, write_json

__all__ = ["RBMTestMeasures", "RBMLearningCheck", "RBMResult", "learning_check", "CHAIN_STEPS", "WEIGHT_CHANGE_MIN",
           "SPREAD_RATIO_MIN"]

CHAIN_STEPS = 1000  # Gibbs steps between two frames of chains.png (the classic tutorials' spacing)

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
class RBMResult(ResultBase):
    """What ``rbm_experiment`` measured: ``to_dict()`` is the ``results.json`` schema,
    ``write(folder)`` writes the files of ``weightinit rbm``."""

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

    rbm: RBM | None = artifact()  # the trained machine (rbm.pt, filters.png)
    samples: torch.Tensor | None = artifact()  # (n_samples, n_visible), on the CPU (samples.png)
    chains: torch.Tensor | None = artifact()  # (n_chains, frames, n_visible), on the CPU (chains.png)
    image_shape: tuple[int, ...] | None = artifact()
    n_train: int = artifact(0)  # training images, for the remedy of a run that learned little

    def to_dict(self) -> dict:
        return {"experiment": "rbm", **plain_fields(self)}

    def table(self) -> str:
        """The final measures, a line each, with the log-likelihood's range and RAISE's estimate."""
        return rbm_summary(self) + conservative_summary(self)

    def warnings(self) -> list[str]:
        return list(filter(None, [learning_warning(self, self.n_train)]))

    def write(self, folder: str | os.PathLike) -> list[str]:
        """rbm.pt (and its .sha256), results.json, filters.png, samples.png, chains.png."""
        folder = output_folder(folder)
        write_weights(folder / "rbm.pt", weights_record("rbm", self.rbm.state_dict(), **self.model))
        write_json(folder, self)
        gaussian = self.model["visible"] == "gaussian"
        shape = self.image_shape
        plot_tiles(self.rbm.W[:100].cpu(), shape, folder / "filters.png",
                   f"RBM filters (first {min(100, self.model['n_hidden'])} hidden units;\n"
                   "each tile scaled to its own range, white = largest weight)")
        scale = "means, each tile scaled to its range" if gaussian else "probabilities, black 0, white 1"
        plot_tiles(self.samples, shape, folder / "samples.png",
                   f"{len(self.samples)} samples from the RBM, each after {self.sample_steps} Gibbs steps\n"
                   f"from a test image (visible {scale})", per_tile=gaussian)
        n_chains, frames = self.chains.shape[:2]
        from_data = (n_chains + 1) // 2
        plot_tiles(self.chains.reshape(n_chains * frames, -1), shape, folder / "chains.png",
                   f"{n_chains} Gibbs chains, one per row: rows 1-{from_data} start from test images, the rest from "
                   f"random states;\ncolumn 1 the start, then every {self.chain_steps} Gibbs steps the visible "
                   f"{scale}", per_tile=gaussian)
        return ["rbm.pt", "results.json", "filters.png", "samples.png", "chains.png"]


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



def learning_warning(results: RBMResult, n_train: int) -> str:
    """A paragraph for a run that learned little (its weights barely moved, or its samples are
    all alike: :class:`~weightinit.experiments.rbm.RBMLearningCheck`), with the remedy; ""
    for a run that learned."""
    check = results.learning
    if check is None or check.learned:
        return ""
    config = results.config
    what = []
    if not check.weights_moved:
        what.append(f"its weights moved by {check.weight_change:.2f} of their initial size (||W - W_0|| / ||W_0||; "
                    f"runs that learned moved by {WEIGHT_CHANGE_MIN:g} or more)")
    if not check.samples_differ:
        what.append(f"its samples vary {check.spread_ratio:.2f} as much as the test images they start from (below "
                    f"{SPREAD_RATIO_MIN:g}: samples.png and chains.png show nearly the same image again and again)")
    epochs, per_epoch = len(results.history), updates_per_epoch(n_train, config["batch_size"])
    if check.updates < MIN_UPDATES:
        remedy = (f"{check.updates:,} updates ({epochs} epochs of {per_epoch} batches) are too few for this data: "
                  f"train for at least {MIN_UPDATES:,} updates, --epochs "
                  f"{epochs_for_updates(MIN_UPDATES, n_train, config['batch_size'])} or more")
    else:
        remedy = (f"It made {check.updates:,} updates ({epochs} epochs): train longer (--epochs {2 * epochs}) or "
                  f"with a larger learning rate (--lr, now {config['lr']:g})")
    return textwrap.fill(f"warning: this RBM learned little: {' and '.join(what)}. The log-likelihood above is "
                         f"that of a model near its start, not of one that learned the data. {remedy}.", 79,
                         break_on_hyphens=False)


def conservative_summary(results) -> str:
    """The lines ``rbm_summary`` does not print yet: the AIS error bar on the log-likelihood
    and RAISE's conservative estimate beside AIS's on the same images."""
    test = results.test
    lines = ["", f"  its range (AIS 3 s.e.)   {test.log_likelihood_low:.2f} .. {test.log_likelihood_high:.2f} nats"
             + ("; test images binarized" if test.binarized else "")]
    if test.conservative is not None:
        c = test.conservative
        lines.append(f"RAISE (conservative)       {c['log_likelihood']:.2f} ± {c['std_err']:.2f} nats per image on "
                     f"the first {c['n_images']} test images ({c['n_steps']} steps); AIS on them: "
                     f"{c['ais_same_images']:.2f} (AIS - RAISE = {c['gap']:.2f} ± {c['gap_std_err']:.2f})")
    return "\n".join(lines)


def rbm_summary(results: RBMResult) -> str:
    """The final measures of an RBM run, a line each."""
    test, ais = results.test, results.test.ais
    lines = [f"test reconstruction error  {test.reconstruction_error:.3f}"]
    if test.pseudo_likelihood is not None:
        lines.append(f"test pseudo-likelihood     {test.pseudo_likelihood:.2f}")
    lines += [
        f"AIS log Z                  {ais['log_z']:.2f}  (3 s.e.: {ais['log_z_low']:.2f} .. {ais['log_z_high']:.2f}; "
        f"{ais['n_chains']} chains x {ais['n_steps']} steps, {results.seconds['ais']:.1f} s)",
        f"test log-likelihood        {test.log_likelihood:.2f} nats per image",
    ]
    return "\n".join(lines)
