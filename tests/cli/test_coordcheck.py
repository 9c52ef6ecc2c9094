"""``weightinit coordcheck``: the quick MLP check under SP and muP from the command line (a line per
module with its slopes and verdict, the summary, the files), and its refusals (one line, exit 2,
before any work). CPU."""

from __future__ import annotations

import pytest

from weightinit.cli import main


def test_quick_mlp_check_prints_a_line_per_module_and_the_summary(tmp_path, capsys):
    assert main(["coordcheck", "--model", "mlp", "--param", "both", "--quick", "--out", str(tmp_path / "cc")]) == 0
    out, err = capsys.readouterr()
    assert "== sp: mlp at widths 64,128,256,512" in out and "== mup: mlp" in out
    mup = out.split("== mup")[1].splitlines()
    assert [line.split()[0] for line in mup[2:7]] == ["0", "1", "2", "3", "4"]
    assert "- mup: PASS" in out and "- sp: as expected" in out
    assert sorted(p.name for p in (tmp_path / "cc").iterdir()) == ["coordcheck.md", "coordcheck.png", "results.json"]
    assert "wrote" in err and "mup width 512: done" in err


@pytest.mark.parametrize("argv, message", [
    (["--widths", "64,abc"], "--widths must be comma-separated integers such as 64,128,256, got '64,abc'"),
    (["--widths", "64"], "--widths must be at least two different widths"),
    (["--model", "vit", "--widths", "64,100"], "--widths must be multiples of 16 for --model vit"),
    (["--steps", "0"], "--steps must be >= 1, got 0"),
    (["--lr", "-1"], "--lr must be > 0, got -1.0"),
    (["--param", "np"], "argument --param: invalid choice: 'np'"),
    (["--optimizer", "rmsprop"], "argument --optimizer: invalid choice: 'rmsprop'"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, argv, message):
    assert main(["coordcheck", *argv, "--out", str(tmp_path / "never")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and message in err
    assert not (tmp_path / "never").exists()
