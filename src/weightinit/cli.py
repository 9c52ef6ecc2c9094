"""The ``weightinit`` command line: argparse subcommands that call the library.

Run ``weightinit --help``. User errors print one line on stderr and exit with code 2;
an unexpected error writes its traceback to a log file and says where. Long commands
checkpoint into their run folder; Ctrl-C stops after the current batch, prints the command
that resumes (``--resume DIR``) and exits 130.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import tempfile
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path

from . import __version__
from . import distributed
from .interrupt import Interrupted, stop_on_sigint
from .schemes import SCHEMES
from .train import TrainConfig

EXIT_USAGE = 2
EXIT_INTERNAL = 1
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr (no usage block), exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {_one_line(message)}\n")


def _one_line(text: str) -> str:
    """``text`` with line breaks and other unprintable characters escaped: one line on any terminal."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def _cmd_schemes(args: argparse.Namespace) -> int:
    width = max(map(len, SCHEMES))
    for name, scheme in SCHEMES.items():
        print(f"{name:<{width}}  {scheme.formula}")
    return 0


def _say(message: str) -> None:
    if distributed.is_main():  # under torchrun, rank 0 speaks for all
        print(message, file=sys.stderr, flush=True)


def _describe(dataset, note: str = "") -> None:
    """Say in one line (stderr) what the data is and where it came from."""
    _say(f"data: {dataset.name}, {len(dataset.train)} train{note} / {len(dataset.test)} test, from {dataset.source}")


def _emit(results: dict, text: str, as_json: bool) -> None:
    """The run's text on stdout, or with --json the results JSON there and the text on stderr."""
    from .report import to_json

    if as_json:
        sys.stdout.write(to_json(results))
        _say(text)
    else:
        print(text)


def _cmd_compare(args: argparse.Namespace) -> int:
    from .data import load_dataset
    from .experiments import CompareConfig, compare
    from .models import NAMED_ARCHS, parse_arch
    from .plots import plot_curves
    from .report import format_table, write_compare_outputs

    dataset_name = args.dataset or ("digits" if args.quick else "mnist")
    epochs = args.epochs
    if epochs is None:
        epochs = (2 if dataset_name in ("mnist", "fashion-mnist") else 10) if args.quick else TrainConfig.epochs
    train = TrainConfig(optimizer=args.optimizer, lr=args.lr, momentum=args.momentum, epochs=epochs,
                        batch_size=args.batch_size, seed=args.seed, device=args.device)
    config = CompareConfig(arch=args.arch, activation=args.activation, inits=_split_list(args.inits),
                           seeds=args.seeds, nonlinearity=args.nonlinearity, pretrain_epochs=args.pretrain_epochs,
                           train=train)
    if config.arch not in NAMED_ARCHS:
        parse_arch(config.arch)  # a malformed spec is refused before the data is loaded
    dataset = load_dataset(dataset_name, args.data_dir)
    parse_arch(config.arch, dataset.n_features, dataset.n_classes)  # and a mismatch before any work
    _describe(dataset)
    reports = {}
    if args.diagnose:  # the per-layer picture of each init at epoch 0, on one batch of training data
        from .diagnostics import diagnose

        probe = (dataset.train.x[:256], dataset.train.y[:256])

        def on_init(init, seed, model):
            if seed == config.train.seed:
                reports[init] = diagnose(model, probe)
    with _open_run(args, "compare") as folder:
        results = compare(dataset, config, progress=not args.no_progress, on_init=on_init if args.diagnose else None,
                          checkpoint_dir=folder / "checkpoints")
        if args.diagnose and distributed.launched():  # each process diagnosed the inits it ran
            for share in distributed.all_gather_objects(reports):
                reports.update(share)
        if not distributed.is_main():
            return 0
        if reports:
            from .plots import plot_std_by_layer

            results["diagnostics"] = {init: r.to_dicts() for init, r in reports.items()}
            plot_std_by_layer(reports, folder / "std_by_layer.png", f"{results['arch']} {results['activation']}: epoch 0")
        write_compare_outputs(results, folder)
        plot_curves(results, folder / "curves.png")
    _emit(results, format_table(results["summary"]), args.json)
    _say(f"wrote {folder}/: results.json, results.csv, curves.png, report.md")
    return 0


