"""``init_model(model, scheme, only=...)``: initialize some parameters, leave the loaded ones alone.

``only`` is either

* a state dict (any mapping from names to tensors, as ``torch.load`` or safetensors returns):
  the parameters **missing** from it are initialized, the rest are left as loaded. The common
  case: a new head on a pretrained backbone. A parameter tied to another (``lm_head.weight``
  and ``transformer.wte.weight``) is one tensor with two names: it counts as loaded if either
  name is in the dict (checkpoints keep one of them). Keys may lack or carry the model's
  ``base_model_prefix`` (transformers: a ``GPT2Model`` state dict for a
  ``GPT2ForSequenceClassification``); a key the model has under no name is refused, since
  with a mismatched prefix every parameter would look missing and be drawn anew;
* parameter names, or one name: exact names, glob patterns (``"classifier.*"``,
  ``"*.lm_head.*"``, :mod:`fnmatch` rules) or module names (``"classifier"``: all its
  parameters); each must match at least one parameter, else it is refused by name.

:func:`select` returns the ids of the parameters to initialize and a sentence for the plan
table about the others.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from fnmatch import fnmatchcase
from typing import Any

from torch import nn

from ..errors import UserError

__all__ = ["Selection", "select"]

Selection = tuple[set[int], str]  # ids of the parameters to initialize; what the others are, for the table


def _names(model: nn.Module) -> dict[str, int]:
    """Every name of every parameter (a tied one under each of its names) -> the parameter's id."""
    return {name: id(p) for name, p in model.named_parameters(remove_duplicate=False)}


def _from_state_dict(model: nn.Module, state: Mapping) -> Selection:
    names = _names(model)
    known = set(names) | {name for name, _ in model.named_buffers(remove_duplicate=False)}
    prefix = getattr(model, "base_model_prefix", "") or ""
    loaded: set[int] = set()
    unknown = []
    for key in state:
        if not isinstance(key, str):
            raise UserError(f"only= as a state dict must have str keys, got {key!r}")
        candidates = [key, f"{prefix}.{key}"] if prefix else [key]
        if prefix and key.startswith(prefix + "."):
            candidates.append(key[len(prefix) + 1:])
        found = [c for c in candidates if c in known]
        if not found:
            unknown.append(key)
        loaded |= {names[c] for c in found if c in names}
    if unknown:
        shown = ", ".join(repr(k) for k in unknown[:5]) + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
        raise UserError(f"only= state dict has {len(unknown)} key(s) {type(model).__name__} does not have: {shown}; "
                        "pass the state dict of this model (the one given to load_state_dict)")
    chosen = set(names.values()) - loaded
    return chosen, f"left as loaded: {len(set(names.values()) - chosen)} parameters (in the state dict given to only=)"


def _from_names(model: nn.Module, patterns: Iterable[Any]) -> Selection:
    names = _names(model)
    chosen: set[int] = set()
    for pattern in patterns:
        if not isinstance(pattern, str):
            raise UserError(f"only= must be a state dict or parameter names, got an item {pattern!r}")
        matched = {i for name, i in names.items()
                   if name == pattern or name.startswith(pattern + ".") or fnmatchcase(name, pattern)}
        if not matched:
            raise UserError(f"only= names {pattern!r}, which matches no parameter of {type(model).__name__}")
        chosen |= matched
    if not chosen:
        raise UserError("only= names no parameter: pass parameter names, glob patterns or a state dict")
    return chosen, f"left as they were: {len(set(names.values()) - chosen)} parameters (not named in only=)"


def select(model: nn.Module, only: Any) -> Selection | None:
    """The parameters ``only`` selects (see the module docstring); None when ``only`` is None (all)."""
    if only is None:
        return None
    if isinstance(only, Mapping):
        return _from_state_dict(model, only)
    if isinstance(only, str):
        return _from_names(model, [only])
    if isinstance(only, Iterable):
        return _from_names(model, list(only))
    raise UserError(f"only= must be a state dict, a parameter name or an iterable of names, "
                    f"got {type(only).__name__}")
