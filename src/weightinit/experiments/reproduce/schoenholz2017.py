r"""Schoenholz, Gilmer, Ganguli & Sohl-Dickstein (2017), "Deep information propagation",
Figure 5: deep tanh networks on MNIST, trained for a fixed budget of SGD steps over a grid of
weight variance :math:`\sigma_w^2` and depth L; a network trains only where
:math:`L \lesssim 6\,\xi_c(\sigma_w^2)`, and :math:`\xi_c` diverges at the critical
:math:`\sigma_w^2` (1.761 at :math:`\sigma_b^2 = 0.05`), so only there do the deepest ones train.

Each layer is :math:`W \sim N(0, \sigma_w^2/\text{fan\_in})`, :math:`b \sim N(0, \sigma_b^2)` (the
output layer too, as in the paper). The runs of one depth (one per :math:`\sigma_w^2`) train as
one stacked model (:func:`weightinit.training.fit_batched`): one epoch over the first
``train_rows`` training images, i.e. ``train_rows / batch_size`` SGD steps, then the test accuracy.
A depth's result is checkpointed when it is done, so a stopped run resumes at the next depth.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

import torch

from ..._checks import check_positive_int
from ...data.datasets import Dataset, Split
from ...init import normal_
from ...models.builders import mlp
from ...reporting.theory import plot_trainability
from ...theory.critical import critical_sigma_w2
from ...theory.meanfield import depth_scales, fixed_point_c, fixed_point_q
from ...training.batched import fit_batched
from ...training.config import TrainConfig
from .._common import checkpoint_in, versions
from .._config import ConfigError, check_seed, count, number, param
from .._result import output_folder, write_json, write_texts
from ._paper import PaperResult

__all__ = ["Schoenholz2017Config", "Schoenholz2017Result", "schoenholz2017", "six_xi_c", "QUICK"]

XI_FACTOR = 6.0  # Schoenholz et al.: trainable up to about 6 xi_c layers


@dataclass(frozen=True)
class Schoenholz2017Config:
    """The grid and the budget: tanh MLPs of ``width`` units and each of ``depths`` hidden layers,
    from each of ``sigma_w2`` (bias variance ``sigma_b2``), trained by SGD (``lr``, ``momentum``,
    ``batch_size``) for one pass over ``train_rows`` images."""

    sigma_w2: tuple[float, ...] = tuple(1.0 + 0.25 * i for i in range(13))  # 1.0, 1.25, ..., 4.0
    depths: tuple[int, ...] = (10, 20, 30, 40, 50, 60, 80, 100, 130, 160, 200, 250, 300)
    sigma_b2: float = 0.05
    width: int = 64
    train_rows: int = 128_000  # with batch 128: 1,000 SGD steps
    batch_size: int = 128
    lr: float = 3e-3
    momentum: float = 0.9
    seed: int = 0
    device: str = "auto"

    def __post_init__(self) -> None:
        object.__setattr__(self, "sigma_w2", tuple(number("sigma_w2", w, 0, strictly=True, maximum=16)
                                                  for w in self.sigma_w2))
        object.__setattr__(self, "depths", tuple(check_positive_int("depths", d) for d in self.depths))
        if len(self.sigma_w2) < 2 or not self.depths:
            raise ConfigError(f"{param('sigma_w2')} needs 2 or more values and {param('depths')} 1 or more, got "
                              f"{len(self.sigma_w2)} and {len(self.depths)}")
        number("sigma_b2", self.sigma_b2, 0)
        count("width", self.width, 2)
        count("train_rows", self.train_rows, 1)
        count("batch_size", self.batch_size, 1)
        number("lr", self.lr, 0, strictly=True)
        number("momentum", self.momentum, 0, below=1)
        check_seed("seed", self.seed)

    @property
    def steps(self) -> int:
        return math.ceil(self.train_rows / self.batch_size)


QUICK = Schoenholz2017Config(sigma_w2=(1.0, 1.5, 1.75, 2.0, 2.5, 3.0, 4.0), depths=(5, 15, 30, 60),
                             width=32, train_rows=25_600)  # 200 steps: about 1 minute on one core


def six_xi_c(sigma_w2: list[float], sigma_b2: float) -> list[float]:
    """6 xi_c of tanh at each sigma_w² (inf at the critical point)."""
    w2 = torch.tensor(sigma_w2, dtype=torch.float64)
    q = fixed_point_q("tanh", w2, sigma_b2)
    c = fixed_point_c("tanh", w2, sigma_b2, q)
    return (XI_FACTOR * depth_scales("tanh", w2, sigma_b2, q, c)[1]).tolist()


@dataclass
class Schoenholz2017Result(PaperResult):
    dataset: str
    sigma_w2: list[float]
    depths: list[int]
    sigma_b2: float
    width: int
    steps: int
    accuracy: list[list[float]]  # [depth][sigma_w²]: test accuracy after the budget (nan: diverged)
    six_xi_c: list[float]  # at each sigma_w²
    critical_sigma_w2: float
    agreement: dict  # the cells on the side of the 6 xi_c curve their accuracy says
    stated: list[str]
    versions: dict
    seconds: float
    references: dict = field(default_factory=lambda: {"Schoenholz et al. 2017, Figure 5": "MNIST, tanh, "
                                                      "sigma_b² = 0.05: trainable up to about 6 xi_c layers"})
    experiment = "schoenholz2017"

    def table(self) -> str:
        head = "| depth | " + " | ".join(f"{w:g}" for w in self.sigma_w2) + " |"
        lines = [f"test accuracy (%) after {self.steps} SGD steps, by depth (rows) and sigma_w² (columns); "
                 "* marks a cell deeper than 6 xi_c", head, "|---" * (len(self.sigma_w2) + 1) + "|"]
        for depth, row in zip(self.depths, self.accuracy):
            cells = [("nan" if not math.isfinite(a) else f"{100 * a:.0f}") + ("*" if depth > x else "")
                     for a, x in zip(row, self.six_xi_c)]
            lines.append(f"| {depth} | " + " | ".join(cells) + " |")
        lines.append("| 6 xi_c | " + " | ".join("inf" if not math.isfinite(x) else f"{x:.0f}" for x in self.six_xi_c)
                     + " |")
        return "\n".join(lines)

    def write(self, folder: str | os.PathLike) -> list[str]:
        folder = output_folder(folder)
        w2 = torch.linspace(min(self.sigma_w2), max(self.sigma_w2), 121).tolist()
        curve = [min(x, 10 * max(self.depths)) for x in six_xi_c(w2, self.sigma_b2)]
        plot_trainability(self.sigma_w2, self.depths, self.accuracy, w2, curve, folder / "trainability.png",
                          f"{self.dataset}, tanh width {self.width}, σ_b² = {self.sigma_b2:g}: test accuracy after "
                          f"{self.steps} SGD steps")
        report = f"# schoenholz2017 on {self.dataset}\n\n{self.text()}\n\n![trainability](trainability.png)\n"
        return ["trainability.png", write_json(folder, self), *write_texts(folder, {"report.md": report})]


def _agreement(accuracy: list[list[float]], depths: list[int], six: list[float], threshold: float) -> dict:
    """How many cells are on the side of the 6 xi_c curve that their accuracy says: trained
    (accuracy > ``threshold``) inside it, untrained outside it."""
    agree, disagree = 0, []
    for depth, row in zip(depths, accuracy):
        for (j, a), x in zip(enumerate(row), six):
            trained = math.isfinite(a) and a > threshold
            if trained == (depth <= x):
                agree += 1
            else:
                disagree.append({"depth": depth, "column": j, "accuracy": a, "six_xi_c": x})
    return {"threshold": threshold, "agree": agree, "cells": agree + len(disagree), "disagree": disagree}


def _initialized(sizes: list[int], sigma_w2: float, sigma_b2: float, seed: int) -> torch.nn.Sequential:
    model = mlp(sizes, "tanh")
    generator = torch.Generator().manual_seed(seed)
    for layer in model:
        if isinstance(layer, torch.nn.Linear):
            normal_(layer.weight, 0.0, math.sqrt(sigma_w2 / layer.in_features), generator)
            normal_(layer.bias, 0.0, math.sqrt(sigma_b2), generator)
    return model


def schoenholz2017(dataset: Dataset, config: Schoenholz2017Config | None = None, *,
                   checkpoint_dir: str | os.PathLike | None = None) -> Schoenholz2017Result:
    """The trainability grid of Schoenholz et al. 2017 (Figure 5) on ``dataset``, beside 6 xi_c."""
    import time

    config = config or Schoenholz2017Config()
    start = time.perf_counter()
    train = Split(dataset.train.x[: config.train_rows], dataset.train.y[: config.train_rows])
    test = ("test", dataset.test)
    accuracy = []
    for depth in config.depths:
        checkpoint = checkpoint_in(checkpoint_dir, f"depth-{depth}")
        done = checkpoint.result() if checkpoint is not None else None
        if done is not None:
            accuracy.append(done["accuracy"])
            continue
        sizes = [dataset.n_features, *[config.width] * depth, dataset.n_classes]
        seeds = [config.seed + 1000 * depth + j for j in range(len(config.sigma_w2))]
        models = [_initialized(sizes, w2, config.sigma_b2, s) for w2, s in zip(config.sigma_w2, seeds)]
        configs = [TrainConfig(optimizer="sgd", lr=config.lr, momentum=config.momentum, epochs=1,
                               batch_size=config.batch_size, seed=s, device=config.device) for s in seeds]
        saved = checkpoint.load() if checkpoint is not None else None
        def save(states: list[dict], checkpoint=checkpoint) -> None:
            checkpoint.save({"states": states})

        histories = fit_batched(models, train, configs, evaluate_on=test,
                                checkpoint=None if checkpoint is None else save,
                                resume=None if saved is None else saved["states"])
        row = [math.nan if h.diverged else float(h.last.eval_accuracy) for h in histories]
        if checkpoint is not None:
            checkpoint.finish({"accuracy": row})
        accuracy.append(row)
    six = six_xi_c(list(config.sigma_w2), config.sigma_b2)
    chance = 1.0 / dataset.n_classes
    threshold = chance + 0.5 * (1.0 - chance) * 0.5  # halfway from chance to a modest 55%: "it trains"
    agreement = _agreement(accuracy, list(config.depths), six, threshold)
    critical = float(critical_sigma_w2("tanh", config.sigma_b2))
    stated = [f"Paper: a tanh network trains only if its depth is below about 6 xi_c, which diverges at the critical "
              f"sigma_w² ({critical:.3f} at sigma_b² = {config.sigma_b2:g}). Here {agreement['agree']} of "
              f"{agreement['cells']} cells lie on the side of the 6 xi_c curve their test accuracy says (trained: "
              f"accuracy > {100 * threshold:.0f}%)."]
    deepest = max(config.depths)
    best = max(range(len(config.sigma_w2)), key=lambda j: accuracy[-1][j] if math.isfinite(accuracy[-1][j]) else -1)
    stated.append(f"At depth {deepest} the best sigma_w² is {config.sigma_w2[best]:g} "
                  f"({100 * accuracy[-1][best]:.1f}% test accuracy).")
    return Schoenholz2017Result(dataset.name, list(config.sigma_w2), list(config.depths), config.sigma_b2, config.width,
                                config.steps, accuracy, six, critical, agreement, stated, versions(),
                                time.perf_counter() - start)