def _cmd_rbm(args: argparse.Namespace) -> int:
    from .data import load_dataset
    from .checkpoint import Checkpoint
    from .experiments import rbm_experiment
    from .plots import plot_tiles
    from ._checks import check_choice
    from .rbm import VISIBLE_TYPES, RBMConfig
    from .files import write_text_atomic, write_weights
    from .report import RBM_HEADER, rbm_epoch_row, rbm_summary, to_json

    lr = args.lr if args.lr is not None else (0.1 if args.visible == "bernoulli" else 0.01)
    config = RBMConfig(epochs=args.epochs, batch_size=args.batch_size, lr=lr, k=args.k, persistent=args.pcd,
                       momentum=args.momentum, final_momentum=args.final_momentum, weight_decay=args.weight_decay,
                       seed=args.seed, device=args.device, precision=args.precision,
                       sample_visible=not args.mean_field, compile=args.compile)
    if args.hidden < 1:
        raise ValueError(f"hidden must be >= 1, got {args.hidden}")
    check_choice("visible", args.visible, VISIBLE_TYPES)
    dataset = load_dataset(args.dataset, args.data_dir)
    _describe(dataset)
    table = sys.stderr if args.json else sys.stdout
    print(RBM_HEADER, file=table, flush=True)
    with _open_run(args, "rbm") as folder:
        rbm, results, samples = rbm_experiment(
            dataset, hidden=args.hidden, visible=args.visible, config=config, ais_chains=args.ais_chains,
            ais_steps=args.ais_steps, progress=not args.no_progress,
            on_epoch=lambda record: print(rbm_epoch_row(record), file=table, flush=True),
            checkpoint=Checkpoint(folder / "checkpoint"),
        )
        if not distributed.is_main():
            return 0
        write_weights(folder / "rbm.pt", {"state_dict": rbm.state_dict(), **results["model"]})
        write_text_atomic(folder / "results.json", to_json(results))
        shape = dataset.image_shape
        plot_tiles(rbm.W[:100].cpu(), shape, folder / "filters.png", f"RBM filters (first {min(100, args.hidden)} hidden units)")
        plot_tiles(samples, shape, folder / "samples.png", "Samples from the RBM (Gibbs chains, mean-field visible units)",
                   per_tile=args.visible == "gaussian")
    _emit(results, rbm_summary(results), args.json)
    _say(f"wrote {folder}/: rbm.pt, results.json, filters.png, samples.png")
    return 0


def _cmd_dbn(args: argparse.Namespace) -> int:
    from .dbn import check_layer_sizes
    from .models import parse_arch

    layers = check_layer_sizes(parse_arch(args.layers))
    return _run_dbn(args, layers, controls=(), references=None, kind="dbn")


def _cmd_reproduce(args: argparse.Namespace) -> int:
    if args.name in ("glorot2010", "he2015"):
        return _reproduce_init_paper(args)
    from .experiments import HINTON2006_REFERENCES

    settings = f"{args.control_optimizer} lr {args.control_lr:g}, {args.control_epochs} epochs"
    controls = ((f"random init, sigmoid, xavier_uniform ({settings})", "xavier_uniform", "sigmoid"),
                (f"random init, ReLU, he_normal ({settings})", "he_normal", "relu"))
    return _run_dbn(args, [784, 500, 500, 2000], controls, HINTON2006_REFERENCES, kind=args.name)


