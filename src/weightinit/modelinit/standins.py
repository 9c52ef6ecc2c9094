"""Stand-ins for the parameters a plan cannot read: those on the meta device and the shards of a
``DTensor`` (FSDP2's ``fully_shard`` makes every parameter one).

A plan reads shapes, and probes a few modules with a forward pass (a norm it recognizes by
structure, a gated MLP's gate and up projections: :mod:`.depth`), which a meta tensor cannot run
and a shard would run on the wrong values. While a plan is made, each such parameter stands in
for itself as a CPU tensor of its global shape and dtype: a vector as zeros, anything larger as
``torch.empty`` (address space, not memory: its pages are never touched, except in a probed
module's copy). One stand-in per tensor, so tied weights stay tied; everything is put back on
exit, and no shard is ever gathered.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["ShapeStandIns", "is_dtensor"]


def is_dtensor(tensor: torch.Tensor) -> bool:
    """Whether ``tensor`` is a ``torch.distributed.tensor.DTensor`` (sharded or replicated over a
    device mesh)."""
    try:
        from torch.distributed.tensor import DTensor
    except ImportError:  # a torch built without distributed
        return False
    return isinstance(tensor, DTensor)


def holds_no_values(tensor: torch.Tensor) -> bool:
    """A tensor a plan cannot read: on the meta device, or a DTensor."""
    return tensor.device.type == "meta" or is_dtensor(tensor)


class ShapeStandIns:
    """``with ShapeStandIns(model) as real:``: inside, every parameter of ``model`` on the meta
    device or sharded is replaced by its CPU stand-in (module docstring); ``real`` maps each
    stand-in's id to the parameter it stands for. A model with none is left as it is."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.swapped: list[tuple[nn.Module, str, nn.Parameter]] = []
        self.real: dict[int, nn.Parameter] = {}

    def __enter__(self) -> dict[int, nn.Parameter]:
        stand_in: dict[int, nn.Parameter] = {}
        for module in self.model.modules():
            for name, p in list(module._parameters.items()):
                if p is None or not holds_no_values(p):
                    continue
                if id(p) not in stand_in:
                    make = torch.zeros if p.dim() <= 1 else torch.empty
                    stand_in[id(p)] = nn.Parameter(make(p.shape, dtype=p.dtype), requires_grad=p.requires_grad)
                    self.real[id(stand_in[id(p)])] = p
                module._parameters[name] = stand_in[id(p)]
                self.swapped.append((module, name, p))
        return self.real

    def __exit__(self, *exc: object) -> None:
        for module, name, p in self.swapped:
            module._parameters[name] = p
