"""The exceptions weightinit raises for what a user can fix.

``UserError`` means "the input is wrong, and the message says how": a parameter out of
range, a file that is not what it claims, a folder that holds another run. The command line
prints such an error as one line and exits with code 2. Any other exception is a bug in
weightinit (or in what it runs on): the command line keeps its traceback and says where.

``UserError`` subclasses ``ValueError``, so code that catches ``ValueError`` (as it would for
``torch.nn.init`` or scikit-learn) keeps working. Wrong *types* of arguments stay
``TypeError``, as in PyTorch: they are programming mistakes, not input a command line lets
through.
"""

from __future__ import annotations

__all__ = ["UserError", "DataError", "CorruptFileError"]


class UserError(ValueError):
    """Input that weightinit refuses, with a message naming the parameter, the value given
    and what is allowed."""


class DataError(UserError):
    """A data file that is missing, truncated or not what its name claims."""


class CorruptFileError(UserError):
    """A weights or checkpoint file that fails its sha256 check or cannot be loaded safely."""
