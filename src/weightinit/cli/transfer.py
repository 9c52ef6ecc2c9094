"""``weightinit reproduce mup``: Tensor Programs V's Figure 1, learning-rate transfer across width
under SP and under muP (:mod:`weightinit.experiments.reproduce.mup`)."""

from __future__ import annotations

import argparse
from dataclasses import replace

from ..experiments._config import ConfigError, literal, param
from ..experiments.reproduce.mup import MODELS, MupConfig, mup_transfer
from .common import add_output_options, split_list
from .execute import run_experiment
from .run_folder import check_out_before_work

__all__ = ["add_mup"]


def _models(text: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in text.split(",") if v.strip())


def _integers(option: str, text: str, allowed: str, count: int | None = None) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in split_list(text))
    except ValueError:
        values = ()
    if not values or (count is not None and len(values) != count):
        raise ConfigError(f"{param(option.lstrip('-').replace('-', '_'))} must be {allowed}, got {literal(repr(text))}")
    return values


def add_mup(papers: argparse._SubParsersAction) -> None:
    defaults = MupConfig()
    paper = papers.add_parser(
        "mup", help="learning-rate transfer across width: SP against muP (Tensor Programs V, Figure 1)",
        description="Yang et al. 2022, Figure 1: for each model, a grid of Adam learning rates (factor 2) at each "
        f"width, under SP and under muP (base width 64): the MLP 784-w-w-10 on MNIST (widths "
        f"{', '.join(map(str, defaults.mlp.widths))}; {defaults.mlp.steps} steps of {defaults.mlp.batch_size}) and a "
        f"2-layer GPT on Shakespeare (widths {', '.join(map(str, defaults.gpt.widths))}; {defaults.gpt.steps} steps "
        f"of {defaults.gpt.batch_size} windows of 64 characters). Each width's grid trains as one stacked model from "
        "one initialization. Writes transfer.png (loss against log2 lr, a line per width, SP and muP side by side), "
        "the best learning rate of each width, and how far it moved. Default: 21 minutes on 2 cores; "
        "--quick: under a minute.")
    paper.add_argument("--models", type=_models, default=MODELS,
                       help="comma-separated: mlp, gpt (default both)")
    paper.add_argument("--seed", type=int, default=0, help="the initialization's and the data order's seed "
                                                           "(default %(default)s)")
    paper.add_argument("--steps", type=int, default=None,
                       help=f"Adam steps at every width and rate (default: the MLP's {defaults.mlp.steps}, the GPT's "
                            f"{defaults.gpt.steps}); the budget decides how far a wider model can pull ahead, and "
                            "the time grows with it")
    paper.add_argument("--widths", default=None,
                       help="comma-separated widths for every model run (default: each model's, above; base 64)")
    paper.add_argument("--log2-lrs", default=None, metavar="LO:HI",
                       help="the learning rates 2^k for k from LO to HI, both included (e.g. -11:-5; default: each "
                            "model's grid)")
    paper.add_argument("--quick", action="store_true",
                       help="under a minute: the MLP at widths 128-512 (the default budget), the GPT at 32-128 "
                            "for 40 steps; the same data as the default (MNIST, Shakespeare)")
    add_output_options(paper, "mup")
    paper.set_defaults(run=run_mup)


def run_mup(args: argparse.Namespace) -> int:
    base = MupConfig.quick() if args.quick else MupConfig()
    config = replace(base, models=args.models, seed=args.seed)
    changes = {}  # MupGrid checks each: a bad value is one line and exit 2
    if args.steps is not None:
        changes["steps"] = args.steps
    if args.widths is not None:
        changes["widths"] = _integers("--widths", args.widths, "comma-separated integers such as 128,512,2048")
    if args.log2_lrs is not None:
        lo, hi = _integers("--log2-lrs", args.log2_lrs.replace(":", ",", 1), "two integers LO:HI such as -11:-5",
                           count=2)
        changes["log2_lrs"] = tuple(range(lo, hi + 1))
    if changes:
        config = replace(config, mlp=replace(config.mlp, **changes), gpt=replace(config.gpt, **changes))
    check_out_before_work(args)
    progress = None if args.no_progress else (lambda line: print(line, flush=True))
    return run_experiment(args, "mup", lambda folder: mup_transfer(config, progress))
