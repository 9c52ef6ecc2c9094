"""The diagnose experiment: one network from several initializations, each looked at layer by
layer at step 0 (:func:`weightinit.diagnostics.diagnose` on one batch of training data)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ..activations import ACTIVATIONS
from ..checks import check_choice, check_int
from ..data.datasets import Dataset
from ..diagnostics import Report, diagnose
from ..models import mlp, parse_arch
from ..plan import init_model
from ..schemes import SCHEMES, check_schemes

__all__ = ["DiagnoseResult", "diagnose_inits"]


@dataclass
class DiagnoseResult:
    dataset: str
    arch: str
    activation: str
    batch: int
    seed: int
    reports: dict[str, Report]  # init -> per-layer statistics

    def to_dict(self) -> dict:
        return {"experiment": "diagnose", "dataset": self.dataset, "arch": self.arch, "activation": self.activation,
                "batch": self.batch, "seed": self.seed,
                "inits": {init: {"loss": r.loss, "layers": r.to_dicts()} for init, r in self.reports.items()}}

    def text(self) -> str:
        """A table per init, headed by its loss at step 0."""
        return "\n\n".join(f"== {init} ({self.activation}, loss {r.loss:.4g})\n{r.table()}"
                           for init, r in self.reports.items())


def diagnose_inits(dataset: Dataset, *, arch: str, activation: str, inits: Sequence[str], batch: int = 256,
                   seed: int = 0) -> DiagnoseResult:
    """``arch`` with ``activation`` initialized by each of ``inits`` (seeded by ``seed``), each
    diagnosed on the same ``batch`` random training samples."""
    sizes = parse_arch(arch, dataset.n_features, dataset.n_classes)
    inits = check_schemes(inits)  # every name checked before the first network is built
    check_choice("activation", activation, ACTIVATIONS)
    check_int("batch", batch, 2)
    rows = torch.randperm(len(dataset.train), generator=torch.Generator().manual_seed(seed))[:batch]
    probe = (dataset.train.x[rows], dataset.train.y[rows])
    reports = {}
    for init in inits:
        model = mlp(sizes, activation)
        data = dataset.train.x if SCHEMES[init].needs_data else None  # lsuv and dbn initialize from data
        init_model(model, init, generator=torch.Generator().manual_seed(seed), data=data)
        reports[init] = diagnose(model, probe)
    return DiagnoseResult(dataset.name, "-".join(map(str, sizes)), activation, batch, seed, reports)
