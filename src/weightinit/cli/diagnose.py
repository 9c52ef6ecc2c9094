"""``weightinit diagnose``: per-layer statistics of each initialization at step 0 (and, for
``--model lstm`` / ``transformer``, the gates and attention blocks inside)."""

from __future__ import annotations

import argparse

from .._checks import check_choice
from ..data.datasets import load_dataset
from ..errors import UserError
from ..experiments.diagnose import diagnose_inits
from ..modelinit.activations import ACTIVATIONS
from ..modelinit.schemes import check_schemes
from ..models.builders import MODELS, NAMED_ARCHS, parse_arch
from ..reporting.plots import plot_histograms, plot_std_by_layer
from ..reporting.tables import to_json
from ..runs.files import run_folder, write_text_atomic
from .common import (
    SEED,
    add_data_options,
    add_output_options,
    add_quick_option,
    dataset_name,
    describe,
    emit,
    integer,
    say,
    split_list,
)
from .run_folder import check_out_before_work

__all__ = ["add_parser", "run", "HIDDEN"]

HIDDEN = (256, 256, 256, 256)  # the default network's hidden layers, between the data's features and classes


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "diagnose", help="per-layer activation and gradient statistics at initialization",
        description="One forward/backward pass of a training batch through the network from each init: a table "
        "per init (with --model lstm: each gate's pre-activation std and saturation, the hidden state's std along "
        "the sequence; --model transformer: each attention block's logit std and softmax entropy), "
        "std_by_layer.png, activations.png, gradients.png. A layer is named the same way in the table and the "
        "figures: 'layer 1 (Linear 64->256)', in forward order, the output layer last.")
    add_data_options(parser, default=None)
    add_quick_option(parser, "diagnose trains nothing, so only the data changes")
    parser.add_argument("--model", default="mlp", choices=MODELS,
                        help="mlp (--arch, --activation), lstm (images read row by row) or transformer (a small ViT "
                             "on 16 patches): the networks of `weightinit compare --model` (default %(default)s)")
    parser.add_argument("--arch", default=None,
                        help="layer sizes such as 784-256-256-256-256-10, or lecture/deep (default: the data's "
                             "features, four hidden layers of 256, its classes); --model mlp only")
    parser.add_argument("--activation", default=None, help="hidden activation (default tanh); --model mlp only")
    parser.add_argument("--inits", default="normal,default,xavier_uniform,he_normal",
                        help="comma-separated schemes (default %(default)s)")
    parser.add_argument("--batch", type=integer("batch", 2), default=256,
                        help="samples in the batch (default %(default)s)")
    parser.add_argument("--seed", type=SEED, default=0)
    add_output_options(parser, "diagnose")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    inits = check_schemes(split_list(args.inits))
    for option, value in (("--arch", args.arch), ("--activation", args.activation)):
        if args.model != "mlp" and value is not None:
            raise UserError(f"{option} {value} applies to --model mlp only; --model {args.model} builds its own "
                            f"network (see `weightinit diagnose --help`); drop {option}")
    activation = args.activation or "tanh"
    check_choice("activation", activation, ACTIVATIONS)
    if args.arch is not None and args.arch not in NAMED_ARCHS:
        parse_arch(args.arch)
    check_out_before_work(args)
    dataset = load_dataset(dataset_name(args), args.data_dir)
    arch = args.arch or "-".join(map(str, [dataset.n_features, *HIDDEN, dataset.n_classes]))
    parse_arch(arch, dataset.n_features, dataset.n_classes)
    describe(dataset)
    result = diagnose_inits(dataset, arch=arch, activation=activation, inits=inits, batch=args.batch,
                            seed=args.seed, model=args.model)
    with run_folder(args.out, "diagnose", option="--out") as folder:
        title = f"{dataset.name} {result.arch}" + (f" {activation}" if args.model == "mlp" else "") + \
            ", at initialization"
        plot_std_by_layer(result.reports, folder / "std_by_layer.png", title)
        plot_histograms(result.reports, "post", folder / "activations.png", f"Activations per layer ({title})")
        plot_histograms(result.reports, "grad", folder / "gradients.png",
                        f"Back-propagated gradients per layer ({title})")
        write_text_atomic(folder / "results.json", to_json(result))
    emit(result, result.text(), args.json)
    say(f"wrote {folder}/: results.json, std_by_layer.png, activations.png, gradients.png")
    return 0
