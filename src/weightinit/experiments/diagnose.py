"""The diagnose experiment: one network from several initializations, each looked at layer by
layer at step 0 (:func:`weightinit.diagnostics.diagnose` on one batch of training data): an
MLP, or the LSTM or small ViT of ``compare --model`` with their gates and attention.

Two other studies (``study``): ``"jacobian"``, the singular values of the input-output Jacobian
of square MLPs at several depths beside the free-probability prediction
(:mod:`weightinit.diagnostics.jacobian`, :mod:`weightinit.theory.spectra`); ``"signal"``, the
signal propagation plot of a deep pre-norm ViT (:mod:`weightinit.diagnostics.signal_propagation`)."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from .._checks import check_choice
from ..data.datasets import Dataset
from ..diagnostics.jacobian import JacobianSpread, hidden_stack, jacobian_singular_values
from ..diagnostics.layer_stats import TABLE_KEY, Report, diagnose
from ..diagnostics.signal_propagation import SignalPropagation, signal_propagation
from ..modelinit.activations import ACTIVATIONS
from ..modelinit.plan import init_model
from ..modelinit.schemes import SCHEMES, check_schemes
from ..models.builders import MODELS, NAMED_ARCHS, PatchTransformer, build_model, describe_model, mlp, parse_arch
from ..reporting.plots import plot_histograms, plot_std_by_layer
from ..reporting.theory import plot_signal_propagation, plot_spectra
from ..theory.activations import THEORY_ACTIVATIONS
from ..theory.critical import scheme_point
from ..theory.spectra import JacobianSpectrum, jacobian_spectrum
from ._config import ConfigError, check_seed, count, literal, param
from ._result import ResultBase, artifact, output_folder, write_json

__all__ = ["DiagnoseConfig", "DiagnoseResult", "diagnose_inits", "HIDDEN", "DIAGNOSE_INITS", "STUDIES",
           "JACOBIAN_INITS", "SIGNAL_INITS", "JacobianResult", "SignalResult", "predicted_spectrum", "spectrum_series"]

HIDDEN = (256, 256, 256, 256)  # the default MLP's hidden layers, between the data's features and classes
DIAGNOSE_INITS = ("normal", "default", "xavier_uniform", "he_normal")
STUDIES = ("layers", "jacobian", "signal")
JACOBIAN_INITS = ("critical", "critical_orthogonal", "xavier_normal")  # the theory's two, and Xavier (gain 5/3 on tanh)
SIGNAL_INITS = ("default", "xavier_uniform", "small_init", "gpt2")
PREDICTED = {"critical": "gaussian", "critical_orthogonal": "orthogonal"}  # the inits the theory covers


@dataclass(frozen=True)
class DiagnoseConfig:
    """What ``diagnose_inits`` looks at, checked when made.

    ``model`` "mlp": ``arch`` (None: the data's features, :data:`HIDDEN`, its classes) with
    ``activation`` (None: tanh); "lstm" and "transformer" build their own networks and take
    neither. Each init is seeded by ``seed`` and diagnosed on the same ``batch`` samples.

    ``study`` "jacobian": MLPs of ``width`` units whose hidden stack has each of ``depths`` layers
    (:func:`~weightinit.diagnostics.jacobian.hidden_stack`), the Jacobian at
    ``jacobian_inputs`` training samples (inits default :data:`JACOBIAN_INITS`); "signal": a
    :class:`~weightinit.models.PatchTransformer` of ``blocks`` blocks (``model`` "transformer";
    inits default :data:`SIGNAL_INITS`). ``inits`` None: the study's default."""

    inits: tuple[str, ...] | None = None
    model: str = "mlp"
    arch: str | None = None
    activation: str | None = None
    batch: int = 256
    seed: int = 0
    study: str = "layers"
    depths: tuple[int, ...] = (4, 16, 64)
    width: int = 256
    jacobian_inputs: int = 8
    blocks: int = 16

    def __post_init__(self) -> None:
        check_choice("study", self.study, STUDIES)
        default = {"layers": DIAGNOSE_INITS, "jacobian": JACOBIAN_INITS, "signal": SIGNAL_INITS}[self.study]
        object.__setattr__(self, "inits", tuple(check_schemes(self.inits if self.inits is not None else default)))
        check_choice("model", self.model, MODELS)
        wanted = {"jacobian": "mlp", "signal": "transformer"}.get(self.study)
        if wanted is not None and self.model != wanted:
            raise ConfigError(f"the {self.study} study needs {param('model')} {literal(wanted)}, got "
                              f"{literal(self.model)}")
        if self.study == "jacobian" and self.arch is not None:
            raise ConfigError(f"{param('arch')} {literal(self.arch)} does not apply to the Jacobian study, which "
                              "builds "
                              f"square MLPs of {param('width')} units and {param('depths')} hidden layers; drop it")
        object.__setattr__(self, "depths", tuple(count("depths", d, 1) for d in self.depths))
        if not self.depths:
            raise ConfigError(f"{param('depths')} needs one or more depths")
        count("width", self.width, 2)
        count("jacobian_inputs", self.jacobian_inputs, 1)
        count("blocks", self.blocks, 1)
        for name in ("arch", "activation"):
            value = getattr(self, name)
            if self.model != "mlp" and value is not None:
                raise ConfigError(f"{param(name)} {literal(value)} applies to {param('model')} mlp only; "
                                  f"{param('model')} {literal(self.model)} builds its own network (see `weightinit "
                                  f"diagnose --help`); drop {param(name)}")
        check_choice("activation", self.hidden_activation, ACTIVATIONS)
        if self.arch is not None and self.arch not in NAMED_ARCHS:
            parse_arch(self.arch)
        count("batch", self.batch, 2)
        check_seed("seed", self.seed)

    @property
    def hidden_activation(self) -> str:
        return self.activation or "tanh"

    def arch_for(self, dataset: Dataset) -> str:
        """The MLP's sizes on ``dataset``: ``arch``, or its features, :data:`HIDDEN`, its classes."""
        return self.arch or "-".join(map(str, [dataset.n_features, *HIDDEN, dataset.n_classes]))


@dataclass
class DiagnoseResult(ResultBase):
    """Each init's per-layer statistics at step 0; ``write(folder)`` writes results.json,
    std_by_layer.png, activations.png and gradients.png."""

    dataset: str
    arch: str  # the MLP's sizes, or a line describing the LSTM / ViT
    activation: str  # the MLP's hidden activation ("-" for the LSTM and ViT)
    batch: int
    seed: int
    reports: dict[str, Report]  # init -> per-layer statistics (and gates / attention)
    model: str = "mlp"

    def to_dict(self) -> dict:
        return {"experiment": "diagnose", "dataset": self.dataset, "model": self.model, "arch": self.arch,
                "activation": self.activation, "batch": self.batch, "seed": self.seed,
                "inits": {init: r.to_dict() for init, r in self.reports.items()}}

    def table(self) -> str:
        """A table per init, headed by its loss at step 0, then what the columns measure."""
        network = self.activation if self.model == "mlp" else self.model
        tables = [f"== {init} ({network}, loss {r.loss:.4g})\n{r.table()}" for init, r in self.reports.items()]
        return "\n\n".join([*tables, TABLE_KEY])

    def write(self, folder: str | os.PathLike) -> list[str]:
        folder = output_folder(folder)
        title = f"{self.dataset} {self.arch}" + (f" {self.activation}" if self.model == "mlp" else "") + \
            ", at initialization"
        plot_std_by_layer(self.reports, folder / "std_by_layer.png", title)
        plot_histograms(self.reports, "post", folder / "activations.png", f"Activations per layer ({title})")
        plot_histograms(self.reports, "grad", folder / "gradients.png",
                        f"Back-propagated gradients per layer ({title})")
        write_json(folder, self)
        return ["results.json", "std_by_layer.png", "activations.png", "gradients.png"]


def diagnose_inits(dataset: Dataset, config: DiagnoseConfig | None = None) -> DiagnoseResult:
    """The network ``config.model`` (``"mlp"``: ``config.arch`` with ``config.activation``;
    ``"lstm"``, ``"transformer"``: :func:`weightinit.models.build_model`'s) initialized by
    each of ``config.inits`` (seeded by ``config.seed``) as ``compare`` initializes it, each
    diagnosed on the same ``config.batch`` random training samples."""
    config = config or DiagnoseConfig()
    if config.study == "jacobian":
        return _jacobian_study(dataset, config)
    if config.study == "signal":
        return _signal_study(dataset, config)
    sizes = parse_arch(config.arch_for(dataset), dataset.n_features, dataset.n_classes)
    rows = torch.randperm(len(dataset.train), generator=torch.Generator().manual_seed(config.seed))[:config.batch]
    probe = (dataset.train.x[rows], dataset.train.y[rows])
    reports = {}
    for init in config.inits:
        network = build_model(config.model, sizes, config.hidden_activation, dataset.image_shape, dataset.n_classes)
        generator = torch.Generator().manual_seed(config.seed)
        if SCHEMES[init].needs_data:  # lsuv and dbn initialize from data
            init_model(network, init, generator=generator, data=dataset.train.x)
        else:  # the gains of what really follows each layer, traced on two of the images
            init_model(network, init, generator=generator, example_input=probe[0][:2])
        reports[init] = diagnose(network, probe)
    return DiagnoseResult(dataset.name, describe_model(config.model, sizes, dataset.image_shape),
                          config.hidden_activation if config.model == "mlp" else "-", config.batch, config.seed,
                          reports, config.model)


def _initialize(network, init: str, seed: int, dataset: Dataset, example: torch.Tensor) -> None:
    generator = torch.Generator().manual_seed(seed)
    if SCHEMES[init].needs_data:
        init_model(network, init, generator=generator, data=dataset.train.x)
    else:
        init_model(network, init, generator=generator, example_input=example)


def predicted_spectrum(init: str, activation: str, depth: int) -> JacobianSpectrum | None:
    """The free-probability spectrum of a depth-``depth`` stack from ``init`` if the theory covers
    it (``critical``: Gaussian, ``critical_orthogonal``: orthogonal, at the scheme's point of
    ``activation``'s critical line), else None."""
    if init not in PREDICTED or activation not in THEORY_ACTIVATIONS:
        return None
    point = scheme_point(activation)
    return jacobian_spectrum(activation, point.sigma_w2, point.sigma_b2, depth, PREDICTED[init], points=300)


def spectrum_series(label: str, singular_values: list[float], spectrum: JacobianSpectrum | None) -> dict:
    """One series of :func:`~weightinit.reporting.theory.plot_spectra`."""
    if spectrum is None:
        predicted = None
    elif spectrum.atom is not None:
        predicted = ("atom", spectrum.atom ** 0.5)
    else:
        predicted = spectrum.singular_value_density()
    return {"label": label, "singular_values": singular_values, "predicted": predicted}


def _prediction_numbers(spectrum: JacobianSpectrum, lam: torch.Tensor) -> dict:
    """The prediction's numbers, and its largest distance to the measured distribution of lambda
    (on the grid, above 1e-6 of the mean: smaller values are below float64's resolution of J)."""
    import numpy as np

    grid = np.asarray(spectrum.lam)
    grid = grid[grid >= 1e-6 * spectrum.mean] if spectrum.atom is None else grid
    values = np.sort(lam.numpy())
    measured = np.searchsorted(values, grid, side="right") / len(values)
    return {"mean": spectrum.mean, "variance": spectrum.variance, "share_within": spectrum.share_within(),
            "lambda_max": spectrum.lambda_max, "spread_99_1": spectrum.spread(),
            "ks": float(np.abs(measured - spectrum.cdf(grid)).max())}


@dataclass
class JacobianResult(ResultBase):
    """The Jacobian study: per init and depth, the spread of the singular values measured
    (``spreads``) and, where the theory covers the init, its prediction (``predicted``: mean,
    variance and share within x2 of its lambda = s², and ``ks``, the largest distance between the
    measured and predicted distributions). ``write``: results.json and jacobian.png."""

    dataset: str
    activation: str
    width: int
    depths: list[int]
    inputs: int
    seed: int
    spreads: dict[str, dict[int, JacobianSpread]]
    predicted: dict[str, dict[int, dict]]
    series: list[dict] = artifact()  # the figure's panels

    def to_dict(self) -> dict:
        return {"experiment": "diagnose", "study": "jacobian", "dataset": self.dataset, "activation": self.activation,
                "width": self.width, "depths": self.depths, "inputs": self.inputs, "seed": self.seed,
                "spreads": {i: {str(d): s.to_dict() for d, s in by.items()} for i, by in self.spreads.items()},
                "predicted": {i: {str(d): p for d, p in by.items()} for i, by in self.predicted.items()}}

    def table(self) -> str:
        lines = [f"singular values s of the Jacobian of {self.activation} MLPs of width {self.width} (hidden stack of "
                 f"`depth` layers, at {self.inputs} inputs); predicted: free probability (Pennington et al. 2017)",
                 "| init | depth | max/min | within x2 of 1 | mean s² | var s² | predicted within x2 "
                 "| predicted mean s² "
                 "| predicted var s² | distance (KS) |", "|---" * 10 + "|"]
        for init, by in self.spreads.items():
            for depth, s in by.items():
                p = self.predicted.get(init, {}).get(depth)
                tail = ["-"] * 4 if p is None else [f"{100 * p['share_within']:.0f}%", f"{p['mean']:.3g}",
                                                    f"{p['variance']:.3g}", f"{p['ks']:.3f}"]
                lines.append(f"| {init} | {depth} | {s.ratio:.3g} | {100 * s.share_within:.0f}% | {s.mean:.3g} | "
                             f"{s.variance:.3g} | " + " | ".join(tail) + " |")
        return "\n".join(lines)

    def findings(self) -> list[str]:
        found = []
        deepest = max(self.depths)
        for init, by in self.spreads.items():
            s = by[deepest]
            found.append(f"{init} at depth {deepest}: {100 * s.share_within:.0f}% of the singular values within a "
                         f"factor of 2 of 1, max/min {s.ratio:.3g}.")
        return found

    def write(self, folder: str | os.PathLike) -> list[str]:
        folder = output_folder(folder)
        plot_spectra(self.series, folder / "jacobian.png",
                     f"{self.dataset}: Jacobian singular values of {self.activation} MLPs, width {self.width}")
        return ["jacobian.png", write_json(folder, self)]


def _jacobian_study(dataset: Dataset, config: DiagnoseConfig) -> JacobianResult:
    rows = torch.randperm(len(dataset.train), generator=torch.Generator().manual_seed(config.seed))
    x = dataset.train.x[rows[:config.jacobian_inputs]]
    activation = config.hidden_activation
    spreads: dict[str, dict[int, JacobianSpread]] = {init: {} for init in config.inits}
    predicted: dict[str, dict[int, dict]] = {}
    panels = []
    for depth in config.depths:
        sizes = [dataset.n_features, *[config.width] * (depth + 1), dataset.n_classes]
        series = []
        for init in config.inits:
            network = mlp(sizes, activation)
            _initialize(network, init, config.seed, dataset, x[:2])
            front, stack = hidden_stack(network)
            with torch.no_grad():
                entering = front(x)  # (B, width): the stack's inputs
            s = jacobian_singular_values(stack, entering)  # (B, width)
            spreads[init][depth] = JacobianSpread.of(s)
            spectrum = predicted_spectrum(init, activation, depth)
            if spectrum is not None:
                predicted.setdefault(init, {})[depth] = _prediction_numbers(spectrum, (s * s).flatten())
            series.append(spectrum_series(init, s.flatten().tolist(), spectrum))
        panels.append({"depth": depth, "series": series})
    return JacobianResult(dataset.name, activation, config.width, list(config.depths), len(x), config.seed, spreads,
                          predicted, panels)


@dataclass
class SignalResult(ResultBase):
    """The signal study: per init, the residual stream's statistics after each block of a
    ``blocks``-block pre-norm ViT (Brock et al. 2021). ``write``: results.json and
    signal_propagation.png."""

    dataset: str
    blocks: int
    batch: int
    seed: int
    signals: dict[str, SignalPropagation]

    def to_dict(self) -> dict:
        return {"experiment": "diagnose", "study": "signal", "dataset": self.dataset, "blocks": self.blocks,
                "batch": self.batch, "seed": self.seed,
                "inits": {init: s.to_dicts() for init, s in self.signals.items()}}

    def table(self) -> str:
        inits = list(self.signals)
        lines = [f"the residual stream of a ViT of {self.blocks} pre-norm blocks at initialization, after each block: "
                 "average channel variance / average channel squared mean",
                 "| depth | " + " | ".join(inits) + " |", "|---" * (len(inits) + 1) + "|"]
        for k in range(len(next(iter(self.signals.values())).rows)):
            cells = [f"{s.rows[k].variance:.3g} / {s.rows[k].squared_mean:.3g}" for s in self.signals.values()]
            lines.append(f"| {k} | " + " | ".join(cells) + " |")
        return "\n".join(lines)

    def findings(self) -> list[str]:
        found = []
        for init, s in self.signals.items():
            first, last = s.rows[1], s.rows[-1]
            found.append(f"{init}: the stream's variance goes from {first.variance:.3g} after block 1 to "
                         f"{last.variance:.3g} after block {self.blocks} (x{last.variance / first.variance:.3g}).")
        return found

    def write(self, folder: str | os.PathLike) -> list[str]:
        folder = output_folder(folder)
        plot_signal_propagation({init: s.to_dicts() for init, s in self.signals.items()},
                                folder / "signal_propagation.png",
                                f"{self.dataset}: ViT of {self.blocks} pre-norm blocks at initialization")
        return ["signal_propagation.png", write_json(folder, self)]


def _signal_study(dataset: Dataset, config: DiagnoseConfig) -> SignalResult:
    if len(dataset.image_shape) != 2:
        raise ConfigError(f"the signal study's ViT reads images; {dataset.name} has feature shape "
                          f"{dataset.image_shape}")
    rows = torch.randperm(len(dataset.train), generator=torch.Generator().manual_seed(config.seed))[:config.batch]
    x = dataset.train.x[rows]
    signals = {}
    for init in config.inits:
        network = PatchTransformer(dataset.image_shape, dataset.n_classes, depth=config.blocks)
        _initialize(network, init, config.seed, dataset, x[:2])
        signals[init] = signal_propagation(network, x)
    return SignalResult(dataset.name, config.blocks, len(x), config.seed, signals)
