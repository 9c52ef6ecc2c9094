"""The coordinate check of the width models (:mod:`weightinit.diagnostics.coordcheck` on the MLP, ViT
or GPT of :mod:`weightinit.experiments._widths`): under SP, muP, or both in one run.

Each width is built and planned as ``reproduce mup`` builds it (:func:`planned_model`, base width
64), trained with the plan's optimizer groups (:func:`weightinit.parametrize.param_groups`) for
``steps`` steps on one fixed batch (64 MNIST images, or 16 windows of 64 characters of
Shakespeare), for ``seeds`` seeds. The verdict (:meth:`CoordCheckResult.passed`): under muP no
module's slope :func:`~weightinit.diagnostics.coordcheck.violates` its family's rule at steps
1..steps (every module within ±0.1, except the readout and the attention logits, which may
shrink, no faster than width^-1/2); under SP with Adam the readout's slope after one step is at
least 0.3 (:meth:`CoordCheckResult.as_expected`: its logits grow with the width).

Examples:
    >>> result = coordcheck(CoordCheckConfig.quick(parametrization="both"))  # doctest: +SKIP
    >>> result.passed(), result.as_expected()  # doctest: +SKIP
    ({'sp': False, 'mup': True}, True)
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullFormatter, NullLocator

from .._checks import check_choice
from ..data.datasets import Dataset, load_dataset
from ..diagnostics.coordcheck import MAY_SHRINK, STABLE_SLOPE, CoordCheck, coord_check, violates
from ..parametrize import ParamPlan, param_groups
from ..runs.devices import resolve_device
from ..runs.files import atomic_writer
from ._config import MAX_UNITS, ConfigError, check_seed, count, literal, number, param
from ._result import ResultBase, output_folder, write_json, write_texts
from ._widths import BASE_WIDTH, GPT_CONTEXT, GPT_HEADS, HEAD_DIM, WIDTH_MODELS, planned_model

__all__ = ["CoordCheckConfig", "CoordCheckResult", "coordcheck", "absorbed_multipliers", "plot_coordcheck",
           "DEFAULT_LR", "SP_OUTPUT_SLOPE", "OPTIMIZERS", "DATA_OF"]

OPTIMIZERS = ("adam", "adamw", "sgd")
DEFAULT_LR = {"adam": 3e-3, "adamw": 3e-3, "sgd": 0.1}  # large enough that a wrong rate shows in a few steps
SP_OUTPUT_SLOPE = 0.3  # the least slope of SP's readout after one Adam step that the check expects (issue 26)
DATA_OF = {"mlp": "mnist", "vit": "mnist", "gpt": "shakespeare"}
_BATCH = {"mlp": 64, "vit": 64, "gpt": 16}  # images, or windows of GPT_CONTEXT characters
_PARAMS = ("sp", "mup")


@dataclass(frozen=True)
class CoordCheckConfig:
    """What :func:`coordcheck` runs, checked when made.

    ``parametrization``: "sp", "mup", "both" or a tuple of them. ``widths``: at least two,
    each a multiple of 16 for the ViT (heads of 16) and of 4 for the GPT (4 heads). ``lr``: the
    base learning rate (None: :data:`DEFAULT_LR` of the optimizer). ``seeds``: models per width,
    seeded ``seed``, ``seed + 1``, ...; ``seed`` also draws the fixed batch of ``batch_size``
    (None: 64 images, 16 windows for the GPT)."""

    model: str = "mlp"
    parametrization: str | tuple[str, ...] = "mup"
    widths: tuple[int, ...] = (64, 128, 256, 512, 1024, 2048)
    steps: int = 5
    optimizer: str = "adam"
    lr: float | None = None
    seeds: int = 3
    batch_size: int | None = None
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        check_choice("model", self.model, WIDTH_MODELS)
        params = self.parametrization
        params = _PARAMS if params == "both" else (params,) if isinstance(params, str) else tuple(params)
        for p in params:
            if p not in _PARAMS:
                raise ConfigError(f"{param('parametrization')} must be sp, mup or both, got {literal(p)}")
        if not params or len(set(params)) != len(params):
            raise ConfigError(f"{param('parametrization')} must name sp and/or mup once each, got {literal(params)}")
        object.__setattr__(self, "parametrization", params)
        widths = tuple(count("widths", w, 1, MAX_UNITS) for w in self.widths)
        if len(set(widths)) < 2 or len(set(widths)) != len(widths):
            raise ConfigError(f"{param('widths')} must be at least two different widths, each once, got "
                              f"{literal(','.join(map(str, widths)))}")
        step = {"vit": HEAD_DIM, "gpt": GPT_HEADS}.get(self.model, 1)
        if any(w % step for w in widths):
            raise ConfigError(f"{param('widths')} must be multiples of {step} for {param('model')} {self.model} "
                              f"({'heads of 16 dimensions' if self.model == 'vit' else '4 heads'}), got "
                              f"{literal(','.join(map(str, widths)))}")
        object.__setattr__(self, "widths", tuple(sorted(widths)))
        count("steps", self.steps, 1, 1000)
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        if self.lr is not None:
            object.__setattr__(self, "lr", number("lr", self.lr, 0, strictly=True))
        count("seeds", self.seeds, 1, 1000)
        if self.batch_size is not None:
            count("batch_size", self.batch_size, 1, 100_000)
        check_seed("seed", self.seed)
        if not isinstance(self.device, str):
            raise TypeError(f"device must be a string, got {type(self.device).__name__}")

    @classmethod
    def quick(cls, **fields) -> CoordCheckConfig:
        """A check in seconds (tests, notebooks): widths 64..512 (the GPT and ViT 64..256), 3 steps,
        3 seeds; ``fields`` override any of it."""
        model = fields.get("model", "mlp")
        widths = (64, 128, 256, 512) if model == "mlp" else (64, 128, 256)
        return cls(**{"widths": widths, "steps": 3, "seeds": 3, **fields})

    @property
    def learning_rate(self) -> float:
        return DEFAULT_LR[self.optimizer] if self.lr is None else self.lr

    @property
    def batch(self) -> int:
        return _BATCH[self.model] if self.batch_size is None else self.batch_size


@dataclass
class CoordCheckResult(ResultBase):
    """A coordinate check per parametrization (:class:`~weightinit.diagnostics.coordcheck.CoordCheck`);
    ``write(folder)`` writes results.json, coordcheck.md (the table) and coordcheck.png."""

    config: CoordCheckConfig
    data: str  # what the fixed batch is
    checks: dict[str, CoordCheck]
    seconds: float = 0.0
    device: str = "cpu"

    def passed(self) -> dict[str, bool]:
        """Per parametrization, whether the check passes: no module's slope
        :func:`~weightinit.diagnostics.coordcheck.violates` its family's rule at steps 1..steps.
        muP should pass; SP should not (under Adam its hidden layers and output grow)."""
        return {p: not check.failures() for p, check in self.checks.items()}

    def as_expected(self) -> bool:
        """muP passes (if it ran) and, under Adam, SP's readout has slope >= :data:`SP_OUTPUT_SLOPE`
        after one step (if SP ran): issue 26's criterion, both halves in the same run."""
        ok = self.passed().get("mup", True)
        if "sp" in self.checks and self.config.optimizer != "sgd":
            ok = ok and self.sp_output_slope(self.checks["sp"]) >= SP_OUTPUT_SLOPE
        return ok

    @staticmethod
    def sp_output_slope(check: CoordCheck) -> float:
        """The readout's slope after one step (NaN if no module is the readout)."""
        readout = [m for m in check.modules if m.family == "readout"]
        return readout[-1].slopes[1] if readout else math.nan

    def to_dict(self) -> dict:
        config = asdict(self.config)
        return {"experiment": "coordcheck", "config": config, "lr": self.config.learning_rate, "data": self.data,
                "device": self.device, "seconds": self.seconds, "passed": self.passed(),
                "as_expected": self.as_expected(), "findings": self.findings(),
                "checks": {p: c.to_dict() for p, c in self.checks.items()}}

    def _header(self, p: str) -> str:
        c = self.config
        return (f"== {p}: {c.model} at widths {','.join(map(str, c.widths))} (base {BASE_WIDTH}), "
                f"{c.optimizer} lr {c.learning_rate:g}, {c.seeds} seed(s), {self.data}")

    def table(self) -> str:
        """Per parametrization, one line per module: its family, the slope of log mean|x| against
        log width at each step (0: at init), the slope of the change mean|x - x_0| at the last
        step, and the verdict over steps 1..steps."""
        steps = self.config.steps
        blocks = []
        for p, check in self.checks.items():
            header = ["module", "family", *[f"s{t}" for t in range(steps + 1)], f"d{steps}", "verdict"]
            rows = [header]
            for m in check.modules:
                rows.append([m.name, m.family, *[f"{s:+.2f}" for s in m.slopes], f"{m.change_slopes[-1]:+.2f}",
                             _verdict(m.family, m.slopes[1:])])
            widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
            lines = ["  ".join(c.ljust(w) if i < 2 or i == len(header) - 1 else c.rjust(w)
                               for i, (c, w) in enumerate(zip(r, widths))).rstrip() for r in rows]
            blocks.append("\n".join([self._header(p), *lines]))
        key = (f"s<t>: slope of log mean|x| against log width after t steps (s0: at init); d{steps}: the same for "
               f"mean|x - x_0| (what training changed) after {steps} steps; stable: |slope| <= {STABLE_SLOPE}")
        return "\n\n".join([*blocks, key])

    def findings(self) -> list[str]:
        found = []
        steps = f"steps 1..{self.config.steps}"
        for p, check in self.checks.items():
            if p == "mup":
                failures = check.failures()
                if not failures:
                    found.append(f"mup: PASS: every module has |slope| <= {STABLE_SLOPE} at {steps}, but the readout "
                                 "and the attention logits, which neither grow nor shrink faster than width^-1/2")
                else:
                    first = check.first_failure(measures=("size",))
                    found.append(f"mup: FAIL: {len({f.module for f in failures})} module(s) change with the width; "
                                 f"the first in forward order: {first}")
                change = check.failures(measures=("change",))
                if change:
                    found.append(f"mup: what training changed (mean |x - x_0|) is not width-independent for "
                                 f"{len({f.module for f in change})} module(s), first {change[0]}")
            else:
                slope = self.sp_output_slope(check)
                growing = sorted({f.module for f in check.failures()})
                if self.config.optimizer == "sgd":
                    found.append(f"sp: the readout's slope after one step is {slope:+.2f}; {len(growing)} module(s) "
                                 f"change with the width at {steps}")
                else:
                    ok = slope >= SP_OUTPUT_SLOPE
                    found.append(f"sp: {'as expected' if ok else 'UNEXPECTED'}: the readout's slope after one step is "
                                 f"{slope:+.2f} ({'>=' if ok else '<'} {SP_OUTPUT_SLOPE}: under SP with Adam the "
                                 f"output grows with the width); {len(growing)} module(s) change with the width")
        return found

    def write(self, folder: str | os.PathLike) -> list[str]:
        folder = output_folder(folder)
        c = self.config
        title = (f"Coordinate check: {_MODEL_TEXT[c.model]}, {_OPTIMIZER_TEXT[c.optimizer]} lr {c.learning_rate:g}, "
                 f"{c.seeds} seed(s), one fixed batch")
        plot_coordcheck(self.checks, folder / "coordcheck.png", title)
        write_json(folder, self)
        write_texts(folder, {"coordcheck.md": f"# {title}\n\n```\n{self.text()}\n```\n"})
        return ["results.json", "coordcheck.md", "coordcheck.png"]