def _run_dbn(args: argparse.Namespace, layers: list[int], controls, references, kind: str) -> int:
    """`dbn` and `reproduce hinton2006`: pre-train, fine-tune, controls (hinton2006 only)."""
    from .data import load_dataset
    from .experiments import dbn_experiment, split_validation
    from .files import write_text_atomic, write_weights
    from .plots import plot_curves, plot_tiles
    from dataclasses import replace

    from .rbm import RBMConfig
    from .report import dbn_table, to_json

    pretrain = RBMConfig(epochs=args.pretrain_epochs, lr=args.pretrain_lr, k=args.k, persistent=args.pcd,
                         seed=args.seed, device=args.device, precision=args.precision, compile=args.compile)
    train = TrainConfig(optimizer=args.optimizer, lr=args.lr, momentum=args.momentum, lr_decay=args.lr_decay,
                        epochs=args.finetune_epochs, batch_size=args.batch_size, seed=args.seed, device=args.device,
                        ema=args.ema)
    control_train = None
    if controls:
        control_train = replace(train, optimizer=args.control_optimizer, lr=args.control_lr, lr_decay=1.0,
                                epochs=args.control_epochs, ema=0.0)
    dataset = load_dataset(args.dataset, args.data_dir)
    if layers[0] != dataset.n_features:
        raise ValueError(f"layers start with {layers[0]} units but {dataset.name} has {dataset.n_features} features")
    split_validation(dataset, args.n_valid)  # a bad --n-valid is refused before the run folder is made
    _describe(dataset, f" ({args.n_valid} of them for validation)")
    with _open_run(args, kind) as folder:

        def on_layer(i: int, history) -> None:
            status = "loaded from checkpoint" if history is None else (
                f"{len(history.epochs)} epochs, recon err {history.epochs[-1].reconstruction_error:.2f}, "
                f"{sum(e.seconds for e in history.epochs):.0f} s")
            _say(f"layer {i + 1} ({layers[i]}-{layers[i + 1]}): {status}")

        dbn, model, results = dbn_experiment(dataset, layers=layers, pretrain=pretrain, train=train,
                                             n_valid=args.n_valid, controls=controls, control_train=control_train,
                                             checkpoint_dir=str(folder / "checkpoints"), dropout=args.dropout,
                                             input_dropout=args.input_dropout, refit=args.refit,
                                             progress=not args.no_progress, on_layer=on_layer)
        if not distributed.is_main():
            return 0
        results["references"] = references or {}
        write_weights(folder / "dbn.pt", {"state_dict": dbn.state_dict(), "layer_sizes": layers})
        write_weights(folder / "classifier.pt", {"state_dict": model.state_dict(), "arch": results["arch"]})
        write_text_atomic(folder / "results.json", to_json(results))
        table = dbn_table(results, references)
        write_text_atomic(folder / "report.md", f"# {kind} on {dataset.name}\n\n{table}\n\n"
                          f"Wall time: {_phase_seconds(results)}.\n\n"
                          "![fine-tuning curves](curves.png)\n")
        curves = {"dataset": dataset.name, "arch": results["arch"], "activation": "fine-tuning (validation accuracy)",
                  "runs": [{"init": r["name"], "history": [{"epoch": h["epoch"], "train_loss": h["train_loss"],
                                                            "test_accuracy": h["valid_accuracy"]} for h in r["history"]]}
                           for r in results["runs"]]}
        plot_curves(curves, folder / "curves.png")
        plot_tiles(dbn.rbms[0].W[:100].cpu(), dataset.image_shape, folder / "filters.png", "first-layer RBM filters")
    _emit(results, table, args.json)
    _say(f"wall time: {_phase_seconds(results)}; wrote {folder}/")
    return 0


def _phase_seconds(results: dict) -> str:
    seconds = results["seconds"]
    refit = f" (refit {seconds['refit']:.0f} s)" if seconds.get("refit") else ""
    return (f"pre-training {seconds['pretrain']:.0f} s, fine-tuning {seconds['finetune']:.0f} s{refit}, "
            f"controls {seconds['controls']:.0f} s")


