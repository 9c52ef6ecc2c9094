"""He, Zhang, Ren & Sun (2015), "Delving deep into rectifiers", fig. 3: plain ReLU networks
of 22 and 30 layers from Xavier (gain 1) and from He init, SGD lr 0.01 with momentum 0.9. The
paper: at 30 layers Xavier stalls while He converges."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch

from ...data.datasets import Dataset
from ...models import mlp
from ...plan import init_model
from ...runs import distributed
from ...train import TrainConfig, fit_resumable
from ..common import checkpoint_in, versions

__all__ = ["He2015Run", "He2015Result", "he2015"]

INITS = (("xavier", "xavier_normal"), ("he", "he_normal"))  # label, scheme


@dataclass
class He2015Run:
    init: str  # "<label> depth <depth>"
    depth: int
    scheme: str
    history: list[dict]  # per epoch: epoch, train_loss, test_loss, test_accuracy, seconds
    final_train_loss: float
    test_accuracy: float
    diverged: bool
    converged: bool  # final training loss below half of chance level's ln(n_classes)

    def describe(self) -> str:
        first = self.history[0]["train_loss"]
        return (f"{'converges' if self.converged else 'does not converge'} (train loss {first:.3f} after epoch 1, "
                f"{self.final_train_loss:.3f} after {len(self.history)}; test accuracy "
                f"{100 * self.test_accuracy:.1f}%)")


@dataclass
class He2015Result:
    dataset: str
    width: int
    depths: list[int]
    epochs: int
    runs: list[He2015Run]
    findings: list[str]
    versions: dict

    def to_dict(self) -> dict:
        return {"experiment": "he2015", **asdict(self)}

    def table(self) -> str:
        """Markdown: per network, the training loss of each epoch and the final test accuracy."""
        lines = ["| network | train loss per epoch | test accuracy |", "|---|---|---|"]
        for r in self.runs:
            losses = ", ".join(f"{h['train_loss']:.3f}" for h in r.history)
            lines.append(f"| {r.init} | {losses} | {100 * r.test_accuracy:.2f}% |")
        return "\n".join(lines)


def he2015(dataset: Dataset, *, depths: Sequence[int] = (22, 30), width: int = 256, epochs: int = 5,
           seed: int = 0, device: str = "auto", checkpoint_dir: str | os.PathLike | None = None) -> He2015Result:
    """ReLU networks of each of ``depths`` layers and ``width`` units from each init in
    :data:`INITS`: training loss per epoch, and the paper's finding checked at the deepest.
    With ``checkpoint_dir`` every epoch is checkpointed there and a second call continues."""

    def run(item: tuple[int, str, str]) -> He2015Run:
        depth, label, scheme = item
        sizes = [dataset.n_features, *([width] * (depth - 1)), dataset.n_classes]
        model = mlp(sizes, "relu")
        init_model(model, scheme, generator=torch.Generator().manual_seed(seed),
                   nonlinearity="linear" if scheme == "xavier_normal" else "auto")
        history = fit_resumable(model, dataset.train, TrainConfig(optimizer="sgd", lr=0.01, momentum=0.9,
                                                                  epochs=epochs, seed=seed, device=device),
                                checkpoint_in(checkpoint_dir, f"{label}-depth-{depth}"),
                                evaluate_on=("test", dataset.test))
        final = history.last.train_loss
        return He2015Run(init=f"{label} depth {depth}", depth=depth, scheme=scheme, history=history.to_dicts(),
                         final_train_loss=final, test_accuracy=history.last.eval_accuracy,
                         diverged=history.diverged, converged=final < 0.5 * math.log(dataset.n_classes))

    runs = distributed.share_runs([(depth, label, scheme) for depth in depths for label, scheme in INITS], run)
    deepest = max(depths)
    last = {r.scheme: r for r in runs if r.depth == deepest}
    xavier, he = last["xavier_normal"], last["he_normal"]
    holds = not xavier.converged and he.converged
    finding = (f"Paper: at 30 layers Xavier stalls while He converges. Here at {deepest} layers, Xavier "
               f"{xavier.describe()} and He {he.describe()}; converged means a final loss below half of "
               f"ln({dataset.n_classes}). The finding {'holds' if holds else 'does not hold'} in this run.")
    return He2015Result(dataset=dataset.name, width=width, depths=list(depths), epochs=epochs, runs=runs,
                        findings=[finding], versions=versions())
