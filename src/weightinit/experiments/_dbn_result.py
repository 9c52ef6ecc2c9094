"""What the DBN experiment measured (:class:`DBNResult`) and the files of ``weightinit dbn``
and ``reproduce hinton2006``: dbn.pt, classifier.pt (each with its .sha256), results.json,
report.md, curves.png (validation accuracy while fine-tuning), filters.png and, for Bernoulli
visible units, chains.png (Gibbs chains in the top RBM)."""

from __future__ import annotations

import os
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..boltzmann.dbn import DBN
from ..boltzmann.recipes import updates_per_epoch
from ..data.datasets import Dataset
from ..reporting.plots import plot_curves, plot_tiles
from ..runs.files import weights_record, write_weights
from ._result import ResultBase, artifact, output_folder, plain_fields, write_json, write_texts
from .finetune import FinetuneResult

__all__ = ["DBNResult", "write_chains", "NEAR_CHANCE", "CHAIN_FRAMES"]

# A network is "near chance" when its test accuracy a lies less than this share of the way from chance c to
# 100%: a < c + NEAR_CHANCE (1 - c). Digits (c = 0.102): below 32.6%. Measured there: the former defaults
# (SGD, 10 pre-training epochs) 11.9%, 13.3% on validation; the defaults since (Adam, 100 epochs) 95.8%.
NEAR_CHANCE = 0.25
CHAIN_FRAMES = 10  # frames per chain of chains.png, the start included


@dataclass
class DBNResult(ResultBase):
    """What ``dbn_experiment`` measured: ``to_dict()`` is the ``results.json`` schema,
    ``write(folder)`` writes the files of ``weightinit dbn``."""

    dataset: str
    source: str
    arch: str
    config: dict  # pretrain, finetune, controls (their TrainConfig), n_valid, dropout, input_dropout, refit
    seconds: dict  # pretrain, finetune, refit, controls
    runs: list[FinetuneResult]  # the DBN first, then the controls
    versions: dict
    references: dict[str, float] = field(default_factory=dict)  # published test errors (%)
    experiment: str = "dbn"
    chance_accuracy: float | None = None  # always the training set's most frequent class (chance_accuracy)
    near_chance: list[str] = field(default_factory=list)  # the runs whose test accuracy is near it (near_chance)
    dbn: DBN | None = artifact()  # the pre-trained DBN (dbn.pt, filters.png, chains.png)
    model: torch.nn.Module | None = artifact()  # the fine-tuned network it initialized (classifier.pt)
    data: Dataset | None = artifact()  # the data it ran on (image shape, test images that start the chains)
    chain_steps: int = artifact(1000)  # Gibbs steps between the frames of chains.png

    def to_dict(self) -> dict:
        return plain_fields(self)

    def table(self) -> str:
        """Markdown: each network's test error (the test set touched once), best epoch by
        validation (marked "refit" when the tested network was then trained again on all the
        training data for that many epochs), and the published references."""
        lines = ["| network | test error | valid accuracy | best epoch | fine-tuning s |", "|---|---|---|---|---|"]
        for run in self.runs:
            epoch = f"{run.best_epoch}{', refit' if run.refit else ''}"
            lines.append(f"| {run.name} | {run.test_error_percent:.2f}% | {100 * run.valid_accuracy:.2f}% | "
                         f"{epoch} | {run.seconds:.0f} |")
        for name, error in self.references.items():
            lines.append(f"| *published:* {name} | {error:.2f}% | | | |")
        return "\n".join(lines)

    def wall_time(self) -> str:
        """The time of each phase, in one line."""
        s = self.seconds
        refit = f" (refit {s['refit']:.0f} s)" if s.get("refit") else ""
        return (f"pre-training {s['pretrain']:.0f} s, fine-tuning {s['finetune']:.0f} s{refit}, "
                f"controls {s['controls']:.0f} s")

    @property
    def layers(self) -> list[int]:
        """The DBN's layer sizes, data first (the arch less its classes)."""
        return [int(n) for n in self.arch.split("-")[:-1]]

    @property
    def n_tuning(self) -> int:
        """Training images the networks trained on (the validation split held out)."""
        return len(self.data.train) - self.config["n_valid"]

    def warnings(self) -> list[str]:
        """The near-chance paragraph (if any), then the wall time."""
        return [*filter(None, [chance_warning(self, self.n_tuning)]), f"wall time: {self.wall_time()}"]

    def write(self, folder: str | os.PathLike) -> list[str]:
        folder = output_folder(folder)
        layers, data, config = self.layers, self.data, self.config
        write_weights(folder / "dbn.pt", weights_record("dbn", self.dbn.state_dict(), layer_sizes=layers,
                                                        visible=self.dbn.visible))
        write_weights(folder / "classifier.pt", weights_record(
            "mlp", self.model.state_dict(), arch=self.arch, sizes=[*layers, data.n_classes], activation="sigmoid",
            dropout=config["dropout"], input_dropout=config["input_dropout"]))
        written = ["dbn.pt", "classifier.pt", write_json(folder, self)]
        warning = chance_warning(self, self.n_tuning)
        note = f"{' '.join(warning.split())}\n\n" if warning else ""  # one paragraph, unwrapped
        written += write_texts(folder, {"report.md": f"# {self.experiment} on {data.name}\n\n{self.table()}\n\n{note}"
                                        f"Wall time: {self.wall_time()}.\n\n![fine-tuning curves](curves.png)\n"})
        plot_curves([(r.name, r.history) for r in self.runs], folder / "curves.png",
                    f"{data.name} {self.arch}: fine-tuning on {self.n_tuning} images, "
                    f"validation on {config['n_valid']}", evaluated_on="valid",
                    diverged=[r.diverged for r in self.runs])
        plot_tiles(self.dbn.rbms[0].W[:100].cpu(), data.image_shape, folder / "filters.png",
                   f"First-layer RBM filters (first {min(100, layers[1])} hidden units;\n"
                   "each tile scaled to its own range, white = largest weight)")
        written += ["curves.png", "filters.png"]
        if self.dbn.visible == "bernoulli":
            write_chains(self.dbn, data, folder / "chains.png", config["pretrain"]["seed"], steps=self.chain_steps)
            written.append("chains.png")
        return written


