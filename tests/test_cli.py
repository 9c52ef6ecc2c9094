"""The command line: main(argv) called directly, and `python -m weightinit` as a real process."""

from __future__ import annotations

import subprocess
import sys

import pytest

import weightinit
from weightinit.cli import main
from weightinit.schemes import SCHEMES


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"weightinit {weightinit.__version__}"


def test_schemes_lists_every_scheme_with_its_formula_one_line_each(capsys):
    assert main(["schemes"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == list(SCHEMES)
    for line, scheme in zip(lines, SCHEMES.values()):
        assert line.endswith(scheme.formula)


@pytest.mark.parametrize("argv", [["bogus"], [], ["schemes", "--nope"]])
def test_usage_errors_are_one_line_and_exit_2(capsys, argv):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith("weightinit: error:")


def test_python_dash_m_runs_the_cli():
    done = subprocess.run([sys.executable, "-m", "weightinit", "schemes"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "he_normal" in done.stdout
