"""``weightinit reproduce hinton2006``: the DBN of Hinton, Osindero & Teh 2006 beside random inits."""

from __future__ import annotations

import argparse
from dataclasses import replace

from ..experiments.reproduce.hinton2006 import hinton2006
from ..train import TrainConfig
from .common import integer, momentum_for, number, typed
from .dbn import SGD_MOMENTUM, add_dbn_options, run_pipeline

__all__ = ["add_hinton2006"]


def add_hinton2006(papers: argparse._SubParsersAction) -> None:
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
