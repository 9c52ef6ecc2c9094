"""``weightinit phase``: the mean-field phase diagram of a deep random network with one
activation (ordered and chaotic phases, the critical line, xi_c as colour) and its critical
sigma_w at one bias variance. Computes in seconds; trains nothing."""

from __future__ import annotations

import argparse

from ..experiments.phase import PhaseConfig, phase
from ..runs.files import run_folder
from ..theory.activations import THEORY_ACTIVATIONS
from .common import add_output_options
from .execute import report
from .run_folder import check_out_before_work

__all__ = ["add_parser", "run"]


def add_parser(commands: argparse._SubParsersAction) -> None:
    defaults = PhaseConfig()
    parser = commands.add_parser(
        "phase", help="the mean-field phase diagram of a deep network and its critical sigma_w",
        description="Mean-field theory of a deep random network (Poole et al. 2016, Schoenholz et al. 2017): for "
        "W ~ N(0, sigma_w²/fan_in) and b ~ N(0, sigma_b²), the phase diagram over (sigma_w², sigma_b²) with the "
        "ordered and chaotic phases, the critical line chi_1 = 1 and the correlation depth scale xi_c as colour "
        "(phase.png), and the critical sigma_w at --sigma-b2. Writes phase.png and results.json.")
    parser.add_argument("--activation", default=defaults.activation,
                        help=f"one of {', '.join(THEORY_ACTIVATIONS)} (default %(default)s)")
    parser.add_argument("--sigma-b2", type=float, default=defaults.sigma_b2,
                        help="the bias variance at which to print the critical sigma_w (default %(default)s)")
    parser.add_argument("--w2-max", type=float, default=defaults.w2_max,
                        help="the largest sigma_w² drawn (default %(default)s)")
    parser.add_argument("--b2-max", type=float, default=defaults.b2_max,
                        help="the largest sigma_b² drawn (default %(default)s)")
    parser.add_argument("--resolution", type=int, default=defaults.resolution,
                        help="grid points along each axis (default %(default)s)")
    add_output_options(parser, "phase")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    config = PhaseConfig(activation=args.activation, sigma_b2=args.sigma_b2, w2_max=args.w2_max, b2_max=args.b2_max,
                         resolution=args.resolution)
    check_out_before_work(args)
    result = phase(config)
    with run_folder(args.out, "phase", option="--out") as folder:  # nothing to resume: it computes in seconds
        written = result.write(folder)
    report(result, folder, written, args.json)
    return 0
