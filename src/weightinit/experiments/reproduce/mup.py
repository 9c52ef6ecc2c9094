"""Yang et al. (2022), "Tensor Programs V: Tuning Large Neural Networks via Zero-Shot Hyperparameter
Transfer", Figure 1: the training loss after a fixed budget against the learning rate, one curve
per width, under the standard parametrization (SP) and under muP. Under SP the best learning rate
moves as the model widens (the paper's moves about 2x per doubling); under muP it stays, and the
wider model is better at every learning rate.

Two models (:mod:`weightinit.experiments._widths`): the MLP 784 -> w -> w -> 10 on MNIST, widths
128 to 2048, and the GPT (2 layers, 4 heads, context 64) on Shakespeare's plays, widths 64 to 512;
base width 64 for both. Every learning rate of a grid (factor 2) trains from the same initial
weights on the same batches, with Adam; one width's grid trains as one stacked model
(:func:`weightinit.training.lr_grid.train_lr_grid`: under ``vmap`` for the MLP, the GPT's copies
one after another inside each step). The loss is measured on a fixed set of training rows (the
MLP: 4,096 images; the GPT: 64 windows) after the budget.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field, replace

from ..._checks import check_choice, check_positive_int
from ...data.datasets import Split, load_dataset
from ...data.text import shorter_windows
from ...errors import UserError
from ...reporting.transfer import plot_transfer
from ...training.lr_grid import train_lr_grid
from .._common import versions
from .._config import check_seed, count
from .._result import ResultBase, output_folder, plain_fields, write_json, write_texts
from .._widths import BASE_WIDTH, GPT_CONTEXT, planned_model

__all__ = ["MupConfig", "MupGrid", "MupPart", "MupResult", "mup_transfer", "PARAMETRIZATIONS"]

PARAMETRIZATIONS = ("sp", "mup")
MODELS = ("mlp", "gpt")


@dataclass(frozen=True)
class MupGrid:
    """One model's sweep: its ``widths``, the learning rates 2^k for k in ``log2_lrs``, ``steps``
    Adam steps of ``batch_size`` rows (windows for the GPT), the loss on ``eval_rows`` rows."""

    widths: tuple[int, ...]
    log2_lrs: tuple[int, ...]
    steps: int
    batch_size: int
    eval_rows: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "widths", tuple(check_positive_int("widths", w) for w in self.widths))
        object.__setattr__(self, "log2_lrs", tuple(int(k) for k in self.log2_lrs))
        if len(self.widths) < 2 or len(self.log2_lrs) < 3:
            raise UserError("a transfer sweep needs at least 2 widths and 3 learning rates, got "
                            f"widths={list(self.widths)}, log2_lrs={list(self.log2_lrs)}")
        for name in ("steps", "batch_size", "eval_rows"):
            count(name, getattr(self, name))


# the grids: 10 rates (factor 2) each, around both parametrizations' optima at every width
# (SP's moves to 2^-13 on the GPT at width 512)
MLP_GRID = MupGrid((128, 256, 512, 1024, 2048), tuple(range(-13, -3)), steps=200, batch_size=128, eval_rows=4096)
GPT_GRID = MupGrid((64, 128, 256, 512), tuple(range(-15, -5)), steps=150, batch_size=8, eval_rows=64)
QUICK_MLP_GRID = MupGrid((128, 256, 512), tuple(range(-12, -4)), steps=200, batch_size=128, eval_rows=4096)
QUICK_GPT_GRID = MupGrid((32, 64, 128), tuple(range(-11, -4)), steps=40, batch_size=8, eval_rows=32)


@dataclass(frozen=True)
class MupConfig:
    """What ``reproduce mup`` sweeps: ``models`` ("mlp", "gpt"), each over its grid, under SP and muP."""

    models: tuple[str, ...] = MODELS
    mlp: MupGrid = MLP_GRID
    gpt: MupGrid = GPT_GRID
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "models", tuple(self.models))
        if not self.models:
            raise UserError("models must name at least one of " + ", ".join(MODELS))
        for model in self.models:
            check_choice("model", model, MODELS)
        check_seed("seed", self.seed)

    @classmethod
    def quick(cls, **fields) -> MupConfig:
        """Smaller grids (the MLP at widths 128-512 with the default budget, the GPT at 32-128 for 40
        steps) that show the shift in under a minute."""
        return replace(cls(mlp=QUICK_MLP_GRID, gpt=QUICK_GPT_GRID), **fields)


@dataclass
class MupPart:
    """One model's sweep: ``losses[param][str(width)]`` per learning rate (None: diverged), the
    best learning rate's exponent per width, and the seconds each parametrization took."""

    model: str
    dataset: str
    widths: list[int]
    log2_lrs: list[int]
    steps: int
    batch_size: int
    losses: dict[str, dict[str, list[float | None]]]
    best_log2_lr: dict[str, dict[str, int | None]]
    seconds: dict[str, float]

    def shift(self, parametrization: str) -> int | None:
        """How many grid steps the best learning rate moved from the narrowest to the widest model."""
        best = self.best_log2_lr[parametrization]
        first, last = best[str(self.widths[0])], best[str(self.widths[-1])]
        return None if first is None or last is None else last - first

    def spread(self, parametrization: str) -> int | None:
        """How many grid steps lie between the smallest and the largest best learning rate over
        all widths (not only the two ends); None if some width diverged at every rate."""
        best = [self.best_log2_lr[parametrization][str(w)] for w in self.widths]
        return None if None in best else max(best) - min(best)

    def best_rates(self, parametrization: str) -> str:
        """Each width's best learning rate, as text: "2^-7, 2^-8, -" (- where every rate diverged)."""
        return ", ".join("-" if k is None else f"2^{k}" for k in
                         (self.best_log2_lr[parametrization][str(w)] for w in self.widths))

    def best_losses(self, parametrization: str) -> list[float | None]:
        """Each width's loss at its best learning rate."""
        return [min((v for v in self.losses[parametrization][str(w)] if v is not None), default=None)
                for w in self.widths]


