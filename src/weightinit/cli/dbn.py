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
import textwrap
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import torch

from ..boltzmann.dbn import DBN, check_layer_sizes
from ..boltzmann.recipes import AUTO_PRETRAIN_UPDATES, auto_pretrain_epochs, epochs_for_updates, updates_per_epoch
from ..boltzmann.trainer import RBMConfig, RBMHistory
from ..data.datasets import Dataset, load_dataset
from ..data.transforms import split_validation
from ..errors import UserError
from ..experiments.dbn import NEAR_CHANCE, DBNResult, dbn_experiment
from ..experiments.rbm import CHAIN_FRAMES, CHAIN_STEPS
from ..models.builders import parse_arch
from ..reporting.plots import plot_curves, plot_tiles
from ..reporting.tables import to_json
from ..runs import distributed
from ..runs.files import weights_record, write_text_atomic, write_weights
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
    emit,
    integer,
    momentum_for,
    number,
    say,
    typed,
)
from .run_folder import check_out_before_work, open_run

__all__ = ["add_parser", "run", "add_dbn_options", "run_pipeline", "default_n_valid", "typed_configs",
           "fitted_settings", "chance_warning", "BATCH_SIZE", "HIDDEN", "SGD_MOMENTUM", "PRETRAIN_EPOCHS",
           "FINETUNE_EPOCHS", "SGD_LR", "SGD_UPDATES", "FEW_UPDATES", "QUICK_SHARE", "QUICK_FINETUNE_UPDATES",
           "QUICK_CHAIN_STEPS"]

# (dataset, layer sizes, validation samples, pre-training, fine-tuning, checkpoint folder, on_layer)
#   -> (DBN, fine-tuned network, result)
Pipeline = Callable[[Dataset, list[int], int, RBMConfig, TrainConfig, Path, Callable[[int, RBMHistory | None], None]],
                    tuple[DBN, torch.nn.Module, DBNResult]]

HIDDEN = (500, 500, 2000)  # the hidden layers of Hinton, Osindero & Teh (2006), above the data's features
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
    layers = None if args.layers is None else check_layer_sizes(parse_arch(args.layers))

    def pipeline(dataset, layers, n_valid, pretrain, train, checkpoints, on_layer):
        return dbn_experiment(dataset, layers=layers, pretrain=pretrain, train=train, n_valid=n_valid,
                              checkpoint_dir=checkpoints, dropout=args.dropout, input_dropout=args.input_dropout,
                              refit=args.refit, progress=not args.no_progress, on_layer=on_layer)

    return run_pipeline(args, "dbn", layers, pipeline)


def default_n_valid(n_train: int) -> int:
    """The validation split when --n-valid is not given: a sixth of the training set (MNIST's
    10,000 of 60,000), at least 1 and leaving at least 1 to train on."""
    return min(max(1, round(n_train / 6)), max(1, n_train - 1))


