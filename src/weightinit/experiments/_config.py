"""What the experiments' configs share: a refusal that names the parameter for a Python caller
and the option for the command line, and the ``--quick`` rules of the epochs.

A config checks its values once, in ``__post_init__``. A message about one of its fields is a
:class:`ConfigError` written with :func:`param` placeholders: ``str(error)`` names the
parameter (``pretrain_epochs 3 applies to ...``), :meth:`ConfigError.for_options` the
command-line option (``--pretrain-epochs 3 applies to ...``), so that one rule has one home
and both audiences read their own names. :func:`count`, :func:`number` and
:func:`sgd_momentum` are the range rules written that way; :func:`names` fills the same
placeholders in any text (the ``settings:`` line of a run that fitted its settings to the data).
"""

from __future__ import annotations

import math
from numbers import Integral, Real

from ..errors import UserError
from ..training.config import INT64_MAX, SEED_MAX

__all__ = ["ConfigError", "param", "literal", "names", "count", "number", "check_seed", "sgd_momentum", "quick_epochs",
           "MNIST_SIZED", "INT64_MAX", "SEED_MAX", "MAX_UNITS"]

MNIST_SIZED = ("mnist", "fashion-mnist")  # --quick trains these for fewer epochs than the small data sets
MAX_UNITS = 2**20  # units in a layer, AIS chains: beyond this a value is a typo, and its matrices fill any memory


def param(name: str) -> str:
    """The placeholder of parameter ``name`` in a :class:`ConfigError` message."""
    return "{" + name + "}"


def literal(value: object) -> str:
    """``value`` as text inside a :class:`ConfigError` message (braces escaped)."""
    return str(value).replace("{", "{{").replace("}", "}}")


class _Names(dict):
    def __init__(self, options: bool) -> None:
        super().__init__()
        self.options = options

    def __missing__(self, key: str) -> str:
        return "--" + key.replace("_", "-") if self.options else key


class ConfigError(UserError):
    """A config's refusal; ``str()`` names parameters, :meth:`for_options` command-line options."""

    def __init__(self, template: str) -> None:
        self.template = template
        super().__init__(template.format_map(_Names(False)))

    def for_options(self) -> str:
        return self.template.format_map(_Names(True))


def names(template: str, options: bool) -> str:
    """``template``'s :func:`param` placeholders as parameter names, or with ``options`` as
    command-line options (``{quick}`` -> ``quick`` / ``--quick``)."""
    return template.format_map(_Names(options))


def count(name: str, value: object, minimum: int = 1, maximum: int = INT64_MAX) -> int:
    """``value`` if it is an integer in [minimum, maximum] (bools refused: TypeError), else a
    :class:`ConfigError` naming ``name``. The default maximum is what a torch integer holds."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be an integer, got {value!r} of type {type(value).__name__}")
    if value < minimum:
        raise ConfigError(f"{param(name)} must be >= {minimum}, got {value}")
    if value > maximum:
        raise ConfigError(f"{param(name)} must be in [{minimum}, {maximum}], got {value}")
    return int(value)


def check_seed(name: str, value: object) -> int:
    """A seed: an integer in [0, :data:`SEED_MAX`], the range numpy, random and torch all take."""
    return count(name, value, 0, SEED_MAX)


def number(name: str, value: object, minimum: float, *, strictly: bool = False, below: float | None = None,
           maximum: float | None = None) -> float:
    """``value`` as a float if it is finite, ``>= minimum`` (``>`` when ``strictly``), ``< below``
    and ``<= maximum``; else a :class:`ConfigError` naming ``name`` and what is allowed."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a real number, got {value!r} of type {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value):
        raise ConfigError(f"{param(name)} must be a finite number, got {value!r}")
    too_low = value <= minimum if strictly else value < minimum
    too_high = (below is not None and value >= below) or (maximum is not None and value > maximum)
    if too_low or too_high:
        low = ("(" if strictly else "[") + f"{minimum:g}"
        if below is not None or maximum is not None:
            allowed = f"in {low}, " + (f"{below:g})" if below is not None else f"{maximum:g}]")
        else:
            allowed = f"{'>' if strictly else '>='} {minimum:g}"
        raise ConfigError(f"{param(name)} must be {allowed}, got {value!r}")
    return value


def sgd_momentum(optimizer: str, momentum: float | None, sgd_default: float, name: str = "momentum",
                 optimizer_name: str = "optimizer") -> float:
    """The momentum to train with: ``momentum``, or ``sgd_default`` for SGD when None. A
    non-zero momentum with Adam is refused (Adam keeps its own moment estimates and would
    ignore it), naming parameters ``name`` and ``optimizer_name``; Adam's is 0."""
    if optimizer == "adam":
        if momentum:
            raise ConfigError(f"{param(name)} {momentum:g} applies to {param(optimizer_name)} sgd only; Adam keeps "
                              f"its own moment estimates (drop {param(name)}, or use {param(optimizer_name)} sgd)")
        return 0.0
    return sgd_default if momentum is None else momentum


def quick_epochs(dataset: str, epochs: int | None, quick: bool, default: int, quick_small: int = 10,
                 quick_mnist: int = 2) -> int:
    """The epochs of a run: ``epochs`` when given, else with ``quick`` ``quick_mnist`` on
    MNIST-sized data and ``quick_small`` on the small data sets, else ``default``."""
    if epochs is not None:
        return epochs
    if quick:
        return quick_mnist if dataset in MNIST_SIZED else quick_small
    return default
