"""``weightinit rbm``: train a restricted Boltzmann machine and measure it.

The options become an :class:`~weightinit.experiments.rbm.RBMExperimentConfig` (checked before
the data is read); the length of a run fits the data as the experiment's
:func:`~weightinit.experiments.rbm.resolve` fits it for a Python caller: a recipe's epochs are
MNIST's, raised on a smaller data set to at least 6,000 parameter updates (2,000 with
``--quick``); AIS takes 14,500 temperatures per 784 visible units. settings.json keeps the
resolved numbers, so that ``--resume`` continues this very run. After the measures, a run
whose weights barely moved or whose samples are all alike is said to be one
(:class:`weightinit.experiments.rbm.RBMLearningCheck`), with the remedy."""

from __future__ import annotations

import argparse
import math
import sys
import textwrap
from dataclasses import replace

from ..boltzmann.recipes import AIS_STEPS_MNIST, MIN_UPDATES, QUICK_UPDATES, RECIPES, recipe_config
from ..data.datasets import load_dataset
from ..experiments.rbm import (
    CHAIN_STEPS,
    QUICK_RAISE_IMAGES,
    RAISE_IMAGES,
    SAMPLE_STEPS,
    RBMExperimentConfig,
    rbm_experiment,
    resolve,
    settings_line,
)
from ..reporting.tables import RBM_HEADER, rbm_epoch_row
from ..runs.checkpoint import Checkpoint
from .common import (
    COMPILE_HELP,
    add_data_options,
    add_output_options,
    add_quick_option,
    check_device,
    dataset_name,
    describe,
    say,
)
from .execute import run_experiment
from .run_folder import check_out_before_work

__all__ = ["add_parser", "run", "DEFAULT_RECIPE", "rbm_config", "TABLE_ROWS"]

DEFAULT_RECIPE = "pcd"  # PCD-1 with averaging: samples that look like digits after 6,000 updates (MNIST's 10 epochs)
TABLE_ROWS = 20  # about this many rows of the per-epoch table are printed (results.json holds every epoch)


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "rbm", help="train a restricted Boltzmann machine and measure it (AIS log-likelihood)",
        description=textwrap.fill(
            "Train an RBM by CD-k or PCD-k from a named recipe (--recipe); print a per-epoch table, then the test "
            "reconstruction error, pseudo-likelihood, AIS log-likelihood with its error bar and RAISE's conservative "
            "estimate; write rbm.pt, results.json, filters.png, samples.png and chains.png. Options typed beside "
            "--recipe override its settings. The epochs and AIS temperatures left unset fit the data (--epochs, "
            "--ais-steps below; the line 'settings:' says what they became); a run whose weights barely moved or "
            "whose samples are all alike ends with a warning saying so, and what to change.", 79),
        epilog=recipes_help(), formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_options(parser, default=None)
    add_quick_option(parser, f"at least {QUICK_UPDATES:,} updates instead of {MIN_UPDATES:,} (the recipe's epochs not "
                     f"kept: MNIST 4 epochs), a quarter of the AIS temperatures, RAISE on {QUICK_RAISE_IMAGES} images")
    parser.add_argument("--recipe", default=DEFAULT_RECIPE,
                        help=f"named settings, one of {list(RECIPES)} (default %(default)s; listed below)")
    parser.add_argument("--hidden", type=int, default=500,
                        help="hidden units (default %(default)s)")
    parser.add_argument("--visible", default="bernoulli", help="bernoulli (data in [0, 1]) or gaussian (standardized)")
    parser.add_argument("--binarize", action=argparse.BooleanOptionalAction, default=None,
                        help="binarize train and test images stochastically, as published likelihoods do "
                        "(default: the recipe's; never for gaussian)")
    parser.add_argument("--epochs", type=int, default=None,
                        help=f"default: the recipe's, or more on a small data set, for at least {MIN_UPDATES:,} "
                        "parameter updates (epochs x ceil(training images / batch size)): MNIST keeps the recipe's "
                        "10 (600 updates an epoch), digits gets 400 (15 an epoch)")
    parser.add_argument("--k", type=int, default=None,
                        help="Gibbs steps per update (default: the recipe's)")
    parser.add_argument("--k-final", type=int, default=None,
                        help="grow k linearly from --k to this over the epochs (CD-25: --k 1 --k-final 25)")
    parser.add_argument("--pcd", action=argparse.BooleanOptionalAction, default=None,
                        help="persistent contrastive divergence (default: the recipe's)")
    parser.add_argument("--lr", type=float, default=None,
                        help="learning rate (default: the recipe's; 0.01 for gaussian)")
    parser.add_argument("--lr-schedule", default=None,
                        help="constant, or linear: decay to 0 over the run (Tieleman 2008) (default: the recipe's)")
    parser.add_argument("--batch-size", type=int, default=100, help="default %(default)s")
    parser.add_argument("--momentum", type=float, default=None,
                        help="for the first 5 epochs (default: the recipe's)")
    parser.add_argument("--final-momentum", type=float, default=None,
                        help="afterwards (default: the recipe's)")
    parser.add_argument("--weight-decay", type=float, default=None,
                        help="L2 on the weights (Hinton's guide, sec. 10; default: the recipe's)")
    parser.add_argument("--average", type=float, default=None,
                        help="decay of the parameters' moving average that is evaluated, e.g. 0.999; 0 off "
                        "(default: the recipe's)")
    parser.add_argument("--sparsity-cost", type=float, default=None,
                        help="sparsity penalty (Hinton's guide, sec. 11); 0 off (default: the recipe's)")
    parser.add_argument("--sparsity-target", type=float, default=None,
                        help="target mean activation of each hidden unit (default 0.05)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--precision", default="float32", help="float32 or bf16 (bfloat16 matmul inputs)")
    parser.add_argument("--compile", action="store_true", help=COMPILE_HELP)
    parser.add_argument("--mean-field", action="store_true",
                        help="reconstructions use the visible probabilities, not samples (Hinton's guide, sec. 3.2)")
    parser.add_argument("--ais-chains", type=int, default=100,
                        help="AIS runs (default %(default)s)")
    parser.add_argument("--ais-steps", type=int, default=None,
                        help="AIS temperatures (default ceil(14,500 x visible units / 784): MNIST's 14,500 as "
                        "Salakhutdinov & Murray 2008, digits' 1,184; --quick: a quarter)")
    parser.add_argument("--raise-images", type=int, default=None,
                        help="test images for RAISE's conservative estimate, one reverse chain each; 0 skips it "
                        f"(default 100; --quick {QUICK_RAISE_IMAGES})")
    parser.add_argument("--raise-steps", type=int, default=None,
                        help="RAISE temperatures (default: --ais-steps)")
    parser.add_argument("--sample-steps", type=int, default=SAMPLE_STEPS,
                        help="Gibbs steps from test images to the samples of samples.png (default %(default)s)")
    parser.add_argument("--chain-steps", type=int, default=CHAIN_STEPS,
                        help="Gibbs steps between the frames of chains.png (default %(default)s)")
    add_output_options(parser, "rbm", resumable=True)
    parser.set_defaults(run=run)


