"""``weightinit diagnose``: per-layer statistics of each initialization at step 0."""

from __future__ import annotations

import argparse

from ..data.datasets import load_dataset
from ..errors import UserError
from ..experiments.diagnose import diagnose_inits
from ..models import NAMED_ARCHS, parse_arch
from ..plots import plot_histograms, plot_std_by_layer
from ..report import to_json
from ..runs.files import run_folder, write_text_atomic
from ..schemes import check_schemes
from .common import add_data_options, add_output_options, describe, emit, say, split_list

__all__ = ["add_parser", "run"]


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "diagnose", help="per-layer activation and gradient statistics at initialization",
        description="One forward/backward pass of a training batch through the network from each init: a table "
        "per init, std_by_layer.png, activations.png, gradients.png.")
    add_data_options(parser)
    parser.add_argument("--arch", default="784-256-256-256-256-10",
                        help="layer sizes or lecture/deep (default %(default)s)")
    parser.add_argument("--activation", default="tanh", help="hidden activation (default %(default)s)")
    parser.add_argument("--inits", default="normal,default,xavier_uniform,he_normal",
                        help="comma-separated schemes (default %(default)s)")
    parser.add_argument("--batch", type=int, default=256, help="samples in the batch (default %(default)s)")
    parser.add_argument("--seed", type=int, default=0)
    add_output_options(parser, "diagnose")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    inits = check_schemes(split_list(args.inits))
    if args.batch < 2:
        raise UserError(f"--batch must be >= 2, got {args.batch}")
    if args.arch not in NAMED_ARCHS:
        parse_arch(args.arch)
    dataset = load_dataset(args.dataset, args.data_dir)
    parse_arch(args.arch, dataset.n_features, dataset.n_classes)
    describe(dataset)
    result = diagnose_inits(dataset, arch=args.arch, activation=args.activation, inits=inits, batch=args.batch,
                            seed=args.seed)
    with run_folder(args.out, "diagnose") as folder:
        title = f"{dataset.name} {result.arch} {args.activation}, at initialization"
        plot_std_by_layer(result.reports, folder / "std_by_layer.png", title)
        plot_histograms(result.reports, "post", folder / "activations.png", f"Activations per layer ({title})")
        plot_histograms(result.reports, "grad", folder / "gradients.png",
                        f"Back-propagated gradients per layer ({title})")
        write_text_atomic(folder / "results.json", to_json(result))
    emit(result, result.text(), args.json)
    say(f"wrote {folder}/: results.json, std_by_layer.png, activations.png, gradients.png")
    return 0
