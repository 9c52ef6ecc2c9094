"""``weightinit data fetch mnist``: download a dataset's files, verified by sha256."""

from __future__ import annotations

import argparse

from ..data.datasets import default_data_dir
from ..data.fetch import MNIST_MIRRORS, fetch_mnist
from .common import number, say

__all__ = ["add_parser", "run_fetch"]


def add_parser(commands: argparse._SubParsersAction, parser_class: type[argparse.ArgumentParser]) -> None:
    data = commands.add_parser("data", help="datasets: fetch")
    actions = data.add_subparsers(dest="data_command", metavar="ACTION", parser_class=parser_class)
    actions.required = True
    fetch = actions.add_parser("fetch", help="download a dataset's files, verified by sha256")
    fetch.add_argument("name", choices=["mnist"], help="the dataset")
    fetch.add_argument("--to", default=None,
                       help="destination folder (default $WEIGHTINIT_DATA or ~/.cache/weightinit)")
    fetch.add_argument("--mirror", action="append", default=None,
                       help="base URL to try, in order (repeatable; default: the public mirrors)")
    fetch.add_argument("--timeout", type=number("timeout", 0, strictly=True), default=60.0,
                       help="seconds per connection (default %(default)s)")
    fetch.add_argument("--no-progress", action="store_true", help="no progress bar")
    fetch.set_defaults(run=run_fetch)


def run_fetch(args: argparse.Namespace) -> int:
    destination = args.to or default_data_dir()
    paths = fetch_mnist(destination, args.mirror or MNIST_MIRRORS, timeout=args.timeout, progress=not args.no_progress,
                        option="--to")
    for path in paths:
        print(path)
    say(f"{args.name}: {len(paths)} files verified in {destination}")
    return 0
