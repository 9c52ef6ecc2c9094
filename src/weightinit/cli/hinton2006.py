"""``weightinit reproduce hinton2006``: the DBN of Hinton, Osindero & Teh 2006 beside random inits
(``--method backprop``), or as the paper trained it (``--method up-down``).

The options of the controls (``--control-*``) and of up-down (``--top-*``, ``--updown-*``) keep
their range checks at parse time: the configs they fill (TrainConfig, RBMConfig, UpDownConfig)
would name them ``epochs`` or ``lr``, as the DBN's own options are named."""

from __future__ import annotations

import argparse
from dataclasses import replace

from .._checks import check_choice
from ..boltzmann.trainer import RBMConfig, RBMHistory
from ..boltzmann.updown import UpDownConfig
from ..data.datasets import load_dataset
from ..data.transforms import split_validation
from ..errors import UserError
from ..experiments._config import count, sgd_momentum
from ..experiments.dbn import SGD_MOMENTUM
from ..experiments.reproduce.hinton2006 import UPDOWN_TOP, UpDownExperimentConfig, hinton2006, hinton2006_updown
from .common import check_device, describe, integer, number, say, typed
from .dbn import add_dbn_options, dbn_config, run_pipeline, typed_configs
from .execute import run_experiment
from .run_folder import check_out_before_work

METHODS = ("backprop", "up-down")

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
    hinton.add_argument("--method", default="backprop",
                        help="backprop: fine-tune by back-propagation beside random inits (default); up-down: the "
                        "paper's own method, labels in the top RBM, contrastive wake-sleep fine-tuning, "
                        "classification by free energy (the fine-tuning options above do not apply)")
    updown = hinton.add_argument_group("--method up-down")
    updown.add_argument("--top-hidden", type=int, default=UPDOWN_TOP,
                        help="hidden units of the top RBM over [500 units + labels] (default %(default)s)")
    updown.add_argument("--top-epochs", type=integer("top_epochs", 1), default=30,
                        help="CD-1 epochs of the top RBM (default %(default)s, as the paper)")
    updown.add_argument("--top-lr", type=number("top_lr", 0, strictly=True), default=0.1,
                        help="its learning rate (default %(default)g)")
    updown.add_argument("--updown-epochs", type=integer("updown_epochs", 1), default=30,
                        help="up-down sweeps (default %(default)s; the paper: 300)")
    updown.add_argument("--updown-lr", type=number("updown_lr", 0, strictly=True), default=0.1,
                        help="up-down learning rate per sample (default %(default)g; MNIST validation error after 6 "
                        "sweeps: 2.73%% with 0.01, 2.60%% with 0.05, 2.43%% with 0.1, 2.33%% with 0.2, which "
                        "oscillates)")
    updown.add_argument("--cd-steps", default="3,6,10",
                        help="CD steps in the top RBM during up-down, for equal shares of the sweeps "
                        "(default %(default)s, as the paper)")
    hinton.set_defaults(run=run_hinton2006)


def cd_steps(text: str) -> tuple[int, ...]:
    """``"3,6,10"`` -> (3, 6, 10); the message names --cd-steps."""
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise UserError(f"--cd-steps must be whole numbers separated by commas, such as 3,6,10; got {text!r}") from None


def run_updown(args: argparse.Namespace) -> int:
    """``--method up-down``: check everything, then pre-train, train the top RBM with the labels,
    fine-tune by up-down; the result writes updown.pt, results.json and report.md."""
    count("pretrain_epochs", args.pretrain_epochs)  # RBMConfig would name it epochs, as --top-epochs
    config = UpDownExperimentConfig(
        pretrain=RBMConfig(epochs=args.pretrain_epochs, lr=args.pretrain_lr, k=args.k, persistent=args.pcd,
                           seed=args.seed, device=args.device, precision=args.precision, compile=args.compile),
        top=RBMConfig(epochs=args.top_epochs, lr=args.top_lr, batch_size=args.batch_size, seed=(args.seed + 1) % 2**32,
                      device=args.device),
        updown=UpDownConfig(epochs=args.updown_epochs, batch_size=args.batch_size, lr=args.updown_lr,
                            cd_steps=cd_steps(args.cd_steps), seed=args.seed + 2),
        n_valid=args.n_valid, top_hidden=args.top_hidden)
    check_device(args.device)
    check_out_before_work(args)
    dataset = load_dataset(args.dataset, args.data_dir)
    n_valid = config.n_valid_for(dataset)
    split_validation(dataset, n_valid, option="--n-valid")  # refused before the run folder is made
    describe(dataset, f" ({n_valid} of them for validation)")

    def on_layer(i: int, history: RBMHistory | None) -> None:
        status = "loaded from checkpoint" if history is None else (
            f"{len(history.epochs)} epochs, {sum(e.seconds for e in history.epochs):.0f} s")
        say(f"layer {i + 1}: {status}")

    def on_epoch(stage: str, epoch: int, error: float, seconds: float) -> None:
        if stage == "top":
            say(f"top RBM epoch {epoch}: {seconds:.1f} s")
        else:
            say(f"up-down epoch {epoch}: validation error {100 * error:.2f}% ({seconds:.1f} s)")

    return run_experiment(args, "hinton2006", lambda folder: hinton2006_updown(
        dataset, config, checkpoint_dir=folder / "checkpoints", on_layer=on_layer, on_epoch=on_epoch))


def run_hinton2006(args: argparse.Namespace) -> int:
    if check_choice("method", args.method, METHODS) == "up-down":
        return run_updown(args)
    pretrain, train = typed_configs(args)
    momentum = args.control_momentum
    if args.control_optimizer == "adam" and not typed(args, "control_momentum"):
        momentum = None  # read back from an earlier run's settings.json (the old default): Adam always dropped it
    momentum = sgd_momentum(args.control_optimizer, momentum, SGD_MOMENTUM, "control_momentum", "control_optimizer")
    control_train = replace(train, optimizer=args.control_optimizer, lr=args.control_lr, momentum=momentum,
                            lr_decay=1.0, epochs=args.control_epochs, ema=0.0)
    # the paper's hidden layers over the data's features: 784-500-500-2000 on MNIST
    return run_pipeline(args, "hinton2006", dbn_config(args, pretrain, train, control_train=control_train), hinton2006)
