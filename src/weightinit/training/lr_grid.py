"""A learning-rate grid of one model trained as one stacked model: R copies of the same initial
weights, each with its own learning rate, on the same batches, in one optimizer step per batch.

The R copies' parameters are stacked along a leading run dimension
(``torch.func.stack_module_state``) and the forward pass runs over them with ``torch.func``:
``vmap`` where the model's operations have batching rules (an MLP's matrix products become one
batched product per layer), or one ``functional_call`` per run where they do not (PyTorch has no
CPU batching rule for ``scaled_dot_product_attention``, so a GPT runs its copies one after the
other, still inside one step). The loss is the sum of the runs' losses, so each run's gradient
is its own.

The optimizer is Adam (Kingma & Ba 2015) written for the stack, since torch.optim's learning rate
is one number per parameter group and here every run has its own:

.. math::
    m \\leftarrow \\beta_1 m + (1-\\beta_1) g,\\quad v \\leftarrow \\beta_2 v + (1-\\beta_2) g^2,\\quad
    \\theta_r \\leftarrow \\theta_r - \\eta_r\\, s_p\\,
    \\frac{m_r / (1-\\beta_1^t)}{\\sqrt{v_r/(1-\\beta_2^t)} + \\epsilon\\, e_p}

with run r's rate ``η_r`` and parameter p's learning-rate and ε multipliers ``s_p``, ``e_p`` (a
parametrization's, :func:`weightinit.parametrize.param_groups`). A run whose loss becomes NaN/inf
or exceeds :data:`~weightinit.training.divergence.DIVERGENCE_LOSS`, or whose gradient has a NaN/inf
entry (the loss can still be finite: an overflow in the backward pass), has diverged: it is frozen
at zero before that step's update, and the others go on as if it were not there (each run's
gradient and moments are its own). So does a run whose loss on the evaluation rows, after the
last step, is non-finite or above that bound (its last update blew it up). A diverged run's loss
is NaN (``reproduce mup`` records it as None).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from .._checks import check_positive_int
from ..data.datasets import Split
from ..errors import UserError
from .divergence import DIVERGENCE_LOSS
from .evaluation import token_cross_entropy

__all__ = ["GridResult", "train_lr_grid"]

BETAS = (0.9, 0.999)
EVAL_CHUNK = 1024  # rows evaluated at once, by every run


@dataclass
class GridResult:
    """Each run's loss on the evaluation rows after training (NaN where it diverged), its
    training loss every ``every`` steps (R, points; NaN from its divergence on), and whether it diverged."""

    lrs: list[float]
    final_loss: list[float]
    curves: list[list[float]]
    diverged: list[bool]
    every: int


def _loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(R,) mean cross-entropy of each run's logits (R, B, ..., C) against the shared targets y."""
    runs = logits.shape[0]
    per = token_cross_entropy(logits.flatten(0, 1), y.repeat(runs, *([1] * (y.dim() - 1))), reduction="none")
    return per.view(runs, -1).mean(1)


def _bad(losses: torch.Tensor) -> torch.Tensor:
    """(R,) True where a run's loss is NaN/inf or above :data:`DIVERGENCE_LOSS`."""
    return ~torch.isfinite(losses) | (losses > DIVERGENCE_LOSS)


def _bad_gradients(params: Mapping[str, torch.Tensor], runs: int) -> torch.Tensor:
    """(R,) True where any entry of a run's gradient is NaN/inf. Such a run has diverged even with
    a finite loss: zeroing the entries instead (the run going on as if they were 0) would hide it."""
    bad = torch.zeros(runs, dtype=torch.bool)
    for p in params.values():
        if p.grad is not None:
            bad |= ~torch.isfinite(p.grad).reshape(runs, -1).all(1)
    return bad


