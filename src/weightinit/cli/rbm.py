"""``weightinit rbm``: train a restricted Boltzmann machine and measure it.

The length of a run fits the data (:func:`weightinit.boltzmann.recipes.rbm_epochs`): a
recipe's epochs are MNIST's, raised on a smaller data set to at least 6,000 parameter updates
(2,000 with ``--quick``); AIS takes 14,500 temperatures per 784 visible units. After the
measures, a run whose weights barely moved or whose samples are all alike is said to be one
(:class:`weightinit.experiments.rbm.RBMLearningCheck`), with the remedy."""

from __future__ import annotations

import argparse
import math
import sys
import textwrap
from dataclasses import replace

from ..boltzmann.recipes import (
    AIS_STEPS_MNIST,
    MIN_UPDATES,
    QUICK_UPDATES,
    RECIPES,
    ais_steps_for,
    epochs_for_updates,
    rbm_epochs,
    recipe_config,
    updates_per_epoch,
)
from ..data.datasets import load_dataset
from ..experiments.rbm import CHAIN_STEPS, SAMPLE_STEPS, RBMExperimentConfig, rbm_experiment
from ..reporting.tables import RBM_HEADER, rbm_epoch_row
from ..runs.checkpoint import Checkpoint
from .common import (
    COMPILE_HELP,
    MAX_UNITS,
    SEED,
    add_data_options,
    add_output_options,
    add_quick_option,
    check_device,
    dataset_name,
    describe,
    integer,
    number,
    say,
)
from .execute import run_experiment
from .run_folder import check_out_before_work

__all__ = ["add_parser", "run", "DEFAULT_RECIPE", "run_settings", "QUICK_AIS_SHARE",
           "QUICK_RAISE_IMAGES", "TABLE_ROWS"]

