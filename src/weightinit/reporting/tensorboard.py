"""Training runs as TensorBoard event files: ``weightinit compare --tensorboard [DIR]``.

Each run of a sweep is a TensorBoard run of its own, ``<DIR>/<init>-seed<seed>``, so that
TensorBoard's run selector compares initializations. Per epoch: ``loss/train``,
``loss/<split>`` and ``accuracy/<split>``; with training dynamics (``--dynamics``), per layer
and recorded step: ``<layer>/activation_std``, ``<layer>/saturated`` or ``<layer>/dead``,
``<layer>/grad_std``, ``<layer>/update_ratio_log10`` and histograms ``<layer>/activations``,
``<layer>/gradients``. Needs the ``tensorboard`` package (``pip install weightinit[tensorboard]``;
``make`` installs it); read with ``tensorboard --logdir DIR``.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from ..diagnostics.dynamics import Dynamics
from ..errors import UserError

__all__ = ["require_tensorboard", "write_run"]


def require_tensorboard():
    """torch's ``SummaryWriter``, or a UserError saying how to install it (call before the work)."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # torch raises this when the tensorboard package is missing
        raise UserError("--tensorboard needs the tensorboard package: pip install 'weightinit[tensorboard]'") from None
    return SummaryWriter


def _writer(log_dir: Path):
    return require_tensorboard()(log_dir=str(log_dir))


def write_run(folder: str | os.PathLike, name: str, history: list[dict], dynamics: Dynamics | None = None) -> Path:
    """Write one run's per-epoch ``history`` (records of :meth:`weightinit.training.History.to_dicts`)
    and its ``dynamics`` under ``folder/name``; returns that folder."""
    log_dir = Path(folder) / name
    writer = _writer(log_dir)
    try:
        for record in history:
            epoch = record["epoch"]
            for key, value in record.items():
                if key in ("epoch", "seconds") or value is None or not math.isfinite(value):
                    continue
                group = "loss" if key.endswith("_loss") else "accuracy"
                writer.add_scalar(f"{group}/{key.rsplit('_', 1)[0]}", value, epoch)
        for record in dynamics.records if dynamics is not None else ():
            layer, step = f"layer {record.layer}", record.step
            scalars = {"activation_std": record.activation_std, "grad_std": record.grad_std,
                       "update_ratio_log10": record.update_ratio_log10, "saturated": record.saturated,
                       "dead": record.dead}
            for key, value in scalars.items():
                if value is not None and math.isfinite(value):
                    writer.add_scalar(f"{layer}/{key}", value, step)
            writer.add_histogram(f"{layer}/activations", record.samples["activation"], step)
            writer.add_histogram(f"{layer}/gradients", record.samples["grad"], step)
    finally:
        writer.close()
    return log_dir
