"""``weightinit reproduce PAPER``: one subcommand per paper, each with its own options."""

from __future__ import annotations

import argparse
from dataclasses import replace

from ..data.datasets import load_dataset
from ..experiments.reproduce.glorot2010 import glorot2010
from ..experiments.reproduce.he2015 import he2015
from ..experiments.reproduce.hinton2006 import hinton2006
from ..plots import plot_curves, plot_std_by_layer
from ..report import to_json
from ..runs import distributed
from ..runs.files import write_text_atomic
from ..train import TrainConfig
from .common import (
    QUICK_HELP,
    SEED,
    add_data_options,
    add_output_options,
    check_device,
    describe,
    emit,
    integer,
    momentum_for,
    number,
    say,
    typed,
)
from .dbn import SGD_MOMENTUM, add_dbn_options, run_pipeline
from .run_folder import check_out_before_work, open_run

__all__ = ["add_parser"]


def add_parser(commands: argparse._SubParsersAction, parser_class: type[argparse.ArgumentParser]) -> None:
    reproduce = commands.add_parser("reproduce", help="reproduce a paper's experiment: hinton2006, glorot2010, he2015")
    papers = reproduce.add_subparsers(dest="paper", metavar="PAPER", parser_class=parser_class)
    papers.required = True

    hinton = papers.add_parser("hinton2006",
                               help="DBN 784-500-500-2000 pre-trained and fine-tuned, beside random inits",
                               description="Hinton, Osindero & Teh 2006: the 784-500-500-2000 DBN on MNIST, "
                               "pre-trained layer by layer and fine-tuned by back-propagation, beside the same network "
                               "from Xavier (sigmoid) and He (ReLU) initializations; model choice on a validation "
                               "split, the test set touched once per network.")
    # fine-tuning settings chosen on the validation split (README: "Choosing the fine-tuning settings")
    add_dbn_options(hinton, "hinton2006", pretrain_epochs=20, finetune_epochs=60, dropout=0.3, input_dropout=0.1,
                    lr=0.3, lr_decay=0.97, ema=0.999, refit=True)
    hinton.add_argument("--control-optimizer", default="adam",
                        help="the random-init networks' optimizer (default %(default)s; the DBN's suits neither)")
    hinton.add_argument("--control-lr", type=number("control_lr", 0, strictly=True), default=1e-3,
                        help="their learning rate (default %(default)g)")
    hinton.add_argument("--control-momentum", type=number("control_momentum", 0, below=1), default=None,
                        help="their SGD momentum (default 0.9 with --control-optimizer sgd; not with adam)")
    hinton.add_argument("--control-epochs", type=integer("control_epochs", 1), default=30,
                        help="their epochs (default %(default)s)")
    hinton.set_defaults(run=run_hinton2006)

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
        paper.add_argument("--epochs", type=integer("epochs", 1), default=None,
                           help="training epochs (default 5; --quick 3)")
        paper.add_argument("--seed", type=SEED, default=0)
        paper.add_argument("--device", default="auto", help="auto, cpu or cuda")
        paper.add_argument("--quick", action="store_true", help=f"{QUICK_HELP}, smaller networks")
        add_output_options(paper, name, resumable=True)
        paper.set_defaults(run=run_init_paper)


def run_hinton2006(args: argparse.Namespace) -> int:
    def control_config(train: TrainConfig) -> TrainConfig:
        momentum = momentum_for(args.control_optimizer, args.control_momentum, SGD_MOMENTUM, "--control-momentum",
                                "--control-optimizer", typed=typed(args, "control_momentum"))
        return replace(train, optimizer=args.control_optimizer, lr=args.control_lr, momentum=momentum, lr_decay=1.0,
                       epochs=args.control_epochs, ema=0.0)

    def pipeline(dataset, layers, n_valid, pretrain, train, checkpoints, on_layer):
        return hinton2006(dataset, pretrain=pretrain, train=train, control_train=control_config(train),
                          n_valid=n_valid, dropout=args.dropout, input_dropout=args.input_dropout, refit=args.refit,
                          checkpoint_dir=checkpoints, progress=not args.no_progress, on_layer=on_layer)

    # the paper's hidden layers over the data's features: 784-500-500-2000 on MNIST
    return run_pipeline(args, "hinton2006", None, pipeline, extra_configs=control_config)


def run_init_paper(args: argparse.Namespace) -> int:
    """glorot2010 / he2015: the papers' experiments, or smaller ones on digits with --quick."""
    epochs = args.epochs if args.epochs is not None else (3 if args.quick else 5)
    check_device(args.device)
    check_out_before_work(args)
    dataset = load_dataset(args.dataset or ("digits" if args.quick else "mnist"), args.data_dir)
    describe(dataset)
    with open_run(args, args.paper) as folder:
        if args.paper == "glorot2010":
            result, reports = glorot2010(dataset, hidden=(100 if args.quick else 1000,) * 5, epochs=epochs,
                                         seed=args.seed, device=args.device, checkpoint_dir=folder / "checkpoints")
            if distributed.is_main():
                plot_std_by_layer(reports, folder / "std_by_layer.png", f"{result.arch}: at initialization")
            curves = [(f"{r.activation} {r.init}", r.history, r.diverged) for r in result.runs]
            network = result.arch
        else:
            result = he2015(dataset, width=64 if args.quick else 256, epochs=epochs, seed=args.seed,
                            device=args.device, checkpoint_dir=folder / "checkpoints")
            curves = [(r.init, r.history, r.diverged) for r in result.runs]
            network = f"{' and '.join(map(str, result.depths))}-layer ReLU nets of {result.width} units"
        if not distributed.is_main():
            return 0
        plot_curves([(label, history) for label, history, _ in curves], folder / "curves.png",
                    f"{args.paper} on {dataset.name}: {network}", diverged=[flag for _, _, flag in curves])
        table = "\n".join([result.table(), ""] + [f"- {f}" for f in result.findings])
        write_text_atomic(folder / "results.json", to_json(result))
        write_text_atomic(folder / "report.md",
                          f"# {args.paper} on {dataset.name}\n\n{table}\n\n![curves](curves.png)\n")
    emit(result, table, args.json)
    say(f"wrote {folder}/")
    return 0
