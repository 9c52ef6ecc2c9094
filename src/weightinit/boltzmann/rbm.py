"""Restricted Boltzmann Machines: the model and its conditionals, free energy and likelihood proxies.

An RBM (Smolensky 1986; Hinton 2002) has visible units v and hidden units h, connected
across the two layers and not within one. With weights W of shape (n_hidden, n_visible),
visible bias b and hidden bias c:

- Bernoulli visible units: :math:`E(v, h) = -b^\\top v - c^\\top h - h^\\top W v`;
- Gaussian visible units of unit variance (for standardized real-valued data):
  :math:`E(v, h) = \\tfrac12\\|v - b\\|^2 - c^\\top h - h^\\top W v`.

Conditionals: :math:`p(h_j = 1 | v) = \\sigma(W_j v + c_j)`; :math:`p(v_i = 1 | h) =
\\sigma(W_{:,i}^\\top h + b_i)` (Bernoulli) or :math:`v | h \\sim N(W^\\top h + b, I)`
(Gaussian). Free energy :math:`F(v) = -\\log \\sum_h e^{-E(v, h)}`.

Initial values follow Hinton's "A Practical Guide to Training Restricted Boltzmann Machines"
(2010): W ~ N(0, 0.01²), hidden bias 0, visible bias log(p/(1-p)) of the data's mean.
Training lives in :mod:`weightinit.boltzmann.trainer`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .._checks import check_choice, check_positive_int
from ..errors import UserError
from .cd import draw_bernoulli

__all__ = ["RBM", "VISIBLE_TYPES", "check_visible"]

VISIBLE_TYPES = ("bernoulli", "gaussian")


# Gaussian visible units expect standardized data; far beyond this, E = |v - b|²/2 overflows float32.
GAUSSIAN_LIMIT = 1e6


def check_visible(v: torch.Tensor, n_visible: int, visible: str, name: str = "v",
                  like: torch.Tensor | None = None) -> torch.Tensor:
    """Refuse data an RBM cannot take: not 2-D, wrong width, empty, NaN/inf, or (Bernoulli)
    values outside [0, 1]. With ``like``, ``v`` is first converted to its dtype and device
    (so values beyond that dtype's range are refused as inf)."""
    if not isinstance(v, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(v).__name__}")
    if v.dim() != 2 or v.shape[1] != n_visible:
        raise UserError(f"{name} must have shape (n_samples, {n_visible}), got {tuple(v.shape)}")
    if v.shape[0] == 0:
        raise UserError(f"{name} is empty: it has 0 samples")
    if not v.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got {v.dtype}")
    if like is not None:
        v = v.to(dtype=like.dtype, device=like.device)
    if not torch.isfinite(v).all():
        raise UserError(f"{name} contains NaN or inf" + ("" if like is None else f" (as {like.dtype})"))
    if visible == "gaussian" and v.abs().max() > GAUSSIAN_LIMIT:
        raise UserError(f"{name} holds values up to {float(v.abs().max()):g} in absolute value; Gaussian visible "
                         f"units take standardized data (|v| <= {GAUSSIAN_LIMIT:g}): use weightinit.data.standardize")
    if visible == "bernoulli" and (v.min() < 0 or v.max() > 1):
        raise UserError(
            f"{name} must hold values in [0, 1] for Bernoulli visible units, got [{float(v.min()):g}, "
            f"{float(v.max()):g}]; scale the data or use visible='gaussian' with standardized data"
        )
    return v


class RBM(nn.Module):
    """A restricted Boltzmann machine with Bernoulli hidden units.

    Args:
        n_visible: number of visible units (features).
        n_hidden: number of hidden units.
        visible: ``"bernoulli"`` (data in [0, 1]) or ``"gaussian"`` (unit-variance Gaussian
            visible units, for standardized real-valued data).

    Attributes:
        W: weights of shape (n_hidden, n_visible).
        b_v: visible bias of shape (n_visible,).
        b_h: hidden bias of shape (n_hidden,).

    Examples:
        >>> rbm = RBM(784, 500)
        >>> rbm.reset_parameters(data=x, generator=torch.Generator().manual_seed(0))  # doctest: +SKIP
    """

    def __init__(self, n_visible: int, n_hidden: int, visible: str = "bernoulli") -> None:
        super().__init__()
        self.n_visible = check_positive_int("n_visible", n_visible)
        self.n_hidden = check_positive_int("n_hidden", n_hidden)
        self.visible = check_choice("visible", visible, VISIBLE_TYPES)
        # Trained by contrastive divergence, not autograd: no gradients needed.
        self.W = nn.Parameter(torch.zeros(n_hidden, n_visible), requires_grad=False)
        self.b_v = nn.Parameter(torch.zeros(n_visible), requires_grad=False)
        self.b_h = nn.Parameter(torch.zeros(n_hidden), requires_grad=False)

    def extra_repr(self) -> str:
        return f"n_visible={self.n_visible}, n_hidden={self.n_hidden}, visible={self.visible!r}"

    @torch.no_grad()
    def reset_parameters(self, data: torch.Tensor | None = None, generator: torch.Generator | None = None, *,
                         mean: torch.Tensor | None = None) -> RBM:
        """Hinton's guide (section 8): W ~ N(0, 0.01²), hidden bias 0, visible bias
        log(p/(1-p)) with p the data's mean per unit, clipped to [0.001, 0.999] (Bernoulli),
        or the data's mean (Gaussian); 0 without data.

        ``mean``: the data's mean per unit, of shape (n_visible,), when the caller already has
        it (the scikit-learn estimators compute it in their one pass over the data); then
        ``data`` is not read (nor checked) again."""
        self.W.normal_(0.0, 0.01, generator=generator)
        self.b_h.zero_()
        if mean is None and data is not None:
            mean = check_visible(data, self.n_visible, self.visible, "data").mean(0)
        if mean is None:
            self.b_v.zero_()
            return self
        if mean.shape != (self.n_visible,):
            raise UserError(f"mean must have shape ({self.n_visible},), got {tuple(mean.shape)}")
        mean = mean.to(dtype=self.b_v.dtype, device=self.b_v.device)
        if self.visible == "bernoulli":
            p = mean.clamp(1e-3, 1 - 1e-3)
            self.b_v.copy_(torch.log(p / (1 - p)))
        else:
            self.b_v.copy_(mean)
        return self

    # ------------------------------------------------------------ conditionals
    def hidden_input(self, v: torch.Tensor) -> torch.Tensor:
        """Pre-activations of the hidden units, W v + c: (B, n_visible) -> (B, n_hidden)."""
        return torch.addmm(self.b_h, v, self.W.T)

    def visible_input(self, h: torch.Tensor) -> torch.Tensor:
        """Pre-activations (Bernoulli) or means (Gaussian) of the visible units, Wᵀh + b."""
        return torch.addmm(self.b_v, h, self.W)

    def _visible(self, v: torch.Tensor) -> torch.Tensor:
        """``v`` checked (:func:`check_visible`) and in the parameters' dtype and device."""
        return check_visible(v, self.n_visible, self.visible, like=self.W)

    def _hidden(self, h: torch.Tensor) -> torch.Tensor:
        """``h`` checked: (B, n_hidden), floating point, values in [0, 1]."""
        return check_visible(h, self.n_hidden, "bernoulli", "h", like=self.W)

    @torch.no_grad()
    def prob_h(self, v: torch.Tensor) -> torch.Tensor:
        """p(h = 1 | v), of shape (B, n_hidden)."""
        return torch.sigmoid(self.hidden_input(self._visible(v)))

    @torch.no_grad()
    def sample_h(self, v: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """A sample of h given v, as 0./1. floats."""
        return draw_bernoulli(self.prob_h(v), generator)

    @torch.no_grad()
    def prob_v(self, h: torch.Tensor) -> torch.Tensor:
        """p(v = 1 | h) for Bernoulli units; E[v | h] = Wᵀh + b for Gaussian ones."""
        x = self.visible_input(self._hidden(h))
        return torch.sigmoid(x) if self.visible == "bernoulli" else x

    @torch.no_grad()
    def sample_v(self, h: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """A sample of v given h."""
        x = self.visible_input(self._hidden(h))
        if self.visible == "bernoulli":
            return draw_bernoulli(torch.sigmoid(x), generator)
        return x.add_(torch.randn(x.shape, dtype=x.dtype, device=x.device, generator=generator))

    @torch.no_grad()
    def gibbs(self, v: torch.Tensor, steps: int = 1, generator: torch.Generator | None = None) -> torch.Tensor:
        """Run ``steps`` full Gibbs steps v -> h -> v from ``v``; return the last v sample."""
        check_positive_int("steps", steps)
        v = self._visible(v)
        for _ in range(steps):
            v = self.sample_v(self.sample_h(v, generator), generator)
        return v

    @torch.no_grad()
    def reconstruct(self, v: torch.Tensor) -> torch.Tensor:
        """The mean-field reconstruction E[v | h = p(h | v)]: encode, then decode."""
        return self.prob_v(self.prob_h(v))

    # ------------------------------------------------------------ measures
    @torch.no_grad()
    def free_energy(self, v: torch.Tensor) -> torch.Tensor:
        """F(v) = -log Σ_h exp(-E(v, h)), of shape (B,):

        Bernoulli: :math:`-b^\\top v - \\sum_j \\mathrm{softplus}(W_j v + c_j)`;
        Gaussian: :math:`\\tfrac12\\|v - b\\|^2 - \\sum_j \\mathrm{softplus}(W_j v + c_j)`.
        """
        v = self._visible(v)
        hidden = F.softplus(self.hidden_input(v)).sum(1)
        if self.visible == "bernoulli":
            return -(v @ self.b_v) - hidden
        return 0.5 * ((v - self.b_v) ** 2).sum(1) - hidden

    @torch.no_grad()
    def reconstruction_error(self, v: torch.Tensor) -> float:
        """Squared error of the mean-field reconstruction, summed over units and averaged
        over samples (the guide's measure; it is not the objective, see pseudo_likelihood)."""
        v = self._visible(v)
        return float(((v - self.reconstruct(v)) ** 2).sum(1).mean())

    @torch.no_grad()
    def pseudo_likelihood(
        self, v: torch.Tensor, *, exact: bool = False, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Log pseudo-likelihood per sample, :math:`\\sum_i \\log p(v_i | v_{-i})` (Besag 1975),
        of shape (B,). Bernoulli visible units only.

        ``exact=False`` is scikit-learn's ``score_samples`` estimate: one unit i chosen at
        random per sample, :math:`D \\cdot \\log\\sigma(F(\\tilde v) - F(v))` with
        :math:`\\tilde v` = v with unit i flipped; unbiased for the sum. ``exact=True`` sums
        over every unit (D times the work, deterministic).
        """
        if self.visible != "bernoulli":
            raise UserError("pseudo_likelihood is defined here for visible='bernoulli' only")
        v = self._visible(v)
        # Flipping v_i changes every hidden input by ±W[:, i]; F changes accordingly.
        hidden_in = self.hidden_input(v)  # (B, H)
        base = F.softplus(hidden_in).sum(1)  # (B,)
        sign = 1.0 - 2.0 * v  # +1 where v_i = 0 (flip to 1), -1 where v_i = 1
        if not exact:
            i = torch.randint(0, self.n_visible, (len(v),), generator=generator, device=v.device)
            delta = sign[torch.arange(len(v), device=v.device), i]  # (B,)
            flipped = F.softplus(hidden_in + delta[:, None] * self.W[:, i].T).sum(1)
            # F(ṽ) - F(v) = -b_i·δ - (softplus-sum(ṽ) - softplus-sum(v))
            diff = -self.b_v[i] * delta - (flipped - base)
            return self.n_visible * F.logsigmoid(diff)
        total = torch.zeros(len(v), device=v.device, dtype=hidden_in.dtype)
        for i in range(self.n_visible):
            delta = sign[:, i]
            flipped = F.softplus(hidden_in + delta[:, None] * self.W[:, i]).sum(1)
            total += F.logsigmoid(-self.b_v[i] * delta - (flipped - base))
        return total
