"""Glorot & Bengio (2010), "Understanding the difficulty of training deep feedforward neural
networks": deep nets with tanh / sigmoid / softsign, the "standard" init
U[-1/√n, 1/√n] against the normalized one (Xavier, gain 1). Per-layer activation and gradient
std at initialization and after one epoch, and the test error after a few epochs."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import torch

from ..._checks import check_positive_int
from ...data.datasets import Dataset
from ...diagnostics.layer_stats import Report, diagnose
from ...modelinit.plan import init_model
from ...models.builders import mlp
from ...reporting.plots import plot_std_by_layer
from ...runs import distributed
from ...training.loop import TrainConfig, fit_resumable
from .._common import checkpoint_in, mean_std, versions
from .._config import check_seed, count
from .._result import artifact, group_by, output_folder, run_key
from ._paper import PaperResult

__all__ = ["PAPER_TEST_ERRORS", "Glorot2010Config", "Glorot2010Run", "Glorot2010Result", "glorot2010"]

# the two inits compared: the scheme and the bias rule of each
INITS = {"standard": ("default", "zeros"), "normalized": ("xavier_uniform", "zeros")}

# Glorot & Bengio 2010, Table 1, MNIST test error (%) of the trained networks ("N": normalized init)
PAPER_TEST_ERRORS = {"softsign": 1.64, "softsign N": 1.72, "tanh": 1.76, "tanh N": 1.64, "sigmoid": 2.21}


@dataclass
class Glorot2010Run:
    activation: str
    init: str  # "standard" or "normalized"
    seed: int
    at_init: dict  # per hidden layer: post_std, grad_std, saturated; top/bottom ratios
    after_1_epoch: dict
    test_error_percent: float
    history: list[dict]  # per epoch: epoch, train_loss, test_loss, test_accuracy, seconds
    diverged: bool


@dataclass(frozen=True)
class Glorot2010Config:
    """What ``glorot2010`` trains: nets of ``hidden`` units for each of ``activations``, from
    each init, ``seeds`` times (seed, seed + 1, ...), ``epochs`` epochs on ``device``."""

    hidden: tuple[int, ...] = (1000,) * 5
    epochs: int = 5
    activations: tuple[str, ...] = ("tanh", "sigmoid", "softsign")
    seeds: int = 1
    seed: int = 0
    device: str = "auto"

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden", tuple(check_positive_int("hidden", h) for h in self.hidden))
        object.__setattr__(self, "activations", tuple(self.activations))
        for name in ("epochs", "seeds"):
            count(name, getattr(self, name))
        check_seed("seed", self.seed)


@dataclass
class Glorot2010Result(PaperResult):
    dataset: str
    arch: str
    epochs: int
    seeds: list[int]
    runs: list[Glorot2010Run]
    stated: list[str]  # the findings ("findings" in results.json)
    versions: dict
    references: dict = field(default_factory=lambda: {"Glorot & Bengio 2010, MNIST test error": PAPER_TEST_ERRORS})
    reports: dict[str, Report] | None = artifact()  # "<activation> <init>" -> diagnose at init, first seed
    experiment = "glorot2010"

    def curves(self) -> list[tuple[str, list[dict], bool]]:
        return [(f"{r.activation} {r.init}", r.history, r.diverged) for r in self.runs]  # seeds: a band

    def network(self) -> str:
        return self.arch

    def write(self, folder: str | os.PathLike) -> list[str]:
        """std_by_layer.png (each network at initialization), then the paper's files."""
        plot_std_by_layer(self.reports, output_folder(folder) / "std_by_layer.png", f"{self.arch}: at initialization")
        return ["std_by_layer.png", *super().write(folder)]

    def table(self) -> str:
        """Markdown: per network (mean ± std over the seeds), the top/bottom std ratios at init
        and after one epoch, the top layer's saturation, the test error and the paper's."""
        lines = ["| activation | init | top/bottom activation std (init -> 1 epoch) | top/bottom gradient std "
                 "(init -> 1 epoch) | top layer saturated after 1 epoch | test error | paper's (Table 1) |",
                 "|---|---|---|---|---|---|---|"]
        for (activation, init), mine in group_by(self.runs, lambda r: (r.activation, r.init)).items():

            def of(stage: str, key: str, mine: list[Glorot2010Run] = mine) -> str:
                return mean_std([getattr(r, stage)[key] for r in mine], "{:.2f}")

            saturated = [r.after_1_epoch["saturated"][-1] for r in mine]
            sat = "" if None in saturated else mean_std([100 * v for v in saturated], "{:.0f}") + "%"
            paper = PAPER_TEST_ERRORS.get(activation + (" N" if init == "normalized" else ""))
            lines.append(f"| {activation} | {init} | {of('at_init', 'top_over_bottom_post_std')} -> "
                         f"{of('after_1_epoch', 'top_over_bottom_post_std')} | "
                         f"{of('at_init', 'top_over_bottom_grad_std')} -> "
                         f"{of('after_1_epoch', 'top_over_bottom_grad_std')} | {sat} | "
                         f"{mean_std([r.test_error_percent for r in mine], '{:.2f}')}% | "
                         f"{'' if paper is None else f'{paper:.2f}%'} |")
        return "\n".join(lines)



