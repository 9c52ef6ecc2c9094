"""Glorot & Bengio (2010), "Understanding the difficulty of training deep feedforward neural
networks": deep nets with tanh / sigmoid / softsign, the "standard" init
U[-1/√n, 1/√n] against the normalized one (Xavier, gain 1). Per-layer activation and gradient
std at initialization and after one epoch, and the test error after a few epochs."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace

import torch

from ...data.datasets import Dataset
from ...diagnostics import Report, diagnose
from ...models import mlp
from ...plan import init_model
from ...runs import distributed
from ...train import TrainConfig, fit_resumable
from ..common import checkpoint_in, versions

__all__ = ["PAPER_TEST_ERRORS", "Glorot2010Run", "Glorot2010Result", "glorot2010"]

# the two inits compared: the scheme and the bias rule of each
INITS = {"standard": ("default", "zeros"), "normalized": ("xavier_uniform", "zeros")}

# Glorot & Bengio 2010, Table 1, MNIST test error (%) of the trained networks ("N": normalized init)
PAPER_TEST_ERRORS = {"softsign": 1.64, "softsign N": 1.72, "tanh": 1.76, "tanh N": 1.64, "sigmoid": 2.21}


@dataclass
class Glorot2010Run:
    activation: str
    init: str  # "standard" or "normalized"
    at_init: dict  # per hidden layer: post_std, grad_std, saturated; top/bottom ratios
    after_1_epoch: dict
    test_error_percent: float
    history: list[dict]  # per epoch: epoch, train_loss, test_loss, test_accuracy, seconds
    diverged: bool


@dataclass
class Glorot2010Result:
    dataset: str
    arch: str
    epochs: int
    runs: list[Glorot2010Run]
    findings: list[str]
    versions: dict
    references: dict = field(default_factory=lambda: {"Glorot & Bengio 2010, MNIST test error": PAPER_TEST_ERRORS})

    def to_dict(self) -> dict:
        return {"experiment": "glorot2010", **asdict(self)}

    def table(self) -> str:
        """Markdown: per network, the top/bottom std ratios at init and after one epoch, the top
        layer's saturation and the test error."""
        lines = ["| activation | init | top/bottom activation std (init -> 1 epoch) | top/bottom gradient std "
                 "(init -> 1 epoch) | top layer saturated after 1 epoch | test error |", "|---|---|---|---|---|---|"]
        for r in self.runs:
            a, b = r.at_init, r.after_1_epoch
            sat = b["saturated"][-1]
            lines.append(f"| {r.activation} | {r.init} | {a['top_over_bottom_post_std']:.2f} -> "
                         f"{b['top_over_bottom_post_std']:.2f} | {a['top_over_bottom_grad_std']:.2f} -> "
                         f"{b['top_over_bottom_grad_std']:.2f} | {'' if sat is None else f'{100 * sat:.0f}%'} | "
                         f"{r.test_error_percent:.2f}% |")
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
    by = {(r.activation, r.init): r for r in runs}
    findings = []
    if "sigmoid" in activations:
        top = by[("sigmoid", "standard")].after_1_epoch["saturated"][-1]
        findings.append(f"Paper: with sigmoid the top hidden layer saturates (at 0) early in training. Here, after "
                        f"one epoch from the standard init, {100 * top:.0f}% of the top hidden layer's outputs are "
                        "within 0.05 of 0 or 1.")
    for activation in activations:
        s, n = (by[(activation, k)].at_init["top_over_bottom_grad_std"] for k in ("standard", "normalized"))
        findings.append(f"Paper: normalized init keeps the back-propagated gradient std about constant across "
                        f"layers. Here ({activation}, at init), top/bottom gradient std: standard {s:.2f}, "
                        f"normalized {n:.2f}.")
    return findings


def glorot2010(dataset: Dataset, *, hidden: Sequence[int] = (1000,) * 5, epochs: int = 5,
               activations: Sequence[str] = ("tanh", "sigmoid", "softsign"), seed: int = 0,
               device: str = "auto", checkpoint_dir: str | os.PathLike | None = None,
               ) -> tuple[Glorot2010Result, dict[str, Report]]:
    """Deep nets of ``hidden`` units for each of ``activations``, from each init in
    :data:`INITS`; per-layer statistics at init and after one epoch, and the test error after
    ``epochs`` epochs of SGD (lr 0.1, batch 100; the paper tuned lr and used batch 10).

    Returns the result and the diagnose reports at initialization (for the figure). With
    ``checkpoint_dir`` every training epoch is checkpointed there and a second call continues."""
    sizes = [dataset.n_features, *hidden, dataset.n_classes]
    rows = torch.randperm(len(dataset.train), generator=torch.Generator().manual_seed(seed))[:256]
    probe = (dataset.train.x[rows], dataset.train.y[rows])
    test = ("test", dataset.test)

    def run(item: tuple[str, str]) -> tuple[Glorot2010Run, Report]:
        activation, label = item
        scheme, bias = INITS[label]
        model = mlp(sizes, activation)
        init_model(model, scheme, nonlinearity="linear", bias=bias, generator=torch.Generator().manual_seed(seed))
        at_init = diagnose(model, probe)
        config = TrainConfig(optimizer="sgd", lr=0.1, epochs=1, seed=seed, device=device)
        key = f"{activation}-{label}"
        first = fit_resumable(model, dataset.train, config, checkpoint_in(checkpoint_dir, f"{key}-epoch-1"),
                              evaluate_on=test)
        after_one = diagnose(model.cpu(), probe)
        history = first.to_dicts()
        last = first
        if epochs > 1:  # the remaining epochs, numbered on from the first
            last = fit_resumable(model, dataset.train, replace(config, epochs=epochs - 1, seed=seed + 1),
                                 checkpoint_in(checkpoint_dir, f"{key}-rest"), evaluate_on=test)
            history += [{**record, "epoch": record["epoch"] + 1} for record in last.to_dicts()]
        return Glorot2010Run(activation=activation, init=label, at_init=_layer_summary(at_init),
                             after_1_epoch=_layer_summary(after_one),
                             test_error_percent=100 * (1 - last.last.eval_accuracy), history=history,
                             diverged=first.diverged or last.diverged), at_init

    # six independent runs: under torchrun they are shared among the processes
    done = distributed.share_runs([(a, label) for a in activations for label in INITS], run)
    runs = [r for r, _ in done]
    reports = {f"{r.activation} {r.init}": report for r, report in done}
    result = Glorot2010Result(dataset=dataset.name, arch="-".join(map(str, sizes)), epochs=epochs, runs=runs,
                              findings=_findings(runs, activations), versions=versions())
    return result, reports
