"""``weightinit coordcheck``: the coordinate check (Yang et al. 2022, Appendix D) of the MLP, ViT or
GPT under SP, muP or both: per module, the slope of its mean |x| against the width at each of
a few training steps, with a verdict, and coordcheck.png."""

from __future__ import annotations

import argparse

from ..data.datasets import load_dataset
from ..experiments._config import ConfigError, literal, param
from ..experiments._widths import WIDTH_MODELS
from ..experiments.coordcheck import DATA_OF, DEFAULT_LR, OPTIMIZERS, CoordCheckConfig, coordcheck
from ..runs.files import run_folder
from .common import add_output_options, check_device, describe, say, split_list
from .execute import report
from .run_folder import check_out_before_work

__all__ = ["add_parser", "run"]


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "coordcheck", help="muP's coordinate check: which activations change size as the model widens",
        description="Train the model at each width a few steps on one fixed batch and record the mean |x| of "
        "every module's output at each step (step 0: at init); print, per module, the slope of log mean|x| "
        "against log width at each step, with a verdict (stable: |slope| <= 0.1), and draw coordcheck.png (a "
        "panel per module family, a line per step). Under muP every module but the readout should be stable "
        "and the readout should not grow; under SP with Adam the output grows with the width.")
    parser.add_argument("--model", default="mlp", choices=WIDTH_MODELS,
                        help="mlp (784-w-w-10 on MNIST), vit (dim w, heads of 16, on MNIST) or gpt (width w, "
                             "4 heads, 2 layers, on Shakespeare) (default %(default)s)")
    parser.add_argument("--param", default="mup", choices=("sp", "mup", "both"),
                        help="the parametrization; both: SP and muP in one run, side by side (default %(default)s)")
    parser.add_argument("--widths", default=None,
                        help="comma-separated widths (default 64,128,256,512,1024,2048; --quick: 64..512, "
                             "the ViT and GPT 64..256); the base width is 64")
    parser.add_argument("--steps", type=int, default=None, help="optimizer steps (default 5; --quick: 3)")
    parser.add_argument("--optimizer", default="adam", choices=OPTIMIZERS, help="(default %(default)s)")
    parser.add_argument("--lr", type=float, default=None,
                        help="the base learning rate, at width 64 (default: "
                             + ", ".join(f"{k} {v:g}" for k, v in DEFAULT_LR.items() if k != "adamw") + ")")
    parser.add_argument("--seeds", type=int, default=None, help="models per width, averaged (default 3)")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="the fixed batch: images (default 64) or windows of 64 characters (gpt: 16)")
    parser.add_argument("--seed", type=int, default=0, help="the first model's seed and the batch's draw")
    parser.add_argument("--quick", action="store_true", help="seconds, not minutes: fewer widths and steps")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda, or auto")
    parser.add_argument("--data-dir", default=None, help="folder searched first for the data ($WEIGHTINIT_DATA)")
    add_output_options(parser, "coordcheck")
    parser.set_defaults(run=run)


def _widths(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(w) for w in split_list(text))
    except ValueError:
        raise ConfigError(f"{param('widths')} must be comma-separated integers such as 64,128,256, got "
                          f"{literal(repr(text))}") from None


def run(args: argparse.Namespace) -> int:
    fields = {"model": args.model, "parametrization": args.param, "optimizer": args.optimizer, "lr": args.lr,
              "seed": args.seed, "device": args.device, "batch_size": args.batch_size}
    for name in ("steps", "seeds"):
        if getattr(args, name) is not None:
            fields[name] = getattr(args, name)
    if args.widths is not None:
        fields["widths"] = _widths(args.widths)
    config = CoordCheckConfig.quick(**fields) if args.quick else CoordCheckConfig(**fields)
    check_device(config.device)
    check_out_before_work(args)
    dataset = load_dataset(DATA_OF[config.model], args.data_dir)
    describe(dataset)
    progress = None if args.no_progress else (
        lambda p, width, seed: say(f"{p} width {width}: done") if seed == config.seed + config.seeds - 1 else None)
    result = coordcheck(config, dataset, progress)
    with run_folder(args.out, "coordcheck", option="--out") as folder:  # no settings.json: nothing to resume
        written = result.write(folder)
    report(result, folder, written, args.json)
    return 0