def train_lr_grid(
    model: nn.Module,
    lrs: Sequence[float],
    train: Split,
    evaluate_on: Split,
    *,
    steps: int,
    batch_size: int,
    seed: int,
    multipliers: Mapping[str, tuple[float, float]] | None = None,
    eps: float = 1e-8,
    stacked: bool = True,
    every: int = 10,
) -> GridResult:
    """Train copies of ``model`` (left as it is), one per learning rate in ``lrs``, for ``steps``
    Adam steps on batches of ``train`` (a seeded order shared by all), and measure each on
    ``evaluate_on``.

    Args:
        model: the initialized model (logits out, as :func:`~weightinit.training.fit` takes).
        lrs: the base learning rate of each run.
        multipliers: parameter name -> (learning-rate multiplier, ε multiplier), e.g. from a
            parametrization's plan; default 1 for every parameter.
        stacked: run the copies under ``vmap`` (the model's operations must have batching rules),
            else one after another inside each step.
        every: record the mean training loss of every ``every`` steps.
    """
    check_positive_int("steps", steps)
    check_positive_int("batch_size", batch_size)
    if not lrs:
        raise UserError("lrs must hold at least one learning rate")
    runs = len(lrs)
    params, buffers = stack_module_state([model] * runs)
    template = copy.deepcopy(model).to("meta")
    multipliers = dict(multipliers or {})
    scale = {name: multipliers.get(name, (1.0, 1.0)) for name in params}
    rates = torch.tensor(list(lrs), dtype=torch.float32)

    def one(p: dict, b: dict, x: torch.Tensor) -> torch.Tensor:
        return functional_call(template, (p, b), (x,))

    def forward(x: torch.Tensor) -> torch.Tensor:
        if stacked:
            return vmap(one, in_dims=(0, 0, None))(params, buffers, x)
        return torch.stack([one({k: v[r] for k, v in params.items()}, {k: v[r] for k, v in buffers.items()}, x)
                            for r in range(runs)])

    m = {k: torch.zeros_like(v) for k, v in params.items()}
    v2 = {k: torch.zeros_like(v) for k, v in params.items()}
    alive = torch.ones(runs, dtype=torch.bool)
    order = torch.Generator().manual_seed(seed)
    curves: list[list[float]] = [[] for _ in range(runs)]
    window = torch.zeros(runs, dtype=torch.float64)
    permutation, cursor = torch.randperm(len(train), generator=order), 0
    for step in range(1, steps + 1):
        if cursor + batch_size > len(train):
            permutation, cursor = torch.randperm(len(train), generator=order), 0
        rows = permutation[cursor:cursor + batch_size]
        cursor += batch_size
        losses = _loss(forward(train.x[rows]), train.y[rows])
        for p in params.values():
            p.grad = None
        losses.sum().backward()
        with torch.no_grad():
            alive &= ~(_bad(losses.detach()) | _bad_gradients(params, runs))
            window += torch.where(alive, losses.double(), torch.nan)
            for name, p in params.items():
                lr_mult, eps_mult = scale[name]
                # the non-finite entries are a diverged run's alone (frozen at zero below): kept out of its moments
                g = torch.nan_to_num(p.grad, nan=0.0, posinf=0.0, neginf=0.0)
                m[name].mul_(BETAS[0]).add_(g, alpha=1 - BETAS[0])
                v2[name].mul_(BETAS[1]).addcmul_(g, g, value=1 - BETAS[1])
                denominator = (v2[name] / (1 - BETAS[1] ** step)).sqrt_().add_(eps * eps_mult)
                shape = (runs,) + (1,) * (p.dim() - 1)
                p.sub_((rates * lr_mult).view(shape) * (m[name] / (1 - BETAS[0] ** step)) / denominator)
                dead = (~alive).view(shape)
                p.masked_fill_(dead, 0.0)
                m[name].masked_fill_(dead, 0.0)
                v2[name].masked_fill_(dead, 0.0)
        if step % every == 0:
            for r in range(runs):
                curves[r].append(float(window[r]) / every)
            window.zero_()
    with torch.no_grad():
        final = torch.zeros(runs, dtype=torch.float64)
        for start in range(0, len(evaluate_on), EVAL_CHUNK):
            x, y = evaluate_on.x[start:start + EVAL_CHUNK], evaluate_on.y[start:start + EVAL_CHUNK]
            final += _loss(forward(x), y).double() * len(y)
        final /= len(evaluate_on)
    alive &= ~_bad(final)  # the last update blew it up: diverged, as at any step before
    final = torch.where(alive, final, torch.nan)
    return GridResult(list(lrs), [float(f) for f in final], curves, [not bool(a) for a in alive], every)
