"""The precision a training run computes in: float32, or the forward pass under bfloat16
autocast where ``TrainConfig.precision="bf16"`` asks for it and the device has it (float32
weights and optimizer either way)."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING

import torch

from ..runs.devices import resolve_precision

if TYPE_CHECKING:
    from .config import TrainConfig

__all__ = ["autocast_dtype", "autocast"]


def autocast_dtype(config: TrainConfig, device: torch.device) -> torch.dtype:
    """bfloat16 when ``config.precision`` asks for it and ``device`` multiplies it natively
    (avx512_bf16/amx_bf16 CPUs, recent GPUs), else float32 (with a warning if bf16 was asked)."""
    return resolve_precision(config.precision, device)


def autocast(dtype: torch.dtype, device: torch.device) -> AbstractContextManager:
    """Autocast to bfloat16 on ``device`` for what runs inside (a forward pass, a loss), or
    nothing for float32."""
    return torch.autocast(device.type, dtype=torch.bfloat16) if dtype == torch.bfloat16 else nullcontext()
