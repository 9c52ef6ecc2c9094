"""``weightinit reproduce schoenholz2017``: the papers of signal propagation theory, each
a subcommand of ``reproduce`` with its own options. They run on MNIST, with ``--quick`` too
(its grid is small; the paper's finding needs images of MNIST's size)."""

from __future__ import annotations

import argparse
from dataclasses import replace

from ..data.datasets import load_dataset
from ..experiments.reproduce.schoenholz2017 import QUICK, Schoenholz2017Config, schoenholz2017
from .common import add_data_options, add_output_options, add_quick_option, check_device, describe
from .execute import run_experiment
from .run_folder import check_out_before_work

__all__ = ["add_signal_papers"]


def _floats(text: str) -> tuple[float, ...]:
    return tuple(float(v) for v in text.split(",") if v.strip())


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(v) for v in text.split(",") if v.strip())


def add_signal_papers(papers: argparse._SubParsersAction) -> None:
    defaults = Schoenholz2017Config()
    paper = papers.add_parser(
        "schoenholz2017", help="trainability of deep tanh nets over sigma_w² and depth, beside 6 xi_c",
        description="Schoenholz et al. 2017, Figure 5: tanh MLPs of --width units and each of --depths hidden layers, "
        "from W ~ N(0, sigma_w²/fan_in) for each of --sigma-w2 (bias N(0, 0.05)), trained by SGD with momentum for "
        f"one pass over --train-rows MNIST images ({defaults.steps} steps by default); the test accuracy as a heat "
        "map with the mean-field 6 xi_c curve over it (trainability.png), and how many cells lie on the side of the "
        "curve their accuracy says. The runs of one depth train as one stacked model. Default grid: about 30 "
        "minutes on 2 cores; --quick: a 7 x 4 grid of narrow nets, seconds.")
    add_data_options(paper, default="mnist")
    paper.add_argument("--sigma-w2", type=_floats, default=None,
                       help="comma-separated weight variances (default 1.0, 1.25, ..., 4.0)")
    paper.add_argument("--depths", type=_ints, default=None,
                       help="comma-separated numbers of hidden layers (default " +
                       ",".join(map(str, defaults.depths)) + ")")
    paper.add_argument("--width", type=int, default=None, help=f"units per layer (default {defaults.width})")
    paper.add_argument("--train-rows", type=int, default=None,
                       help=f"training images, one pass (default {defaults.train_rows}: {defaults.steps} steps)")
    paper.add_argument("--seed", type=int, default=0, help="the first seed (default %(default)s)")
    paper.add_argument("--device", default="auto", help="auto, cpu or cuda")
    add_quick_option(paper, "a 7 x 4 grid (depths 5-60) of 32-unit nets, 200 steps, on MNIST")
    add_output_options(paper, "schoenholz2017", resumable=True)
    paper.set_defaults(run=run_schoenholz2017)


def run_schoenholz2017(args: argparse.Namespace) -> int:
    base = QUICK if args.quick else Schoenholz2017Config()
    given = {name: getattr(args, name) for name in ("sigma_w2", "depths", "width", "train_rows")
             if getattr(args, name) is not None}
    config = replace(base, **given, seed=args.seed, device=args.device)
    check_device(args.device)
    check_out_before_work(args)
    dataset = load_dataset(args.dataset, args.data_dir)
    describe(dataset)
    return run_experiment(args, "schoenholz2017", lambda folder: schoenholz2017(
        dataset, config, checkpoint_dir=folder / "checkpoints"))
