"""He, Zhang, Ren & Sun (2015), "Delving deep into rectifiers", fig. 3: plain ReLU networks
of 22 and 30 layers from Xavier (gain 1) and from He init, SGD lr 0.01 with momentum 0.9. The
paper: at 30 layers Xavier stalls while He converges."""

from __future__ import annotations

import math
import os
import statistics
from dataclasses import dataclass

import torch

from ..._checks import check_positive_int
from ...data.datasets import Dataset
from ...modelinit.plan import init_model
from ...models.builders import mlp
from ...runs import distributed
from ...training.loop import TrainConfig, fit_resumable
from .._common import checkpoint_in, mean_std, versions
from .._config import check_seed, count
from .._result import group_by, run_key
from ._paper import PaperResult

__all__ = ["He2015Config", "He2015Run", "He2015Result", "he2015"]

INITS = (("xavier", "xavier_normal"), ("he", "he_normal"))  # label, scheme


@dataclass
class He2015Run:
    init: str  # "<label> depth <depth>"
    depth: int
    scheme: str
    seed: int
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


@dataclass(frozen=True)
class He2015Config:
    """What ``he2015`` trains: ReLU networks of each of ``depths`` layers of ``width`` units,
    ``epochs`` epochs, ``seeds`` times each (seed, seed + 1, ...) on ``device``."""

    depths: tuple[int, ...] = (22, 30)
    width: int = 256
    epochs: int = 5
    seeds: int = 1
    seed: int = 0
    device: str = "auto"

    def __post_init__(self) -> None:
        object.__setattr__(self, "depths", tuple(check_positive_int("depths", d) for d in self.depths))
        for name in ("width", "epochs", "seeds"):
            count(name, getattr(self, name))
        check_seed("seed", self.seed)


@dataclass
class He2015Result(PaperResult):
    dataset: str
    width: int
    depths: list[int]
    epochs: int
    seeds: list[int]
    runs: list[He2015Run]
    stated: list[str]  # the findings ("findings" in results.json)
    versions: dict
    experiment = "he2015"

    def curves(self) -> list[tuple[str, list[dict], bool]]:
        return [(r.init, r.history, r.diverged) for r in self.runs]

    def network(self) -> str:
        return f"{' and '.join(map(str, self.depths))}-layer ReLU nets of {self.width} units"

    def table(self) -> str:
        """Markdown: per network and seed, the training loss of each epoch and the final test
        accuracy; with several seeds, a row of their mean ± std per network."""
        lines = ["| network | seed | train loss per epoch | test accuracy |", "|---|---|---|---|"]
        for init, mine in group_by(self.runs, lambda r: r.init).items():
            for r in mine:
                losses = ", ".join(f"{h['train_loss']:.3f}" for h in r.history)
                lines.append(f"| {r.init} | {r.seed} | {losses} | {100 * r.test_accuracy:.2f}% |")
            if len(mine) > 1:
                final = mean_std([r.final_train_loss for r in mine])
                accuracy = mean_std([100 * r.test_accuracy for r in mine], "{:.2f}")
                lines.append(f"| **{init}** | mean ± std | final {final} | {accuracy}% |")
        return "\n".join(lines)