def _reproduce_init_paper(args: argparse.Namespace) -> int:
    """glorot2010 / he2015: the papers' experiments, or smaller ones on digits with --quick."""
    from .data import load_dataset
    from .experiments import glorot2010, he2015
    from .files import write_text_atomic
    from .plots import plot_curves, plot_std_by_layer
    from .report import to_json

    epochs = args.epochs if args.epochs is not None else (3 if args.quick else 5)
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    dataset = load_dataset("digits" if args.quick and args.dataset == "mnist" else args.dataset, args.data_dir)
    _describe(dataset)
    with _open_run(args, args.name) as folder:
        if args.name == "glorot2010":
            results, reports = glorot2010(dataset, hidden=(100 if args.quick else 1000,) * 5, epochs=epochs,
                                          seed=args.seed, device=args.device, checkpoint_dir=folder / "checkpoints")
            if distributed.is_main():
                plot_std_by_layer(reports, folder / "std_by_layer.png", f"{results['arch']}: at initialization")
            curves = [{"init": f"{r['activation']} {r['init']}", "history": r["history"]} for r in results["runs"]]
            lines = ["| activation | init | top/bottom activation std (init -> 1 epoch) | top/bottom gradient std "
                     "(init -> 1 epoch) | top layer saturated after 1 epoch | test error |", "|---|---|---|---|---|---|"]
            for r in results["runs"]:
                a, b = r["at_init"], r["after_1_epoch"]
                sat = b["saturated"][-1]
                lines.append(f"| {r['activation']} | {r['init']} | {a['top_over_bottom_post_std']:.2f} -> "
                             f"{b['top_over_bottom_post_std']:.2f} | {a['top_over_bottom_grad_std']:.2f} -> "
                             f"{b['top_over_bottom_grad_std']:.2f} | {'' if sat is None else f'{100 * sat:.0f}%'} | "
                             f"{r['test_error_percent']:.2f}% |")
        else:
            results = he2015(dataset, width=64 if args.quick else 256, epochs=epochs, seed=args.seed,
                             device=args.device, checkpoint_dir=folder / "checkpoints")
            curves = results["runs"]
            lines = ["| network | train loss per epoch | test accuracy |", "|---|---|---|"]
            for r in results["runs"]:
                losses = ", ".join(f"{h['train_loss']:.3f}" for h in r["history"])
                lines.append(f"| {r['init']} | {losses} | {100 * r['test_accuracy']:.2f}% |")
        if not distributed.is_main():
            return 0
        plot_curves({"dataset": dataset.name, "arch": args.name, "activation": "", "runs": curves},
                    folder / "curves.png")
        table = "\n".join(lines + [""] + [f"- {f}" for f in results["findings"]])
        write_text_atomic(folder / "results.json", to_json(results))
        write_text_atomic(folder / "report.md", f"# {args.name} on {dataset.name}\n\n{table}\n\n![curves](curves.png)\n")
    _emit(results, table, args.json)
    _say(f"wrote {folder}/")
    return 0


COMPILE_HELP = "fuse the RBM update with torch.compile: faster epochs after a one-off compile (needs a C++ compiler)"


def _add_dbn_options(parser: argparse.ArgumentParser, kind: str, pretrain_epochs: int, finetune_epochs: int,
                     dropout: float, input_dropout: float, lr: float = 0.1, lr_decay: float = 1.0, ema: float = 0.0,
                     refit: bool = False) -> None:
    _add_data_options(parser)
    parser.add_argument("--pretrain-epochs", type=int, default=pretrain_epochs, help="RBM epochs per layer (default %(default)s)")
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
    _add_output_options(parser, kind, resumable=True)


