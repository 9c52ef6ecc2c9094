"""Argument checks shared by the public API: one message format everywhere.

Every message names the parameter, the value given and what is allowed, e.g.
``mode='fan_avg' is not supported; use one of ['fan_in', 'fan_out']``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from numbers import Integral
from typing import Any

import torch

from .errors import UserError


def check_choice(name: str, value: Any, allowed: Iterable[str]) -> str:
    """Return ``value`` if it is one of ``allowed``, else raise ValueError."""
    allowed = list(allowed)
    if not isinstance(value, str) or value not in allowed:
        raise UserError(f"{name}={value!r} is not supported; use one of {allowed}")
    return value


def check_number(
    name: str,
    value: Any,
    *,
    minimum: float | None = None,
    strictly: bool = False,
) -> float:
    """Return ``value`` as a float if it is a finite real number within bounds.

    ``minimum`` is inclusive unless ``strictly`` is true. Booleans are refused:
    ``gain=True`` is almost certainly a mistake.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a real number, got {value!r} of type {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value):
        raise UserError(f"{name} must be a finite number, got {value!r}")
    if minimum is not None:
        if strictly and value <= minimum:
            raise UserError(f"{name} must be > {minimum:g}, got {value!r}")
        if not strictly and value < minimum:
            raise UserError(f"{name} must be >= {minimum:g}, got {value!r}")
    return value


def check_int(name: str, value: Any, minimum: int) -> int:
    """Return ``value`` as an int if it is an integer (numpy's too, bools refused) >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be an integer, got {value!r} of type {type(value).__name__}")
    if value < minimum:
        raise UserError(f"{name} must be >= {minimum}, got {value!r}")
    return int(value)


def check_positive_int(name: str, value: Any) -> int:
    """Return ``value`` if it is an integer >= 1."""
    return check_int(name, value, 1)


def check_tensor(tensor: Any) -> torch.Tensor:
    """Return ``tensor`` if it is a floating-point torch.Tensor, else raise TypeError."""
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"tensor must be a torch.Tensor, got {type(tensor).__name__}")
    if not tensor.is_floating_point():
        raise TypeError(f"tensor must have a floating-point dtype, got {tensor.dtype}")
    return tensor


def check_generator(generator: Any) -> torch.Generator | None:
    """Return ``generator`` if it is None or a torch.Generator."""
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    return generator
