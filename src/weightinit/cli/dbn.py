"""``weightinit dbn``: pre-train a Deep Belief Network, fine-tune it, report its test error;
and the pipeline ``reproduce hinton2006`` shares with it.

The defaults of ``weightinit dbn`` fit the data (:func:`fitted_settings`), counted in
parameter updates (epochs x ceil(images / batch size)) as the DBN estimators count them:

- pre-training: MNIST's 10 epochs per layer (Hinton, Osindero & Teh 2006), or on a smaller
  data set the estimators' ``pretrain_epochs="auto"``, about 2,000 updates per layer
  (:func:`~weightinit.boltzmann.recipes.auto_pretrain_epochs`, 5 to 100 epochs): MNIST 10,
  digits 100;
- fine-tuning: SGD at lr 0.1 with momentum 0.9 (Hinton & Salakhutdinov 2006) where it makes
  at least :data:`SGD_UPDATES` updates (MNIST: 15,000), else Adam at lr 3e-3, the DBN
  estimators' (digits: 360 updates).

A fine-tuned network whose test accuracy is near chance is said to be one, with the remedy."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import replace

from ..boltzmann.recipes import AUTO_PRETRAIN_UPDATES, auto_pretrain_epochs, epochs_for_updates, updates_per_epoch
from ..boltzmann.trainer import RBMConfig, RBMHistory
from ..data.datasets import load_dataset
from ..data.transforms import split_validation
from ..experiments.dbn import CHAIN_STEPS, HIDDEN, DBNConfig, DBNResult, dbn_experiment, default_n_valid, write_chains
from ..models.builders import parse_arch
from ..training.loop import TrainConfig
from .common import (
    COMPILE_HELP,
    SEED,
    add_data_options,
    add_output_options,
    add_quick_option,
    check_device,
    dataset_name,
    describe,
    integer,
    momentum_for,
    number,
    say,
    typed,
)
from .execute import run_experiment
from .run_folder import check_out_before_work

__all__ = ["add_parser", "run", "add_dbn_options", "run_pipeline", "default_n_valid", "typed_configs",
           "fitted_settings", "write_chains", "BATCH_SIZE", "HIDDEN", "SGD_MOMENTUM", "PRETRAIN_EPOCHS",
           "FINETUNE_EPOCHS", "SGD_LR", "SGD_UPDATES", "FEW_UPDATES", "QUICK_SHARE", "QUICK_FINETUNE_UPDATES",
           "QUICK_CHAIN_STEPS"]

SGD_MOMENTUM = 0.9  # the fine-tuning momentum when --momentum is not given
BATCH_SIZE = 100  # --batch-size's default, at which the optimizer rule counts updates
PRETRAIN_EPOCHS = 10  # MNIST's pre-training epochs per layer, the least the default gives
FINETUNE_EPOCHS = 30  # the fine-tuning epochs of `weightinit dbn` (fewer with --quick on large data)
SGD_LR = 0.1  # the fine-tuning learning rate of SGD (Hinton & Salakhutdinov 2006's setting for MNIST)
# Fine-tuning by SGD where it makes at least this many updates (the count the pre-training rule deems enough for
# an RBM), else by FEW_UPDATES. On digits (360 updates, 100 pre-training epochs): SGD 7.78% test error, Adam
# 4.17%; after 10 pre-training epochs SGD 88.06% (chance), Adam 5.28%.
SGD_UPDATES = AUTO_PRETRAIN_UPDATES
# The optimizer and learning rate of the DBN estimators (DBNClassifier's solver and learning_rate_init, the
# reasons in its docstring): Adam's per-parameter step does not shrink with the gradient, which a sigmoid network
# divides by up to 4 per layer, so that a few hundred updates train the lower layers too
FEW_UPDATES = ("adam", 3e-3)
QUICK_SHARE = 5  # --quick: a fifth of the pre-training epochs (at least 1): digits 20, MNIST 2
QUICK_FINETUNE_UPDATES = 1_000  # --quick: fine-tuning epochs for at most about this many updates: digits 30, MNIST 2
QUICK_CHAIN_STEPS = 100  # --quick: Gibbs steps between the frames of chains.png (default 1,000)


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
    ``pretrain_epochs``, ``optimizer`` or ``lr``: fitted to the data (:func:`fitted_settings`);
    None for ``finetune_epochs``: :data:`FINETUNE_EPOCHS` (fewer with --quick on large data).
    ``quick``: what --quick does for ``kind`` (no --quick when None)."""
    add_data_options(parser, default=None if quick else "mnist")
    if quick:
        add_quick_option(parser, quick)
    parser.add_argument("--pretrain-epochs", type=integer("pretrain_epochs", 1), default=pretrain_epochs,
                        help="RBM epochs per layer (default %(default)s)" if pretrain_epochs is not None else
                        f"RBM epochs per layer (default {PRETRAIN_EPOCHS}, MNIST's, or more on a small data set: the "
                        f"DBN estimators' rule, about {AUTO_PRETRAIN_UPDATES:,} updates (epochs x ceil(images / 100)) "
                        "per layer, at most 100 epochs: digits 100)")
    parser.add_argument("--pretrain-lr", type=number("pretrain_lr", 0, strictly=True), default=0.1,
                        help="RBM learning rate (default %(default)s)")
    parser.add_argument("--k", type=integer("k", 1), default=1, help="Gibbs steps (default %(default)s)")
    parser.add_argument("--pcd", action="store_true", help="persistent contrastive divergence")
    parser.add_argument("--precision", default="float32", help="RBM matmuls: float32 or bf16")
    parser.add_argument("--compile", action="store_true", help=COMPILE_HELP)
    parser.add_argument("--finetune-epochs", type=integer("finetune_epochs", 1), default=finetune_epochs,
                        help="default %(default)s" if finetune_epochs is not None else
                        f"default {FINETUNE_EPOCHS} (--quick: at most {QUICK_FINETUNE_UPDATES:,} updates' worth)")
    parser.add_argument("--optimizer", default=optimizer,
                        help="fine-tuning optimizer, adam or sgd (default %(default)s)" if optimizer is not None else
                        f"fine-tuning optimizer, adam or sgd (default: sgd where fine-tuning makes at least "
                        f"{SGD_UPDATES:,} updates (MNIST: 15,000), else adam (digits: 360))")
    parser.add_argument("--lr", type=number("lr", 0, strictly=True), default=lr,
                        help="fine-tuning learning rate (default %(default)g)" if lr is not None else
                        f"fine-tuning learning rate (default {SGD_LR:g} for sgd, {FEW_UPDATES[1]:g} for adam)")
    parser.add_argument("--momentum", type=number("momentum", 0, below=1), default=None,
                        help=f"SGD momentum (default {SGD_MOMENTUM:g}; not with --optimizer adam)")
    parser.add_argument("--lr-decay", type=number("lr_decay", 0, strictly=True, maximum=1), default=lr_decay,
                        help="fine-tuning lr of epoch e: lr * lr_decay^(e-1) (default %(default)g)")
    parser.add_argument("--batch-size", type=integer("batch_size", 1), default=BATCH_SIZE)
    parser.add_argument("--dropout", type=number("dropout", 0, below=1), default=dropout,
                        help="dropout after each hidden layer when fine-tuning (default %(default)s)")
    parser.add_argument("--input-dropout", type=number("input_dropout", 0, below=1), default=input_dropout,
                        help="dropout on the inputs when fine-tuning (default %(default)s)")
    parser.add_argument("--ema", type=number("ema", 0, below=1), default=ema,
                        help="fine-tuning: evaluate and keep a moving average of the weights with this decay, 0 = off "
                             "(default %(default)g)")
    parser.add_argument("--refit", action=argparse.BooleanOptionalAction, default=refit,
                        help="train each network again on all training images for the epochs validation chose, "
                             "then test it (default %(default)s)")
    parser.add_argument("--n-valid", type=integer("n_valid", 1), default=None,
                        help="training images held out for model choice (default: a sixth of them, 10000 on MNIST)")
    parser.add_argument("--seed", type=SEED, default=0)
    parser.add_argument("--device", default="auto")
    add_output_options(parser, kind, resumable=True)


