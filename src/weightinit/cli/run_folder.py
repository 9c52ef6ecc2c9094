"""A run's folder on the command line: a new one holding ``settings.json``, or with
``--resume DIR`` the folder of an interrupted run, whose settings must agree."""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path

from ..errors import UserError
from ..runs import distributed
from ..runs.checkpoint import check_same_settings
from ..runs.files import run_folder
from ..runs.interrupt import Interrupted

__all__ = ["NOT_SETTINGS", "open_run", "settings_of", "check_resume", "resume_command"]


# arguments that do not change a run's results: a resumed run may give other values
NOT_SETTINGS = frozenset({"run", "out", "resume", "json", "no_progress", "data_dir", "device"})


@contextmanager
def open_run(args: argparse.Namespace, kind: str) -> Iterator[Path]:
    """The run's folder: a new one (``--out`` or runs/<timestamp>-<kind>) holding
    ``settings.json``, or with ``--resume DIR`` that folder (its settings were checked by
    :func:`check_resume`).
    Under torchrun rank 0 makes it and the others receive its path. An interruption is
    tagged with the folder, for the resume command."""
    resume = getattr(args, "resume", None)
    announced = False
    try:
        if distributed.is_main():
            opened = run_folder(resume if resume is not None else args.out, kind, resume=resume is not None)
        else:
            opened = nullcontext(distributed.broadcast_object(None))
        with opened as folder:
            if isinstance(folder, str):  # rank 0 could not open the folder: its error, on every rank
                raise UserError(folder)
            if distributed.is_main():
                if resume is None:  # a resumed folder's settings were checked by main(), before any work
                    check_same_settings(folder / "settings.json", settings_of(args), resume=False)
                distributed.broadcast_object(folder)
            announced = True
            try:
                yield folder
            except (Interrupted, KeyboardInterrupt) as stop:
                stop.folder = folder
                raise
            except BaseException:
                if resume is None and distributed.is_main() and [p.name for p in folder.iterdir()] == ["settings.json"]:
                    (folder / "settings.json").unlink()  # nothing else written: leave no folder behind
                raise
    except UserError as error:
        if not announced and distributed.is_main():
            distributed.broadcast_object(str(error))
        raise


def settings_of(args: argparse.Namespace) -> dict:
    return {key: value for key, value in sorted(vars(args).items()) if key not in NOT_SETTINGS}


def check_resume(args: argparse.Namespace) -> None:
    """Refuse a --resume folder that is missing or holds a run with other settings, before any work."""
    resume = getattr(args, "resume", None)
    if resume is None:
        return
    if args.out is not None and Path(args.out).expanduser() != Path(resume).expanduser():
        raise UserError(f"--out {args.out!r} and --resume {resume!r} name different folders; give only --resume")
    if not Path(resume).expanduser().is_dir():
        raise UserError(f"--resume needs the folder of an earlier run, got {resume!r} (not a folder)")
    check_same_settings(Path(resume).expanduser() / "settings.json", settings_of(args), resume=True)


def resume_command(argv: Sequence[str], folder: Path) -> str:
    """``argv`` without its --out/--resume, plus ``--resume folder``: the command that continues."""
    kept, skip = [], False
    for token in argv:
        if skip:
            skip = False
        elif token in ("--out", "--resume"):
            skip = True
        elif not token.startswith(("--out=", "--resume=")):
            kept.append(token)
    return shlex.join(["weightinit", *kept, "--resume", str(folder)])
