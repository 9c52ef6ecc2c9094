r"""Gaussian expectations by quadrature, vectorized over many points at once.

One variable, :math:`E_z[f(\sqrt{q}\,z)]` with :math:`z \sim N(0, 1)`: Gauss-Hermite (the
probabilists' nodes) with an even number of nodes, so that no node sits at 0 and the
expectation of a function that is a polynomial on each side of 0 (ReLU's :math:`h^2`,
:math:`[h > 0]`) is exact.

Two variables at correlation :math:`c`, :math:`E[f(u_1, u_2)]` with
:math:`u_1 = \sqrt{q}\,z_1`, :math:`u_2 = \sqrt{q}\,(c z_1 + \sqrt{1 - c^2}\,z_2)`: in polar
coordinates :math:`z = r(\cos\theta, \sin\theta)`, where
:math:`u_1 = \sqrt{q}\,r\cos\theta` and :math:`u_2 = \sqrt{q}\,r\cos(\theta - \beta)`,
:math:`\cos\beta = c`:

.. math::
    E[f(u_1, u_2)] = \frac{1}{2\pi}\int_0^{\pi} d\theta \int_0^\infty e^{-t}
        \big[f(r a_\theta) + f(-r a_\theta)\big]\,dt, \quad r = \sqrt{2t}

The bracket is even in :math:`r`, hence smooth in :math:`t`: Gauss-Laguerre in :math:`t`. In
:math:`\theta` the integrand is smooth except where :math:`u_1` or :math:`u_2` crosses 0
(:math:`\theta = \pi/2` and :math:`\beta + \pi/2`), where a kinked activation's derivative jumps:
Gauss-Legendre on the three pieces between those angles. ReLU's arc-cosine kernel (Cho & Saul
2009) comes out to rounding (``tests/theory/test_quadrature.py``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import cache

import numpy as np
import torch

__all__ = ["gaussian_mean", "gaussian_pair_mean", "HERMITE_NODES", "ANGLE_NODES", "RADIAL_NODES"]

HERMITE_NODES = 160  # even: no node at 0
ANGLE_NODES = 24  # per piece of [0, pi) between the kinks
RADIAL_NODES = 48

Pair = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@cache
def _hermite(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    nodes, weights = np.polynomial.hermite_e.hermegauss(n)
    return torch.from_numpy(nodes), torch.from_numpy(weights / math.sqrt(2.0 * math.pi))


@cache
def _legendre(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    nodes, weights = np.polynomial.legendre.leggauss(n)
    return torch.from_numpy(nodes), torch.from_numpy(weights)


@cache
def _laguerre(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    nodes, weights = np.polynomial.laguerre.laggauss(n)
    return torch.from_numpy(nodes), torch.from_numpy(weights)


def gaussian_mean(f: Callable[[torch.Tensor], torch.Tensor], q: torch.Tensor, *,
                  nodes: int = HERMITE_NODES) -> torch.Tensor:
    r""":math:`E_{z \sim N(0,1)}[f(\sqrt{q}\,z)]` for each entry of ``q`` (float64, any shape;
    ``f`` is applied element-wise)."""
    z, w = _hermite(nodes)
    q = torch.as_tensor(q, dtype=torch.float64)
    h = torch.sqrt(q).unsqueeze(-1) * z  # (*q.shape, nodes)
    return (f(h) * w).sum(-1)


def gaussian_pair_mean(f: Pair, q: torch.Tensor, c: torch.Tensor, *, angle_nodes: int = ANGLE_NODES,
                       radial_nodes: int = RADIAL_NODES) -> torch.Tensor:
    r""":math:`E[f(u_1, u_2)]` for two centred Gaussians of variance ``q`` and correlation ``c``
    (broadcast together, float64), by the polar rule of the module's docstring."""
    q, c = torch.broadcast_tensors(torch.as_tensor(q, dtype=torch.float64), torch.as_tensor(c, dtype=torch.float64))
    beta = torch.arccos(c.clamp(-1.0, 1.0))  # (*P,)
    kinks = torch.stack([torch.full_like(beta, math.pi / 2), torch.remainder(beta + math.pi / 2, math.pi)], -1)
    kinks, _ = kinks.sort(-1)
    edges = torch.cat([torch.zeros_like(beta).unsqueeze(-1), kinks, torch.full_like(beta, math.pi).unsqueeze(-1)], -1)
    x, wx = _legendre(angle_nodes)
    lo, hi = edges[..., :-1].unsqueeze(-1), edges[..., 1:].unsqueeze(-1)  # (*P, 3, 1)
    theta = (lo + hi) / 2 + (hi - lo) / 2 * x  # (*P, 3, n)
    w_theta = (hi - lo) / 2 * wx
    theta, w_theta = theta.flatten(-2), w_theta.flatten(-2)  # (*P, 3n)
    t, wt = _laguerre(radial_nodes)
    r = torch.sqrt(2.0 * t)  # (m,)
    scale = torch.sqrt(q).unsqueeze(-1)
    a1 = (scale * torch.cos(theta)).unsqueeze(-1) * r  # (*P, 3n, m)
    a2 = (scale * torch.cos(theta - beta.unsqueeze(-1))).unsqueeze(-1) * r
    inner = ((f(a1, a2) + f(-a1, -a2)) * wt).sum(-1)  # (*P, 3n)
    return (inner * w_theta).sum(-1) / (2.0 * math.pi)