def chance_warning(result: DBNResult, n_train: int) -> str:
    """A paragraph for a run whose fine-tuned networks test near chance (the result's
    ``near_chance``), with the remedy; "" when none does. ``n_train``: the images the DBN
    fine-tuned on."""
    if not result.near_chance:
        return ""
    train = result.config["finetune"]
    scores = ", ".join(f"{run.name} {100 * run.test_accuracy:.1f}%" for run in result.runs
                       if run.name in result.near_chance)
    text = (f"warning: test accuracy near chance: {scores}, where always guessing the most frequent class scores "
            f"{100 * result.chance_accuracy:.1f}% (near: less than {NEAR_CHANCE:g} of the way from there to 100%): "
            "the network learned next to nothing, and its test error says so, not what the method can do.")
    if result.runs[0].name in result.near_chance:
        epochs, lr, optimizer = train["epochs"], train["lr"], train["optimizer"]
        updates = epochs * updates_per_epoch(n_train, train["batch_size"])
        remedy = ("fine-tune by Adam, which trains the lower layers in a few hundred updates (--optimizer adam "
                  "--lr 0.003)" if optimizer == "sgd" else
                  f"fine-tune longer (--finetune-epochs {2 * epochs}) or at another --lr (now {lr:g})")
        text += (f" The DBN made {updates:,} fine-tuning updates by {optimizer} at lr {lr:g}: {remedy}; "
                 "more pre-training (--pretrain-epochs) helps too.")
    return textwrap.fill(text, 79, break_on_hyphens=False)


def write_chains(dbn: DBN, dataset: Dataset, path: Path, seed: int, n_chains: int = 10, steps: int = 1000) -> None:
    """chains.png: Gibbs chains in the DBN's top RBM, each frame shown by one down pass
    (:meth:`~weightinit.boltzmann.dbn.DBN.gibbs_chains`); half start from test images, half
    from uniform random binary images; drawn from a generator seeded ``seed + 3``."""
    device = dbn.rbms[0].W.device
    generator = torch.Generator(device=device).manual_seed(seed + 3)
    from_data = (n_chains + 1) // 2
    noise = (torch.rand((n_chains - from_data, dataset.n_features), generator=generator, device=device) < 0.5).float()
    starts = torch.cat([dataset.test.x[:from_data].to(device), noise])
    chains = dbn.gibbs_chains(starts, steps, CHAIN_FRAMES, generator)
    plot_tiles(chains.reshape(n_chains * CHAIN_FRAMES, -1).cpu(), dataset.image_shape, path,
               f"{n_chains} Gibbs chains in the top RBM, one per row, each frame shown by one down pass;\n"
               f"rows 1-{from_data} start from test images, the rest from random images; column 1 the start,\n"
               f"then every {steps} Gibbs steps (probabilities, black 0, white 1)", per_tile=False)