def run(args: argparse.Namespace) -> int:
    pretrain, train = typed_configs(args)  # checked before the data is read
    config = DBNConfig(layers=None if args.layers is None else tuple(parse_arch(args.layers)), pretrain=pretrain,
                       train=train, n_valid=args.n_valid, dropout=args.dropout, input_dropout=args.input_dropout,
                       refit=args.refit, chain_steps=QUICK_CHAIN_STEPS if args.quick else CHAIN_STEPS)
    return run_pipeline(args, "dbn", config, dbn_experiment)


def run_pipeline(args: argparse.Namespace, kind: str, config: DBNConfig, experiment: Callable[..., DBNResult]) -> int:
    """Check everything, fit the settings left to the data (:func:`fitted_settings`), then
    pre-train, fine-tune and let the result write the run folder (dbn.pt, classifier.pt,
    results.json, report.md, curves.png, filters.png, chains.png). ``experiment``:
    :func:`~weightinit.experiments.dbn.dbn_experiment` or a paper's, of the same signature."""
    check_device(args.device)
    check_out_before_work(args)
    dataset = load_dataset(dataset_name(args), args.data_dir)
    layers = config.layers_for(dataset)
    n_valid = config.n_valid_for(dataset)
    split_validation(dataset, n_valid, option="--n-valid")  # refused before the run folder is made
    pretrain, train, rule = fitted_settings(args, config.pretrain, config.train, len(dataset.train) - n_valid)
    config = replace(config, layers=tuple(layers), n_valid=n_valid, pretrain=pretrain, train=train)
    describe(dataset, f" ({n_valid} of them for validation)")
    say(f"settings: {rule}")

    def on_layer(i: int, history: RBMHistory | None) -> None:
        status = "loaded from checkpoint" if history is None else (
            f"{len(history.epochs)} epochs, recon err {history.epochs[-1].reconstruction_error:.2f}, "
            f"{sum(e.seconds for e in history.epochs):.0f} s")
        say(f"layer {i + 1} ({layers[i]}-{layers[i + 1]}): {status}")

    return run_experiment(args, kind, lambda folder: experiment(
        dataset, config, checkpoint_dir=folder / "checkpoints", progress=not args.no_progress, on_layer=on_layer))


