"""What the commands share: how they speak (stderr for status, stdout for results) and the
option groups several of them take."""

from __future__ import annotations

import argparse
import sys

from ..runs import distributed
from ..train import TrainConfig

__all__ = ["say", "describe", "emit", "split_list", "add_data_options", "add_output_options", "add_train_options",
           "COMPILE_HELP", "QUICK_HELP"]

COMPILE_HELP = "fuse the RBM update with torch.compile: faster epochs after a one-off compile (needs a C++ compiler)"
QUICK_HELP = "seconds, not minutes: scikit-learn's digits (unless --dataset says otherwise), fewer epochs"


def say(message: str) -> None:
    """A status line on stderr (under torchrun, rank 0 speaks for all)."""
    if distributed.is_main():
        print(message, file=sys.stderr, flush=True)


def describe(dataset, note: str = "") -> None:
    """Say in one line what the data is and where it came from."""
    say(f"data: {dataset.name}, {len(dataset.train)} train{note} / {len(dataset.test)} test, from {dataset.source}")


def emit(results, text: str, as_json: bool) -> None:
    """The run's text on stdout, or with --json the results JSON there and the text on stderr."""
    from ..report import to_json

    if as_json:
        sys.stdout.write(to_json(results))
        say(text)
    else:
        print(text)


def split_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def add_data_options(parser: argparse.ArgumentParser, default: str | None = "mnist") -> None:
    parser.add_argument("--dataset", default=default,
                        help="mnist (default), fashion-mnist, digits or synthetic")
    parser.add_argument("--data-dir", default=None, help="folder searched first for the data ($WEIGHTINIT_DATA)")


def add_output_options(parser: argparse.ArgumentParser, kind: str, *, resumable: bool = False) -> None:
    parser.add_argument("--out", default=None, help=f"output folder (default runs/<timestamp>-{kind})")
    if resumable:
        parser.add_argument("--resume", default=None, metavar="DIR",
                            help="continue the interrupted run in DIR from its last checkpoint (same settings)")
    parser.add_argument("--json", action="store_true", help="print results.json on stdout (the rest goes to stderr)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def add_train_options(parser: argparse.ArgumentParser) -> None:
    defaults = TrainConfig()
    parser.add_argument("--epochs", type=int, default=None,
                        help=f"training epochs (default {defaults.epochs}; --quick: fewer)")
    parser.add_argument("--optimizer", default=defaults.optimizer, help="adam or sgd (default %(default)s)")
    parser.add_argument("--lr", type=float, default=defaults.lr, help="learning rate (default %(default)g)")
    parser.add_argument("--momentum", type=float, default=defaults.momentum, help="SGD momentum (default %(default)g)")
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size, help="default %(default)s")
    parser.add_argument("--seed", type=int, default=defaults.seed, help="base seed (default %(default)s)")
    parser.add_argument("--device", default=defaults.device, help="auto, cpu or cuda (default %(default)s)")