def _cmd_diagnose(args: argparse.Namespace) -> int:
    import torch

    from .data import load_dataset
    from .diagnostics import diagnose
    from .files import run_folder, write_text_atomic
    from .models import NAMED_ARCHS, mlp, parse_arch
    from .plots import plot_histograms, plot_std_by_layer
    from .report import to_json
    from .schemes import check_schemes, init_model

    inits = check_schemes(_split_list(args.inits))
    if args.batch < 2:
        raise ValueError(f"batch must be >= 2, got {args.batch}")
    if args.arch not in NAMED_ARCHS:
        parse_arch(args.arch)
    dataset = load_dataset(args.dataset, args.data_dir)
    sizes = parse_arch(args.arch, dataset.n_features, dataset.n_classes)
    _describe(dataset)
    rows = torch.randperm(len(dataset.train), generator=torch.Generator().manual_seed(args.seed))[: args.batch]
    batch = (dataset.train.x[rows], dataset.train.y[rows])
    reports, text = {}, []
    for init in inits:
        model = mlp(sizes, args.activation)
        init_model(model, init, generator=torch.Generator().manual_seed(args.seed), data=dataset.train.x)
        reports[init] = diagnose(model, batch)
        text.append(f"== {init} ({args.activation}, loss {reports[init].loss:.4g})\n{reports[init].table()}")
    arch = "-".join(map(str, sizes))
    results = {"experiment": "diagnose", "dataset": dataset.name, "arch": arch, "activation": args.activation,
               "batch": args.batch, "seed": args.seed,
               "inits": {init: {"loss": r.loss, "layers": r.to_dicts()} for init, r in reports.items()}}
    with run_folder(args.out, "diagnose") as folder:
        title = f"{dataset.name} {arch} {args.activation}, at initialization"
        plot_std_by_layer(reports, folder / "std_by_layer.png", title)
        plot_histograms(reports, "post", folder / "activations.png", f"Activations per layer ({title})")
        plot_histograms(reports, "grad", folder / "gradients.png", f"Back-propagated gradients per layer ({title})")
        write_text_atomic(folder / "results.json", to_json(results))
    _emit(results, "\n\n".join(text), args.json)
    _say(f"wrote {folder}/: results.json, std_by_layer.png, activations.png, gradients.png")
    return 0


def _cmd_data_fetch(args: argparse.Namespace) -> int:
    from .data import default_data_dir
    from .fetch import MNIST_MIRRORS, fetch_mnist

    destination = args.to or default_data_dir()
    paths = fetch_mnist(destination, args.mirror or MNIST_MIRRORS, timeout=args.timeout, progress=not args.no_progress)
    for path in paths:
        print(path)
    _say(f"{args.name}: {len(paths)} files verified in {destination}")
    return 0


# arguments that do not change a run's results: a resumed run may give other values
_NOT_SETTINGS = frozenset({"run", "out", "resume", "json", "no_progress", "data_dir", "device"})


@contextmanager
def _open_run(args: argparse.Namespace, kind: str) -> Iterator[Path]:
    """The run's folder: a new one (``--out`` or runs/<timestamp>-<kind>) holding
    ``settings.json``, or with ``--resume DIR`` that folder (its settings were checked by
    :func:`_check_resume`).
    Under torchrun rank 0 makes it and the others receive its path. An interruption is
    tagged with the folder, for the resume command."""
    from .checkpoint import check_same_settings
    from .files import run_folder

    resume = getattr(args, "resume", None)
    announced = False
    try:
        if distributed.is_main():
            opened = run_folder(resume if resume is not None else args.out, kind, resume=resume is not None)
        else:
            opened = nullcontext(distributed.broadcast_object(None))
        with opened as folder:
            if isinstance(folder, str):  # rank 0 could not open the folder: its error, on every rank
                raise ValueError(folder)
            if distributed.is_main():
                if resume is None:  # a resumed folder's settings were checked by main(), before any work
                    check_same_settings(folder / "settings.json", _settings(args), resume=False)
                distributed.broadcast_object(folder)
            announced = True
            try:
                yield folder
            except (Interrupted, KeyboardInterrupt) as stop:
                stop.folder = folder
                raise
            except BaseException:
                if resume is None and distributed.is_main() and [p.name for p in folder.iterdir()] == ["settings.json"]:
                    (folder / "settings.json").unlink()  # nothing else written: leave no folder behind
                raise
    except ValueError as error:
        if not announced and distributed.is_main():
            distributed.broadcast_object(str(error))
        raise


def _settings(args: argparse.Namespace) -> dict:
    return {key: value for key, value in sorted(vars(args).items()) if key not in _NOT_SETTINGS}