def _finding(runs: list[He2015Run], deepest: int, n_classes: int) -> str:
    """The paper's claim at the deepest networks, judged on every seed and stated on the mean ± std."""
    last = {scheme: [r for r in runs if r.depth == deepest and r.scheme == scheme] for _, scheme in INITS}
    xavier, he = last["xavier_normal"], last["he_normal"]
    if len(xavier) == 1:
        holds = not xavier[0].converged and he[0].converged
        return (f"Paper: at 30 layers Xavier stalls while He converges. Here at {deepest} layers, Xavier "
                f"{xavier[0].describe()} and He {he[0].describe()}; converged means a final loss below half of "
                f"ln({n_classes}). The finding {'holds' if holds else 'does not hold'} in this run.")
    stalled = sum(not r.converged for r in xavier)
    converged = sum(r.converged for r in he)
    pairs = zip(sorted(xavier, key=lambda r: r.seed), sorted(he, key=lambda r: r.seed))
    held = sum(not x.converged and h.converged for x, h in pairs)  # seeds where the paper's claim holds
    xavier_loss = statistics.fmean(r.final_train_loss for r in xavier)
    he_loss = statistics.fmean(r.final_train_loss for r in he)
    if held == len(xavier):
        verdict = "holds in every seed"
    elif converged == len(he) and xavier_loss > 2 * he_loss:
        verdict = (f"holds in part: He converges in every seed and Xavier ends far behind (final loss "
                   f"{xavier_loss / he_loss:.1f}x He's), but Xavier "
                   + (f"stalls in only {stalled} of {len(xavier)} seeds" if stalled else "stalls in none of them"))
    elif held == 0:
        verdict = "does not hold in any seed"
    else:
        verdict = f"holds in {held} of {len(xavier)} seeds"
    accuracy = {name: mean_std([100 * r.test_accuracy for r in runs], "{:.2f}") for name, runs in
                (("xavier", xavier), ("he", he))}
    return (f"Paper: at 30 layers Xavier stalls while He converges. Here at {deepest} layers over {len(xavier)} "
            f"seeds, final training loss: Xavier {mean_std([r.final_train_loss for r in xavier])} "
            f"({stalled} of {len(xavier)} stalled; test accuracy {accuracy['xavier']}%), He "
            f"{mean_std([r.final_train_loss for r in he])} ({converged} of {len(he)} converged; test accuracy "
            f"{accuracy['he']}%); converged means a final loss below half of ln({n_classes}) = "
            f"{0.5 * math.log(n_classes):.3f}. The finding {verdict}.")


def he2015(dataset: Dataset, config: He2015Config | None = None, *,
           checkpoint_dir: str | os.PathLike | None = None) -> He2015Result:
    """ReLU networks of each of ``depths`` layers and ``width`` units from each init in
    :data:`INITS`, each trained ``seeds`` times (seed, seed + 1, ...: the draw and the data
    order): training loss per epoch, and the paper's finding checked at the deepest on every
    seed. With ``checkpoint_dir`` every epoch is checkpointed there and a second call continues."""
    config = config or He2015Config()
    depths, width, epochs, seeds, seed, device = (config.depths, config.width, config.epochs, config.seeds,
                                                  config.seed, config.device)

    def run(item: tuple[int, str, str, int]) -> He2015Run:
        depth, label, scheme, run_seed = item
        sizes = [dataset.n_features, *([width] * (depth - 1)), dataset.n_classes]
        model = mlp(sizes, "relu")
        init_model(model, scheme, generator=torch.Generator().manual_seed(run_seed), nonlinearity="auto")
        key = run_key(f"{label}-depth-{depth}", run_seed, first_seed=seed)
        history = fit_resumable(model, dataset.train, TrainConfig(optimizer="sgd", lr=0.01, momentum=0.9,
                                                                  epochs=epochs, seed=run_seed, device=device),
                                checkpoint_in(checkpoint_dir, key), evaluate_on=("test", dataset.test))
        final = history.last.train_loss
        return He2015Run(init=f"{label} depth {depth}", depth=depth, scheme=scheme, seed=run_seed,
                         history=history.to_dicts(), final_train_loss=final,
                         test_accuracy=history.last.eval_accuracy, diverged=history.diverged,
                         converged=final < 0.5 * math.log(dataset.n_classes))

    plan = [(depth, label, scheme, seed + k) for depth in depths for label, scheme in INITS for k in range(seeds)]
    runs = distributed.share_runs(plan, run)
    return He2015Result(dataset=dataset.name, width=width, depths=list(depths), epochs=epochs,
                        seeds=[seed + k for k in range(seeds)], runs=runs,
                        stated=[_finding(runs, max(depths), dataset.n_classes)], versions=versions())
