"""Hinton, Osindero & Teh (2006), "A fast learning algorithm for deep belief nets", as
published: the labels join the top-level RBM, and the whole network is fine-tuned
generatively by the contrastive wake-sleep ("up-down") algorithm of its Appendix B.

The network (on MNIST, 784-500-500 + 10 labels - 2000):

- lower layers: after greedy pre-training (:class:`~weightinit.boltzmann.dbn.DBN`), each RBM's
  weights are *untied* into recognition weights (up, :math:`p(h|v) = \\sigma(R v + r)`) and
  generative weights (down, :math:`p(v|h) = \\sigma(G^\\top h + g)`), both starting at W;
- the top: an RBM (an "associative memory") whose visible layer is the penultimate layer's
  units beside 10 softmax label units (:func:`train_top`), 2000 hidden units.

One up-down update on a batch (v, y), learning rate ε, as the paper's pseudo-code:

1. *up* (wake): sample the layers with the recognition weights from v to the penultimate
   layer (pen); hidden states of the top RBM from [pen, y];
2. *top*: CD-k in the top RBM from there (label units drawn as softmax probabilities);
   :math:`\\Delta W_{top} = \\varepsilon(\\langle h\\, [pen, y]\\rangle_0 - \\langle h\\, [pen, y]\\rangle_k)`;
3. *down* (sleep): from the top's last penultimate sample, sample down with the generative
   weights;
4. generative weights learn to reconstruct each wake layer from the one above,
   :math:`\\Delta G = \\varepsilon\\, s_{above}^\\top (s - \\sigma(G^\\top s_{above} + g))`, and
   recognition weights to infer each sleep layer from the one below,
   :math:`\\Delta R = \\varepsilon\\, (s_{above} - \\sigma(R s + r))^\\top s` (wake-sleep, Hinton
   et al. 1995).

Classification (:meth:`UpDownDBN.predict`): a deterministic up pass to pen, then the label l
of lowest free energy :math:`F([pen, e_l])` in the top RBM, which is the most probable label
under the top RBM's joint distribution: :math:`p(l | pen) \\propto e^{-F([pen, e_l])}`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .._checks import check_int, check_number, check_positive_int
from ..errors import UserError
from .cd import draw_bernoulli
from .rbm import RBM
from .trainer import RBMConfig

__all__ = ["UpDownConfig", "UpDownDBN", "train_top", "one_hot", "cd_steps_at"]


@dataclass
class UpDownConfig:
    """How to fine-tune by up-down. The paper: 300 sweeps with mini-batches of 10, CD-3 in the
    top RBM for the first 100, CD-6 for the next 100 and CD-10 for the last."""

    epochs: int = 30
    batch_size: int = 100
    lr: float = 0.1  # per sample: each update moves by lr times the batch mean (MNIST: ahead of 0.01 and 0.05)
    cd_steps: tuple[int, ...] = (3, 6, 10)  # CD steps in the top RBM, for equal shares of the epochs
    seed: int = 0

    def __post_init__(self) -> None:
        check_positive_int("epochs", self.epochs)
        check_positive_int("batch_size", self.batch_size)
        check_number("lr", self.lr, minimum=0, strictly=True)
        check_int("seed", self.seed, 0)
        self.cd_steps = tuple(self.cd_steps)
        if not self.cd_steps:
            raise UserError("cd_steps must hold at least one number of CD steps, got ()")
        for steps in self.cd_steps:
            check_positive_int("cd_steps", steps)


def cd_steps_at(config: UpDownConfig, epoch: int) -> int:
    """The top RBM's CD steps in ``epoch`` (0-based): ``cd_steps`` split over equal shares of the epochs."""
    share = min(len(config.cd_steps) - 1, epoch * len(config.cd_steps) // config.epochs)
    return config.cd_steps[share]


def one_hot(y: torch.Tensor, n_classes: int) -> torch.Tensor:
    """Labels (N,) as float one-hot rows (N, n_classes)."""
    if y.dim() != 1 or (len(y) and (int(y.min()) < 0 or int(y.max()) >= n_classes)):
        raise UserError(f"labels must be a 1-D tensor of classes in [0, {n_classes}), got shape {tuple(y.shape)}")
    return F.one_hot(y.long(), n_classes).float()


def _sample_top_visible(top: RBM, h: torch.Tensor, n_classes: int,
                        generator: torch.Generator | None) -> torch.Tensor:
    """[pen, label] given the top's hidden states: pen units Bernoulli samples, label units the
    softmax probabilities (as the paper's code uses them)."""
    x = torch.addmm(top.b_v, h, top.W)
    pen = draw_bernoulli(torch.sigmoid(x[:, :-n_classes]), generator)
    return torch.cat([pen, torch.softmax(x[:, -n_classes:], 1)], 1)


@torch.no_grad()
def train_top(top: RBM, pen: torch.Tensor, labels: torch.Tensor, config: RBMConfig,
              on_epoch: Callable[[int, float], None] | None = None) -> None:
    """Train the top RBM on [pen, one-hot labels] by CD-k, its label units a softmax group
    (Hinton et al. 2006, sec. 5): momentum (``config.momentum`` then ``final_momentum``),
    L2 weight decay, ``config.lr`` per sample. ``pen`` (N, P) holds the penultimate layer's
    probabilities; ``top`` has P + n_classes visible units and is reset first.
    ``on_epoch(epoch, seconds)`` after each epoch."""
    n_classes = top.n_visible - pen.shape[1]
    data = torch.cat([pen, one_hot(labels, n_classes).to(pen.device)], 1)
    generator = torch.Generator(device=pen.device).manual_seed(config.seed)
    top.reset_parameters(data, generator)
    params = (top.W, top.b_v, top.b_h)
    velocity = [torch.zeros_like(p) for p in params]
    for epoch in range(config.epochs):
        start = time.perf_counter()
        momentum = config.momentum if epoch < config.momentum_epochs else config.final_momentum
        order = torch.randperm(len(data), generator=generator, device=data.device)
        for first in range(0, len(data), config.batch_size):
            v0 = data[order[first : first + config.batch_size]]
            h0 = torch.sigmoid(top.hidden_input(v0))
            h = draw_bernoulli(h0, generator)
            for step in range(config.k):
                vk = _sample_top_visible(top, h, n_classes, generator)
                hk = torch.sigmoid(top.hidden_input(vk))
                if step < config.k - 1:
                    h = draw_bernoulli(hk, generator)
            grads = (h0.T @ v0 - hk.T @ vk, (v0 - vk).sum(0), (h0 - hk).sum(0))
            for i, (param, u, grad) in enumerate(zip(params, velocity, grads)):
                u.mul_(momentum).add_(grad, alpha=config.lr / len(v0))
                if i == 0 and config.weight_decay:
                    u.add_(param, alpha=-config.lr * config.weight_decay)
                param.add_(u)
        if on_epoch is not None:
            on_epoch(epoch + 1, time.perf_counter() - start)


class UpDownDBN(nn.Module):
    """A DBN with labels in its top RBM, its lower layers untied for up-down fine-tuning.

    Args:
        rbms: the pre-trained lower RBMs, bottom up (their weights are copied, not shared).
        top: the top RBM over [penultimate layer, labels] (:func:`train_top`).
        n_classes: label units at the end of the top's visible layer.

    Attributes:
        recognition: per lower layer, (weights of shape (n_out, n_in), bias (n_out,)).
        generative: per lower layer, (weights of shape (n_out, n_in), bias (n_in,)).

    Examples:
        >>> model = UpDownDBN(dbn.rbms, top, 10)  # doctest: +SKIP
        >>> model.fine_tune(x, y, UpDownConfig(epochs=30)); model.predict(x_test)  # doctest: +SKIP
    """

    def __init__(self, rbms: Sequence[RBM], top: RBM, n_classes: int) -> None:
        super().__init__()
        check_positive_int("n_classes", n_classes)
        if top.n_visible != rbms[-1].n_hidden + n_classes:
            raise UserError(f"the top RBM must have {rbms[-1].n_hidden} + {n_classes} visible units, "
                            f"got {top.n_visible}")
        self.n_classes = n_classes

        def copy(t: torch.Tensor) -> nn.Parameter:
            return nn.Parameter(t.detach().clone(), requires_grad=False)

        self.rec_W = nn.ParameterList(copy(r.W) for r in rbms)
        self.rec_b = nn.ParameterList(copy(r.b_h) for r in rbms)
        self.gen_W = nn.ParameterList(copy(r.W) for r in rbms)
        self.gen_b = nn.ParameterList(copy(r.b_v) for r in rbms)
        self.top = RBM(top.n_visible, top.n_hidden, top.visible).to(top.W.device)  # where the layers live
        self.top.load_state_dict(top.state_dict())

    @torch.no_grad()
    def up(self, x: torch.Tensor) -> torch.Tensor:
        """The penultimate layer's probabilities by a deterministic up pass: (N, D) -> (N, P)."""
        for w, b in zip(self.rec_W, self.rec_b):
            x = torch.sigmoid(torch.addmm(b, x, w.T))
        return x

    @torch.no_grad()
    def label_free_energies(self, x: torch.Tensor, chunk: int = 1000) -> torch.Tensor:
        """F([pen, e_l]) of the top RBM for every label l, of shape (N, n_classes):
        :math:`-b_{pen}^\\top pen - b_l - \\sum_j \\mathrm{softplus}(W_{j,pen}\\, pen + W_{j,l} + c_j)`."""
        top, C = self.top, self.n_classes
        w_pen, w_lab = top.W[:, :-C], top.W[:, -C:]  # (H, P), (H, C)
        out = []
        for start in range(0, len(x), chunk):
            pen = self.up(x[start : start + chunk].to(top.W.device))
            base = torch.addmm(top.b_h, pen, w_pen.T)  # (n, H)
            hidden = F.softplus(base[:, None, :] + w_lab.T[None]).sum(2)  # (n, C)
            out.append(-(pen @ top.b_v[:-C])[:, None] - top.b_v[-C:] - hidden)
        return torch.cat(out)

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """The label of lowest free energy for every row of ``x``, of shape (N,)."""
        return self.label_free_energies(x).argmin(1)

    @torch.no_grad()
    def error_rate(self, x: torch.Tensor, y: torch.Tensor) -> float:
        """Fraction of rows of ``x`` whose predicted label is not ``y``."""
        return float((self.predict(x).cpu() != y.cpu()).float().mean())

    @torch.no_grad()
    def step(self, v: torch.Tensor, y: torch.Tensor, lr: float, cd_steps: int,
             generator: torch.Generator | None) -> None:
        """One up-down update on the batch ``v`` (B, D) with one-hot labels ``y`` (B, C)
        (the module docstring's four steps; every change computed before any is applied)."""
        scale = lr / len(v)
        # 1. up (wake): sampled states with the recognition weights
        wake = [v]
        for w, b in zip(self.rec_W, self.rec_b):
            wake.append(draw_bernoulli(torch.sigmoid(torch.addmm(b, wake[-1], w.T)), generator))
        top, C = self.top, self.n_classes
        top_v0 = torch.cat([wake[-1], y], 1)
        top_h0 = draw_bernoulli(torch.sigmoid(top.hidden_input(top_v0)), generator)
        # 2. CD in the top RBM
        top_h = top_h0
        for _ in range(cd_steps):
            top_vk = _sample_top_visible(top, top_h, C, generator)
            top_h = draw_bernoulli(torch.sigmoid(top.hidden_input(top_vk)), generator)
        # 3. down (sleep): sampled states with the generative weights; the visible layer's probabilities
        sleep = [top_vk[:, :-C]]
        for i in reversed(range(len(self.gen_W))):
            p = torch.sigmoid(torch.addmm(self.gen_b[i], sleep[0], self.gen_W[i]))
            sleep.insert(0, draw_bernoulli(p, generator) if i > 0 else p)
        # 4. the changes: generative from the wake states, recognition from the sleep states
        changes = []
        for i in range(len(self.gen_W)):
            error = wake[i] - torch.sigmoid(torch.addmm(self.gen_b[i], wake[i + 1], self.gen_W[i]))
            changes += [(self.gen_W[i], wake[i + 1].T @ error), (self.gen_b[i], error.sum(0))]
            error = sleep[i + 1] - torch.sigmoid(torch.addmm(self.rec_b[i], sleep[i], self.rec_W[i].T))
            changes += [(self.rec_W[i], error.T @ sleep[i]), (self.rec_b[i], error.sum(0))]
        changes += [(top.W, top_h0.T @ top_v0 - top_h.T @ top_vk), (top.b_v, (top_v0 - top_vk).sum(0)),
                    (top.b_h, (top_h0 - top_h).sum(0))]
        for param, change in changes:
            param.add_(change, alpha=scale)

    @torch.no_grad()
    def fine_tune(self, x: torch.Tensor, y: torch.Tensor, config: UpDownConfig | None = None, *,
                  on_epoch: Callable[[int, float], None] | None = None) -> None:
        """Up-down fine-tuning on images ``x`` (N, D) in [0, 1] and labels ``y`` (N,) for
        ``config.epochs`` sweeps; ``on_epoch(epoch, seconds)`` after each (to validate)."""
        config = config or UpDownConfig()
        device = self.top.W.device
        x, targets = x.to(device), one_hot(y, self.n_classes).to(device)
        if x.shape[1] != self.rec_W[0].shape[1] or len(x) != len(targets):
            raise UserError(f"x must have shape (n_samples, {self.rec_W[0].shape[1]}) with one label per row, "
                            f"got {tuple(x.shape)} and {len(targets)} labels")
        generator = torch.Generator(device=device).manual_seed(config.seed)
        n_batches = math.ceil(len(x) / config.batch_size)
        for epoch in range(config.epochs):
            start = time.perf_counter()
            order = torch.randperm(len(x), generator=generator, device=device)
            steps = cd_steps_at(config, epoch)
            for b in range(n_batches):
                index = order[b * config.batch_size : (b + 1) * config.batch_size]
                self.step(x[index], targets[index], config.lr, steps, generator)
            if not all(bool(torch.isfinite(p).all()) for p in self.parameters()):
                raise UserError(f"up-down fine-tuning diverged in epoch {epoch + 1} (NaN or inf weights); "
                                f"try a smaller lr than {config.lr:g}")
            if on_epoch is not None:
                on_epoch(epoch + 1, time.perf_counter() - start)