def run_pipeline(args: argparse.Namespace, kind: str, layers: list[int] | None, pipeline: Pipeline,
                 extra_configs: Callable[[TrainConfig], object] | None = None) -> int:
    """Check everything, then pre-train, fine-tune and write the run folder: dbn.pt,
    classifier.pt, results.json, report.md, curves.png (validation accuracy while fine-tuning)
    and filters.png. ``layers`` None: the data's features, then :data:`HIDDEN`.
    ``extra_configs(train)`` builds (and so checks) a command's other settings up front."""
    pretrain, train = typed_configs(args)
    if extra_configs is not None:
        extra_configs(train)
    check_device(args.device)
    check_out_before_work(args)
    dataset = load_dataset(dataset_name(args), args.data_dir)
    if layers is None:
        layers = [dataset.n_features, *HIDDEN]
    if layers[0] != dataset.n_features:
        raise UserError(f"--layers start with {layers[0]} units but {dataset.name} has {dataset.n_features} "
                        f"features; use {dataset.n_features}-{'-'.join(map(str, layers[1:]))}")
    n_valid = default_n_valid(len(dataset.train)) if args.n_valid is None else args.n_valid
    split_validation(dataset, n_valid, option="--n-valid")  # refused before the run folder is made
    pretrain, train, rule = fitted_settings(args, pretrain, train, len(dataset.train) - n_valid)
    describe(dataset, f" ({n_valid} of them for validation)")
    say(f"settings: {rule}")
    with open_run(args, kind) as folder:

        def on_layer(i: int, history: RBMHistory | None) -> None:
            status = "loaded from checkpoint" if history is None else (
                f"{len(history.epochs)} epochs, recon err {history.epochs[-1].reconstruction_error:.2f}, "
                f"{sum(e.seconds for e in history.epochs):.0f} s")
            say(f"layer {i + 1} ({layers[i]}-{layers[i + 1]}): {status}")

        dbn, model, result = pipeline(dataset, layers, n_valid, pretrain, train, folder / "checkpoints", on_layer)
        if not distributed.is_main():
            return 0
        write_weights(folder / "dbn.pt", weights_record("dbn", dbn.state_dict(), layer_sizes=layers,
                                                        visible=dbn.visible))
        write_weights(folder / "classifier.pt", weights_record(
            "mlp", model.state_dict(), arch=result.arch, sizes=[*layers, dataset.n_classes], activation="sigmoid",
            dropout=args.dropout, input_dropout=args.input_dropout))
        write_text_atomic(folder / "results.json", to_json(result))
        table = result.table()
        warning = chance_warning(result, train, n_train=len(dataset.train) - n_valid)
        note = f"{' '.join(warning.split())}\n\n" if warning else ""  # one paragraph, unwrapped
        write_text_atomic(folder / "report.md", f"# {kind} on {dataset.name}\n\n{table}\n\n{note}"
                          f"Wall time: {result.wall_time()}.\n\n![fine-tuning curves](curves.png)\n")
        plot_curves([(r.name, r.history) for r in result.runs], folder / "curves.png",
                    f"{dataset.name} {result.arch}: fine-tuning on {len(dataset.train) - n_valid} images, "
                    f"validation on {n_valid}", evaluated_on="valid", diverged=[r.diverged for r in result.runs])
        plot_tiles(dbn.rbms[0].W[:100].cpu(), dataset.image_shape, folder / "filters.png",
                   f"First-layer RBM filters (first {min(100, layers[1])} hidden units;\n"
                   "each tile scaled to its own range, white = largest weight)")
        if dbn.visible == "bernoulli":
            write_chains(dbn, dataset, folder / "chains.png", args.seed,
                         steps=QUICK_CHAIN_STEPS if getattr(args, "quick", False) else CHAIN_STEPS)
    emit(result, table, args.json)
    if warning:
        say(warning)
    say(f"wall time: {result.wall_time()}; wrote {folder}/")
    return 0


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


def chance_warning(result: DBNResult, train: TrainConfig, n_train: int) -> str:
    """A paragraph for a run whose fine-tuned networks test near chance
    (:func:`~weightinit.experiments.dbn.near_chance`), with the remedy; "" when none does.
    ``train`` is the DBN's fine-tuning, of ``n_train`` images."""
    if not result.near_chance:
        return ""
    scores = ", ".join(f"{run.name} {100 * run.test_accuracy:.1f}%" for run in result.runs
                       if run.name in result.near_chance)
    text = (f"warning: test accuracy near chance: {scores}, where always guessing the most frequent class scores "
            f"{100 * result.chance_accuracy:.1f}% (near: less than {NEAR_CHANCE:g} of the way from there to 100%): "
            "the network learned next to nothing, and its test error says so, not what the method can do.")
    if result.runs[0].name in result.near_chance:
        updates = train.epochs * updates_per_epoch(n_train, train.batch_size)
        remedy = ("fine-tune by Adam, which trains the lower layers in a few hundred updates (--optimizer adam "
                  "--lr 0.003)" if train.optimizer == "sgd" else
                  f"fine-tune longer (--finetune-epochs {2 * train.epochs}) or at another --lr (now {train.lr:g})")
        text += (f" The DBN made {updates:,} fine-tuning updates by {train.optimizer} at lr {train.lr:g}: {remedy}; "
                 "more pre-training (--pretrain-epochs) helps too.")
    return textwrap.fill(text, 79, break_on_hyphens=False)


def write_chains(dbn: DBN, dataset: Dataset, path: Path, seed: int, n_chains: int = 10,
                 steps: int = CHAIN_STEPS) -> None:
    """chains.png: Gibbs chains in the DBN's top RBM, each frame shown by one down pass
    (:meth:`~weightinit.boltzmann.dbn.DBN.gibbs_chains`); half start from test images, half
    from uniform random binary images."""
    device = dbn.rbms[0].W.device
    generator = torch.Generator(device=device).manual_seed(seed + 3)
    from_data = (n_chains + 1) // 2
    noise = (torch.rand((n_chains - from_data, dataset.n_features), generator=generator, device=device) < 0.5).float()
    starts = torch.cat([dataset.test.x[:from_data].to(device), noise])
    chains = dbn.gibbs_chains(starts, steps, CHAIN_FRAMES, generator)
    plot_tiles(chains.reshape(n_chains * CHAIN_FRAMES, -1).cpu(), dataset.image_shape, path,
               f"{n_chains} Gibbs chains in the top RBM, one per row, each frame shown by one down pass;\n"
               f"rows 1-{from_data} start from test images, the rest from random images; column 1 the start,\n"
               f"then every {steps} Gibbs steps (probabilities, black 0, white 1)", per_tile=False)
