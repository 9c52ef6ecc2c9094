"""What the experiments' configs share: a refusal that names the parameter for a Python caller
and the option for the command line, and the ``--quick`` rules of the epochs.

A config checks its values once, in ``__post_init__``. A message about one of its fields is a
:class:`ConfigError` written with :func:`param` placeholders: ``str(error)`` names the
parameter (``pretrain_epochs 3 applies to ...``), :meth:`ConfigError.for_options` the
command-line option (``--pretrain-epochs 3 applies to ...``), so that one rule has one home
and both audiences read their own names.
"""

from __future__ import annotations

from ..errors import UserError

__all__ = ["ConfigError", "param", "literal", "quick_epochs", "MNIST_SIZED"]

MNIST_SIZED = ("mnist", "fashion-mnist")  # --quick trains these for fewer epochs than the small data sets


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


def quick_epochs(dataset: str, epochs: int | None, quick: bool, default: int, quick_small: int = 10,
                 quick_mnist: int = 2) -> int:
    """The epochs of a run: ``epochs`` when given, else with ``quick`` ``quick_mnist`` on
    MNIST-sized data and ``quick_small`` on the small data sets, else ``default``."""
    if epochs is not None:
        return epochs
    if quick:
        return quick_mnist if dataset in MNIST_SIZED else quick_small
    return default
