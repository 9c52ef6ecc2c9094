"""The diagnose experiment: one network from several initializations, each looked at layer by
layer at step 0 (:func:`weightinit.diagnostics.diagnose` on one batch of training data): an
MLP, or the LSTM or small ViT of ``compare --model`` with their gates and attention."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from .._checks import check_choice
from ..data.datasets import Dataset
from ..diagnostics.layer_stats import TABLE_KEY, Report, diagnose
from ..modelinit.activations import ACTIVATIONS
from ..modelinit.plan import init_model
from ..modelinit.schemes import SCHEMES, check_schemes
from ..models.builders import MODELS, NAMED_ARCHS, build_model, describe_model, parse_arch
from ..reporting.plots import plot_histograms, plot_std_by_layer
from ._config import ConfigError, check_seed, count, literal, param
from ._result import ResultBase, output_folder, write_json

__all__ = ["DiagnoseConfig", "DiagnoseResult", "diagnose_inits", "HIDDEN", "DIAGNOSE_INITS"]

HIDDEN = (256, 256, 256, 256)  # the default MLP's hidden layers, between the data's features and classes
DIAGNOSE_INITS = ("normal", "default", "xavier_uniform", "he_normal")


@dataclass(frozen=True)
class DiagnoseConfig:
    """What ``diagnose_inits`` looks at, checked when made.

    ``model`` "mlp": ``arch`` (None: the data's features, :data:`HIDDEN`, its classes) with
    ``activation`` (None: tanh); "lstm" and "transformer" build their own networks and take
    neither. Each init is seeded by ``seed`` and diagnosed on the same ``batch`` samples."""

    inits: tuple[str, ...] = DIAGNOSE_INITS
    model: str = "mlp"
    arch: str | None = None
    activation: str | None = None
    batch: int = 256
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "inits", tuple(check_schemes(self.inits)))
        check_choice("model", self.model, MODELS)
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
