"""``weightinit diagnose``: per-layer statistics of each initialization at step 0 (and, for
``--model lstm`` / ``transformer``, the gates and attention blocks inside); with ``--jacobian``
the singular values of the input-output Jacobian beside the free-probability prediction, with
``--signal-propagation`` the signal propagation plot of a deep ViT."""

from __future__ import annotations

import argparse

from ..data.datasets import load_dataset
from ..errors import UserError
from ..experiments.diagnose import DIAGNOSE_INITS, JACOBIAN_INITS, SIGNAL_INITS, DiagnoseConfig, diagnose_inits
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
    parser.add_argument("--model", default=None, choices=MODELS,
                        help="mlp (--arch, --activation), lstm (images read row by row) or transformer (a small ViT "
                             "on 16 patches): the networks of `weightinit compare --model` (default mlp; transformer "
                             "with --signal-propagation)")
    parser.add_argument("--arch", default=None,
                        help="layer sizes such as 784-256-256-256-256-10, or lecture/deep (default: the data's "
                             "features, four hidden layers of 256, its classes); --model mlp only")
    parser.add_argument("--activation", default=None, help="hidden activation (default tanh); --model mlp only")
    parser.add_argument("--inits", default=None,
                        help=f"comma-separated schemes (default {','.join(DIAGNOSE_INITS)}; --jacobian: "
                             f"{','.join(JACOBIAN_INITS)}; --signal-propagation: {','.join(SIGNAL_INITS)})")
    parser.add_argument("--batch", type=int, default=256,
                        help="samples in the batch (default %(default)s)")
    parser.add_argument("--seed", type=int, default=0)
    study = parser.add_mutually_exclusive_group()
    study.add_argument("--jacobian", action="store_true",
                       help="the singular values of the input-output Jacobian of tanh MLPs (--activation) of --width "
                            "units at each of --depths hidden layers, at --jacobian-inputs training samples: their "
                            "spread (max/min, the share within x2 of 1) and jacobian.png, with the free-probability "
                            "prediction (Pennington et al. 2017) over critical and critical_orthogonal")
    study.add_argument("--signal-propagation", action="store_true",
                       help="Brock et al. 2021's signal propagation plot of a ViT of --blocks pre-norm residual "
                            "blocks: "
                            "the average channel squared mean and variance after each block (signal_propagation.png)")
    parser.add_argument("--depths", default="4,16,64",
                        help="--jacobian: comma-separated depths of the hidden stack (default %(default)s)")
    parser.add_argument("--width", type=int, default=256, help="--jacobian: units per layer (default %(default)s)")
    parser.add_argument("--jacobian-inputs", type=int, default=8,
                        help="--jacobian: training samples the Jacobian is taken at (default %(default)s)")
    parser.add_argument("--blocks", type=int, default=16,
                        help="--signal-propagation: residual blocks of the ViT (default %(default)s)")
    add_output_options(parser, "diagnose")
    parser.set_defaults(run=run)


def _depths(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in split_list(text))
    except ValueError:
        raise UserError(f"--depths takes comma-separated integers, got {text!r}") from None


def run(args: argparse.Namespace) -> int:
    study = "jacobian" if args.jacobian else "signal" if args.signal_propagation else "layers"
    model = args.model or ("transformer" if study == "signal" else "mlp")
    config = DiagnoseConfig(inits=None if args.inits is None else tuple(split_list(args.inits)), model=model,
                            arch=args.arch, activation=args.activation, batch=args.batch, seed=args.seed, study=study,
                            depths=_depths(args.depths), width=args.width, jacobian_inputs=args.jacobian_inputs,
                            blocks=args.blocks)
    check_out_before_work(args)
    dataset = load_dataset(dataset_name(args), args.data_dir)
    if study == "layers":
        parse_arch(config.arch_for(dataset), dataset.n_features, dataset.n_classes)
    describe(dataset)
    result = diagnose_inits(dataset, config)
    with run_folder(args.out, "diagnose", option="--out") as folder:  # no settings.json: nothing to resume
        written = result.write(folder)
    report(result, folder, written, args.json)
    return 0
