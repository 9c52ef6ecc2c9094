"""``weightinit reproduce PAPER``: one subcommand per paper, each with its own options."""

from __future__ import annotations

import argparse

from ..data.datasets import load_dataset
from ..experiments.reproduce.glorot2010 import Glorot2010Config, glorot2010
from ..experiments.reproduce.he2015 import He2015Config, he2015
from ..experiments.reproduce.lecture import LectureConfig, lecture, lecture_epochs
from .common import (
    add_data_options,
    add_output_options,
    add_quick_option,
    check_device,
    dataset_name,
    describe,
)
from .execute import run_experiment
from .hinton2006 import add_hinton2006
from .run_folder import check_out_before_work
from .signal_papers import add_signal_papers
from .transfer import add_mup

__all__ = ["add_parser"]


def add_parser(commands: argparse._SubParsersAction, parser_class: type[argparse.ArgumentParser]) -> None:
    reproduce = commands.add_parser("reproduce", help="reproduce an experiment: lecture, hinton2006, glorot2010, "
                                                      "he2015, schoenholz2017, pennington2017, mup")
    papers = reproduce.add_subparsers(dest="paper", metavar="PAPER", parser_class=parser_class)
    papers.required = True

    lecture_parser = papers.add_parser(
        "lecture", help="the course's four MNIST labs with its exact settings, beside its published accuracies",
        description="The lecture's labs 09-1 to 09-4 (softmax from torch's default init and from N(0, 1); "
        "784-256-256-10 ReLU from N(0, 1) and from gain-1 xavier_uniform_; the 'deep' model as published and as "
        "intended) with the course's settings: Adam 1e-3, batch 100, 15 epochs, seed 777, torch's default biases. "
        "Each is evaluated as the course did (the raw test pixels: 0-255 on MNIST, 0-16 on digits) and correctly; "
        "on MNIST beside the published 91.02% (softmax, default init: lab 09-1 as first published), 89.44% "
        "(softmax, N(0, 1): lab 09-1 since 2019-03), 94.23% (N(0, 1)), 98.05% (xavier) and 98.19% (deep). "
        "Writes results.json, report.md and curves.png (training loss and correct test accuracy per epoch).")
    add_data_options(lecture_parser, default=None)
    lecture_parser.add_argument("--seeds", type=int, default=1,
                                help="runs per model (seeds 777, 778, ...), reported as mean ± std (default 1)")
    lecture_parser.add_argument("--epochs", type=int, default=None,
                                help="training epochs (default 15, the course's; --quick: 10, 2 on MNIST-sized data)")
    lecture_parser.add_argument("--seed", type=int, default=777, help="the first seed (default %(default)s)")
    lecture_parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    add_quick_option(lecture_parser, "10 epochs (2 on MNIST-sized data)")
    add_output_options(lecture_parser, "lecture", resumable=True)
    lecture_parser.set_defaults(run=run_lecture)

    add_hinton2006(papers)
    add_signal_papers(papers)
    add_mup(papers)

    # --quick's epochs (QUICK_PAPER_EPOCHS) on digits: the fewest at which the paper's finding shows
    # there (one seed, measured): glorot2010 tanh 3.9% test error from the normalized init against 23%
    # from the standard at 10 epochs, 9% against 47% at 3; he2015 at 30 layers: He converges by epoch 20
    # (loss 0.94 with AVX-512 kernels; see test_quick_tour for other kernels), not by 10 (1.60)
    for name, help_text, description in (
        ("glorot2010", "5x1000 tanh/sigmoid/softsign nets, standard vs normalized (Xavier) init",
         "Glorot & Bengio 2010: per-layer activation and gradient std at initialization and after one epoch, "
         "and the test error after a few epochs of SGD, for tanh, sigmoid and softsign networks of 5 hidden layers "
         "of 1000 units (100 with --quick), from the standard U(±1/√n) and the normalized (Xavier) init."),
        ("he2015", "22- and 30-layer ReLU nets, Xavier vs He init",
         "He et al. 2015, fig. 3: training loss per epoch of plain ReLU networks of 22 and 30 layers of 256 units "
         "(64 with --quick) from Xavier (gain 1) and He init, SGD lr 0.01, momentum 0.9."),
    ):
        paper = papers.add_parser(name, help=help_text, description=description)
        add_data_options(paper, default=None)
        paper.add_argument("--epochs", type=int, default=None,
                           help=f"training epochs (default 5; --quick {QUICK_PAPER_EPOCHS[name]})")
        paper.add_argument("--seed", type=int, default=0, help="the first seed (default %(default)s)")
        paper.add_argument("--seeds", type=int, default=1,
                           help="runs per network (seed, seed + 1, ...); the findings are stated on their mean ± std "
                                "(default 1)")
        paper.add_argument("--device", default="auto", help="auto, cpu or cuda")
        add_quick_option(paper, f"{QUICK_PAPER_EPOCHS[name]} epochs, " + (
            "hidden layers of 100 units" if name == "glorot2010" else "layers of 64 units"))
        add_output_options(paper, name, resumable=True)
        paper.set_defaults(run=run_init_paper)


QUICK_PAPER_EPOCHS = {"glorot2010": 10, "he2015": 20}


def _before_work(args: argparse.Namespace):
    """The checks that come before any work, then the data (digits with --quick, else MNIST)."""
    check_device(args.device)
    check_out_before_work(args)
    dataset = load_dataset(dataset_name(args), args.data_dir)
    describe(dataset)
    return dataset


def run_lecture(args: argparse.Namespace) -> int:
    config = LectureConfig(seeds=args.seeds, epochs=lecture_epochs(dataset_name(args), args.epochs, args.quick),
                           seed=args.seed, device=args.device)
    dataset = _before_work(args)
    return run_experiment(args, "lecture", lambda folder: lecture(dataset, config,
                                                                    checkpoint_dir=folder / "checkpoints"))


def run_init_paper(args: argparse.Namespace) -> int:
    """glorot2010 / he2015: the papers' experiments, or smaller ones on digits with --quick."""
    epochs = args.epochs if args.epochs is not None else (QUICK_PAPER_EPOCHS[args.paper] if args.quick else 5)
    if args.paper == "glorot2010":
        config = Glorot2010Config(hidden=(100 if args.quick else 1000,) * 5, epochs=epochs, seeds=args.seeds,
                                  seed=args.seed, device=args.device)
        experiment = glorot2010
    else:
        config = He2015Config(width=64 if args.quick else 256, epochs=epochs, seeds=args.seeds, seed=args.seed,
                              device=args.device)
        experiment = he2015
    dataset = _before_work(args)
    return run_experiment(args, args.paper, lambda folder: experiment(dataset, config,
                                                                        checkpoint_dir=folder / "checkpoints"))
