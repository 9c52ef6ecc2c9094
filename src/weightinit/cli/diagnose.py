"""``weightinit diagnose``: per-layer statistics of each initialization at step 0 (and, for
``--model lstm`` / ``transformer``, the gates and attention blocks inside)."""

from __future__ import annotations

import argparse

from ..data.datasets import load_dataset
from ..experiments.diagnose import DIAGNOSE_INITS, DiagnoseConfig, diagnose_inits
from ..models.builders import MODELS, parse_arch
from ..runs.files import run_folder
from .common import (
    add_data_options,
    add_output_options,
    add_quick_option,
    dataset_name,
    describe,
    split_list,
)
from .execute import report
from .run_folder import check_out_before_work

__all__ = ["add_parser", "run"]


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
    parser.add_argument("--inits", default=",".join(DIAGNOSE_INITS),
                        help="comma-separated schemes (default %(default)s)")
    parser.add_argument("--batch", type=int, default=256,
                        help="samples in the batch (default %(default)s)")
    parser.add_argument("--seed", type=int, default=0)
    add_output_options(parser, "diagnose")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    config = DiagnoseConfig(inits=tuple(split_list(args.inits)), model=args.model, arch=args.arch,
                            activation=args.activation, batch=args.batch, seed=args.seed)
    check_out_before_work(args)
    dataset = load_dataset(dataset_name(args), args.data_dir)
    parse_arch(config.arch_for(dataset), dataset.n_features, dataset.n_classes)
    describe(dataset)
    result = diagnose_inits(dataset, config)
    with run_folder(args.out, "diagnose", option="--out") as folder:  # no settings.json: nothing to resume
        written = result.write(folder)
    report(result, folder, written, args.json)
    return 0
