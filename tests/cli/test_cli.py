"""The command line: main(argv) called directly, and `python -m weightinit` as a real process."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import weightinit
from weightinit.cli import main
from weightinit.cli.common import QUICK_HELP, dataset_name
from weightinit.cli.main import build_parser
from weightinit.modelinit.schemes import SCHEMES


def test_version(capsys):
    assert main(["--version"]) == 0  # main returns the exit code, argparse's exits included
    assert capsys.readouterr().out.strip() == f"weightinit {weightinit.__version__}"


def test_schemes_lists_every_scheme_with_its_formula_one_line_each(capsys):
    assert main(["schemes"]) == 0
    lines, _, footer = capsys.readouterr().out.partition("\n\n")
    lines = lines.splitlines()
    assert [line.split()[0] for line in lines] == list(SCHEMES)
    for line, scheme in zip(lines, SCHEMES.values()):
        assert line.endswith(scheme.formula)
    # what --nonlinearity auto does to each scheme with a gain, said once below the list
    assert footer.startswith("gain with --nonlinearity auto") and len(footer.strip().splitlines()) == 1
    assert "he_uniform, he_normal, orthogonal, delta_orthogonal take the gain of the activation" in footer
    assert "xavier_uniform, xavier_normal take gain 1" in footer


@pytest.mark.parametrize("argv", [["bogus"], [], ["schemes", "--nope"]])
def test_usage_errors_are_one_line_and_exit_2(capsys, argv):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith("weightinit: error:")


@pytest.mark.slow
def test_python_dash_m_runs_the_cli():
    done = subprocess.run([sys.executable, "-m", "weightinit", "schemes"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "he_normal" in done.stdout


def test_a_closed_pipe_on_stdout_is_not_an_internal_error(monkeypatch, capsys):
    # `weightinit schemes | head -1`: the reader leaves before the writer is done
    read, write = os.pipe()
    os.close(read)
    with os.fdopen(write, "w", buffering=1) as stdout:  # line-buffered: the first line meets the closed pipe
        monkeypatch.setattr(sys, "stdout", stdout)
        assert main(["schemes"]) == 141  # 128 + SIGPIPE, as a shell reports any tool whose reader left
        monkeypatch.undo()
    err = capsys.readouterr().err
    assert "internal error" not in err and "Traceback" not in err, err


# the commands that train (or, for diagnose, load data and run a network) in this worker's scope;
# rbm, dbn and reproduce hinton2006 take their options from cli/rbm.py and cli/dbn.py
QUICK_COMMANDS = [["compare"], ["diagnose"], ["reproduce", "lecture"], ["reproduce", "glorot2010"],
                  ["reproduce", "he2015"]]


@pytest.mark.parametrize("command", QUICK_COMMANDS, ids=" ".join)
def test_quick_reads_the_same_on_every_command(capsys, command):
    assert main([*command, "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert f"--quick {' '.join(QUICK_HELP.split())}; " in text  # the shared promise, then what else it shrinks
    assert "--dataset DATASET mnist (default; digits with --quick)" in text
    args = build_parser().parse_args([*command, "--quick"])  # was, for diagnose: "unrecognized arguments"
    assert args.quick and args.dataset is None and dataset_name(args) == "digits"
    assert dataset_name(build_parser().parse_args([*command, "--quick", "--dataset", "synthetic"])) == "synthetic"
    assert dataset_name(build_parser().parse_args(command)) == "mnist"
