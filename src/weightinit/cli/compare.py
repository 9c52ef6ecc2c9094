"""``weightinit compare``: the lecture's experiment, one network from several initializations."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..data.datasets import load_dataset
from ..diagnostics.layer_stats import diagnose, layer_labels
from ..errors import UserError
from ..experiments.compare import LECTURE_INITS, CompareConfig, compare
from ..init import calculate_gain
from ..models.builders import MODELS, NAMED_ARCHS, build_model, parse_arch
from ..reporting.plots import plot_curves, plot_dynamics, plot_std_by_layer
from ..reporting.tables import chance_note, format_table, timing_note, write_compare_outputs
from ..reporting.tensorboard import require_tensorboard, write_run
from ..runs import distributed
from ..training.loop import TrainConfig
from .common import (
    add_data_options,
    add_output_options,
    add_quick_option,
    add_train_options,
    check_device,
    dataset_name,
    describe,
    emit,
    integer,
    say,
    split_list,
    train_config,
    typed,
)
from .run_folder import check_out_before_work, open_run

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
                        help="mlp (the lecture's; --arch, --activation), lstm (images read row by row) or transformer "
                             "(a small ViT on 16 patches) (default %(default)s)")
    parser.add_argument("--inits", default=",".join(LECTURE_INITS),
                        help="comma-separated schemes (see `weightinit schemes`)")
    parser.add_argument("--seeds", type=integer("seeds", 1), default=1,
                        help="runs per init, reported as mean ± std, drawn as a band in curves.png (default 1)")
    parser.add_argument("--nonlinearity", default="auto",
                        help="gain rule: auto (from the activation after each layer) or a name, e.g. linear for gain 1")
    parser.add_argument("--pretrain-epochs", type=integer("pretrain_epochs", 1), default=None,
                        help=f"RBM epochs per layer for --inits dbn (default {CompareConfig.pretrain_epochs})")
    add_train_options(parser)
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
    add_quick_option(parser, "10 epochs (2 on MNIST-sized data)")
    add_output_options(parser, "compare", resumable=True)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    name = dataset_name(args)
    epochs = args.epochs
    if epochs is None:
        epochs = (2 if name in ("mnist", "fashion-mnist") else 10) if args.quick else TrainConfig.epochs
    train = train_config(args, epochs=epochs, precision=args.precision)
    inits = split_list(args.inits)
    if typed(args, "pretrain_epochs") and "dbn" not in inits:  # (an old run's settings may hold the default)
        raise UserError(f"--pretrain-epochs {args.pretrain_epochs} applies to --inits dbn only, which this run "
                        f"does not have (--inits {args.inits}); drop it")
    pretrain_epochs = CompareConfig.pretrain_epochs if args.pretrain_epochs is None else args.pretrain_epochs
    config = CompareConfig(arch=args.arch, activation=args.activation, model=args.model, inits=inits,
                           seeds=args.seeds, nonlinearity=args.nonlinearity, pretrain_epochs=pretrain_epochs,
                           batched=args.batched, dynamics_every=args.dynamics or 0, train=train)
    if config.arch not in NAMED_ARCHS:
        parse_arch(config.arch)  # a malformed spec is refused before the data is loaded
    if args.nonlinearity != "auto":
        calculate_gain(args.nonlinearity)  # an unknown name is refused before the data is loaded
    check_device(args.device)
    if args.tensorboard is not None:
        require_tensorboard()
    check_out_before_work(args)
    dataset = load_dataset(name, args.data_dir)
    parse_arch(config.arch, dataset.n_features, dataset.n_classes)  # and a mismatch before any work
    describe(dataset)
    reports = {}
    probe = (dataset.train.x[:256], dataset.train.y[:256])  # the per-layer picture at epoch 0, on training data

    def on_init(init, seed, model):
        if seed == config.train.seed:
            reports[init] = diagnose(model, probe)

    with open_run(args, "compare") as folder:
        events = None if args.tensorboard is None else Path(args.tensorboard or folder / "tensorboard")

        def on_run(run, dynamics):  # each run trained here, as it finishes: a crash keeps the earlier ones
            write_run(events, f"{run.init}-seed{run.seed}", run.history, dynamics)

        results = compare(dataset, config, progress=not args.no_progress, on_init=on_init if args.diagnose else None,
                          on_run=on_run if events is not None else None, checkpoint_dir=folder / "checkpoints")
        if args.diagnose and distributed.launched():  # each process diagnosed the inits it ran
            for share in distributed.all_gather_objects(reports):
                reports.update(share)
        if not distributed.is_main():
            return 0
        if reports:
            results.diagnostics = {init: r.to_dict() for init, r in reports.items()}
            plot_std_by_layer(reports, folder / "std_by_layer.png", f"{results.arch}: epoch 0")
        write_compare_outputs(results, folder)
        network = f"{results.dataset} {results.arch}" + (f" {results.activation}" if args.model == "mlp" else "")
        plot_curves([(r.init, r.history) for r in results.runs], folder / "curves.png",
                    f"{network}: {len(config.inits)} initialization{'s' if len(config.inits) > 1 else ''} compared",
                    diverged=[r.diverged for r in results.runs])
        written = ["results.json", "results.csv", "curves.png", "report.md"]
        if config.dynamics_every:
            sizes = parse_arch(config.arch, dataset.n_features, dataset.n_classes)
            labels = layer_labels(build_model(config.model, sizes, config.activation, dataset.image_shape,
                                              dataset.n_classes))  # the names std_by_layer.png uses
            plot_dynamics([(r.init, r.dynamics or []) for r in results.runs], folder / "dynamics.png",
                          f"{network}: layers while training (recorded every {config.dynamics_every} steps)",
                          labels=labels)
            written.append("dynamics.png")
    notes = [chance_note(dataset.n_classes), timing_note(results.summary)]
    emit(results, "\n".join([format_table(results.summary), *filter(None, notes)]), args.json)
    say(f"wrote {folder}/: {', '.join(written)}" + ("" if events is None else f"; TensorBoard events in {events}/"))
    return 0
