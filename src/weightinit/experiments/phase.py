"""The phase experiment: the mean-field phase diagram of a deep random network with one
activation (:func:`weightinit.theory.phase.phase_diagram`) and the critical point at one bias
variance: ``weightinit phase --activation tanh``."""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass

import torch

from .._checks import check_choice
from ..errors import UserError
from ..reporting.theory import plot_phase_diagram
from ..theory.activations import THEORY_ACTIVATIONS
from ..theory.critical import critical_point, critical_sigma_w2
from ..theory.meanfield import MeanField, mean_field
from ..theory.phase import PhaseDiagram, phase_diagram
from ._config import count, number
from ._result import ResultBase, output_folder, write_json

__all__ = ["PhaseConfig", "PhaseResult", "phase", "TABLE_SIGMA_B2"]

TABLE_SIGMA_B2 = (0.0, 0.01, 0.05, 0.1, 0.2, 0.3)  # the bias variances of the printed critical line


@dataclass(frozen=True)
class PhaseConfig:
    """What ``phase`` draws: ``activation``'s phase diagram over sigma_w² in [``w2_min``,
    ``w2_max``] and sigma_b² in [0, ``b2_max``] on a ``resolution`` x ``resolution`` grid, and its
    critical point at ``sigma_b2``."""

    activation: str = "tanh"
    sigma_b2: float = 0.05
    w2_min: float = 0.5
    w2_max: float = 4.0
    b2_max: float = 0.3
    resolution: int = 41

    def __post_init__(self) -> None:
        check_choice("activation", self.activation, THEORY_ACTIVATIONS)
        number("sigma_b2", self.sigma_b2, 0)
        number("w2_min", self.w2_min, 0, strictly=True)
        number("w2_max", self.w2_max, self.w2_min, strictly=True, maximum=16)
        number("b2_max", self.b2_max, 0, strictly=True, maximum=4)
        count("resolution", self.resolution, 2, 201)


@dataclass
class PhaseResult(ResultBase):
    """The diagram, the critical point at ``sigma_b2`` and the mean field there."""

    diagram: PhaseDiagram
    sigma_b2: float
    critical_sigma_w2: float
    point: MeanField
    line: list[tuple[float, float]]  # (sigma_b², critical sigma_w²) at the table's bias variances

    def to_dict(self) -> dict:
        return {"experiment": "phase", "activation": self.diagram.activation, "sigma_b2": self.sigma_b2,
                "critical_sigma_w2": self.critical_sigma_w2, "critical_sigma_w": math.sqrt(self.critical_sigma_w2),
                "critical_point": asdict(self.point), "diagram": asdict(self.diagram)}

    def table(self) -> str:
        rows = [f"critical line of {self.diagram.activation} (chi_1 = 1):", "| sigma_b² | critical sigma_w² | "
                "critical sigma_w |", "|---|---|---|"]
        rows += [f"| {b2:.4g} | {w2:.4f} | {math.sqrt(w2):.4f} |" for b2, w2 in self.line]
        return "\n".join(rows)

    def findings(self) -> list[str]:
        p = self.point
        return [f"critical sigma_w = {math.sqrt(self.critical_sigma_w2):.4f} (sigma_w² = {self.critical_sigma_w2:.4f}) "
                f"for {p.activation} at sigma_b² = {self.sigma_b2:g}: initialize W ~ N(0, sigma_w²/fan_in); there "
                f"q* = {p.q_star:.4g} and xi_c is infinite (chi_1 = 1).",
                "Below the line (smaller sigma_w²) the network is ordered: all inputs converge to one output; above it "
                "chaotic: nearby inputs decorrelate. Either way signals survive about xi_c layers, and a network "
                "deeper than about 6 xi_c does not train (Schoenholz et al. 2017)."]

    def write(self, folder: str | os.PathLike) -> list[str]:
        folder = output_folder(folder)
        plot_phase_diagram(self.diagram, folder / "phase.png", (self.critical_sigma_w2, self.sigma_b2))
        return ["phase.png", write_json(folder, self)]


def phase(config: PhaseConfig | None = None) -> PhaseResult:
    """The phase diagram of ``config.activation`` and its critical point at ``config.sigma_b2``."""
    config = config or PhaseConfig()
    w2 = torch.linspace(config.w2_min, config.w2_max, config.resolution).tolist()
    b2 = torch.linspace(0.0, config.b2_max, config.resolution).tolist()
    diagram = phase_diagram(config.activation, w2, b2)
    point = critical_point(config.activation, config.sigma_b2)
    line = []
    for b2 in sorted({*TABLE_SIGMA_B2, config.sigma_b2}):
        try:
            line.append((b2, float(critical_sigma_w2(config.activation, b2))))
        except UserError:  # no critical point at this bias variance: left out of the table
            continue
    return PhaseResult(diagram, config.sigma_b2, point.sigma_w2,
                       mean_field(config.activation, point.sigma_w2, config.sigma_b2), line)