_OPTIMIZER_TEXT = {"adam": "Adam", "adamw": "AdamW", "sgd": "SGD"}
_MODEL_TEXT = {"mlp": "MLP 784-w-w-10 (ReLU) on MNIST", "vit": "ViT (dim w, 2 layers, heads of 16) on MNIST",
               "gpt": "GPT (width w, 2 layers, 4 heads) on Shakespeare"}


def _verdict(family: str, slopes: list[float]) -> str:
    bad = [s for s in slopes if violates(family, s)]
    if not bad:
        worst = min(slopes, key=lambda s: -abs(s))
        if family in MAY_SHRINK and worst < -STABLE_SLOPE:
            return "shrinks (allowed here)"
        return "stable"
    worst = max(bad, key=abs)
    return f"{'grows' if worst > 0 else 'shrinks'} ({worst:+.2f})"


_PANELS_PER_ROW = 5


def plot_coordcheck(checks: dict[str, CoordCheck], path: str | os.PathLike, title: str) -> None:
    """``coordcheck.png``: a panel per module family (a row of panels per parametrization, SP above
    muP; wrapped after :data:`_PANELS_PER_ROW`), mean |x| against the width on log-log axes
    (base 2 for the width), one line per step coloured from dark (step 0, at init) to light; a
    family of several modules is drawn as their geometric mean, its slopes' range in the title."""
    families = list(dict.fromkeys(f for c in checks.values() for f in c.families()))
    columns = min(len(families), _PANELS_PER_ROW)
    chunks = [families[i:i + columns] for i in range(0, len(families), columns)]
    rows = len(chunks) * len(checks)
    fig = Figure(figsize=(3.1 * columns + 0.8, 2.7 * rows + 0.9))
    axes = fig.subplots(rows, columns, squeeze=False)
    plain = FuncFormatter(lambda v, _: f"{v:g}")
    for k in range(len(chunks)):  # a family's column shares its y axis between the parametrizations
        for col in range(columns):
            column = [axes[k * len(checks) + r][col] for r in range(len(checks))]
            for ax in column[1:]:
                ax.sharey(column[0])
    cmap = colormaps["viridis"]
    for r, (p, check) in enumerate(checks.items()):
        by_family = check.families()
        steps = check.steps
        for k, chunk in enumerate(chunks):
            row = k * len(checks) + r
            for col in range(columns):
                ax = axes[row][col]
                if col >= len(chunk) or chunk[col] not in by_family:
                    ax.axis("off")
                    continue
                family, modules = chunk[col], by_family[chunk[col]]
                for t in range(steps + 1):
                    values = [math.exp(sum(math.log(m.size[w][t]) for m in modules) / len(modules))
                              if all(m.size[w][t] > 0 for m in modules) else math.nan for w in check.widths]
                    label = "step 0 (init)" if t == 0 else f"step {t}"
                    ax.plot(check.widths, values, marker="o", markersize=3, color=cmap(t / max(1, steps) * 0.9),
                            label=label)
                ax.set_xscale("log", base=2)
                ax.set_yscale("log")
                ax.xaxis.set_major_locator(FixedLocator(check.widths))
                ax.xaxis.set_minor_locator(NullLocator())
                ax.set_xticklabels([str(w) for w in check.widths], fontsize=7)
                ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 3.0, 5.0)))
                ax.yaxis.set_major_formatter(plain)
                ax.yaxis.set_minor_formatter(NullFormatter())
                ax.tick_params(axis="y", which="both", labelsize=7)
                after = [s for m in modules for s in m.slopes[1:]]
                low, high = min(after), max(after)
                bad = any(violates(family, s) for s in after)
                name = "muP" if p == "mup" else "SP"
                ax.set_title(f"{name}: {family} ({len(modules)})\nslope {low:+.2f}..{high:+.2f} at steps 1-{steps}"
                             + (" (fails)" if bad and p == "mup" else ""), fontsize=8,
                             color="crimson" if bad and p == "mup" else "black")
                ax.grid(True, which="major", alpha=0.3)
                if col == 0:
                    ax.set_ylabel("mean |x| (log)", fontsize=8)
                if row == rows - 1 or k == len(chunks) - 1:
                    ax.set_xlabel("width (log2)", fontsize=8)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=8, frameon=False)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0.35 / fig.get_figheight(), 1, 1))
    with atomic_writer(path) as handle:
        fig.savefig(handle, format="png", dpi=110)


