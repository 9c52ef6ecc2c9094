"""``weightinit dbn``: pre-train a Deep Belief Network, fine-tune it, report its test error;
and the pipeline ``reproduce hinton2006`` shares with it."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import torch

from ..boltzmann.dbn import DBN, check_layer_sizes
from ..boltzmann.trainer import RBMConfig, RBMHistory
from ..data.datasets import Dataset, load_dataset
from ..data.transforms import split_validation
from ..errors import UserError
from ..experiments.dbn import DBNResult, dbn_experiment
from ..experiments.rbm import CHAIN_FRAMES, CHAIN_STEPS
from ..models import parse_arch
from ..plots import plot_curves, plot_tiles
from ..report import to_json
from ..runs import distributed
from ..runs.files import weights_record, write_text_atomic, write_weights
from ..train import TrainConfig
from .common import (
    COMPILE_HELP,
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
from .run_folder import check_out_before_work, open_run

__all__ = ["add_parser", "run", "add_dbn_options", "run_pipeline", "default_n_valid", "HIDDEN", "SGD_MOMENTUM"]

# (dataset, layer sizes, validation samples, pre-training, fine-tuning, checkpoint folder, on_layer)
#   -> (DBN, fine-tuned network, result)
Pipeline = Callable[[Dataset, list[int], int, RBMConfig, TrainConfig, Path, Callable[[int, RBMHistory | None], None]],
                    tuple[DBN, torch.nn.Module, DBNResult]]

HIDDEN = (500, 500, 2000)  # the hidden layers of Hinton, Osindero & Teh (2006), above the data's features
SGD_MOMENTUM = 0.9  # the fine-tuning momentum when --momentum is not given


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "dbn", help="pre-train a Deep Belief Network, fine-tune it, report test error",
        description="Greedy RBM pre-training (x-h1, h1-h2, ...), then back-propagation fine-tuning of the sigmoid "
        "network it initializes, with model choice on a validation split and one evaluation on the test set.")
    parser.add_argument("--layers", default=None,
                        help="visible and hidden sizes, such as 784-500-500-2000 (default: the data's features, "
                             "then 500-500-2000)")
    add_dbn_options(parser, "dbn", pretrain_epochs=10, finetune_epochs=30, dropout=0.0, input_dropout=0.0)
    parser.set_defaults(run=run)


def add_dbn_options(parser: argparse.ArgumentParser, kind: str, pretrain_epochs: int, finetune_epochs: int,
                    dropout: float, input_dropout: float, lr: float = 0.1, lr_decay: float = 1.0, ema: float = 0.0,
                    refit: bool = False) -> None:
    """The options of a pre-train-then-fine-tune run, with the defaults of ``kind``."""
    add_data_options(parser)
    parser.add_argument("--pretrain-epochs", type=integer("pretrain_epochs", 1), default=pretrain_epochs,
                        help="RBM epochs per layer (default %(default)s)")
    parser.add_argument("--pretrain-lr", type=number("pretrain_lr", 0, strictly=True), default=0.1,
                        help="RBM learning rate (default %(default)s)")
    parser.add_argument("--k", type=integer("k", 1), default=1, help="Gibbs steps (default %(default)s)")
    parser.add_argument("--pcd", action="store_true", help="persistent contrastive divergence")
    parser.add_argument("--precision", default="float32", help="RBM matmuls: float32 or bf16")
    parser.add_argument("--compile", action="store_true", help=COMPILE_HELP)
    parser.add_argument("--finetune-epochs", type=integer("finetune_epochs", 1), default=finetune_epochs,
                        help="default %(default)s")
    parser.add_argument("--optimizer", default="sgd", help="fine-tuning optimizer, adam or sgd (default %(default)s)")
    parser.add_argument("--lr", type=number("lr", 0, strictly=True), default=lr,
                        help="fine-tuning learning rate (default %(default)g)")
    parser.add_argument("--momentum", type=number("momentum", 0, below=1), default=None,
                        help=f"SGD momentum (default {SGD_MOMENTUM:g}; not with --optimizer adam)")
    parser.add_argument("--lr-decay", type=number("lr_decay", 0, strictly=True, maximum=1), default=lr_decay,
                        help="fine-tuning lr of epoch e: lr * lr_decay^(e-1) (default %(default)g)")
    parser.add_argument("--batch-size", type=integer("batch_size", 1), default=100)
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
    pretrain = RBMConfig(epochs=args.pretrain_epochs, lr=args.pretrain_lr, k=args.k, persistent=args.pcd,
                         seed=args.seed, device=args.device, precision=args.precision, compile=args.compile)
    train = TrainConfig(optimizer=args.optimizer, lr=args.lr,
                        momentum=momentum_for(args.optimizer, args.momentum, SGD_MOMENTUM,
                                              typed=typed(args, "momentum")), lr_decay=args.lr_decay,
                        epochs=args.finetune_epochs, batch_size=args.batch_size, seed=args.seed, device=args.device,
                        ema=args.ema)
    if extra_configs is not None:
        extra_configs(train)
    check_device(args.device)
    check_out_before_work(args)
    dataset = load_dataset(args.dataset, args.data_dir)
    if layers is None:
        layers = [dataset.n_features, *HIDDEN]
    if layers[0] != dataset.n_features:
        raise UserError(f"--layers start with {layers[0]} units but {dataset.name} has {dataset.n_features} "
                        f"features; use {dataset.n_features}-{'-'.join(map(str, layers[1:]))}")
    n_valid = default_n_valid(len(dataset.train)) if args.n_valid is None else args.n_valid
    split_validation(dataset, n_valid, option="--n-valid")  # refused before the run folder is made
    describe(dataset, f" ({n_valid} of them for validation)")
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
        write_text_atomic(folder / "report.md", f"# {kind} on {dataset.name}\n\n{table}\n\n"
                          f"Wall time: {result.wall_time()}.\n\n![fine-tuning curves](curves.png)\n")
        plot_curves([(r.name, r.history) for r in result.runs], folder / "curves.png",
                    f"{dataset.name} {result.arch}: fine-tuning on {len(dataset.train) - n_valid} images, "
                    f"validation on {n_valid}", evaluated_on="valid", diverged=[r.diverged for r in result.runs])
        plot_tiles(dbn.rbms[0].W[:100].cpu(), dataset.image_shape, folder / "filters.png",
                   f"First-layer RBM filters (first {min(100, layers[1])} hidden units;\n"
                   "each tile scaled to its own range, white = largest weight)")
        if dbn.visible == "bernoulli":
            write_chains(dbn, dataset, folder / "chains.png", args.seed)
    emit(result, table, args.json)
    say(f"wall time: {result.wall_time()}; wrote {folder}/")
    return 0


def write_chains(dbn: DBN, dataset: Dataset, path: Path, seed: int, n_chains: int = 10) -> None:
    """chains.png: Gibbs chains in the DBN's top RBM, each frame shown by one down pass
    (:meth:`~weightinit.boltzmann.dbn.DBN.gibbs_chains`); half start from test images, half
    from uniform random binary images."""
    device = dbn.rbms[0].W.device
    generator = torch.Generator(device=device).manual_seed(seed + 3)
    from_data = (n_chains + 1) // 2
    noise = (torch.rand((n_chains - from_data, dataset.n_features), generator=generator, device=device) < 0.5).float()
    starts = torch.cat([dataset.test.x[:from_data].to(device), noise])
    chains = dbn.gibbs_chains(starts, CHAIN_STEPS, CHAIN_FRAMES, generator)
    plot_tiles(chains.reshape(n_chains * CHAIN_FRAMES, -1).cpu(), dataset.image_shape, path,
               f"{n_chains} Gibbs chains in the top RBM, one per row, each frame shown by one down pass;\n"
               f"rows 1-{from_data} start from test images, the rest from random images; column 1 the start,\n"
               f"then every {CHAIN_STEPS} Gibbs steps (probabilities, black 0, white 1)", per_tile=False)
