r"""Pennington, Schoenholz & Ganguli (2017), "Resurrecting the sigmoid in deep learning through
dynamical isometry: theory and practice": a deep tanh network on the critical line trains far
faster from orthogonal weights than from Gaussian ones of the same :math:`\sigma_w`, because
orthogonal weights keep all the singular values of its input-output Jacobian near 1 (dynamical
isometry), while Gaussian ones spread them over many decades, more with every layer.

Both start at the same point of tanh's critical line (:math:`\chi_1 = 1`): :math:`\sigma_b^2`
small so that :math:`q^*` is small (1e-5: :math:`\sigma_w^2 = 1.0395`, :math:`q^* = 0.020`, near the
paper's :math:`q^* = 1/64`), where :math:`\phi'` barely varies and orthogonal weights are nearly
isometric. Each layer is :math:`W \sim N(0, \sigma_w^2/\text{fan\_in})` or :math:`\sigma_w Q`
(:func:`~weightinit.init.orthogonal_`), :math:`b \sim N(0, \sigma_b^2)`; all runs (2 inits x
``seeds``) train as one stacked model (:func:`weightinit.training.fit_batched`) by SGD with
momentum on the first ``train_rows`` MNIST images, scaled by one factor so that the first layer's
pre-activations start at :math:`q^*` as the theory assumes (unscaled, their variance 0.1 is five
times :math:`q^*`; the layers on the way down to :math:`q^*` are ordered, :math:`\chi_1 < 1`, and
shrink the orthogonal network's spectrum: 35% of its singular values within x2 of 1 instead of
88%), one record of the mean training loss every
``train_rows / batch_size`` steps. Beside the curves: the singular values of each init's hidden
stack (:func:`weightinit.diagnostics.jacobian_singular_values`, first seed, at initialization)
and the free-probability prediction (:func:`weightinit.theory.spectra.jacobian_spectrum`).
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field

import torch

from ...data.datasets import Dataset, Split
from ...diagnostics.jacobian import JacobianSpread, hidden_stack, jacobian_singular_values
from ...init import normal_, orthogonal_
from ...models.builders import mlp
from ...reporting.theory import plot_training_and_spectra
from ...theory.critical import critical_point
from ...theory.spectra import jacobian_spectrum
from ...training.batched import fit_batched
from ...training.config import TrainConfig
from .._common import checkpoint_in, versions
from .._config import check_seed, count, number
from .._result import artifact, output_folder, write_json, write_texts
from ..diagnose import spectrum_series
from ._paper import PaperResult

__all__ = ["Pennington2017Config", "Pennington2017Result", "pennington2017", "steps_to", "QUICK", "INITS"]

INITS = ("gaussian", "orthogonal")


@dataclass(frozen=True)
class Pennington2017Config:
    """A tanh MLP of ``depth`` hidden layers of ``width`` units at the critical point with bias
    variance ``sigma_b2``, from each of :data:`INITS`, ``seeds`` times; SGD (``lr``, ``momentum``,
    ``batch_size``) for ``epochs`` passes over ``train_rows`` images; the target training loss
    ``target``; the Jacobian at ``jacobian_inputs`` images."""

    depth: int = 200
    width: int = 128
    sigma_b2: float = 1e-5
    seeds: int = 3
    train_rows: int = 3_200  # with batch 128: a record every 25 steps
    epochs: int = 60  # 1,500 steps
    batch_size: int = 128
    lr: float = 1e-3
    momentum: float = 0.9
    target: float = 0.5
    jacobian_inputs: int = 8
    seed: int = 0
    device: str = "auto"

    def __post_init__(self) -> None:
        count("depth", self.depth, 2)
        count("width", self.width, 2)
        number("sigma_b2", self.sigma_b2, 0, strictly=True)
        count("seeds", self.seeds, 1)
        count("train_rows", self.train_rows, 1)
        count("epochs", self.epochs, 1)
        count("batch_size", self.batch_size, 1)
        number("lr", self.lr, 0, strictly=True)
        number("momentum", self.momentum, 0, below=1)
        number("target", self.target, 0, strictly=True)
        count("jacobian_inputs", self.jacobian_inputs, 1)
        check_seed("seed", self.seed)

    @property
    def steps_per_record(self) -> int:
        return math.ceil(self.train_rows / self.batch_size)

    @property
    def steps(self) -> int:
        return self.epochs * self.steps_per_record


QUICK = Pennington2017Config(width=64, epochs=16)  # 400 steps of 200 layers of 64: 45 s on one core


def steps_to(losses: list[float], target: float, every: int) -> int | None:
    """The steps after which the recorded mean training loss (one record per ``every`` steps)
    first falls to ``target`` or below; None if it never does."""
    for k, loss in enumerate(losses):
        if math.isfinite(loss) and loss <= target:
            return (k + 1) * every
    return None


def _initialized(sizes: list[int], orthogonal: bool, sigma_w: float, sigma_b: float, seed: int) -> torch.nn.Sequential:
    model = mlp(sizes, "tanh")
    generator = torch.Generator().manual_seed(seed)
    for layer in model:
        if isinstance(layer, torch.nn.Linear):
            if orthogonal:
                orthogonal_(layer.weight, gain=sigma_w, generator=generator)
            else:
                normal_(layer.weight, 0.0, sigma_w / math.sqrt(layer.in_features), generator)
            normal_(layer.bias, 0.0, sigma_b, generator)
    return model


@dataclass
class Pennington2017Result(PaperResult):
    dataset: str
    depth: int
    width: int
    sigma_w2: float
    sigma_b2: float
    q_star: float
    steps_per_record: int
    target: float
    losses: dict[str, list[list[float]]]  # init -> [seed][record]: mean training loss (nan: diverged)
    steps_to_target: dict[str, list[int | None]]  # init -> [seed]
    spreads: dict[str, dict]  # init -> the measured spread of the singular values (JacobianSpread)
    predicted: dict[str, dict]  # init -> mean, variance, share within x2, lambda_max of the prediction
    stated: list[str]
    versions: dict
    seconds: float
    series: list[dict] = artifact()  # the spectra for the figure
    references: dict = field(default_factory=lambda: {"Pennington et al. 2017, Figures 4-5": "tanh at criticality: "
                                                      "orthogonal weights train in far fewer steps than Gaussian"})
    experiment = "pennington2017"

    def table(self) -> str:
        lines = [f"tanh, {self.depth} layers of {self.width}, sigma_w² = {self.sigma_w2:.4g}, sigma_b² = "
                 f"{self.sigma_b2:g} (critical, q* = {self.q_star:.3g})",
                 f"| init | steps to training loss {self.target:g} (per seed) | final loss (mean) "
                 "| Jacobian: within x2 "
                 "of 1 | max/min | predicted within x2 | predicted var s² |", "|---" * 7 + "|"]
        for init in self.losses:
            steps = ", ".join("never" if s is None else str(s) for s in self.steps_to_target[init])
            finals = [row[-1] for row in self.losses[init] if math.isfinite(row[-1])]
            final = f"{sum(finals) / len(finals):.3f}" if finals else "diverged"
            spread, predicted = self.spreads[init], self.predicted[init]
            lines.append(f"| {init} | {steps} | {final} | {100 * spread['share_within']:.0f}% | "
                         f"{spread['ratio']:.3g} | "
                         f"{100 * predicted['share_within']:.0f}% | {predicted['variance']:.3g} |")
        return "\n".join(lines)

    def write(self, folder: str | os.PathLike) -> list[str]:
        folder = output_folder(folder)
        plot_training_and_spectra(self.losses, self.steps_per_record, self.target, self.series,
                                  folder / "pennington2017.png",
                                  f"{self.dataset}: tanh, {self.depth} layers of {self.width} at criticality "
                                  f"(σ_w² = {self.sigma_w2:.4g}, σ_b² = {self.sigma_b2:g})")
        report = f"# pennington2017 on {self.dataset}\n\n{self.text()}\n\n![curves and spectra](pennington2017.png)\n"
        return ["pennington2017.png", write_json(folder, self), *write_texts(folder, {"report.md": report})]


def _findings(result: Pennington2017Result, seeds: int) -> list[str]:
    def reached(init: str) -> str:
        steps = result.steps_to_target[init]
        hit = [s for s in steps if s is not None]
        if not hit:
            return f"{init} never within {result.steps_per_record * len(result.losses[init][0])} steps"
        mean = sum(hit) / len(hit)
        return f"{init} after {mean:.0f} steps" + ("" if len(hit) == seeds else f" ({len(hit)} of {seeds} seeds)")

    stated = [f"Paper: at criticality, orthogonal weights (dynamical isometry) train a deep tanh network in far fewer "
              f"steps than Gaussian ones at the same sigma_w. Here the training loss reaches {result.target:g}: "
              f"{reached('orthogonal')}; {reached('gaussian')} (mean over {seeds} seeds)."]
    g, o = result.spreads["gaussian"], result.spreads["orthogonal"]
    po, pg = result.predicted["orthogonal"]["share_within"], result.predicted["gaussian"]["share_within"]
    stated.append(f"Jacobian at initialization: {100 * o['share_within']:.0f}% of the orthogonal network's singular "
                  f"values lie within a factor of 2 of 1 (predicted {100 * po:.0f}%), {100 * g['share_within']:.0f}% "
                  f"of the Gaussian one's (predicted {100 * pg:.0f}%); max/min {o['ratio']:.3g} against "
                  f"{g['ratio']:.3g}.")
    return stated


def pennington2017(dataset: Dataset, config: Pennington2017Config | None = None, *,
                   checkpoint_dir: str | os.PathLike | None = None) -> Pennington2017Result:
    """Orthogonal against Gaussian weights at criticality in a deep tanh network (module docstring)."""
    config = config or Pennington2017Config()
    start = time.perf_counter()
    point = critical_point("tanh", config.sigma_b2)
    sizes = [dataset.n_features, *[config.width] * config.depth, dataset.n_classes]
    plan = [(init, config.seed + k) for init in INITS for k in range(config.seeds)]
    models = [_initialized(sizes, init == "orthogonal", point.sigma_w, point.sigma_b, s) for init, s in plan]
    x = dataset.train.x[: config.train_rows]
    scale = math.sqrt((point.q_star - point.sigma_b2) / (point.sigma_w2 * float((x * x).mean(1).mean())))
    x = x * scale  # sigma_w² E[x²] + sigma_b² = q*: the first layer's pre-activations at the fixed point
    rows = torch.randperm(len(x), generator=torch.Generator().manual_seed(config.seed))
    probe = x[rows[:config.jacobian_inputs]]
    spreads, predicted, series = {}, {}, []
    for init, model in zip(INITS, (models[0], models[config.seeds])):  # the first seed of each, before training
        front, stack = hidden_stack(model)
        with torch.no_grad():
            s = jacobian_singular_values(stack, front(probe))
        spectrum = jacobian_spectrum("tanh", point.sigma_w2, point.sigma_b2, config.depth - 1, init, points=300)
        spreads[init] = JacobianSpread.of(s).to_dict()
        predicted[init] = {"mean": spectrum.mean, "variance": spectrum.variance,
                           "share_within": spectrum.share_within(), "lambda_max": spectrum.lambda_max}
        series.append(spectrum_series(init, s.flatten().tolist(), spectrum))
    checkpoint = checkpoint_in(checkpoint_dir, "runs")
    done = checkpoint.result() if checkpoint is not None else None
    if done is None:
        train = Split(x, dataset.train.y[: config.train_rows])
        configs = [TrainConfig(optimizer="sgd", lr=config.lr, momentum=config.momentum, epochs=config.epochs,
                               batch_size=config.batch_size, seed=s, device=config.device) for _, s in plan]
        saved = checkpoint.load() if checkpoint is not None else None

        def save(states: list[dict]) -> None:
            checkpoint.save({"states": states})

        histories = fit_batched(models, train, configs, checkpoint=None if checkpoint is None else save,
                                resume=None if saved is None else saved["states"])
        curves = [[r.train_loss for r in h.epochs] + [math.nan] * (config.epochs - len(h.epochs)) for h in histories]
        if checkpoint is not None:
            checkpoint.finish({"curves": curves})
    else:
        curves = done["curves"]
    losses = {init: [curves[i] for i, (name, _) in enumerate(plan) if name == init] for init in INITS}
    every = math.ceil(len(x) / config.batch_size)  # steps per record (fewer than configured on a small dataset)
    steps = {init: [steps_to(c, config.target, every) for c in losses[init]] for init in INITS}
    result = Pennington2017Result(dataset.name, config.depth, config.width, point.sigma_w2, point.sigma_b2,
                                  point.q_star, every, config.target, losses, steps, spreads,
                                  predicted, [], versions(), 0.0, series)
    result.stated = _findings(result, config.seeds)
    result.seconds = time.perf_counter() - start
    return result
