"""The ``weightinit`` command line: the parser, and what an error becomes.

Run ``weightinit --help``. Each command lives in a module of its own (``compare``, ``rbm``,
``dbn``, ``reproduce``, ``diagnose``, ``data``) and reads as parse -> run -> write.

Exit codes: 0 done; 2 the user's input was refused (a :class:`~weightinit.errors.UserError`:
one line on stderr, no work lost); 130 Ctrl-C (the checkpoint is written and the command
that resumes is printed); 1 a bug (any other exception: its traceback goes to a log file
whose path is printed).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import traceback
from collections.abc import Sequence

from ..errors import UserError
from ..runs import distributed
from ..runs.interrupt import Interrupted, stop_on_sigint
from ..schemes import SCHEMES
from ..version import __version__
from . import compare, data, dbn, diagnose, rbm, reproduce
from .run_folder import check_resume, resume_command

__all__ = ["build_parser", "main", "EXIT_USAGE", "EXIT_INTERNAL", "EXIT_INTERRUPTED"]

EXIT_USAGE = 2
EXIT_INTERNAL = 1
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr (no usage block), exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {_one_line(message)}\n")


def _one_line(text: str) -> str:
    """``text`` with line breaks and other unprintable characters escaped: one line on any terminal."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def _list_schemes(args: argparse.Namespace) -> int:
    width = max(map(len, SCHEMES))
    for name, scheme in SCHEMES.items():
        print(f"{name:<{width}}  {scheme.formula}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="weightinit", description="Initialize neural networks well, and see why it matters.")
    parser.add_argument("--version", action="version", version=f"weightinit {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True
    commands.add_parser("schemes", help="list every initialization scheme with its formula").set_defaults(
        run=_list_schemes)
    compare.add_parser(commands)
    rbm.add_parser(commands)
    dbn.add_parser(commands)
    reproduce.add_parser(commands, _Parser)
    diagnose.add_parser(commands)
    data.add_parser(commands, _Parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default: ``sys.argv[1:]``) and return the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    clean = False  # under torchrun: whether the ranks leave together (a barrier) or at once
    try:
        check_resume(args)
        if distributed.setup() and not distributed.is_main():
            args.no_progress = True  # rank 0 prints and writes; the others only compute
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - for the life of this process
        with stop_on_sigint():
            code = args.run(args)
        clean = True
        return code
    except UserError as error:
        print(f"weightinit: error: {_one_line(str(error))}", file=sys.stderr)
        return EXIT_USAGE
    except (Interrupted, KeyboardInterrupt) as stop:
        folder = getattr(stop, "folder", None)
        saved = "; checkpoint written" if isinstance(stop, Interrupted) else ""
        resume = f"; resume with: {resume_command(argv, folder)}" if folder is not None else ""
        if distributed.is_main():
            print(f"weightinit: interrupted{saved}{resume}", file=sys.stderr)
        clean = isinstance(stop, Interrupted)  # every rank stopped at the same batch
        return EXIT_INTERRUPTED
    except Exception as error:  # noqa: BLE001 - the last resort: keep the traceback, say where it is
        with tempfile.NamedTemporaryFile("w", prefix="weightinit-crash-", suffix=".log", delete=False) as log:
            traceback.print_exc(file=log)
        # under torchrun a peer that died shows up as a failed collective: say which rank and why
        where = f" on rank {os.environ.get('RANK')} ({_one_line(str(error))[:200]})" if distributed.launched() else ""
        print(f"weightinit: internal error{where}; traceback written to {log.name}", file=sys.stderr)
        return EXIT_INTERNAL
    finally:
        distributed.teardown(clean)