def typed_configs(args: argparse.Namespace) -> tuple[RBMConfig, TrainConfig]:
    """The pre-training and fine-tuning settings of the options, built (and so checked) before
    the data is read; those left to the data (None) hold MNIST's values until
    :func:`fitted_settings` sets them."""
    pretrain = RBMConfig(epochs=args.pretrain_epochs or PRETRAIN_EPOCHS, lr=args.pretrain_lr, k=args.k,
                         persistent=args.pcd, seed=args.seed, device=args.device, precision=args.precision,
                         compile=args.compile)
    optimizer = args.optimizer or "sgd"
    train = TrainConfig(optimizer=optimizer, lr=args.lr or (SGD_LR if optimizer == "sgd" else FEW_UPDATES[1]),
                        momentum=momentum_for(optimizer, args.momentum, SGD_MOMENTUM,
                                              typed=typed(args, "momentum")), lr_decay=args.lr_decay,
                        epochs=args.finetune_epochs or FINETUNE_EPOCHS, batch_size=args.batch_size, seed=args.seed,
                        device=args.device, ema=args.ema)
    return pretrain, train


def fitted_settings(args: argparse.Namespace, pretrain: RBMConfig, train: TrainConfig,
                    n_tuning: int) -> tuple[RBMConfig, TrainConfig, str]:
    """The settings left to the data (options given as None), for ``n_tuning`` training images
    (the validation split held out), and the line that says what they became and why:

    - ``--pretrain-epochs``: :math:`\\max(10, E_{auto})`, with :math:`E_{auto}` the DBN
      estimators' :func:`~weightinit.boltzmann.recipes.auto_pretrain_epochs` (about 2,000
      updates per layer in batches of 100, 5 to 100 epochs): MNIST 10, digits 100;
    - ``--optimizer``: sgd (lr 0.1, momentum 0.9) when the fine-tuning makes at least
      :data:`SGD_UPDATES` updates, else :data:`FEW_UPDATES` (Adam, lr 3e-3);
    - ``--lr``: the optimizer's (0.1 for sgd, 3e-3 for adam);
    - ``--quick``: a fifth of the pre-training epochs (at least 1), and fine-tuning epochs
      for at most :data:`QUICK_FINETUNE_UPDATES` updates; typed ones are kept.
    """
    quick = getattr(args, "quick", False)
    notes = []
    if args.pretrain_epochs is None:
        epochs = max(PRETRAIN_EPOCHS, auto_pretrain_epochs(n_tuning, pretrain.batch_size))
        why = (f"MNIST's {PRETRAIN_EPOCHS}" if epochs == PRETRAIN_EPOCHS else
               f"about {AUTO_PRETRAIN_UPDATES:,} updates per layer, as the DBN estimators")
        if quick:
            epochs, why = max(1, epochs // QUICK_SHARE), why + f", / {QUICK_SHARE} (--quick)"
        pretrain = replace(pretrain, epochs=epochs)
        notes.append(why)
    per_epoch = updates_per_epoch(n_tuning, train.batch_size)
    if args.finetune_epochs is None and quick:
        train = replace(train, epochs=min(FINETUNE_EPOCHS, epochs_for_updates(QUICK_FINETUNE_UPDATES, n_tuning,
                                                                             train.batch_size)))
    updates = train.epochs * per_epoch
    if args.optimizer is None:
        # the data chooses, not a typed --batch-size or --finetune-epochs: the updates the fine-tuning
        # makes with its default batch and epochs (MNIST keeps SGD whatever batch is typed). A typed
        # --momentum with Adam chosen is refused, naming --optimizer sgd (on digits SGD tested at 64%
        # error where Adam gets 2-4%: switching silently would teach the wrong lesson)
        default_epochs = train.epochs if args.finetune_epochs is None else FINETUNE_EPOCHS
        chosen_by = default_epochs * updates_per_epoch(n_tuning, BATCH_SIZE)
        optimizer = "sgd" if chosen_by >= SGD_UPDATES else FEW_UPDATES[0]
        lr = args.lr or (SGD_LR if optimizer == "sgd" else FEW_UPDATES[1])
        momentum = momentum_for(optimizer, args.momentum, SGD_MOMENTUM, typed=typed(args, "momentum"))
        train = replace(train, optimizer=optimizer, lr=lr, momentum=momentum)
        than = "at least" if chosen_by >= SGD_UPDATES else "fewer than"
        notes.append(f"{optimizer}: {chosen_by:,} fine-tuning updates (at batch {BATCH_SIZE}) are {than} "
                     f"{SGD_UPDATES:,}")
    pretrain_updates = pretrain.epochs * updates_per_epoch(n_tuning, pretrain.batch_size)
    momentum = f", momentum {train.momentum:g}" if train.optimizer == "sgd" else ""
    line = (f"pre-training {pretrain.epochs} epochs per layer ({pretrain_updates:,} updates), fine-tuning "
            f"{train.epochs} epochs ({updates:,} updates) by {train.optimizer} at lr {train.lr:g}{momentum}")
    return pretrain, train, line + (f" ({'; '.join(notes)})" if notes else "")
