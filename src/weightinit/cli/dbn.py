"""``weightinit dbn``: pre-train a Deep Belief Network, fine-tune it, report its test error;
and the pipeline ``reproduce hinton2006`` shares with it.

The options become a :class:`~weightinit.experiments.dbn.DBNConfig` (checked before the data
is read); those left unset stay None there, and the experiment's
:func:`~weightinit.experiments.dbn.resolve` fits them to the data, as it does for a Python
caller: the rules are in :mod:`weightinit.experiments.dbn`. The line ``settings:`` says what
they became and why. A fine-tuned network whose test accuracy is near chance is said to be
one, with the remedy."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import replace

from ..boltzmann.recipes import AUTO_PRETRAIN_UPDATES
from ..boltzmann.trainer import RBMConfig, RBMHistory
from ..data.datasets import load_dataset
from ..experiments.dbn import (
    BATCH_SIZE,
    CHAIN_STEPS,
    FEW_UPDATES,
    FINETUNE_EPOCHS,
    HIDDEN,
    PRETRAIN_EPOCHS,
    QUICK_CHAIN_STEPS,
    QUICK_FINETUNE_UPDATES,
    SGD_LR,
    SGD_MOMENTUM,
    SGD_UPDATES,
    DBNConfig,
    DBNResult,
    dbn_experiment,
    default_n_valid,
    fit_to,
    resolve,
    settings_line,
    write_chains,
)
from ..models.builders import parse_arch
from ..training.loop import TrainConfig
from .common import (
    COMPILE_HELP,
    add_data_options,
    add_output_options,
    add_quick_option,
    check_device,
    dataset_name,
    describe,
    number,
    say,
    typed,
)
from .execute import run_experiment
from .run_folder import check_out_before_work

# default_n_valid, write_chains, HIDDEN and FEW_UPDATES: where tests and notebooks found them before they moved
__all__ = ["add_parser", "run", "add_dbn_options", "run_pipeline", "typed_configs", "dbn_config", "fitted_settings",
           "default_n_valid", "write_chains", "HIDDEN", "FEW_UPDATES"]


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "dbn", help="pre-train a Deep Belief Network, fine-tune it, report test error",
        description="Greedy RBM pre-training (x-h1, h1-h2, ...), then back-propagation fine-tuning of the sigmoid "
        "network it initializes, with model choice on a validation split and one evaluation on the test set.")
    parser.add_argument("--layers", default=None,
                        help="visible and hidden sizes, such as 784-500-500-2000 (default: the data's features, "
                             "then 500-500-2000)")
    quick = (f"a fifth of the pre-training epochs (digits 20, MNIST 2), fine-tuning epochs for at most "
             f"{QUICK_FINETUNE_UPDATES:,} updates (digits 30, MNIST 2), chains.png {QUICK_CHAIN_STEPS} Gibbs steps "
             "between frames")
    add_dbn_options(parser, "dbn", pretrain_epochs=None, finetune_epochs=None, dropout=0.0, input_dropout=0.0,
                    lr=None, optimizer=None, quick=quick)
    parser.set_defaults(run=run)


def add_dbn_options(parser: argparse.ArgumentParser, kind: str, pretrain_epochs: int | None,
                    finetune_epochs: int | None, dropout: float, input_dropout: float, lr: float | None = 0.1,
                    lr_decay: float = 1.0, ema: float = 0.0, refit: bool = False, optimizer: str | None = "sgd",
                    quick: str | None = None) -> None:
    """The options of a pre-train-then-fine-tune run, with the defaults of ``kind``; None for
    ``pretrain_epochs``, ``finetune_epochs``, ``optimizer`` or ``lr``: fitted to the data (by
    :func:`~weightinit.experiments.dbn.resolve`). ``quick``: what --quick does for ``kind`` (no
    --quick when None). The options convert types only: the config refuses a value out of
    range, naming the option; --pretrain-lr keeps its own check, since RBMConfig would name it
    ``lr``, as --lr is."""
    add_data_options(parser, default=None if quick else "mnist")
    if quick:
        add_quick_option(parser, quick)
    parser.add_argument("--pretrain-epochs", type=int, default=pretrain_epochs,
                        help="RBM epochs per layer (default %(default)s)" if pretrain_epochs is not None else
                        f"RBM epochs per layer (default {PRETRAIN_EPOCHS}, MNIST's, or more on a small data set: the "
                        f"DBN estimators' rule, about {AUTO_PRETRAIN_UPDATES:,} updates (epochs x ceil(images / 100)) "
                        "per layer, at most 100 epochs: digits 100)")
    parser.add_argument("--pretrain-lr", type=number("pretrain_lr", 0, strictly=True), default=0.1,
                        help="RBM learning rate (default %(default)s)")
    parser.add_argument("--k", type=int, default=1, help="Gibbs steps (default %(default)s)")
    parser.add_argument("--pcd", action="store_true", help="persistent contrastive divergence")
    parser.add_argument("--precision", default="float32", help="RBM matmuls: float32 or bf16")
    parser.add_argument("--compile", action="store_true", help=COMPILE_HELP)
    parser.add_argument("--finetune-epochs", type=int, default=finetune_epochs,
                        help="default %(default)s" if finetune_epochs is not None else
                        f"default {FINETUNE_EPOCHS} (--quick: at most {QUICK_FINETUNE_UPDATES:,} updates' worth)")
    parser.add_argument("--optimizer", default=optimizer,
                        help="fine-tuning optimizer, adam or sgd (default %(default)s)" if optimizer is not None else
                        f"fine-tuning optimizer, adam or sgd (default: sgd where fine-tuning makes at least "
                        f"{SGD_UPDATES:,} updates (MNIST: 15,000), else adam (digits: 360))")
    parser.add_argument("--lr", type=float, default=lr,
                        help="fine-tuning learning rate (default %(default)g)" if lr is not None else
                        f"fine-tuning learning rate (default {SGD_LR:g} for sgd, {FEW_UPDATES[1]:g} for adam)")
    parser.add_argument("--momentum", type=float, default=None,
                        help=f"SGD momentum (default {SGD_MOMENTUM:g}; not with --optimizer adam)")
    parser.add_argument("--lr-decay", type=float, default=lr_decay,
                        help="fine-tuning lr of epoch e: lr * lr_decay^(e-1) (default %(default)g)")
    parser.add_argument("--batch-size", type=int, default=BATCH_SIZE)
    parser.add_argument("--dropout", type=float, default=dropout,
                        help="dropout after each hidden layer when fine-tuning (default %(default)s)")
    parser.add_argument("--input-dropout", type=float, default=input_dropout,
                        help="dropout on the inputs when fine-tuning (default %(default)s)")
    parser.add_argument("--ema", type=float, default=ema,
                        help="fine-tuning: evaluate and keep a moving average of the weights with this decay, 0 = off "
                             "(default %(default)g)")
    parser.add_argument("--refit", action=argparse.BooleanOptionalAction, default=refit,
                        help="train each network again on all training images for the epochs validation chose, "
                             "then test it (default %(default)s)")
    parser.add_argument("--n-valid", type=int, default=None,
                        help="training images held out for model choice (default: a sixth of them, 10000 on MNIST)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    add_output_options(parser, kind, resumable=True)


def run(args: argparse.Namespace) -> int:
    return run_pipeline(args, "dbn", dbn_config(args, *typed_configs(args)), dbn_experiment)


def run_pipeline(args: argparse.Namespace, kind: str, config: DBNConfig, experiment: Callable[..., DBNResult]) -> int:
    """Check everything, fit the settings left to the data
    (:func:`~weightinit.experiments.dbn.resolve`), then pre-train, fine-tune and let the result
    write the run folder (dbn.pt, classifier.pt, results.json, report.md, curves.png,
    filters.png, chains.png). ``experiment``: :func:`~weightinit.experiments.dbn.dbn_experiment`
    or a paper's, of the same signature."""
    check_device(args.device)
    check_out_before_work(args)
    dataset = load_dataset(dataset_name(args), args.data_dir)
    # a momentum read back from an earlier run's settings.json: kept where SGD trains, dropped where Adam does
    if (config.momentum is not None and config.optimizer is None and not typed(args, "momentum")
            and resolve(replace(config, momentum=None), dataset).optimizer == "adam"):
        config = replace(config, momentum=None)
    resolved = resolve(config, dataset)  # refused here, after the data is read, before any work
    line, config = settings_line(config, dataset, options=True), resolved
    layers = list(config.layers)
    describe(dataset, f" ({config.n_valid} of them for validation)")
    say(f"settings: {line}")

    def on_layer(i: int, history: RBMHistory | None) -> None:
        status = "loaded from checkpoint" if history is None else (
            f"{len(history.epochs)} epochs, recon err {history.epochs[-1].reconstruction_error:.2f}, "
            f"{sum(e.seconds for e in history.epochs):.0f} s")
        say(f"layer {i + 1} ({layers[i]}-{layers[i + 1]}): {status}")

    return run_experiment(args, kind, lambda folder: experiment(
        dataset, config, checkpoint_dir=folder / "checkpoints", progress=not args.no_progress, on_layer=on_layer))


