"""Declarative hyperparameter checks for the estimators: each estimator lists, in a class
attribute ``PARAMETERS``, one constraint per constructor argument, and :func:`validate_params`
checks them all, once, when ``fit`` (or a first ``partial_fit``) runs, as scikit-learn does.

Every message has the package's one format (:mod:`weightinit._checks`): the parameter, the
value given and what is allowed, e.g. ``learning_rate must be > 0, got -1.0``. Wrong values
raise :class:`~weightinit.errors.UserError` (a ``ValueError``); wrong types ``TypeError``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from numbers import Integral
from typing import Any

import numpy as np

from .._checks import check_choice, check_int, check_number
from ..errors import UserError

__all__ = ["Boolean", "Choice", "Constraint", "Integer", "Real", "Sizes", "Auto", "RandomState", "validate_params"]


class Constraint:
    """What one hyperparameter may be; :meth:`check` raises, naming it, if it is not."""

    def check(self, name: str, value: Any) -> None:  # pragma: no cover - every constraint overrides it
        raise NotImplementedError


@dataclass(frozen=True)
class Integer(Constraint):
    """An integer (numpy's too; bools refused) >= ``minimum``."""

    minimum: int

    def check(self, name: str, value: Any) -> None:
        check_int(name, value, self.minimum)


@dataclass(frozen=True)
class Real(Constraint):
    """A finite real number in ``[minimum, maximum)`` (``(minimum, ...`` with ``strict``)."""

    minimum: float
    strict: bool = False
    maximum: float | None = None  # exclusive

    def check(self, name: str, value: Any) -> None:
        value = check_number(name, value, minimum=self.minimum, strictly=self.strict)
        if self.maximum is not None and value >= self.maximum:
            low = "(" if self.strict else "["
            raise UserError(f"{name} must be in {low}{self.minimum:g}, {self.maximum:g}), got {value!r}")


@dataclass(frozen=True)
class Choice(Constraint):
    """One of a few strings."""

    options: tuple[str, ...]

    def check(self, name: str, value: Any) -> None:
        check_choice(name, value, self.options)


@dataclass(frozen=True)
class Boolean(Constraint):
    """True or False (numpy's bool too)."""

    def check(self, name: str, value: Any) -> None:
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"{name} must be a bool, got {value!r} of type {type(value).__name__}")


@dataclass(frozen=True)
class Sizes(Constraint):
    """A non-empty sequence of positive integers (one int is read as a 1-tuple), e.g. ``(500, 500)``."""

    def check(self, name: str, value: Any) -> None:
        sizes = [value] if isinstance(value, Integral) else value
        if (not isinstance(sizes, (Sequence, np.ndarray)) or isinstance(sizes, str) or len(sizes) == 0
                or any(isinstance(s, bool) or not isinstance(s, Integral) or s < 1 for s in sizes)):
            raise UserError(f"{name} must be a non-empty tuple of positive integers, such as (500, 500), "
                            f"got {value!r}")


@dataclass(frozen=True)
class Auto(Constraint):
    """The string ``"auto"`` or what ``otherwise`` allows."""

    otherwise: Constraint

    def check(self, name: str, value: Any) -> None:
        if isinstance(value, str) and value == "auto":
            return
        try:
            self.otherwise.check(name, value)
        except (TypeError, UserError) as error:
            raise type(error)(f"{error}; or use 'auto'") from None


@dataclass(frozen=True)
class RandomState(Constraint):
    """None, an int >= 0 or a ``numpy.random.RandomState`` (scikit-learn's ``random_state``)."""

    def check(self, name: str, value: Any) -> None:
        if value is None or isinstance(value, np.random.RandomState):
            return
        check_int(name, value, 0)


def validate_params(estimator: Any, constraints: Mapping[str, Constraint]) -> None:
    """Check every hyperparameter of ``estimator`` against ``constraints``; a parameter with
    no constraint is a bug in the estimator, not the user's."""
    params = estimator.get_params(deep=False)
    missing = sorted(set(params) - set(constraints))
    if missing:  # pragma: no cover - caught by the tests of each estimator
        raise RuntimeError(f"{type(estimator).__name__} has no constraint for {missing}")
    for name, value in params.items():
        constraints[name].check(name, value)
