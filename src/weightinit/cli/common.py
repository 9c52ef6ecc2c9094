"""What the commands share: how they speak (stderr for status, stdout for results), the option
groups several of them take, and the option types.

A numeric option is parsed by ``int`` or ``float`` (``--epochs two`` is refused by argparse)
and its range is checked once, by the config it fills, before anything runs:
``--seed 1180591620717411303424`` and ``--dropout 1`` are refused on one line, exit 2, naming
the option (a :class:`~weightinit.experiments._config.ConfigError`) or the parameter of the
same name. :func:`integer` and :func:`number` check a range at parse time for the few options
whose config would name them otherwise (``--pretrain-lr`` fills RBMConfig's ``lr``) or that
fill no config (``--timeout``).
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable

from ..experiments._config import INT64_MAX, sgd_momentum
from ..runs import distributed
from ..runs.devices import resolve_device
from ..training.loop import TrainConfig

__all__ = ["say", "describe", "emit", "split_list", "add_data_options", "add_output_options", "add_train_options",
           "integer", "number", "check_device", "train_config", "COMPILE_HELP", "QUICK_HELP", "add_quick_option",
           "dataset_name", "typed"]

COMPILE_HELP = "fuse the RBM update with torch.compile: faster epochs after a one-off compile (needs a C++ compiler)"
QUICK_HELP = "seconds, not minutes: scikit-learn's digits (unless --dataset says otherwise), a smaller run"


def say(message: str) -> None:
    """A status line on stderr (under torchrun, rank 0 speaks for all)."""
    if distributed.is_main():
        print(message, file=sys.stderr, flush=True)


def describe(dataset, note: str = "") -> None:
    """Say in one line what the data is and where it came from."""
    say(f"data: {dataset.name}, {len(dataset.train)} train{note} / {len(dataset.test)} test, from {dataset.source}")


def emit(results, text: str, as_json: bool) -> None:
    """The run's text on stdout, or with --json the results JSON there and the text on stderr."""
    from ..reporting.tables import to_json

    if as_json:
        sys.stdout.write(to_json(results))
        say(text)
    else:
        print(text)


def split_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


# ------------------------------------------------------------------ option types
def integer(name: str, minimum: int | None = None, maximum: int = INT64_MAX) -> Callable[[str], int]:
    """An argparse ``type``: an integer in [minimum, maximum]; the message names ``name``
    (argparse puts ``argument --flag:`` before it)."""

    def parse(text: str) -> int:
        value = int(text)  # a ValueError: argparse's "invalid int value: 'two'"
        if minimum is not None and value < minimum:
            raise argparse.ArgumentTypeError(f"{name} must be >= {minimum}, got {value}")
        if value > maximum:
            allowed = f"<= {maximum}" if minimum is None else f"in [{minimum}, {maximum}]"
            raise argparse.ArgumentTypeError(f"{name} must be {allowed}, got {value}")
        return value

    parse.__name__ = "int"
    return parse


def number(name: str, minimum: float | None = None, *, strictly: bool = False, below: float | None = None,
           maximum: float | None = None) -> Callable[[str], float]:
    """An argparse ``type``: a finite float, ``>= minimum`` (``> minimum`` when ``strictly``),
    ``< below``, ``<= maximum``; the message names ``name`` and what is allowed."""

    def parse(text: str) -> float:
        value = float(text)  # a ValueError: argparse's "invalid float value: 'x'"
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{name} must be a finite number, got {value!r}")
        low = "" if minimum is None else ("(" if strictly else "[") + f"{minimum:g}"
        high = "" if below is None and maximum is None else (f"{below:g})" if below is not None else f"{maximum:g}]")
        too_low = minimum is not None and (value <= minimum if strictly else value < minimum)
        too_high = (below is not None and value >= below) or (maximum is not None and value > maximum)
        if too_low or too_high:
            if low and high:
                allowed = f"in {low}, {high}"
            elif low:
                allowed = f"{'>' if strictly else '>='} {minimum:g}"
            else:
                allowed = f"< {below:g}" if below is not None else f"<= {maximum:g}"
            raise argparse.ArgumentTypeError(f"{name} must be {allowed}, got {value!r}")
        return value

    parse.__name__ = "float"
    return parse