DEFAULT_RECIPE = "pcd"  # PCD-1 with averaging: samples that look like digits after 6,000 updates (MNIST's 10 epochs)
QUICK_AIS_SHARE = 4  # --quick: a quarter of the AIS temperatures (digits: 296; log Z within about 0.5 nats)
RAISE_IMAGES = 100  # RAISE's test images by default
QUICK_RAISE_IMAGES = 20  # --quick: RAISE on 20 test images, not 100
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
    parser.add_argument("--hidden", type=integer("hidden", 1, MAX_UNITS), default=500,
                        help="hidden units (default %(default)s)")
    parser.add_argument("--visible", default="bernoulli", help="bernoulli (data in [0, 1]) or gaussian (standardized)")
    parser.add_argument("--binarize", action=argparse.BooleanOptionalAction, default=None,
                        help="binarize train and test images stochastically, as published likelihoods do "
                        "(default: the recipe's; never for gaussian)")
    parser.add_argument("--epochs", type=integer("epochs", 1), default=None,
                        help=f"default: the recipe's, or more on a small data set, for at least {MIN_UPDATES:,} "
                        "parameter updates (epochs x ceil(training images / batch size)): MNIST keeps the recipe's "
                        "10 (600 updates an epoch), digits gets 400 (15 an epoch)")
    parser.add_argument("--k", type=integer("k", 1), default=None,
                        help="Gibbs steps per update (default: the recipe's)")
    parser.add_argument("--k-final", type=integer("k_final", 1), default=None,
                        help="grow k linearly from --k to this over the epochs (CD-25: --k 1 --k-final 25)")
    parser.add_argument("--pcd", action=argparse.BooleanOptionalAction, default=None,
                        help="persistent contrastive divergence (default: the recipe's)")
    parser.add_argument("--lr", type=number("lr", 0, strictly=True), default=None,
                        help="learning rate (default: the recipe's; 0.01 for gaussian)")
    parser.add_argument("--lr-schedule", default=None,
                        help="constant, or linear: decay to 0 over the run (Tieleman 2008) (default: the recipe's)")
    parser.add_argument("--batch-size", type=integer("batch_size", 1), default=100, help="default %(default)s")
    parser.add_argument("--momentum", type=number("momentum", 0, below=1), default=None,
                        help="for the first 5 epochs (default: the recipe's)")
    parser.add_argument("--final-momentum", type=number("final_momentum", 0, below=1), default=None,
                        help="afterwards (default: the recipe's)")
    parser.add_argument("--weight-decay", type=number("weight_decay", 0), default=None,
                        help="L2 on the weights (Hinton's guide, sec. 10; default: the recipe's)")
    parser.add_argument("--average", type=number("average", 0, below=1), default=None,
                        help="decay of the parameters' moving average that is evaluated, e.g. 0.999; 0 off "
                        "(default: the recipe's)")
    parser.add_argument("--sparsity-cost", type=number("sparsity_cost", 0), default=None,
                        help="sparsity penalty (Hinton's guide, sec. 11); 0 off (default: the recipe's)")
    parser.add_argument("--sparsity-target", type=number("sparsity_target", 0, strictly=True, below=1), default=None,
                        help="target mean activation of each hidden unit (default 0.05)")
    parser.add_argument("--seed", type=SEED, default=0)
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--precision", default="float32", help="float32 or bf16 (bfloat16 matmul inputs)")
    parser.add_argument("--compile", action="store_true", help=COMPILE_HELP)
    parser.add_argument("--mean-field", action="store_true",
                        help="reconstructions use the visible probabilities, not samples (Hinton's guide, sec. 3.2)")
    parser.add_argument("--ais-chains", type=integer("ais_chains", 1, MAX_UNITS), default=100,
                        help="AIS runs (default %(default)s)")
    parser.add_argument("--ais-steps", type=integer("ais_steps", 1), default=None,
                        help="AIS temperatures (default ceil(14,500 x visible units / 784): MNIST's 14,500 as "
                        "Salakhutdinov & Murray 2008, digits' 1,184; --quick: a quarter)")
    parser.add_argument("--raise-images", type=integer("raise_images", 0, MAX_UNITS), default=None,
                        help="test images for RAISE's conservative estimate, one reverse chain each; 0 skips it "
                        f"(default 100; --quick {QUICK_RAISE_IMAGES})")
    parser.add_argument("--raise-steps", type=integer("raise_steps", 1), default=None,
                        help="RAISE temperatures (default: --ais-steps)")
    parser.add_argument("--sample-steps", type=integer("sample_steps", 1), default=SAMPLE_STEPS,
                        help="Gibbs steps from test images to the samples of samples.png (default %(default)s)")
    parser.add_argument("--chain-steps", type=integer("chain_steps", 1), default=CHAIN_STEPS,
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


def run(args: argparse.Namespace) -> int:
    gaussian = args.visible == "gaussian"
    lr = args.lr if args.lr is not None else (0.01 if gaussian else None)  # None: the recipe's
    config, binarize = recipe_config(
        args.recipe, epochs=args.epochs, batch_size=args.batch_size, lr=lr,
        k=args.k, k_final=args.k_final, persistent=args.pcd, lr_schedule=args.lr_schedule, momentum=args.momentum,
        final_momentum=args.final_momentum, weight_decay=args.weight_decay, average=args.average,
        sparsity_cost=args.sparsity_cost, sparsity_target=args.sparsity_target, seed=args.seed, device=args.device,
        precision=args.precision, sample_visible=not args.mean_field, compile=args.compile)
    binarize = (binarize and not gaussian) if args.binarize is None else args.binarize
    # checked before the data is read; the AIS temperatures and RAISE's images fit the data below
    settings = RBMExperimentConfig(hidden=args.hidden, visible=args.visible, train=config,
                                   ais_chains=args.ais_chains, sample_steps=args.sample_steps, binarize=binarize,
                                   raise_steps=args.raise_steps, chain_steps=args.chain_steps)
    check_device(args.device)
    check_out_before_work(args)
    dataset = load_dataset(dataset_name(args), args.data_dir)
    if args.resume is not None:  # a folder made before these fitted the data left them unset: what they meant then
        args.epochs = config.epochs if args.epochs is None else args.epochs
        args.ais_steps = AIS_STEPS_MNIST if args.ais_steps is None else args.ais_steps
        args.raise_images = RAISE_IMAGES if args.raise_images is None else args.raise_images
    config, ais_steps, raise_images, rule = run_settings(args, config, len(dataset.train), dataset.n_features)
    # settings.json keeps the numbers, so that --resume continues this very run
    args.epochs, args.ais_steps, args.raise_images = config.epochs, ais_steps, raise_images
    describe(dataset, " (binarized)" if binarize else "")
    say(f"settings: {rule}")
    table = sys.stderr if args.json else sys.stdout
    every = math.ceil(config.epochs / TABLE_ROWS)
    if every > 1:
        print(f"(one epoch in {every} shown, and the last; results.json holds them all)", file=table)
    print(RBM_HEADER, file=table, flush=True)

    def on_epoch(record) -> None:
        if record.epoch % every == 0 or record.epoch in (1, config.epochs):
            print(rbm_epoch_row(record), file=table, flush=True)

    settings = replace(settings, train=config, ais_steps=ais_steps, raise_images=raise_images)
    return run_experiment(args, "rbm", lambda folder: rbm_experiment(
        dataset, settings, progress=not args.no_progress, on_epoch=on_epoch,
        checkpoint=Checkpoint(folder / "checkpoint")))


def run_settings(args: argparse.Namespace, config, n_train: int, n_visible: int):
    """What the options left to the data become, and the line that says so: the epochs
    (:func:`~weightinit.boltzmann.recipes.rbm_epochs`, or at least :data:`QUICK_UPDATES`
    updates with --quick), the AIS temperatures (:func:`~weightinit.boltzmann.recipes.ais_steps_for`,
    a quarter with --quick) and RAISE's images. Returns (config, ais_steps, raise_images, line)."""
    per_epoch = updates_per_epoch(n_train, config.batch_size)
    if args.epochs is not None:
        why = "--epochs"
    elif args.quick:
        config = replace(config, epochs=epochs_for_updates(QUICK_UPDATES, n_train, config.batch_size))
        why = f"--quick: at least {QUICK_UPDATES:,} updates"
    else:
        recipe_epochs = config.epochs
        config = replace(config, epochs=rbm_epochs(recipe_epochs, n_train, config.batch_size))
        why = (f"the recipe's {recipe_epochs}" if config.epochs == recipe_epochs else
               f"the recipe's {recipe_epochs} raised") + f": at least {MIN_UPDATES:,} updates"
    ais_steps = args.ais_steps
    if ais_steps is None:
        ais_steps = ais_steps_for(n_visible)
        ais_why = f"ceil(14,500 x {n_visible} visible / 784)"
        if args.quick:
            ais_steps = math.ceil(ais_steps / QUICK_AIS_SHARE)
            ais_why += f" / {QUICK_AIS_SHARE} (--quick)"
    else:
        ais_why = "--ais-steps"
    raise_images = args.raise_images if args.raise_images is not None else (
        QUICK_RAISE_IMAGES if args.quick else RAISE_IMAGES)
    line = (f"recipe {args.recipe}, {config.epochs} epochs x {per_epoch} batches of {config.batch_size} = "
            f"{config.epochs * per_epoch:,} updates ({why}); AIS {args.ais_chains} chains x {ais_steps:,} "
            f"temperatures ({ais_why})")
    return config, ais_steps, raise_images, line
