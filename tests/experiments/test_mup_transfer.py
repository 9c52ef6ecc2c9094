"""reproduce mup on tiny grids: the result's contract, what it finds, its files, and the command's
refusals. CPU. (The real sweeps are the command's: `weightinit reproduce mup`.)"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from weightinit.errors import UserError
from weightinit.experiments.reproduce.mup import MupConfig, MupGrid, MupPart, MupResult, mup_transfer

TINY = MupGrid((32, 64), (-10, -8, -6), steps=6, batch_size=16, eval_rows=64)


@pytest.fixture(scope="module")
def result() -> MupResult:
    lines: list[str] = []
    found = mup_transfer(MupConfig(models=("mlp", "gpt"), mlp=TINY, gpt=TINY), progress=lines.append)
    assert len(lines) == 2 * 2 * 2  # a line per model, parametrization and width
    return found


def test_mup_at_the_base_width_is_sp(result):
    for part in result.parts:  # width 64 is the base: the same init, the same multipliers, the same losses
        assert part.losses["sp"]["64"] == part.losses["mup"]["64"]
        assert part.losses["sp"]["32"] != part.losses["mup"]["32"]


def test_the_result_contract(result, tmp_path):
    written = result.write(tmp_path)
    assert written == ["transfer.png", "results.json", "report.md"]
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["experiment"] == "mup" and [p["model"] for p in saved["parts"]] == ["mlp", "gpt"]
    assert saved["findings"] == result.findings() and len(result.findings()) == 6
    assert "| mlp | 32 |" in result.table() and (tmp_path / "transfer.png").stat().st_size > 10_000


def test_findings_count_grid_steps():
    part = MupPart("mlp", "mnist", [128, 2048], [-9, -8, -7, -6], 10, 8,
                   {"sp": {"128": [0.5, 0.4, 0.3, 0.35], "2048": [0.2, 0.3, 0.4, None]},
                    "mup": {"128": [0.5, 0.3, 0.4, 0.6], "2048": [0.4, 0.1, 0.2, 0.3]}},
                   {"sp": {"128": -7, "2048": -9}, "mup": {"128": -8, "2048": -8}}, {"sp": 1.0, "mup": 1.0})
    assert part.shift("sp") == -2 and part.shift("mup") == 0 and part.spread("mup") == 0
    findings = MupResult([part], 64, 0).findings()
    assert "(2^-8, 2^-8) lie within 0 grid step(s)" in findings[0] and "transfers" in findings[0]
    assert "moves 2 step(s) down, to smaller rates, over 4 doublings (2^-7, 2^-9" in findings[1]
    assert "at least two" in findings[1]
    assert "wider is better" in findings[2] and "at width 2048 SP tuned at that width reaches 0.200" in findings[2]


def test_transfer_is_judged_over_every_width_not_the_ends():
    best = {"sp": {"64": -6, "128": -7, "256": -8}, "mup": {"64": -8, "128": -5, "256": -8}}
    losses = {name: {w: [0.5, 0.4, 0.3] for w in ("64", "128", "256")} for name in ("sp", "mup")}
    part = MupPart("mlp", "mnist", [64, 128, 256], [-8, -7, -6], 10, 8, losses, best, {"sp": 1.0, "mup": 1.0})
    assert part.shift("mup") == 0 and part.spread("mup") == 3
    assert "does NOT transfer" in MupResult([part], 64, 0).findings()[0]


def test_bad_config():
    with pytest.raises(UserError, match="model"):
        MupConfig(models=("mlp", "cnn"))
    with pytest.raises(UserError, match="2 widths"):
        MupGrid((64,), (-8, -7, -6), 1, 1, 1)


def test_the_command_refuses_an_unknown_model_in_one_line(tmp_path):
    done = subprocess.run([sys.executable, "-m", "weightinit", "reproduce", "mup", "--models", "mlp,cnn",
                           "--out", str(tmp_path / "run")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stderr.strip().count("\n") == 0 and "cnn" in done.stderr
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
@pytest.mark.parametrize(("option", "value", "named"), [("--steps", "0", "steps"), ("--widths", "12x", "--widths"),
                                                     ("--widths", "64", "2 widths"), ("--log2-lrs", "-5", "--log2-lrs"),
                                                     ("--log2-lrs", "-5:-9", "3 learning rates")])
def test_the_command_refuses_a_bad_grid_in_one_line(tmp_path, option, value, named):
    done = subprocess.run([sys.executable, "-m", "weightinit", "reproduce", "mup", f"{option}={value}",
                           "--out", str(tmp_path / "run")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stderr.strip().count("\n") == 0 and named in done.stderr
    assert not (tmp_path / "run").exists()
