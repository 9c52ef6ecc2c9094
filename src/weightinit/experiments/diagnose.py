"""The diagnose experiment: one network from several initializations, each looked at layer by
layer at step 0 (:func:`weightinit.diagnostics.diagnose` on one batch of training data): an
MLP, or the LSTM or small ViT of ``compare --model`` with their gates and attention."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from .._checks import check_choice, check_int
from ..data.datasets import Dataset
from ..diagnostics.layer_stats import TABLE_KEY, Report, diagnose
from ..modelinit.activations import ACTIVATIONS
from ..modelinit.plan import init_model
from ..modelinit.schemes import SCHEMES, check_schemes
from ..models.builders import MODELS, build_model, describe_model, parse_arch

__all__ = ["DiagnoseResult", "diagnose_inits"]


@dataclass
class DiagnoseResult:
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

    def text(self) -> str:
        """A table per init, headed by its loss at step 0, then what the columns measure."""
        network = self.activation if self.model == "mlp" else self.model
        tables = [f"== {init} ({network}, loss {r.loss:.4g})\n{r.table()}" for init, r in self.reports.items()]
        return "\n\n".join([*tables, TABLE_KEY])


def diagnose_inits(dataset: Dataset, *, arch: str, activation: str, inits: Sequence[str], batch: int = 256,
                   seed: int = 0, model: str = "mlp") -> DiagnoseResult:
    """The network ``model`` (``"mlp"``: ``arch`` with ``activation``; ``"lstm"``, ``"transformer"``:
    :func:`weightinit.models.build_model`'s, which ignore both) initialized by each of ``inits``
    (seeded by ``seed``) as ``compare`` initializes it, each diagnosed on the same ``batch``
    random training samples."""
    check_choice("model", model, MODELS)
    sizes = parse_arch(arch, dataset.n_features, dataset.n_classes)
    inits = check_schemes(inits)  # every name checked before the first network is built
    check_choice("activation", activation, ACTIVATIONS)
    check_int("batch", batch, 2)
    rows = torch.randperm(len(dataset.train), generator=torch.Generator().manual_seed(seed))[:batch]
    probe = (dataset.train.x[rows], dataset.train.y[rows])
    reports = {}
    for init in inits:
        network = build_model(model, sizes, activation, dataset.image_shape, dataset.n_classes)
        generator = torch.Generator().manual_seed(seed)
        if SCHEMES[init].needs_data:  # lsuv and dbn initialize from data
            init_model(network, init, generator=generator, data=dataset.train.x)
        else:  # the gains of what really follows each layer, traced on two of the images
            init_model(network, init, generator=generator, example_input=probe[0][:2])
        reports[init] = diagnose(network, probe)
    return DiagnoseResult(dataset.name, describe_model(model, sizes, dataset.image_shape),
                          activation if model == "mlp" else "-", batch, seed, reports, model)
