"""The command line (``weightinit``): :mod:`.main` builds the parser and maps errors to exit
codes; one module per command."""

from .main import build_parser, main

__all__ = ["build_parser", "main"]
