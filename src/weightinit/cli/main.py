"""The ``weightinit`` command line: the parser, and what an error becomes.

Run ``weightinit --help``. Each command lives in a module of its own (``compare``, ``rbm``,
``dbn``, ``reproduce``, ``diagnose``, ``data``) and reads as parse -> config -> run -> write
(:func:`~weightinit.cli.execute.run_experiment`).

Exit codes: 0 done; 2 the user's input was refused (a :class:`~weightinit.errors.UserError`:
one line on stderr, no work lost); 130 Ctrl-C (the checkpoint is written and the command
that resumes is printed); 1 a bug (any other exception: its traceback goes to a log file
whose path is printed).
"""

from __future__ import annotations

import argparse
import errno
import os
import sys
import tempfile
import traceback
from collections.abc import Sequence

from .._version import __version__
from ..errors import UserError
from ..experiments._config import ConfigError
from ..modelinit.schemes import SCHEMES
from ..runs import distributed
from ..runs.interrupt import Interrupted, stop_on_sigint
from . import compare, coordcheck, data, dbn, diagnose, phase, rbm, reproduce
from .run_folder import check_resume, resume_command

__all__ = ["build_parser", "main", "EXIT_USAGE", "EXIT_INTERNAL", "EXIT_INTERRUPTED"]

EXIT_USAGE = 2
EXIT_INTERNAL = 1
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: the reader of stdout went away, as for any Unix tool

# OSErrors that describe the machine, not weightinit: reported as one line, exit 2 (the paths a
# user names, --out, --to, --data-dir, are checked where they are used, with their option's name)
_ENVIRONMENT_ERRORS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM})


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr (no usage block), exit 2, with
    the prefix of weightinit's own refusals; it
    keeps the options and subcommands added to it, so that :func:`given_options` can tell
    the options typed on the command line from the defaults."""

    def __init__(self, *args, **kwargs) -> None:
        self.options: list[argparse.Action] = []  # before the base class adds --help
        self.subcommands: list[argparse.Action] = []
        super().__init__(*args, **kwargs)

    def add_argument(self, *args, **kwargs) -> argparse.Action:
        action = super().add_argument(*args, **kwargs)
        self.options.append(action)
        return action

    def add_subparsers(self, **kwargs) -> argparse.Action:
        action = super().add_subparsers(**kwargs)
        self.subcommands.append(action)
        return action

    def error(self, message: str) -> None:  # type: ignore[override]
        # the prefix of every refusal, argparse's and weightinit's alike: "weightinit: error: ..."
        self.exit(EXIT_USAGE, f"weightinit: error: {_one_line(message)}\n")


def given_options(argv: Sequence[str]) -> set[str]:
    """The option destinations (``"lr"``, ``"n_valid"``) that ``argv`` sets explicitly: parsed
    again by a parser whose defaults are all suppressed, so only what was typed is left."""
    parser = build_parser()
    parsers = [parser]
    while parsers:
        current = parsers.pop()
        for action in current.options:
            action.default = argparse.SUPPRESS
        for commands in current.subcommands:
            parsers += list(commands.choices.values())
    return set(vars(parser.parse_args(argv)))


def _one_line(text: str) -> str:
    """``text`` with line breaks and other unprintable characters escaped: one line on any terminal."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def _list_schemes(args: argparse.Namespace) -> int:
    width = max(map(len, SCHEMES))
    for name, scheme in SCHEMES.items():
        print(f"{name:<{width}}  {scheme.formula}")
    from_activation = [name for name, s in SCHEMES.items() if s.uses_gain and s.auto_gain]
    as_defined = [name for name, s in SCHEMES.items() if s.uses_gain and not s.auto_gain]
    print(f"\ngain with --nonlinearity auto (the default): {', '.join(from_activation)} take the gain of the "
          f"activation after each layer (√2 for ReLU, 5/3 for tanh, 1 for sigmoid and linear); "
          f"{', '.join(as_defined)} take gain 1, as Glorot & Bengio, torch.nn.init and Keras define them "
          "(--nonlinearity relu gives them √2); the others have no gain.")
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
    coordcheck.add_parser(commands)
    phase.add_parser(commands)
    data.add_parser(commands, _Parser)
    return parser


def _as_option(message: str, given: frozenset[str]) -> str:
    """A library config's refusal that starts with a parameter the user typed as an option
    (``seed must be in [0, 4294967295], got ...`` from ``--seed``) names the option instead."""
    name = message.split(" ", 1)[0]
    return f"--{name.replace('_', '-')}{message[len(name):]}" if name in given else message


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default: ``sys.argv[1:]``) and return the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as done:  # --help, --version (0) or a refused option (2, its one line already printed)
        return done.code if isinstance(done.code, int) else EXIT_USAGE
    clean = False  # under torchrun: whether the ranks leave together (a barrier) or at once
    try:
        args.given = frozenset(given_options(argv))  # what was typed, not defaulted (cli.common.typed)
        if getattr(args, "resume", None) is not None:
            check_resume(args, args.given)
        if distributed.setup() and not distributed.is_main():
            args.no_progress = True  # rank 0 prints and writes; the others only compute
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - for the life of this process
        with stop_on_sigint():
            code = args.run(args)
        clean = True
        return code
    except UserError as error:  # a config's refusal names the option, as argparse's do
        message = error.for_options() if isinstance(error, ConfigError) else \
            _as_option(str(error), getattr(args, "given", frozenset()))
        print(f"weightinit: error: {_one_line(message)}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # stdout closed by its reader (`weightinit schemes | head -1`): not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # the exit's flush must not fail again
        return EXIT_BROKEN_PIPE
    except OSError as error:
        if error.errno not in _ENVIRONMENT_ERRORS:
            return _internal_error(error)  # an OSError weightinit did not expect is a bug like any other
        # the machine's state, not a bug: a full disk, a read-only or forbidden place
        where = f"{error.filename}: " if error.filename else ""
        print(f"weightinit: error: {_one_line(where + (error.strerror or str(error)))}", file=sys.stderr)
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
        return _internal_error(error)
    finally:
        distributed.teardown(clean)


def _internal_error(error: BaseException) -> int:
    """A bug: its traceback to a log file, one line saying where."""
    with tempfile.NamedTemporaryFile("w", prefix="weightinit-crash-", suffix=".log", delete=False) as log:
        traceback.print_exception(error, file=log)
    # under torchrun a peer that died shows up as a failed collective: say which rank and why
    where = f" on rank {os.environ.get('RANK')} ({_one_line(str(error))[:200]})" if distributed.launched() else ""
    print(f"weightinit: internal error{where}; traceback written to {log.name}", file=sys.stderr)
    return EXIT_INTERNAL
