"""A run's folder on the command line: a new one holding ``settings.json``, or with
``--resume DIR`` the folder of an earlier run.

``--resume DIR`` alone continues the run as it was: the settings are read from
``DIR/settings.json``; an option typed beside it must agree with them. Before any work the
folder is checked: it must hold a run of the same command (``compare --resume`` of an rbm
folder says so), and every finished part's weights must match the sha256 recorded when they
were written. While a process writes a folder it holds an OS lock on it: a second process
(a second ``--resume`` of the same folder) is refused.
"""

from __future__ import annotations

import argparse
import json
import shlex
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path

from ..errors import CorruptFileError, UserError
from ..runs import distributed
from ..runs.checkpoint import check_same_settings, differing_keys, verify_finished
from ..runs.files import check_out_folder, lock_folder, run_folder
from ..runs.interrupt import Interrupted

__all__ = ["NOT_SETTINGS", "open_run", "settings_of", "check_resume", "resume_command", "kind_of"]


# arguments that do not change a run's results: a resumed run may give other values
NOT_SETTINGS = frozenset({"run", "out", "resume", "json", "no_progress", "data_dir", "device", "given"})


@contextmanager
def open_run(args: argparse.Namespace, kind: str) -> Iterator[Path]:
    """The run's folder: a new one (``--out`` or runs/<timestamp>-<kind>) holding
    ``settings.json``, or with ``--resume DIR`` that folder (its settings were read and
    checked by :func:`check_resume`), locked for this process.
    Under torchrun rank 0 makes it and the others receive its path. An interruption is
    tagged with the folder, for the resume command."""
    resume = getattr(args, "resume", None)
    announced = False
    try:
        if distributed.is_main():
            opened = run_folder(resume if resume is not None else args.out, kind, resume=resume is not None,
                                option="--resume" if resume is not None else "--out")
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


def kind_of(settings: dict) -> str:
    """The command a run's settings belong to: ``compare``, ``rbm``, ``dbn`` or a paper's name."""
    command = settings.get("command")
    return (settings.get("paper") or "?") if command == "reproduce" else str(command)


def _command_line(kind: str) -> str:
    return f"weightinit {'reproduce ' if kind in ('lecture', 'hinton2006', 'glorot2010', 'he2015') else ''}{kind}"


def _flag(key: str) -> str:
    return "--" + key.replace("_", "-")


def _shown(value) -> str:
    return "off" if value is False else "on" if value is True else "default" if value is None else str(value)


def check_out_before_work(args: argparse.Namespace) -> None:
    """Refuse an ``--out`` that cannot become a new run's folder, before the data is loaded.
    A folder that is not empty is refused with what it holds: a run (resume it, or choose
    another folder) or files of the user's (a run writes only into a new or empty folder)."""
    if getattr(args, "resume", None) is None:
        _check_empty(args.out)
        check_out_folder(args.out, "--out")


def _check_empty(out: str | None) -> None:
    """Refuse an ``--out`` folder that holds anything, saying what: a run of a command (and the
    command that continues it), another run's results, or the user's own files."""
    folder = None if out is None else Path(out).expanduser()
    if folder is None or not folder.is_dir():
        return
    try:
        names = sorted(p.name for p in folder.iterdir())
    except OSError:  # unreadable: check_out_folder and the folder's creation say why
        return
    if not names:
        return
    if "settings.json" in names:
        try:
            kind = kind_of(json.loads((folder / "settings.json").read_text(encoding="utf-8")))
        except (ValueError, UnicodeDecodeError, OSError, AttributeError):
            kind = None
        if kind and kind != "?":
            raise UserError(f"--out {out!r} already holds a `{_command_line(kind)}` run; continue it with "
                            f"`{_command_line(kind)} --resume {shlex.quote(out)}`, or choose a new or empty folder")
        raise UserError(f"--out {out!r} already holds another run (settings.json); choose a new or empty folder")
    if "results.json" in names:
        raise UserError(f"--out {out!r} already holds the results of another run (results.json); choose a new or "
                        "empty folder")
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    raise UserError(f"--out {out!r} is not empty (it holds {shown}) and a run writes only into a new or empty "
                    "folder, so that its files mix with no others; choose a new or empty folder")


def check_resume(args: argparse.Namespace, given: set[str] = frozenset()) -> None:
    """Read the settings of the ``--resume`` folder into ``args``, before any work.

    Options named in ``given`` (typed on the command line) must agree with the folder's; the
    others take its values. Refused: a folder that is missing, holds no run, holds a run of
    another command, or whose finished parts fail their sha256 check.
    """
    resume = getattr(args, "resume", None)
    if resume is None:
        return
    if args.out is not None and Path(args.out).expanduser() != Path(resume).expanduser():
        raise UserError(f"--out {args.out!r} and --resume {resume!r} name different folders; give only --resume")
    folder = Path(resume).expanduser()
    if not folder.is_dir():
        raise UserError(f"--resume needs the folder of an earlier run, got {resume!r} (not a folder)")
    path = folder / "settings.json"
    if not path.is_file():
        raise UserError(f"{folder} holds no run to resume (settings.json is missing)")
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(saved, dict):
            raise ValueError
    except (ValueError, UnicodeDecodeError, OSError):
        raise CorruptFileError(f"{path}: not the settings of a run (expected a JSON object)") from None
    mine, theirs = kind_of(settings_of(args)), kind_of(saved)
    if mine != theirs:
        article = "an" if theirs in ("rbm",) else "a"  # as it is read: "an rbm run", "a dbn run"
        raise UserError(f"cannot resume {folder} with `{_command_line(mine)}`: it is {article} {theirs} run; "
                        f"resume it with `{_command_line(theirs)} --resume {resume}`")
    current = json.loads(json.dumps(settings_of(args)))
    # an option added since the run was made (not typed now) is taken as the run had it: absent,
    # that is, at today's default (a folder of an earlier version resumes)
    saved = {**{key: value for key, value in current.items() if key not in saved and key not in given}, **saved}
    for key in current:
        if key not in given and key in saved:
            setattr(args, key, saved[key])
    differing = differing_keys(saved, json.loads(json.dumps(settings_of(args))))
    if differing:
        was = ", ".join(f"{_flag(k)} {_shown(saved.get(k))}" for k in differing if "." not in k)
        raise UserError(f"cannot resume {folder}: it was run with other settings ({', '.join(differing)} differ): "
                        f"it has {was}; drop those options to resume it as it was, or use a new folder")
    verify_finished(folder)
    with lock_folder(folder, "--resume"):  # in use by another process: said now, not after loading the data
        pass


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