def absorbed_multipliers(plan: ParamPlan) -> dict[str, float]:
    """{module: a} for each hidden layer whose weights absorbed a forward multiplier ``a`` (the
    attention's 1/d in the query, a depth rule's branch multiplier): its init multiplier over the
    hidden rule's m_in^-1/2. The readout's 1/m_in is not listed: the logits are the model's output."""
    found = {}
    for row in plan.rows:
        if row.kind == "hidden" and row.name.endswith(".weight"):
            a = row.multipliers.init * math.sqrt(row.m_in)
            if not math.isclose(a, 1.0):
                found[row.name[:-len(".weight")]] = a
    return found


def _fixed_batch(config: CoordCheckConfig, dataset: Dataset) -> tuple[torch.Tensor, torch.Tensor]:
    split = dataset.train
    rows = torch.randperm(len(split), generator=torch.Generator().manual_seed(config.seed))[:config.batch]
    x, y = split.x[rows], split.y[rows]
    if config.model == "gpt":
        return x[:, :GPT_CONTEXT], y[:, :GPT_CONTEXT]  # (B, 64) characters and their next ones
    return x, y  # (B, 784) images in [0, 1], (B,) labels


def _check_data(config: CoordCheckConfig, dataset: Dataset) -> None:
    text = dataset.train.x.dtype == torch.int64
    if (config.model == "gpt") != text or (not text and dataset.n_features != 784):
        raise ConfigError(f"{param('model')} {config.model} reads {DATA_OF[config.model]}-like data "
                          f"({'token windows' if config.model == 'gpt' else '28x28 images'}); got {dataset.name}")
    if len(dataset.train) < config.batch:
        raise ConfigError(f"{param('batch_size')} {config.batch} is more than the {len(dataset.train)} training rows")


