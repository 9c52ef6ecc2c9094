"""``weightinit rbm``: train a restricted Boltzmann machine and measure it."""

from __future__ import annotations

import argparse
import sys

from ..boltzmann.rbm import VISIBLE_TYPES
from ..boltzmann.trainer import RBMConfig
from ..checks import check_choice
from ..data.datasets import load_dataset
from ..experiments.rbm import SAMPLE_STEPS, rbm_experiment
from ..plots import plot_tiles
from ..report import RBM_HEADER, rbm_epoch_row, rbm_summary, to_json
from ..runs import distributed
from ..runs.checkpoint import Checkpoint
from ..runs.files import weights_record, write_text_atomic, write_weights
from .common import (
    COMPILE_HELP,
    MAX_UNITS,
    SEED,
    add_data_options,
    add_output_options,
    check_device,
    describe,
    emit,
    integer,
    number,
    say,
)
from .run_folder import check_out_before_work, open_run

__all__ = ["add_parser", "run"]


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "rbm", help="train a restricted Boltzmann machine and measure it (AIS log-likelihood)",
        description="Train an RBM by CD-k or PCD-k; print a per-epoch table, then the test reconstruction error, "
        "pseudo-likelihood and AIS log-likelihood; write rbm.pt, results.json, filters.png and samples.png.")
    add_data_options(parser)
    parser.add_argument("--hidden", type=integer("hidden", 1, MAX_UNITS), default=500,
                        help="hidden units (default %(default)s)")
    parser.add_argument("--visible", default="bernoulli", help="bernoulli (data in [0, 1]) or gaussian (standardized)")
    parser.add_argument("--epochs", type=integer("epochs", 1), default=10, help="default %(default)s")
    parser.add_argument("--k", type=integer("k", 1), default=1, help="Gibbs steps per update (default %(default)s)")
    parser.add_argument("--pcd", action="store_true", help="persistent contrastive divergence")
    parser.add_argument("--lr", type=number("lr", 0, strictly=True), default=None,
                        help="learning rate (default 0.1; 0.01 for gaussian)")
    parser.add_argument("--batch-size", type=integer("batch_size", 1), default=100, help="default %(default)s")
    parser.add_argument("--momentum", type=number("momentum", 0, below=1), default=0.5,
                        help="for the first 5 epochs (default %(default)s)")
    parser.add_argument("--final-momentum", type=number("final_momentum", 0, below=1), default=0.9,
                        help="afterwards (default %(default)s)")
    parser.add_argument("--weight-decay", type=number("weight_decay", 0), default=0.0,
                        help="L2 on the weights (default %(default)s)")
    parser.add_argument("--seed", type=SEED, default=0)
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--precision", default="float32", help="float32 or bf16 (bfloat16 matmul inputs)")
    parser.add_argument("--compile", action="store_true", help=COMPILE_HELP)
    parser.add_argument("--mean-field", action="store_true",
                        help="reconstructions use the visible probabilities, not samples (Hinton's guide, sec. 3.2)")
    parser.add_argument("--ais-chains", type=integer("ais_chains", 1, MAX_UNITS), default=100,
                        help="AIS runs (default %(default)s)")
    parser.add_argument("--ais-steps", type=integer("ais_steps", 1), default=14_500,
                        help="AIS temperatures (default %(default)s)")
    parser.add_argument("--sample-steps", type=integer("sample_steps", 1), default=SAMPLE_STEPS,
                        help="Gibbs steps from test images to the samples of samples.png (default %(default)s)")
    add_output_options(parser, "rbm", resumable=True)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    lr = args.lr if args.lr is not None else (0.1 if args.visible == "bernoulli" else 0.01)
    config = RBMConfig(epochs=args.epochs, batch_size=args.batch_size, lr=lr, k=args.k, persistent=args.pcd,
                       momentum=args.momentum, final_momentum=args.final_momentum, weight_decay=args.weight_decay,
                       seed=args.seed, device=args.device, precision=args.precision,
                       sample_visible=not args.mean_field, compile=args.compile)
    check_choice("visible", args.visible, VISIBLE_TYPES)
    check_device(args.device)
    check_out_before_work(args)
    dataset = load_dataset(args.dataset, args.data_dir)
    describe(dataset)
    table = sys.stderr if args.json else sys.stdout
    print(RBM_HEADER, file=table, flush=True)
    with open_run(args, "rbm") as folder:
        rbm, results, samples = rbm_experiment(
            dataset, hidden=args.hidden, visible=args.visible, config=config, ais_chains=args.ais_chains,
            ais_steps=args.ais_steps, sample_steps=args.sample_steps, progress=not args.no_progress,
            on_epoch=lambda record: print(rbm_epoch_row(record), file=table, flush=True),
            checkpoint=Checkpoint(folder / "checkpoint"),
        )
        if not distributed.is_main():
            return 0
        write_weights(folder / "rbm.pt", weights_record("rbm", rbm.state_dict(), **results.model))
        write_text_atomic(folder / "results.json", to_json(results))
        shape = dataset.image_shape
        plot_tiles(rbm.W[:100].cpu(), shape, folder / "filters.png",
                   f"RBM filters (first {min(100, args.hidden)} hidden units;\n"
                   "each tile scaled to its own range, white = largest weight)")
        gaussian = args.visible == "gaussian"
        scale = "means, each tile scaled to its range" if gaussian else "probabilities, black 0, white 1"
        plot_tiles(samples, shape, folder / "samples.png",
                   f"{len(samples)} samples from the RBM, each after {results.sample_steps} Gibbs steps\n"
                   f"from a test image (visible {scale})", per_tile=gaussian)
    emit(results, rbm_summary(results), args.json)
    say(f"wrote {folder}/: rbm.pt, results.json, filters.png, samples.png")
    return 0
