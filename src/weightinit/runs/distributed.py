"""torch.distributed, when ``torchrun`` started us: detection, set-up, and the few collectives
the training loops need. Nothing here moves bytes or manages processes itself.

``torchrun --nproc_per_node=2 -m weightinit compare ...`` sets ``WORLD_SIZE``, ``RANK``,
``LOCAL_RANK`` and the rendezvous variables; :func:`setup` (called by the CLI) joins the
process group: gloo on CPUs, nccl when each process has a GPU (``cuda:LOCAL_RANK``). Then

- :func:`weightinit.training.fit` runs data-parallel (DistributedDataParallel): every rank draws
  the same seeded permutation and takes its slice of each global batch;
- RBM training all-reduces the CD statistics before each update;
- ``compare`` splits its runs: rank r takes runs r, r + N, ... (:func:`independent` turns
  the data parallelism off inside them) and rank 0 gathers the results.

A rank that dies makes the others fail in their next collective (gloo reports the closed
connection; otherwise the timeout, ``WEIGHTINIT_DIST_TIMEOUT`` seconds, default 120).
"""

from __future__ import annotations

import datetime
import functools
import gc
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any, TypeVar

import torch
import torch.distributed as dist

__all__ = ["launched", "setup", "teardown", "world_size", "rank", "sweep_share", "is_main", "independent",
           "share_runs", "all_reduce_sum", "all_gather_objects", "broadcast_object", "any_rank", "local_device"]

_independent = 0  # >0 inside independent(): no gradient sync, every rank on its own
T = TypeVar("T")
R = TypeVar("R")


def launched() -> bool:
    """Started by torchrun (or another launcher setting the same variables) with more than one process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def local_device() -> torch.device:
    """``cuda:LOCAL_RANK`` when CUDA is available, else the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")) % torch.cuda.device_count())
    return torch.device("cpu")


def setup() -> bool:
    """Join the process group if launched by torchrun; True if distributed from now on."""
    if not launched() or dist.is_initialized():
        return dist.is_initialized()
    device = local_device()
    if device.type == "cuda":
        torch.cuda.set_device(device)
    timeout = datetime.timedelta(seconds=float(os.environ.get("WEIGHTINIT_DIST_TIMEOUT", "120")))
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo", timeout=timeout)
    return True


def teardown(clean: bool = True) -> None:
    """Leave the process group. ``clean``: first wait for every rank (a barrier), so that no
    rank exits while another still writes its files or talks to it; after a failure, leave at once."""
    if not dist.is_initialized():
        return
    # A DistributedDataParallel wrapper left in a reference cycle keeps its reducer, and with it the
    # gloo process group and its threads, alive past destroy_process_group, to be destroyed at the
    # interpreter's exit: under load that aborted a rank now and then ("terminate called without an
    # active exception"). Collect it first, while every rank still runs.
    gc.collect()
    if clean:
        with suppress(RuntimeError):  # a peer is gone: nothing left to wait for
            dist.barrier()
    dist.destroy_process_group()


def _active() -> bool:
    return dist.is_available() and dist.is_initialized() and _independent == 0


def world_size() -> int:
    """Processes that share the work of one training run (1 when not distributed or inside independent())."""
    return dist.get_world_size() if _active() else 1


def rank() -> int:
    """This process's place among them (0 when not distributed or inside independent())."""
    return dist.get_rank() if _active() else 0


def sweep_share() -> tuple[int, int]:
    """(rank, world size) of the whole group, for splitting independent runs among the processes."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def is_main() -> bool:
    """The process that writes files and prints: rank 0 of the whole group."""
    return not dist.is_initialized() or dist.get_rank() == 0


@contextmanager
def independent() -> Iterator[None]:
    """Inside, training runs in this process alone (a sweep's runs are independent)."""
    global _independent
    _independent += 1
    try:
        yield
    finally:
        _independent -= 1


def share_runs(items: Sequence[T], run: Callable[[T], R]) -> list[R]:
    """``[run(item) for item in items]``, shared among the processes of a torchrun group.

    Independent runs (a sweep) go to the ranks in turn, item i to rank i mod N, each trained
    by its rank alone (:func:`independent`); every rank gets every result back, in order.
    With fewer items than processes, each run is instead trained by all of them together
    (data parallel). Not launched: a plain loop.
    """
    rank_, world = sweep_share()
    if world == 1 or len(items) < world:
        return [run(item) for item in items]
    with independent():
        mine = {i: run(item) for i, item in enumerate(items) if i % world == rank_}
    for share in all_gather_objects(mine):
        mine.update(share)
    return [mine[i] for i in range(len(items))]


def all_reduce_sum(tensors: list[torch.Tensor]) -> None:
    """Sum each tensor over the ranks, in place, in one collective (flattened, in the widest of their dtypes)."""
    if world_size() == 1:
        return
    dtype = functools.reduce(torch.promote_types, (t.dtype for t in tensors))
    flat = torch.cat([t.reshape(-1).to(dtype) for t in tensors])
    dist.all_reduce(flat)
    offset = 0
    for t in tensors:
        t.copy_(flat[offset : offset + t.numel()].view_as(t))
        offset += t.numel()


def any_rank(flag: bool, device: torch.device | str = "cpu") -> bool:
    """True on every rank if ``flag`` is true on any (a stop request, say)."""
    if world_size() == 1:
        return flag
    value = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def all_gather_objects(obj: Any) -> list[Any]:
    """Every rank's ``obj``, in rank order, on every rank (across the whole group)."""
    if not dist.is_initialized():
        return [obj]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(obj: Any) -> Any:
    """Rank 0's ``obj`` on every rank."""
    if not dist.is_initialized():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]