def _check_resume(args: argparse.Namespace) -> None:
    """Refuse a --resume folder that is missing or holds a run with other settings, before any work."""
    from .checkpoint import check_same_settings

    resume = getattr(args, "resume", None)
    if resume is None:
        return
    if args.out is not None and Path(args.out).expanduser() != Path(resume).expanduser():
        raise ValueError(f"--out {args.out!r} and --resume {resume!r} name different folders; give only --resume")
    if not Path(resume).expanduser().is_dir():
        raise ValueError(f"--resume needs the folder of an earlier run, got {resume!r} (not a folder)")
    check_same_settings(Path(resume).expanduser() / "settings.json", _settings(args), resume=True)


def _resume_command(argv: Sequence[str], folder: Path) -> str:
    """``argv`` without its --out/--resume, plus ``--resume folder``: the command that continues."""
    kept, skip = [], False
    for token in argv:
        if skip:
            skip = False
        elif token in ("--out", "--resume"):
            skip = True
        elif not token.startswith(("--out=", "--resume=")):
            kept.append(token)
    return shlex.join(["weightinit", *kept, "--resume", str(folder)])


def _split_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def _add_data_options(parser: argparse.ArgumentParser, default: str | None = "mnist") -> None:
    parser.add_argument("--dataset", default=default,
                        help="mnist (default), fashion-mnist, digits or synthetic")
    parser.add_argument("--data-dir", default=None, help="folder searched first for the data ($WEIGHTINIT_DATA)")


