r"""Signal propagation plots (Brock, De & Smith 2021, "Characterizing signal propagation to close
the performance gap in unnormalized ResNets"): for a residual network at initialization, at
the output of each residual block,

- the **average channel squared mean**: the mean of each channel over the batch (and positions),
  squared, averaged over channels: how far the activations have drifted to a common offset;
- the **average channel variance**: each channel's variance over the batch (and positions),
  averaged over channels: the size of the residual stream, which grows with depth when every
  branch adds a signal of its own (a pre-norm stack grows linearly; a branch scaled down keeps it
  flat);
- the **residual variance**: the same of (block output - block input), what the block's branches
  added (for a block computing :math:`x + f(x)` (+ :math:`g`), the branches' sum).

The blocks are found by structure (:func:`weightinit.modelinit.depth.stacks`: a ``ModuleList``
of identical blocks, each with two or more linear layers), their outputs read by forward hooks
in one forward pass of a batch, without gradients, in the model's current mode. The channel axis
is 1 for a 4-D output (N, C, H, W, as convolutions) and the last one otherwise (B, T, C, as
transformers); ``channel_dim`` overrides it.

Examples:
    >>> import torch
    >>> layer = torch.nn.TransformerEncoderLayer(32, 4, 64, dropout=0.0, batch_first=True, norm_first=True)
    >>> model = torch.nn.TransformerEncoder(layer, 6, enable_nested_tensor=False)
    >>> signal = signal_propagation(model, torch.randn(8, 10, 32))
    >>> len(signal.rows)  # the stream entering the first block, then each block's output
    7
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from ..errors import UserError
from ..modelinit.depth import stacks

__all__ = ["signal_propagation", "SignalPropagation", "BlockSignal", "channel_statistics"]


def channel_statistics(x: torch.Tensor, channel_dim: int | None = None) -> tuple[float, float]:
    """``(average channel squared mean, average channel variance)`` of a block's output ``x``:
    per channel over every other axis (the batch, positions), then averaged over channels."""
    if x.dim() < 2:
        raise UserError(f"a block's output must have a batch and a channel axis, got shape {tuple(x.shape)}")
    dim = channel_dim if channel_dim is not None else (1 if x.dim() == 4 else -1)
    rows = x.detach().double().movedim(dim, -1).reshape(-1, x.shape[dim])  # (everything else, C)
    return float((rows.mean(0) ** 2).mean()), float(rows.var(0, unbiased=False).mean())


@dataclass(frozen=True)
class BlockSignal:
    """One row of the plot: the residual stream after ``depth`` blocks (0: entering the first),
    named ``block``."""

    block: str
    depth: int
    squared_mean: float
    variance: float
    residual_variance: float | None  # of (output - input); None for the first row or a change of shape


@dataclass
class SignalPropagation:
    """The rows of a signal propagation plot, in forward order."""

    rows: list[BlockSignal]

    def to_dicts(self) -> list[dict]:
        return [asdict(r) for r in self.rows]

    def table(self) -> str:
        lines = ["| depth | block | avg channel squared mean | avg channel variance | residual variance |",
                 "|---|---|---|---|---|"]
        for r in self.rows:
            residual = "-" if r.residual_variance is None else f"{r.residual_variance:.4g}"
            lines.append(f"| {r.depth} | {r.block} | {r.squared_mean:.4g} | {r.variance:.4g} | {residual} |")
        return "\n".join(lines)


def _first(output):
    return output[0] if isinstance(output, (tuple, list)) else output


def signal_propagation(model: nn.Module, inputs, *, blocks: list[tuple[str, nn.Module]] | None = None,
                       channel_dim: int | None = None) -> SignalPropagation:
    """The signal propagation plot's statistics (module docstring) of ``model`` on ``inputs`` (a
    tensor, or a tuple of the forward's arguments) at each of ``blocks`` (``(name, module)`` in
    forward order; default: the blocks of every stack of :func:`~weightinit.modelinit.depth.stacks`).
    A UserError if the model has no stack of residual blocks."""
    if blocks is None:
        found = stacks(model)
        blocks = [(f"{name}.{i}" if name else str(i), block) for name, items in found for i, block in enumerate(items)]
    if not blocks:
        raise UserError(f"{type(model).__name__} has no stack of residual blocks (an nn.ModuleList of identical "
                        "blocks with two or more linear layers each); pass blocks=[(name, module), ...]")
    seen: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def keep(name: str):
        def hook(module, args, output):
            seen[name] = (args[0].detach() if args else None, _first(output).detach())
        return hook

    handles = [module.register_forward_hook(keep(name)) for name, module in blocks]
    try:
        with torch.no_grad():
            model(*inputs) if isinstance(inputs, tuple) else model(inputs)
    finally:
        for handle in handles:
            handle.remove()
    rows = []
    for depth, (name, _) in enumerate(blocks, start=1):
        if name not in seen:
            raise UserError(f"block {name!r} did not run in the forward pass")
        entering, output = seen[name]
        if depth == 1 and isinstance(entering, torch.Tensor):
            rows.append(BlockSignal("input", 0, *channel_statistics(entering, channel_dim), None))
        residual = None
        if isinstance(entering, torch.Tensor) and entering.shape == output.shape:
            residual = channel_statistics(output - entering, channel_dim)[1]
        rows.append(BlockSignal(name, depth, *channel_statistics(output, channel_dim), residual))
    return SignalPropagation(rows)
