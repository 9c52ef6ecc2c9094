"""Model builders from a spec string: ``mlp("784-256-256-10", activation="relu")``.

Named architectures take their input and output sizes from the data:

========  =========================================================================
name      layers
========  =========================================================================
lecture   in-256-256-out: the lecture's MNIST network (784-256-256-10)
deep      in-512-512-512-512-out, all five layers wired (the course's "deep" model
          declared five layers but its Sequential used three of them)
========  =========================================================================
"""

from __future__ import annotations

from torch import nn

from .activations import ACTIVATIONS
from .checks import check_choice, check_number
from .errors import UserError

__all__ = ["NAMED_ARCHS", "parse_arch", "mlp"]


NAMED_ARCHS: dict[str, tuple[int, ...]] = {"lecture": (256, 256), "deep": (512, 512, 512, 512)}


def parse_arch(spec: str, n_inputs: int | None = None, n_outputs: int | None = None) -> list[int]:
    """Turn ``"784-256-256-10"`` (or a name in :data:`NAMED_ARCHS`) into layer sizes.

    With ``n_inputs``/``n_outputs`` given, an explicit spec must match them and a named one
    takes them as its ends.
    """
    if not isinstance(spec, str):
        raise TypeError(f"arch must be a string such as '784-256-256-10', got {type(spec).__name__}")
    if spec in NAMED_ARCHS:
        if n_inputs is None or n_outputs is None:
            raise UserError(f"arch={spec!r} takes its input and output sizes from the data; give n_inputs and n_outputs")
        return [n_inputs, *NAMED_ARCHS[spec], n_outputs]
    parts = spec.split("-")
    if len(parts) < 2 or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise UserError(
            f"arch={spec!r} is not a layer spec; use sizes joined by '-' such as '784-256-256-10', "
            f"or one of {list(NAMED_ARCHS)}"
        )
    sizes = [int(p) for p in parts]
    if n_inputs is not None and sizes[0] != n_inputs:
        raise UserError(f"arch={spec!r} starts with {sizes[0]} inputs but the data has {n_inputs} features")
    if n_outputs is not None and sizes[-1] != n_outputs:
        raise UserError(f"arch={spec!r} ends with {sizes[-1]} outputs but the data has {n_outputs} classes")
    return sizes


def mlp(arch: str | list[int], activation: str = "relu", dropout: float = 0.0) -> nn.Sequential:
    """A multi-layer perceptron: Linear, activation (and Dropout) per hidden layer, a Linear
    output layer producing logits. Initialization is left to :func:`weightinit.init_model`.

    Examples:
        >>> mlp("784-256-256-10")
        Sequential(
          (0): Linear(in_features=784, out_features=256, bias=True)
          (1): ReLU()
          (2): Linear(in_features=256, out_features=256, bias=True)
          (3): ReLU()
          (4): Linear(in_features=256, out_features=10, bias=True)
        )
    """
    sizes = parse_arch(arch) if isinstance(arch, str) else list(arch)
    check_choice("activation", activation, ACTIVATIONS)
    dropout = check_number("dropout", dropout, minimum=0)
    if dropout >= 1:
        raise UserError(f"dropout must be in [0, 1), got {dropout!r}")
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2:
            layers.append(ACTIVATIONS[activation]())
            if dropout:
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)
