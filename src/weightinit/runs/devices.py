"""Where a run computes: the device (``resolve_device``) and the matmul precision.

``device="auto"`` is CUDA when torch sees a GPU, else the CPU; under torchrun each process
takes ``cuda:LOCAL_RANK`` (:func:`weightinit.runs.distributed.setup` selects it).

Matmul precision: float32 by default, bfloat16 inputs where the hardware has it.

With ``precision="bf16"`` the inputs of the large matrix products are rounded to bfloat16
(8 bits of mantissa) and multiplied by the CPU's AVX512-BF16/AMX units or a GPU's tensor
cores, accumulating in float32; parameters, updates and everything else stay float32. On a
2-core AVX512-BF16 CPU a 100x784x500 product ran at 818 GFLOP/s against 251 in float32.
Where the hardware lacks bfloat16 arithmetic, "bf16" falls back to float32 with a warning:
emulated bfloat16 would be slower, not faster.
"""

from __future__ import annotations

import functools
import platform
import warnings
from pathlib import Path

import torch

from .._checks import check_choice
from ..errors import UserError

__all__ = ["DEVICES", "PRECISIONS", "resolve_device", "bf16_supported", "resolve_precision"]

DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("float32", "bf16")


def resolve_device(device: str) -> torch.device:
    """The torch.device that ``device`` ("auto", "cpu" or "cuda") names on this machine."""
    check_choice("device", device, DEVICES)
    if device == "cpu" or (device == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise UserError("device='cuda' was asked for but torch sees no CUDA device; use 'auto' or 'cpu'")
    # the current device: cuda:LOCAL_RANK under torchrun (distributed.setup selects it), else cuda:0
    return torch.device("cuda", torch.cuda.current_device())


@functools.lru_cache(maxsize=1)
def _cpu_flags() -> frozenset[str]:
    if platform.system() != "Linux":
        return frozenset()
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def bf16_supported(device: torch.device) -> bool:
    """Whether ``device`` multiplies bfloat16 natively (CUDA: Ampere or newer; CPU:
    the avx512_bf16 or amx_bf16 flag)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return bool({"avx512_bf16", "amx_bf16"} & _cpu_flags())
    return False


def resolve_precision(precision: str, device: torch.device) -> torch.dtype:
    """The dtype matmul inputs are cast to: float32, or bfloat16 where supported."""
    check_choice("precision", precision, PRECISIONS)
    if precision == "float32":
        return torch.float32
    if not bf16_supported(device):
        warnings.warn(f"precision='bf16' needs native bfloat16 on {device} (avx512_bf16/amx_bf16 or a "
                      "recent GPU); falling back to float32", RuntimeWarning, stacklevel=2)
        return torch.float32
    return torch.bfloat16
