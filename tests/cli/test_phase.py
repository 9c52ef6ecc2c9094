"""``weightinit phase``: prints the critical line and the critical sigma_w, writes phase.png and
results.json; a bad option is one line, exit 2."""

import json

import pytest

from weightinit.cli.main import main


def test_phase_writes_the_diagram(tmp_path, capsys):
    assert main(["phase", "--activation", "tanh", "--resolution", "6", "--out", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    assert "| 0.05 | 1.7610 | 1.3270 |" in out and "critical sigma_w = 1.3270" in out
    saved = json.loads((tmp_path / "run" / "results.json").read_text())
    assert saved["critical_sigma_w2"] == pytest.approx(1.761, abs=1e-3)
    assert (tmp_path / "run" / "phase.png").stat().st_size > 10_000


@pytest.mark.parametrize("argv,message", [(["--activation", "cosine"], "activation='cosine' is not supported"),
                                          (["--resolution", "1"], "--resolution must be >= 2"),
                                          (["--sigma-b2", "-1"], "--sigma-b2 must be >= 0")])
def test_phase_refusals(argv, message, capsys):
    assert main(["phase", *argv]) == 2
    assert message in capsys.readouterr().err
