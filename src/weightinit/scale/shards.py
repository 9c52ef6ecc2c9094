"""Where a parameter's elements live: the local tensor of a (sharded) parameter, the box of the
whole tensor it holds, and the part of one plan block inside it.

A plain tensor holds all of itself. A ``DTensor`` (``torch.distributed.tensor``; FSDP2's
``fully_shard`` makes every parameter one, ``Shard(0)`` over its mesh) holds the box its
placements give this rank: on each mesh dimension, ``Shard(d)`` cuts dimension ``d`` as
``torch.chunk`` does (pieces of ⌈n/m⌉, the last ones shorter or empty: the uneven shards),
``Replicate()`` keeps it whole. The box is computed from the public ``DTensor`` attributes and
checked against the local tensor's shape. ``Partial`` placements (pending sums) hold no
parameter values and are refused.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..errors import UserError
from ..modelinit import Block
from ..modelinit.standins import is_dtensor
from .streams import Box

__all__ = ["Piece", "local_piece", "block_piece", "is_sharded"]


def is_sharded(tensor: torch.Tensor) -> bool:
    """Whether ``tensor`` is a ``DTensor`` (sharded or replicated over a device mesh)."""
    return is_dtensor(tensor)


@dataclass
class Piece:
    """The local tensor that holds ``box`` (``(start, stop)`` per dimension) of a tensor of ``shape``."""

    local: torch.Tensor
    shape: tuple[int, ...]
    box: list[tuple[int, int]]


def local_piece(tensor: torch.Tensor, name: str = "tensor") -> Piece:
    """The piece of ``tensor`` this process holds: all of a plain tensor, this rank's box of a DTensor."""
    shape = tuple(tensor.shape)
    if not is_sharded(tensor):
        return Piece(tensor, shape, [(0, n) for n in shape])
    from torch.distributed.tensor import Replicate, Shard

    mesh = tensor.device_mesh
    coordinate = mesh.get_coordinate()
    box = [(0, n) for n in shape]
    if coordinate is not None:
        for mesh_dim, placement in enumerate(tensor.placements):
            if isinstance(placement, Replicate):
                continue
            if type(placement) is not Shard:  # Partial, _StridedShard (FSDP over TP): not a plain cut
                raise UserError(f"{name} has placement {placement} on mesh dimension {mesh_dim}; weightinit "
                                "initializes Shard(d) and Replicate() placements only")
            d = placement.dim % len(shape)
            start, stop = box[d]
            chunk = math.ceil((stop - start) / mesh.size(mesh_dim))
            first = min(stop, start + coordinate[mesh_dim] * chunk)
            box[d] = (first, min(stop, first + chunk))
    local = tensor.to_local()
    if tuple(local.shape) != tuple(b - a for a, b in box):  # placements cut otherwise than torch.chunk
        raise UserError(f"{name}: the local shard has shape {tuple(local.shape)}, its placements "
                        f"{tensor.placements} give {tuple(b - a for a, b in box)}; weightinit cannot place it")
    return Piece(local, shape, box)


def _range(part: slice | None, n: int) -> tuple[int, int]:
    if part is None:
        return 0, n
    start, stop, step = part.indices(n)
    if step != 1:
        raise UserError(f"a block with a step ({part}) cannot be filled piece by piece")
    return start, max(start, stop)


def block_piece(block: Block, piece: Piece) -> tuple[torch.Tensor, tuple[int, ...], Box]:
    """The part of ``piece`` that ``block`` (its rows and columns of the parameter) fills: the
    local view, the block's whole shape, and the view's box in the block's coordinates."""
    shape = piece.shape
    region = [(0, n) for n in shape]
    if block.rows is not None:
        region[0] = _range(block.rows, shape[0])
    if block.cols is not None:
        region[1] = _range(block.cols, shape[1])
    index, box = [], []
    for (r0, r1), (b0, b1) in zip(region, piece.box):
        lo, hi = max(r0, b0), min(r1, b1)
        hi = max(lo, hi)
        index.append(slice(lo - b0, hi - b0))
        box.append((lo - r0, hi - r0))
    view = piece.local[tuple(index)] if shape else piece.local
    return view, tuple(r1 - r0 for r0, r1 in region), box