@dataclass
class MupResult(ResultBase):
    parts: list[MupPart]
    base_width: int
    seed: int
    versions: dict = field(default_factory=versions)
    references: dict = field(default_factory=lambda: {
        "Yang et al. 2022, Tensor Programs V, Figure 1": "SP's optimum shifts ~2x per doubling of width; muP's stays"})
    experiment = "mup"

    def to_dict(self) -> dict:
        return {"experiment": self.experiment, **plain_fields(self), "findings": self.findings()}

    def table(self) -> str:
        lines = ["| model | width | SP best lr | SP loss | muP best lr | muP loss |", "|---|---|---|---|---|---|"]
        for part in self.parts:
            sp, mu = part.best_losses("sp"), part.best_losses("mup")
            for i, width in enumerate(part.widths):
                cells = []
                for name, losses in (("sp", sp), ("mup", mu)):
                    k = part.best_log2_lr[name][str(width)]
                    cells += ["diverged" if k is None else f"2^{k}", "" if losses[i] is None else f"{losses[i]:.4f}"]
                lines.append(f"| {part.model} | {width} | " + " | ".join(cells) + " |")
        return "\n".join(lines)

    def findings(self) -> list[str]:
        found = []
        for part in self.parts:
            span = f"from width {part.widths[0]} to {part.widths[-1]}"
            doublings = math.log2(part.widths[-1] / part.widths[0])
            mu, sp = part.spread("mup"), part.shift("sp")
            if mu is not None:
                found.append(f"{part.model}: under muP the best learning rates {span} "
                             f"({part.best_rates('mup')}) lie within {mu} grid step(s) (x2 each): "
                             + ("transfers (at most one step)" if mu <= 1 else "does NOT transfer"))
            if sp is not None:
                way = "down, to smaller rates" if sp < 0 else "up, to larger rates" if sp > 0 else "nowhere"
                found.append(f"{part.model}: under SP the best learning rate moves {abs(sp)} step(s) {way}, over "
                             f"{doublings:g} doublings ({part.best_rates('sp')}; "
                             f"{'at least two, as expected' if sp <= -2 else 'not the two or more expected'}; "
                             "the paper's SP optimum moves about one step down per doubling)")
            mus, sps = part.best_losses("mup"), part.best_losses("sp")
            if None not in mus:
                better = all(b <= a for a, b in zip(mus, mus[1:]))
                found.append(f"{part.model}: under muP the best loss per width is "
                             + ", ".join(f"{v:.3f}" for v in mus)
                             + (": wider is better at every width" if better else ": not monotone in width")
                             + ("" if sps[-1] is None else
                                f"; at width {part.widths[-1]} SP tuned at that width reaches {sps[-1]:.3f}"))
        return found

    def write(self, folder: str | os.PathLike) -> list[str]:
        folder = output_folder(folder)
        plot_transfer(self.parts, folder / "transfer.png",
                      f"Learning-rate transfer: SP against muP (base width {self.base_width})")
        return ["transfer.png", write_json(folder, self), *write_texts(folder, {
            "report.md": f"# muP transfer (Tensor Programs V, Figure 1)\n\n{self.text()}\n\n"
                         "![transfer](transfer.png)\n"})]


