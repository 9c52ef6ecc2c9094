"""``weightinit compare``: the lecture's experiment, one network from several initializations."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..data.datasets import load_dataset
from ..errors import UserError
from ..experiments.compare import (
    GPT_INITS,
    LECTURE_INITS,
    PRETRAIN_EPOCHS,
    CompareConfig,
    CompareResult,
    check_dataset,
    compare,
    compare_epochs,
    gpt_sizes,
    gpt_train_config,
)
from ..init import calculate_gain
from ..models.builders import MODELS, NAMED_ARCHS, parse_arch
from ..reporting.tensorboard import require_tensorboard, write_run
from ..training.config import TrainConfig
from .common import (
    add_data_options,
    add_output_options,
    add_quick_option,
    add_train_options,
    check_device,
    dataset_name,
    describe,
    integer,
    split_list,
    train_config,
    typed,
)
from .execute import run_experiment
from .run_folder import check_out_before_work

__all__ = ["add_parser", "run"]


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "compare",
        help="train one network from several initializations and compare (the lecture's experiment)",
        description="Train the same network on the same data from each initialization; print a table "
        "sorted by test accuracy and write results.json, results.csv, curves.png and report.md.",
    )
    add_data_options(parser, default=None)
    parser.add_argument("--arch", default="lecture",
                        help="layer sizes such as 784-256-256-10, or lecture (in-256-256-out), deep (in-512x4-out)")
    parser.add_argument("--activation", default="relu", help="hidden activation (default %(default)s)")
    parser.add_argument("--model", default="mlp", choices=MODELS,
                        help="mlp (the lecture's; --arch, --activation), lstm (images read row by row), transformer "
                             "(a small ViT on 16 patches) or gpt (a character-level GPT on --dataset shakespeare, "
                             "its own --lr, --batch-size and --epochs defaults: docs/experiments.md) "
                             "(default %(default)s)")
    parser.add_argument("--gpt-size", default=None, metavar="L,W,H,T",
                        help="--model gpt: layers, width, heads, context (default "
                             f"{','.join(map(str, gpt_sizes()))}; --quick {','.join(map(str, gpt_sizes(True)))})")
    parser.add_argument("--inits", default=None,
                        help=f"comma-separated schemes (see `weightinit schemes`; default {','.join(LECTURE_INITS)}, "
                             f"with --model gpt {','.join(GPT_INITS)})")
    parser.add_argument("--seeds", type=int, default=1,
                        help="runs per init, reported as mean ± std, drawn as a band in curves.png (default 1)")
    parser.add_argument("--nonlinearity", default="auto",
                        help="gain rule: auto (from the activation after each layer) or a name, e.g. linear for gain 1")
    parser.add_argument("--pretrain-epochs", type=int, default=None,
                        help=f"RBM epochs per layer for --inits dbn (default {PRETRAIN_EPOCHS})")
    add_train_options(parser, per_model=True)  # --lr, --batch-size None: the model's default (the GPT has its own)
    parser.add_argument("--precision", default="float32", choices=["float32", "bf16"],
                        help="bf16: forward passes under bfloat16 autocast where the CPU/GPU has it "
                             "(default %(default)s)")
    parser.add_argument("--batched", action=argparse.BooleanOptionalAction, default=True,
                        help="train an MLP sweep as one stacked model; --no-batched: one run after another "
                             "(default %(default)s)")
    parser.add_argument("--dynamics", type=integer("dynamics", 1), default=None, metavar="N",
                        help="record per-layer training dynamics every N optimizer steps and draw dynamics.png "
                             "(runs train one after another)")
    parser.add_argument("--tensorboard", nargs="?", const="", default=None, metavar="DIR",
                        help="write TensorBoard events, one run per init and seed (default DIR: the run folder's "
                             "tensorboard/); with --dynamics, per-layer scalars and histograms too")
    parser.add_argument("--diagnose", action="store_true",
                        help="also write std_by_layer.png: per-layer activation/gradient std of each init at epoch 0")
    add_quick_option(parser, "10 epochs (2 on MNIST-sized data); --model gpt: a 2-layer GPT of width 64, 8 short "
                             "epochs")
    add_output_options(parser, "compare", resumable=True)
    parser.set_defaults(run=run)


def _train(args: argparse.Namespace, name: str) -> TrainConfig:
    """The training settings: the options given, else the lecture's, or with --model gpt the GPT's."""
    if args.model != "gpt":
        defaults = TrainConfig()
        args = argparse.Namespace(**{**vars(args), "lr": defaults.lr if args.lr is None else args.lr,
                                     "batch_size": defaults.batch_size if args.batch_size is None else args.batch_size})
        return train_config(args, epochs=compare_epochs(name, args.epochs, args.quick), precision=args.precision)
    gpt = gpt_train_config(args.quick)
    args = argparse.Namespace(**{**vars(args), "lr": gpt.lr if args.lr is None else args.lr,
                                 "batch_size": gpt.batch_size if args.batch_size is None else args.batch_size})
    return train_config(args, epochs=gpt.epochs if args.epochs is None else args.epochs, precision=args.precision,
                        epoch_rows=gpt.epoch_rows)


def _gpt_size(args: argparse.Namespace) -> tuple[int, ...]:
    if args.gpt_size is None:
        return gpt_sizes(args.quick)
    try:
        return tuple(int(part) for part in args.gpt_size.split(","))
    except ValueError:
        raise UserError(f"--gpt-size takes four integers layers,width,heads,context such as 6,256,8,256; got "
                        f"{args.gpt_size!r}") from None


def run(args: argparse.Namespace) -> int:
    name = args.dataset or ("shakespeare" if args.model == "gpt" else dataset_name(args))
    train = _train(args, name)
    inits = split_list(args.inits) if args.inits is not None else GPT_INITS if args.model == "gpt" else LECTURE_INITS
    # --pretrain-epochs as typed: an old run's settings.json may hold the former default without dbn
    config = CompareConfig(arch=args.arch, activation=args.activation, model=args.model, inits=inits,
                           seeds=args.seeds, nonlinearity=args.nonlinearity,
                           pretrain_epochs=args.pretrain_epochs if typed(args, "pretrain_epochs") else None,
                           batched=args.batched, dynamics_every=args.dynamics or 0, train=train,
                           diagnose=args.diagnose, gpt_size=_gpt_size(args))
    if config.arch not in NAMED_ARCHS:
        parse_arch(config.arch)  # a malformed spec is refused before the data is loaded
    if args.nonlinearity != "auto":
        calculate_gain(args.nonlinearity)  # an unknown name is refused before the data is loaded
    check_device(args.device)
    if args.tensorboard is not None:
        require_tensorboard()
    check_out_before_work(args)
    dataset = load_dataset(name, args.data_dir)
    check_dataset(config, dataset)  # text for the GPT, images for the others: before the run folder
    if args.model != "gpt":
        parse_arch(config.arch, dataset.n_features, dataset.n_classes)  # and a mismatch before any work
    describe(dataset)
    events = None

    def work(folder: Path) -> CompareResult:
        nonlocal events
        events = None if args.tensorboard is None else Path(args.tensorboard or folder / "tensorboard")

        def on_run(run, dynamics):  # each run trained here, as it finishes: a crash keeps the earlier ones
            write_run(events, f"{run.init}-seed{run.seed}", run.history, dynamics)

        return compare(dataset, config, progress=not args.no_progress, on_run=on_run if events is not None else None,
                       checkpoint_dir=folder / "checkpoints")

    return run_experiment(args, "compare", work,
                          events=lambda _: "" if events is None else f"; TensorBoard events in {events}/")