def _add_output_options(parser: argparse.ArgumentParser, kind: str, *, resumable: bool = False) -> None:
    parser.add_argument("--out", default=None, help=f"output folder (default runs/<timestamp>-{kind})")
    if resumable:
        parser.add_argument("--resume", default=None, metavar="DIR",
                            help="continue the interrupted run in DIR from its last checkpoint (same settings)")
    parser.add_argument("--json", action="store_true", help="print results.json on stdout (the rest goes to stderr)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def _add_train_options(parser: argparse.ArgumentParser) -> None:
    defaults = TrainConfig()
    parser.add_argument("--epochs", type=int, default=None, help=f"training epochs (default {defaults.epochs}; --quick: fewer)")
    parser.add_argument("--optimizer", default=defaults.optimizer, help="adam or sgd (default %(default)s)")
    parser.add_argument("--lr", type=float, default=defaults.lr, help="learning rate (default %(default)g)")
    parser.add_argument("--momentum", type=float, default=defaults.momentum, help="SGD momentum (default %(default)g)")
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size, help="default %(default)s")
    parser.add_argument("--seed", type=int, default=defaults.seed, help="base seed (default %(default)s)")
    parser.add_argument("--device", default=defaults.device, help="auto, cpu or cuda (default %(default)s)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="weightinit", description="Initialize neural networks well, and see why it matters.")
    parser.add_argument("--version", action="version", version=f"weightinit {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True
    schemes = commands.add_parser("schemes", help="list every initialization scheme with its formula")
    schemes.set_defaults(run=_cmd_schemes)

    from .experiments import LECTURE_INITS

    comp = commands.add_parser(
        "compare",
        help="train one network from several initializations and compare (the lecture's experiment)",
        description="Train the same network on the same data from each initialization; print a table "
        "sorted by test accuracy and write results.json, results.csv, curves.png and report.md.",
    )
    _add_data_options(comp, default=None)
    comp.add_argument("--arch", default="lecture",
                      help="layer sizes such as 784-256-256-10, or lecture (in-256-256-out), deep (in-512x4-out)")
    comp.add_argument("--activation", default="relu", help="hidden activation (default %(default)s)")
    comp.add_argument("--inits", default=",".join(LECTURE_INITS), help="comma-separated schemes (see `weightinit schemes`)")
    comp.add_argument("--seeds", type=int, default=1, help="runs per init, reported as mean ± std (default 1)")
    comp.add_argument("--nonlinearity", default="auto",
                      help="gain rule: auto (from the activation after each layer) or a name, e.g. linear for gain 1")
    comp.add_argument("--pretrain-epochs", type=int, default=5, help="RBM epochs per layer for --inits dbn (default 5)")
    _add_train_options(comp)
    comp.add_argument("--diagnose", action="store_true",
                      help="also write std_by_layer.png: per-layer activation/gradient std of each init at epoch 0")
    comp.add_argument("--quick", action="store_true", help="seconds, not minutes: digits for 10 epochs (or 2 epochs of --dataset)")
    _add_output_options(comp, "compare", resumable=True)
    comp.set_defaults(run=_cmd_compare)

    rbm = commands.add_parser("rbm", help="train a restricted Boltzmann machine and measure it (AIS log-likelihood)",
                              description="Train an RBM by CD-k or PCD-k; print a per-epoch table, then the test "
                              "reconstruction error, pseudo-likelihood and AIS log-likelihood; write rbm.pt, "
                              "results.json, filters.png and samples.png.")
    _add_data_options(rbm)
    rbm.add_argument("--hidden", type=int, default=500, help="hidden units (default %(default)s)")
    rbm.add_argument("--visible", default="bernoulli", help="bernoulli (data in [0, 1]) or gaussian (standardized)")
    rbm.add_argument("--epochs", type=int, default=10, help="default %(default)s")
    rbm.add_argument("--k", type=int, default=1, help="Gibbs steps per update (default %(default)s)")
    rbm.add_argument("--pcd", action="store_true", help="persistent contrastive divergence")
    rbm.add_argument("--lr", type=float, default=None, help="learning rate (default 0.1; 0.01 for gaussian)")
    rbm.add_argument("--batch-size", type=int, default=100, help="default %(default)s")
    rbm.add_argument("--momentum", type=float, default=0.5, help="for the first 5 epochs (default %(default)s)")
    rbm.add_argument("--final-momentum", type=float, default=0.9, help="afterwards (default %(default)s)")
    rbm.add_argument("--weight-decay", type=float, default=0.0, help="L2 on the weights (default %(default)s)")
    rbm.add_argument("--seed", type=int, default=0)
    rbm.add_argument("--device", default="auto", help="auto, cpu or cuda")
    rbm.add_argument("--precision", default="float32", help="float32 or bf16 (bfloat16 matmul inputs)")
    rbm.add_argument("--compile", action="store_true", help=COMPILE_HELP)
    rbm.add_argument("--mean-field", action="store_true",
                     help="reconstructions use the visible probabilities, not samples (Hinton's guide, sec. 3.2)")
    rbm.add_argument("--ais-chains", type=int, default=100, help="AIS runs (default %(default)s)")
    rbm.add_argument("--ais-steps", type=int, default=14_500, help="AIS temperatures (default %(default)s)")
    _add_output_options(rbm, "rbm", resumable=True)
    rbm.set_defaults(run=_cmd_rbm)

    dbn = commands.add_parser("dbn", help="pre-train a Deep Belief Network, fine-tune it, report test error",
                              description="Greedy RBM pre-training (x-h1, h1-h2, ...), then back-propagation "
                              "fine-tuning of the sigmoid network it initializes, with model choice on a "
                              "validation split and one evaluation on the test set.")
    dbn.add_argument("--layers", default="784-500-500-2000", help="visible and hidden sizes (default %(default)s)")
    _add_dbn_options(dbn, "dbn", pretrain_epochs=10, finetune_epochs=30, dropout=0.0, input_dropout=0.0)
    dbn.set_defaults(run=_cmd_dbn)

    reproduce = commands.add_parser("reproduce", help="reproduce a paper's experiment: hinton2006, glorot2010, he2015")
    reproduce.add_argument("name", choices=["hinton2006", "glorot2010", "he2015"],
                           help="hinton2006: DBN 784-500-500-2000 vs random inits; glorot2010: 5x1000 tanh/sigmoid/"
                           "softsign, standard vs normalized init; he2015: 22/30-layer ReLU nets, Xavier vs He")
    reproduce.add_argument("--quick", action="store_true", help="glorot2010/he2015: a smaller version on digits")
    reproduce.add_argument("--epochs", type=int, default=None, help="glorot2010/he2015 epochs (default 5; --quick 3)")
    # the settings of the run measured in the README
    # fine-tuning settings chosen on the validation split (README: "Choosing the fine-tuning settings")
    _add_dbn_options(reproduce, "hinton2006", pretrain_epochs=20, finetune_epochs=60, dropout=0.3, input_dropout=0.1,
                     lr=0.3, lr_decay=0.97, ema=0.999, refit=True)
    reproduce.add_argument("--control-optimizer", default="adam",
                           help="hinton2006 controls' optimizer (default %(default)s; the DBN's suits neither)")
    reproduce.add_argument("--control-lr", type=float, default=1e-3, help="their learning rate (default %(default)g)")
    reproduce.add_argument("--control-epochs", type=int, default=30, help="their epochs (default %(default)s)")
    reproduce.set_defaults(run=_cmd_reproduce)

    diag = commands.add_parser("diagnose", help="per-layer activation and gradient statistics at initialization",
                               description="One forward/backward pass of a training batch through the network from "
                               "each init: a table per init, std_by_layer.png, activations.png, gradients.png.")
    _add_data_options(diag)
    diag.add_argument("--arch", default="784-256-256-256-256-10", help="layer sizes or lecture/deep (default %(default)s)")
    diag.add_argument("--activation", default="tanh", help="hidden activation (default %(default)s)")
    diag.add_argument("--inits", default="normal,default,xavier_uniform,he_normal",
                      help="comma-separated schemes (default %(default)s)")
    diag.add_argument("--batch", type=int, default=256, help="samples in the batch (default %(default)s)")
    diag.add_argument("--seed", type=int, default=0)
    _add_output_options(diag, "diagnose")
    diag.set_defaults(run=_cmd_diagnose)

    data = commands.add_parser("data", help="datasets: fetch")
    data_commands = data.add_subparsers(dest="data_command", metavar="ACTION", parser_class=_Parser)
    data_commands.required = True
    fetch = data_commands.add_parser("fetch", help="download a dataset's files, verified by sha256")
    fetch.add_argument("name", choices=["mnist"], help="the dataset")
    fetch.add_argument("--to", default=None, help="destination folder (default $WEIGHTINIT_DATA or ~/.cache/weightinit)")
    fetch.add_argument("--mirror", action="append", default=None,
                       help="base URL to try, in order (repeatable; default: the public mirrors)")
    fetch.add_argument("--timeout", type=float, default=60.0, help="seconds per connection (default %(default)s)")
    fetch.add_argument("--no-progress", action="store_true", help="no progress bar")
    fetch.set_defaults(run=_cmd_data_fetch)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default: ``sys.argv[1:]``) and return the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    clean = False  # under torchrun: whether the ranks leave together (a barrier) or at once
    try:
        _check_resume(args)
        if distributed.setup() and not distributed.is_main():
            args.no_progress = True  # rank 0 prints and writes; the others only compute
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - for the life of this process
        with stop_on_sigint():
            code = args.run(args)
        clean = True
        return code
    except (ValueError, TypeError) as error:
        print(f"weightinit: error: {_one_line(str(error))}", file=sys.stderr)
        return EXIT_USAGE
    except (Interrupted, KeyboardInterrupt) as stop:
        folder = getattr(stop, "folder", None)
        saved = "; checkpoint written" if isinstance(stop, Interrupted) else ""
        resume = f"; resume with: {_resume_command(argv, folder)}" if folder is not None else ""
        if distributed.is_main():
            print(f"weightinit: interrupted{saved}{resume}", file=sys.stderr)
        clean = isinstance(stop, Interrupted)  # every rank stopped at the same batch
        return EXIT_INTERRUPTED
    except Exception as error:  # noqa: BLE001 - the last resort: keep the traceback, say where it is
        with tempfile.NamedTemporaryFile("w", prefix="weightinit-crash-", suffix=".log", delete=False) as log:
            traceback.print_exc(file=log)
        # under torchrun a peer that died shows up as a failed collective: say which rank and why
        where = f" on rank {os.environ.get('RANK')} ({_one_line(str(error))[:200]})" if distributed.launched() else ""
        print(f"weightinit: internal error{where}; traceback written to {log.name}", file=sys.stderr)
        return EXIT_INTERNAL
    finally:
        distributed.teardown(clean)