def _data(model: str, grid: MupGrid) -> tuple[str, int, Split, Split]:
    """The data set's name, its classes (the vocabulary), the training split and the rows measured."""
    if model == "mlp":
        data = load_dataset("mnist")
        held = Split(data.train.x[:grid.eval_rows], data.train.y[:grid.eval_rows])
        return data.name, data.n_classes, data.train, held
    data = load_dataset("shakespeare")
    x, y = shorter_windows(data.train.x, data.train.y, GPT_CONTEXT)
    spread = slice(None, None, max(1, len(x) // grid.eval_rows))  # windows spread over the whole corpus
    return data.name, data.n_classes, Split(x, y), Split(x[spread][:grid.eval_rows], y[spread][:grid.eval_rows])


def _part(model: str, grid: MupGrid, seed: int, progress) -> MupPart:
    dataset, n_classes, train, held = _data(model, grid)
    lrs = [2.0 ** k for k in grid.log2_lrs]
    losses: dict[str, dict[str, list[float | None]]] = {}
    best: dict[str, dict[str, int | None]] = {}
    seconds: dict[str, float] = {}
    for parametrization in PARAMETRIZATIONS:
        losses[parametrization], best[parametrization] = {}, {}
        start = time.perf_counter()
        for width in grid.widths:
            net, plan = planned_model(model, width, n_classes, parametrization, seed)
            multipliers = {r.name: (r.multipliers.lr("adam"), r.multipliers.eps) for r in plan.rows}
            grid_result = train_lr_grid(net, lrs, train, held, steps=grid.steps, batch_size=grid.batch_size,
                                        seed=seed, multipliers=multipliers, stacked=model == "mlp")
            values = [None if math.isnan(v) else v for v in grid_result.final_loss]
            losses[parametrization][str(width)] = values
            finite = [(v, k) for v, k in zip(values, grid.log2_lrs) if v is not None]
            best[parametrization][str(width)] = min(finite)[1] if finite else None
            progress(f"{model} {parametrization} width {width}: best lr 2^{best[parametrization][str(width)]}")
        seconds[parametrization] = time.perf_counter() - start
    return MupPart(model, dataset, list(grid.widths), list(grid.log2_lrs), grid.steps, grid.batch_size, losses, best,
                   seconds)


def mup_transfer(config: MupConfig | None = None, progress=None) -> MupResult:
    """Run the sweeps of ``config`` (module docstring); ``progress`` is called with a line per grid."""
    config = config or MupConfig()
    progress = progress or (lambda line: None)
    parts = [_part(model, getattr(config, model), config.seed, progress) for model in config.models]
    return MupResult(parts, BASE_WIDTH, config.seed)