def coordcheck(config: CoordCheckConfig | None = None, dataset: Dataset | None = None,
               progress: Callable[[str, int, int], None] | None = None) -> CoordCheckResult:
    """Run the coordinate check of ``config`` (module docstring) on ``dataset`` (None: loaded,
    :data:`DATA_OF`); ``progress(parametrization, width, seed)`` after each model."""
    config = config or CoordCheckConfig()
    dataset = dataset if dataset is not None else load_dataset(DATA_OF[config.model])
    _check_data(config, dataset)
    device = resolve_device(config.device)
    x, y = (t.to(device) for t in _fixed_batch(config, dataset))
    optimizers = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}
    n_classes = dataset.n_classes
    started = time.perf_counter()
    checks = {}
    for p in config.parametrization:
        def build(width: int, seed: int, p: str = p):
            model, plan = planned_model(config.model, width, n_classes, p, seed)
            model.to(device)
            groups = param_groups(model, plan, lr=config.learning_rate, optimizer=config.optimizer)
            return model, optimizers[config.optimizer](groups), absorbed_multipliers(plan)

        seeds = range(config.seed, config.seed + config.seeds)
        report = None if progress is None else (lambda w, s, p=p: progress(p, w, s))
        checks[p] = coord_check(build, config.widths, (x, y), steps=config.steps, seeds=seeds, progress=report)
    name = "windows of 64 characters" if config.model == "gpt" else "images"
    return CoordCheckResult(config, f"one fixed batch of {config.batch} {dataset.name} {name}", checks,
                            round(time.perf_counter() - started, 1), str(device))