def recipes_help() -> str:
    """The recipes, each with its settings and the published figure it is set beside."""
    lines = [f"recipes (MNIST's epochs; on smaller data at least {MIN_UPDATES:,} updates):"]
    for name, recipe in RECIPES.items():
        lines.append(textwrap.fill(recipe.description, 79, initial_indent=f"  {name:7s}", subsequent_indent=" " * 9))
        for label, text in (("published", recipe.published), ("measured", recipe.measured)):
            if text:
                lines.append(textwrap.fill(f"{label}: {text}", 79, initial_indent=" " * 9, subsequent_indent=" " * 9))
    return "\n".join(lines)


def rbm_config(args: argparse.Namespace) -> RBMExperimentConfig:
    """The :class:`~weightinit.experiments.rbm.RBMExperimentConfig` of the options: the
    recipe's settings, those typed beside it winning; the epochs, AIS temperatures and RAISE's
    images left unset stay None (fitted to the data by
    :func:`~weightinit.experiments.rbm.resolve`)."""
    gaussian = args.visible == "gaussian"
    lr = args.lr if args.lr is not None else (0.01 if gaussian else None)  # None: the recipe's
    train, binarize = recipe_config(
        args.recipe, batch_size=args.batch_size, lr=lr, k=args.k, k_final=args.k_final, persistent=args.pcd,
        lr_schedule=args.lr_schedule, momentum=args.momentum, final_momentum=args.final_momentum,
        weight_decay=args.weight_decay, average=args.average, sparsity_cost=args.sparsity_cost,
        sparsity_target=args.sparsity_target, seed=args.seed, device=args.device, precision=args.precision,
        sample_visible=not args.mean_field, compile=args.compile)
    binarize = (binarize and not gaussian) if args.binarize is None else args.binarize
    return RBMExperimentConfig(hidden=args.hidden, visible=args.visible, train=train, ais_chains=args.ais_chains,
                               ais_steps=args.ais_steps, sample_steps=args.sample_steps, binarize=binarize,
                               raise_images=args.raise_images, raise_steps=args.raise_steps,
                               chain_steps=args.chain_steps, epochs=args.epochs, quick=args.quick)


def run(args: argparse.Namespace) -> int:
    settings = rbm_config(args)  # checked before the data is read; the settings left None fit the data below
    check_device(args.device)
    check_out_before_work(args)
    dataset = load_dataset(dataset_name(args), args.data_dir)
    if args.resume is not None:  # a folder made before these fitted the data left them unset: what they meant then
        settings = replace(settings, epochs=settings.train.epochs if settings.epochs is None else settings.epochs,
                           ais_steps=AIS_STEPS_MNIST if settings.ais_steps is None else settings.ais_steps,
                           raise_images=RAISE_IMAGES if settings.raise_images is None else settings.raise_images)
    line = f"recipe {args.recipe}, {settings_line(settings, dataset, options=True)}"
    settings = resolve(settings, dataset)
    # settings.json keeps the numbers, so that --resume continues this very run
    args.epochs, args.ais_steps, args.raise_images = settings.epochs, settings.ais_steps, settings.raise_images
    describe(dataset, " (binarized)" if settings.binarize else "")
    say(f"settings: {line}")
    table = sys.stderr if args.json else sys.stdout
    every = math.ceil(settings.epochs / TABLE_ROWS)
    if every > 1:
        print(f"(one epoch in {every} shown, and the last; results.json holds them all)", file=table)
    print(RBM_HEADER, file=table, flush=True)

    def on_epoch(record) -> None:
        if record.epoch % every == 0 or record.epoch in (1, settings.epochs):
            print(rbm_epoch_row(record), file=table, flush=True)

    return run_experiment(args, "rbm", lambda folder: rbm_experiment(
        dataset, settings, progress=not args.no_progress, on_epoch=on_epoch,
        checkpoint=Checkpoint(folder / "checkpoint")))