def check_device(device: str) -> None:
    """Refuse ``--device cuda`` (or a name torch does not know) on a machine without it before any
    work, not at the first batch; ``auto`` always resolves, where the work runs."""
    if device != "auto":
        resolve_device(device)


# ------------------------------------------------------------------ option groups
def add_data_options(parser: argparse.ArgumentParser, default: str | None = "mnist") -> None:
    """--dataset and --data-dir; ``default=None`` for a command with --quick, whose dataset
    then comes from :func:`dataset_name`."""
    parser.add_argument("--dataset", default=default,
                        help="mnist (default; digits with --quick), fashion-mnist, digits, synthetic or shakespeare "
                        "(text, for compare --model gpt, its default there)"
                        if default is None else "mnist (default), fashion-mnist, digits or synthetic")
    parser.add_argument("--data-dir", default=None, help="folder searched first for the data ($WEIGHTINIT_DATA)")


def add_quick_option(parser: argparse.ArgumentParser, effect: str) -> None:
    """--quick, the same promise on every command that trains (:data:`QUICK_HELP`), and what
    else it shrinks for this command (``effect``)."""
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_HELP}; {effect}")


def dataset_name(args: argparse.Namespace) -> str:
    """The dataset a command runs on: --dataset if given, else digits under --quick, else MNIST."""
    return args.dataset or ("digits" if getattr(args, "quick", False) else "mnist")


def add_output_options(parser: argparse.ArgumentParser, kind: str, *, resumable: bool = False) -> None:
    parser.add_argument("--out", default=None, help=f"output folder (default runs/<timestamp>-{kind})")
    if resumable:
        parser.add_argument("--resume", default=None, metavar="DIR",
                            help="continue the run in DIR from its last checkpoint; its settings are read from "
                                 "DIR/settings.json (options given must agree with them)")
    parser.add_argument("--json", action="store_true", help="print results.json on stdout (the rest goes to stderr)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def add_train_options(parser: argparse.ArgumentParser, *, per_model: bool = False) -> None:
    """The training options; with ``per_model``, --lr and --batch-size default to None: the
    command fills in its model's own (compare --model gpt)."""
    defaults = TrainConfig()
    parser.add_argument("--epochs", type=int, default=None,
                        help=f"training epochs (default {defaults.epochs}; --quick: fewer)")
    parser.add_argument("--optimizer", default=defaults.optimizer, help="adam or sgd (default %(default)s)")
    parser.add_argument("--lr", type=float, default=None if per_model else defaults.lr,
                        help=f"learning rate (default {defaults.lr:g}" + ("; the model's own for --model gpt)"
                                                                           if per_model else ")"))
    parser.add_argument("--momentum", type=float, default=None,
                        help="SGD momentum (default 0; not with --optimizer adam)")
    parser.add_argument("--batch-size", type=int, default=None if per_model else defaults.batch_size,
                        help=f"default {defaults.batch_size}" + ("; the model's own for --model gpt" if per_model
                                                                 else ""))
    parser.add_argument("--seed", type=int, default=defaults.seed, help="base seed (default %(default)s)")
    parser.add_argument("--device", default=defaults.device, help="auto, cpu or cuda (default %(default)s)")


def train_config(args: argparse.Namespace, *, epochs: int, sgd_default: float = 0.0, **fields) -> TrainConfig:
    """The TrainConfig of the options of :func:`add_train_options` (or a command's own of the
    same names). ``--momentum`` belongs to SGD: with ``--optimizer adam`` it is refused, not
    ignored (:func:`~weightinit.experiments._config.sgd_momentum`); without it SGD gets
    ``sgd_default``."""
    momentum = args.momentum
    if args.optimizer == "adam" and not typed(args, "momentum"):
        momentum = None  # read back from an earlier run's settings.json (the old default): Adam always dropped it
    momentum = sgd_momentum(args.optimizer, momentum, sgd_default)
    return TrainConfig(optimizer=args.optimizer, lr=args.lr, momentum=momentum, epochs=epochs,
                       batch_size=args.batch_size, seed=args.seed, device=args.device, **fields)


def typed(args: argparse.Namespace, dest: str) -> bool:
    """Whether option ``dest`` was typed on the command line (``main`` records them in
    ``args.given``), not a default or a value read back from a resumed run's settings."""
    return dest in getattr(args, "given", ())
