r"""The phase diagram of a deep random network: over a grid of :math:`(\sigma_w^2, \sigma_b^2)`,
:math:`\chi_1` (ordered below 1, chaotic above) and the correlation depth scale :math:`\xi_c`
(Poole et al. 2016, Figure 2; Schoenholz et al. 2017, Figure 1), with the critical line through
it (:mod:`weightinit.theory.critical`). The whole grid is one vectorized computation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ..errors import UserError
from .activations import theory_activation
from .critical import critical_sigma_w2
from .meanfield import chi_1, depth_scales, fixed_point_c, fixed_point_q

__all__ = ["PhaseDiagram", "phase_diagram"]


@dataclass(frozen=True)
class PhaseDiagram:
    """``chi_1[i][j]``, ``xi_c[i][j]`` and ``q_star[i][j]`` at ``sigma_b2[i]``, ``sigma_w2[j]``;
    ``critical_w2[i]``, the critical line's sigma_w² at ``sigma_b2[i]`` (None where it has none)."""

    activation: str
    sigma_w2: list[float]
    sigma_b2: list[float]
    chi_1: list[list[float]]
    xi_c: list[list[float]]
    q_star: list[list[float]]
    critical_w2: list[float | None]


def _grid(name: str, values: Sequence[float]) -> torch.Tensor:
    grid = torch.as_tensor(list(values), dtype=torch.float64)
    if grid.dim() != 1 or len(grid) < 2 or bool((grid < 0).any()) or not bool(torch.isfinite(grid).all()):
        raise UserError(f"{name} must hold 2 or more finite values >= 0, got {list(values)!r}")
    return grid


def phase_diagram(activation: str, sigma_w2: Sequence[float], sigma_b2: Sequence[float]) -> PhaseDiagram:
    r""":math:`\chi_1`, :math:`\xi_c` and :math:`q^*` over the grid ``sigma_w2`` x ``sigma_b2``, and the
    critical line at each ``sigma_b2``.

    Examples:
        >>> diagram = phase_diagram("tanh", [1.0, 2.0, 3.0], [0.0, 0.05])  # doctest: +SKIP
    """
    theory_activation(activation)
    w2, b2 = _grid("sigma_w2", sigma_w2), _grid("sigma_b2", sigma_b2)
    if bool((w2 == 0).any()):
        raise UserError(f"sigma_w2 must be > 0, got {list(sigma_w2)!r}")
    W, B = torch.meshgrid(w2, b2, indexing="xy")  # (len(b2), len(w2))
    q = fixed_point_q(activation, W, B)
    c = fixed_point_c(activation, W, B, q)
    _, xi_c = depth_scales(activation, W, B, q, c)
    try:
        critical: list[float | None] = critical_sigma_w2(activation, b2).tolist()
    except UserError:  # some sigma_b² have no critical point: find which, one by one
        critical = [_critical_or_none(activation, value) for value in b2.tolist()]
    return PhaseDiagram(activation, w2.tolist(), b2.tolist(), chi_1(activation, W, q).tolist(), xi_c.tolist(),
                        q.tolist(), critical)



def _critical_or_none(activation: str, sigma_b2: float) -> float | None:
    try:
        return float(critical_sigma_w2(activation, sigma_b2))
    except UserError:
        return None
