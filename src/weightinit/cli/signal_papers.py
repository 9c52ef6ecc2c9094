"""``weightinit reproduce schoenholz2017`` and ``pennington2017``: the papers of signal
propagation theory, each a subcommand of ``reproduce`` with its own options. They run on MNIST,
with ``--quick`` too (its grid is small; the paper's finding needs images of MNIST's size)."""

from __future__ import annotations

import argparse
from dataclasses import replace

from ..data.datasets import load_dataset
from ..experiments.reproduce.pennington2017 import QUICK as PENNINGTON_QUICK
from ..experiments.reproduce.pennington2017 import Pennington2017Config, pennington2017
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
    add_pennington2017(papers)


def add_pennington2017(papers: argparse._SubParsersAction) -> None:
    defaults = Pennington2017Config()
    paper = papers.add_parser(
        "pennington2017", help="orthogonal vs Gaussian weights in a 200-layer tanh net at criticality",
        description="Pennington et al. 2017: a tanh MLP of --depth hidden layers of --width units on the critical line "
        f"(sigma_b² = {defaults.sigma_b2:g}, sigma_w² = 1.0395, q* = 0.02), from Gaussian and from orthogonal weights "
        "of "
        f"the same sigma_w, --seeds each, trained together by SGD with momentum ({defaults.steps} steps on "
        f"{defaults.train_rows} MNIST images by default); the training loss against steps beside the singular values "
        "of each init's Jacobian at initialization with the free-probability prediction (pennington2017.png), and the "
        "steps each needs to reach --target. Default: about 7 minutes on one core (100 of its steps: 32 s); --quick: "
        "64 units, 400 steps, 45 s.")
    add_data_options(paper, default="mnist")
    paper.add_argument("--depth", type=int, default=None, help=f"hidden layers (default {defaults.depth})")
    paper.add_argument("--width", type=int, default=None, help=f"units per layer (default {defaults.width})")
    paper.add_argument("--epochs", type=int, default=None,
                       help=f"passes over the training images, {defaults.steps_per_record} steps each (default "
                            f"{defaults.epochs}; --quick {PENNINGTON_QUICK.epochs})")
    paper.add_argument("--lr", type=float, default=None, help=f"SGD learning rate (default {defaults.lr:g})")
    paper.add_argument("--target", type=float, default=None,
                       help=f"the training loss to reach (default {defaults.target:g})")
    paper.add_argument("--seeds", type=int, default=None, help=f"runs per init (default {defaults.seeds})")
    paper.add_argument("--seed", type=int, default=0, help="the first seed (default %(default)s)")
    paper.add_argument("--device", default="auto", help="auto, cpu or cuda")
    add_quick_option(paper, f"{PENNINGTON_QUICK.width} units, {PENNINGTON_QUICK.steps} steps")
    add_output_options(paper, "pennington2017", resumable=True)
    paper.set_defaults(run=run_pennington2017)


def _run_paper(args: argparse.Namespace, kind: str, config, fields: tuple[str, ...], experiment) -> int:
    """Run ``experiment(dataset, config)`` with the ``fields`` given on the command line put into ``config``."""
    given = {name: getattr(args, name) for name in fields if getattr(args, name) is not None}
    config = replace(config, **given, seed=args.seed, device=args.device)
    check_device(args.device)
    check_out_before_work(args)
    dataset = load_dataset(args.dataset, args.data_dir)
    describe(dataset)
    return run_experiment(args, kind, lambda folder: experiment(dataset, config,
                                                                checkpoint_dir=folder / "checkpoints"))


def run_pennington2017(args: argparse.Namespace) -> int:
    return _run_paper(args, "pennington2017", PENNINGTON_QUICK if args.quick else Pennington2017Config(),
                      ("depth", "width", "epochs", "lr", "target", "seeds"), pennington2017)


def run_schoenholz2017(args: argparse.Namespace) -> int:
    return _run_paper(args, "schoenholz2017", QUICK if args.quick else Schoenholz2017Config(),
                      ("sigma_w2", "depths", "width", "train_rows"), schoenholz2017)
