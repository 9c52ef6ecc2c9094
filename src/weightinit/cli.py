"""The ``weightinit`` command line: argparse subcommands that call the library.

Run ``weightinit --help``. User errors print one line on stderr and exit with code 2;
an unexpected error writes its traceback to a log file and says where.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import traceback
from collections.abc import Sequence

from . import __version__
from .schemes import SCHEMES

EXIT_USAGE = 2
EXIT_INTERNAL = 1


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr (no usage block), exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _cmd_schemes(args: argparse.Namespace) -> int:
    width = max(map(len, SCHEMES))
    for name, scheme in SCHEMES.items():
        print(f"{name:<{width}}  {scheme.formula}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="weightinit", description="Initialize neural networks well, and see why it matters.")
    parser.add_argument("--version", action="version", version=f"weightinit {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True
    schemes = commands.add_parser("schemes", help="list every initialization scheme with its formula")
    schemes.set_defaults(run=_cmd_schemes)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default: ``sys.argv[1:]``) and return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except (ValueError, TypeError) as error:
        print(f"weightinit: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("weightinit: interrupted", file=sys.stderr)
        return 130
    except Exception:  # noqa: BLE001 - the last resort: keep the traceback, say where it is
        with tempfile.NamedTemporaryFile("w", prefix="weightinit-crash-", suffix=".log", delete=False) as log:
            traceback.print_exc(file=log)
        print(f"weightinit: internal error; traceback written to {log.name}", file=sys.stderr)
        return EXIT_INTERNAL