def _layer_summary(report: Report) -> dict:
    layers = report.layers[:-1]  # hidden layers only
    return {
        "post_std": [s.post_std for s in layers],
        "grad_std": [s.grad_std for s in layers],
        "saturated": [s.saturated for s in layers],
        "top_over_bottom_post_std": layers[-1].post_std / layers[0].post_std,
        "top_over_bottom_grad_std": layers[-1].grad_std / layers[0].grad_std,
    }


def _findings(runs: list[Glorot2010Run], activations: Sequence[str]) -> list[str]:
    """The paper's claims, each stated on the mean ± std over the seeds."""
    def of(activation: str, init: str) -> list[Glorot2010Run]:
        return [r for r in runs if (r.activation, r.init) == (activation, init)]

    findings = []
    seeds = len(of(activations[0], "standard"))
    over = f" (mean ± std over {seeds} seeds)" if seeds > 1 else ""
    if "sigmoid" in activations:
        top = mean_std([100 * r.after_1_epoch["saturated"][-1] for r in of("sigmoid", "standard")], "{:.0f}")
        findings.append(f"Paper: with sigmoid the top hidden layer saturates (at 0) early in training. Here, after "
                        f"one epoch from the standard init, {top}% of the top hidden layer's outputs are within "
                        f"0.05 of 0 or 1{over}.")
    for activation in activations:
        s, n = (mean_std([r.at_init["top_over_bottom_grad_std"] for r in of(activation, k)], "{:.2f}")
                for k in ("standard", "normalized"))
        findings.append(f"Paper: normalized init keeps the back-propagated gradient std about constant across "
                        f"layers. Here ({activation}, at init), top/bottom gradient std: standard {s}, "
                        f"normalized {n}{over}.")
    return findings


def glorot2010(dataset: Dataset, config: Glorot2010Config | None = None, *,
               checkpoint_dir: str | os.PathLike | None = None) -> Glorot2010Result:
    """Deep nets of ``hidden`` units for each of ``activations``, from each init in
    :data:`INITS`, each trained ``seeds`` times (seed, seed + 1, ...); per-layer statistics at
    init and after one epoch, and the test error after ``epochs`` epochs of SGD (lr 0.1, batch
    100; the paper tuned lr and used batch 10).

    The result keeps the diagnose reports at initialization of the first seed (its
    ``reports``, for std_by_layer.png). With ``checkpoint_dir`` every training epoch is
    checkpointed there and a second call continues."""
    config = config or Glorot2010Config()
    hidden, epochs, activations, seeds, seed, device = (config.hidden, config.epochs, config.activations,
                                                        config.seeds, config.seed, config.device)
    sizes = [dataset.n_features, *hidden, dataset.n_classes]
    rows = torch.randperm(len(dataset.train), generator=torch.Generator().manual_seed(seed))[:256]
    probe = (dataset.train.x[rows], dataset.train.y[rows])
    test = ("test", dataset.test)

    def run(item: tuple[str, str, int]) -> tuple[Glorot2010Run, Report]:
        activation, label, run_seed = item
        scheme, bias = INITS[label]
        model = mlp(sizes, activation)
        init_model(model, scheme, nonlinearity="linear", bias=bias,
                   generator=torch.Generator().manual_seed(run_seed))
        at_init = diagnose(model, probe)
        config = TrainConfig(optimizer="sgd", lr=0.1, epochs=1, seed=run_seed, device=device)
        key = run_key(f"{activation}-{label}", run_seed, first_seed=seed)
        first = fit_resumable(model, dataset.train, config, checkpoint_in(checkpoint_dir, f"{key}-epoch-1"),
                              evaluate_on=test)
        after_one = diagnose(model.cpu(), probe)
        history = first.to_dicts()
        last = first
        if epochs > 1:  # the remaining epochs, numbered on from the first
            last = fit_resumable(model, dataset.train, replace(config, epochs=epochs - 1, seed=run_seed + 1),
                                 checkpoint_in(checkpoint_dir, f"{key}-rest"), evaluate_on=test)
            history += [{**record, "epoch": record["epoch"] + 1} for record in last.to_dicts()]
        return Glorot2010Run(activation=activation, init=label, seed=run_seed, at_init=_layer_summary(at_init),
                             after_1_epoch=_layer_summary(after_one),
                             test_error_percent=100 * (1 - last.last.eval_accuracy), history=history,
                             diverged=first.diverged or last.diverged), at_init

    # independent runs: under torchrun they are shared among the processes
    done = distributed.share_runs([(a, label, seed + k) for a in activations for label in INITS
                                   for k in range(seeds)], run)
    runs = [r for r, _ in done]
    reports = {f"{r.activation} {r.init}": report for r, report in done if r.seed == seed}
    result = Glorot2010Result(dataset=dataset.name, arch="-".join(map(str, sizes)), epochs=epochs,
                              seeds=[seed + k for k in range(seeds)], runs=runs,
                              stated=_findings(runs, activations), versions=versions(), reports=reports)
    return result