def typed_configs(args: argparse.Namespace) -> tuple[RBMConfig, TrainConfig]:
    """The pre-training and fine-tuning settings of the options that the data do not choose,
    built (and so checked) before the data is read; the epochs, optimizer, learning rate and
    momentum are :func:`dbn_config`'s fields, left to the data when not given."""
    pretrain = RBMConfig(lr=args.pretrain_lr, k=args.k, persistent=args.pcd, seed=args.seed, device=args.device,
                         precision=args.precision, compile=args.compile)
    train = TrainConfig(lr_decay=args.lr_decay, epochs=FINETUNE_EPOCHS, batch_size=args.batch_size, seed=args.seed,
                        device=args.device, ema=args.ema)
    return pretrain, train


def dbn_config(args: argparse.Namespace, pretrain: RBMConfig, train: TrainConfig, **fields) -> DBNConfig:
    """The :class:`~weightinit.experiments.dbn.DBNConfig` of the options, the settings left
    unset None (fitted to the data by :func:`~weightinit.experiments.dbn.resolve`)."""
    momentum = args.momentum
    if momentum is not None and args.optimizer == "adam" and not typed(args, "momentum"):
        momentum = None  # read back from an earlier run's settings.json (the old default): Adam always dropped it
    quick = getattr(args, "quick", False)
    return DBNConfig(layers=None if getattr(args, "layers", None) is None else tuple(parse_arch(args.layers)),
                     pretrain=pretrain, train=train, n_valid=args.n_valid, dropout=args.dropout,
                     input_dropout=args.input_dropout, refit=args.refit, pretrain_epochs=args.pretrain_epochs,
                     finetune_epochs=args.finetune_epochs, optimizer=args.optimizer, lr=args.lr, momentum=momentum,
                     quick=quick, chain_steps=QUICK_CHAIN_STEPS if quick else CHAIN_STEPS, **fields)


def fitted_settings(args: argparse.Namespace, pretrain: RBMConfig, train: TrainConfig,
                    n_tuning: int) -> tuple[RBMConfig, TrainConfig, str]:
    """The pre-training and fine-tuning the options give on ``n_tuning`` training images (the
    validation split held out), the settings left unset fitted by
    :func:`~weightinit.experiments.dbn.fit_to`, and the ``settings:`` line."""
    fitted, line = fit_to(dbn_config(args, pretrain, train), n_tuning)
    return fitted.pretrain, fitted.train, line
