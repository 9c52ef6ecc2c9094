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
from ..models import parse_arch
from ..plots import plot_curves, plot_tiles
from ..report import to_json
from ..runs import distributed
from ..runs.files import write_text_atomic, write_weights
from ..train import TrainConfig
from .common import COMPILE_HELP, add_data_options, add_output_options, describe, emit, say
from .run_folder import open_run

__all__ = ["add_parser", "run", "add_dbn_options", "run_pipeline"]

# (dataset, pre-training, fine-tuning, checkpoint folder, on_layer) -> (DBN, fine-tuned network, result)
Pipeline = Callable[[Dataset, RBMConfig, TrainConfig, Path, Callable[[int, RBMHistory | None], None]],
                    tuple[DBN, torch.nn.Module, DBNResult]]


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "dbn", help="pre-train a Deep Belief Network, fine-tune it, report test error",
        description="Greedy RBM pre-training (x-h1, h1-h2, ...), then back-propagation fine-tuning of the sigmoid "
        "network it initializes, with model choice on a validation split and one evaluation on the test set.")
    parser.add_argument("--layers", default="784-500-500-2000", help="visible and hidden sizes (default %(default)s)")
    add_dbn_options(parser, "dbn", pretrain_epochs=10, finetune_epochs=30, dropout=0.0, input_dropout=0.0)
    parser.set_defaults(run=run)


def add_dbn_options(parser: argparse.ArgumentParser, kind: str, pretrain_epochs: int, finetune_epochs: int,
                    dropout: float, input_dropout: float, lr: float = 0.1, lr_decay: float = 1.0, ema: float = 0.0,
                    refit: bool = False) -> None:
    """The options of a pre-train-then-fine-tune run, with the defaults of ``kind``."""
    add_data_options(parser)
    parser.add_argument("--pretrain-epochs", type=int, default=pretrain_epochs,
                        help="RBM epochs per layer (default %(default)s)")
    parser.add_argument("--pretrain-lr", type=float, default=0.1, help="RBM learning rate (default %(default)s)")
    parser.add_argument("--k", type=int, default=1, help="Gibbs steps (default %(default)s)")
    parser.add_argument("--pcd", action="store_true", help="persistent contrastive divergence")
    parser.add_argument("--precision", default="float32", help="RBM matmuls: float32 or bf16")
    parser.add_argument("--compile", action="store_true", help=COMPILE_HELP)
    parser.add_argument("--finetune-epochs", type=int, default=finetune_epochs, help="default %(default)s")
    parser.add_argument("--optimizer", default="sgd", help="fine-tuning optimizer, adam or sgd (default %(default)s)")
    parser.add_argument("--lr", type=float, default=lr, help="fine-tuning learning rate (default %(default)g)")
    parser.add_argument("--momentum", type=float, default=0.9, help="SGD momentum (default %(default)g)")
    parser.add_argument("--lr-decay", type=float, default=lr_decay,
                        help="fine-tuning lr of epoch e: lr * lr_decay^(e-1) (default %(default)g)")
    parser.add_argument("--batch-size", type=int, default=100)
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
    parser.add_argument("--n-valid", type=int, default=10_000, help="training images held out for model choice")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    add_output_options(parser, kind, resumable=True)


def run(args: argparse.Namespace) -> int:
    layers = check_layer_sizes(parse_arch(args.layers))

    def pipeline(dataset, pretrain, train, checkpoints, on_layer):
        return dbn_experiment(dataset, layers=layers, pretrain=pretrain, train=train, n_valid=args.n_valid,
                              checkpoint_dir=checkpoints, dropout=args.dropout, input_dropout=args.input_dropout,
                              refit=args.refit, progress=not args.no_progress, on_layer=on_layer)

    return run_pipeline(args, "dbn", layers, pipeline)


def run_pipeline(args: argparse.Namespace, kind: str, layers: list[int], pipeline: Pipeline) -> int:
    """Pre-train, fine-tune and write the run folder: dbn.pt, classifier.pt, results.json,
    report.md, curves.png (validation accuracy while fine-tuning) and filters.png."""
    pretrain = RBMConfig(epochs=args.pretrain_epochs, lr=args.pretrain_lr, k=args.k, persistent=args.pcd,
                         seed=args.seed, device=args.device, precision=args.precision, compile=args.compile)
    train = TrainConfig(optimizer=args.optimizer, lr=args.lr, momentum=args.momentum, lr_decay=args.lr_decay,
                        epochs=args.finetune_epochs, batch_size=args.batch_size, seed=args.seed, device=args.device,
                        ema=args.ema)
    dataset = load_dataset(args.dataset, args.data_dir)
    if layers[0] != dataset.n_features:
        raise UserError(f"layers start with {layers[0]} units but {dataset.name} has {dataset.n_features} features")
    split_validation(dataset, args.n_valid, option="--n-valid")  # refused before the run folder is made
    describe(dataset, f" ({args.n_valid} of them for validation)")
    with open_run(args, kind) as folder:

        def on_layer(i: int, history: RBMHistory | None) -> None:
            status = "loaded from checkpoint" if history is None else (
                f"{len(history.epochs)} epochs, recon err {history.epochs[-1].reconstruction_error:.2f}, "
                f"{sum(e.seconds for e in history.epochs):.0f} s")
            say(f"layer {i + 1} ({layers[i]}-{layers[i + 1]}): {status}")

        dbn, model, result = pipeline(dataset, pretrain, train, folder / "checkpoints", on_layer)
        if not distributed.is_main():
            return 0
        write_weights(folder / "dbn.pt", {"state_dict": dbn.state_dict(), "layer_sizes": layers})
        write_weights(folder / "classifier.pt", {"state_dict": model.state_dict(), "arch": result.arch})
        write_text_atomic(folder / "results.json", to_json(result))
        table = result.table()
        write_text_atomic(folder / "report.md", f"# {kind} on {dataset.name}\n\n{table}\n\n"
                          f"Wall time: {result.wall_time()}.\n\n![fine-tuning curves](curves.png)\n")
        plot_curves([(r.name, r.history) for r in result.runs], folder / "curves.png",
                    f"{dataset.name} {result.arch}: fine-tuning (epochs chosen on the validation split)",
                    evaluated_on="valid")
        plot_tiles(dbn.rbms[0].W[:100].cpu(), dataset.image_shape, folder / "filters.png", "first-layer RBM filters")
    emit(result, table, args.json)
    say(f"wall time: {result.wall_time()}; wrote {folder}/")
    return 0
