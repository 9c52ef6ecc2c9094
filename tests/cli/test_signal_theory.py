"""``weightinit diagnose --jacobian`` / ``--signal-propagation`` and ``weightinit reproduce
pennington2017``, small: what they print and write; a bad option is one line, exit 2."""

import json

import pytest

from weightinit.cli.main import main


def test_diagnose_jacobian(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["diagnose", "--jacobian", "--quick", "--depths", "2,6", "--width", "32", "--jacobian-inputs", "4",
                 "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "| critical_orthogonal | 6 |" in text and "within a factor of 2 of 1" in text
    saved = json.loads((out / "results.json").read_text())
    assert saved["study"] == "jacobian" and set(saved["spreads"]) == {"critical", "critical_orthogonal",
                                                                      "xavier_normal"}
    assert saved["spreads"]["critical"]["6"]["n"] == 4 * 32
    assert set(saved["predicted"]) == {"critical", "critical_orthogonal"}  # the theory covers these two
    assert saved["predicted"]["critical"]["6"]["mean"] == pytest.approx(1.0, abs=1e-4)
    assert (out / "jacobian.png").stat().st_size > 10_000


def test_diagnose_signal_propagation(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["diagnose", "--signal-propagation", "--quick", "--blocks", "4", "--batch", "16",
                 "--inits", "default,gpt2", "--out", str(out)]) == 0
    assert "the stream's variance goes from" in capsys.readouterr().out
    saved = json.loads((out / "results.json").read_text())
    assert saved["study"] == "signal" and len(saved["inits"]["gpt2"]) == 5  # the input, then 4 blocks
    assert (out / "signal_propagation.png").stat().st_size > 10_000


@pytest.mark.parametrize("argv,message", [
    (["--jacobian", "--model", "lstm"], "the jacobian study needs --model mlp, got lstm"),
    (["--jacobian", "--arch", "64-8-10"], "--arch 64-8-10 does not apply"),
    (["--jacobian", "--depths", "2,x"], "--depths takes comma-separated integers"),
    (["--signal-propagation", "--model", "mlp"], "the signal study needs --model transformer"),
])
def test_diagnose_study_refusals(argv, message, capsys):
    assert main(["diagnose", "--quick", *argv]) == 2
    assert message in capsys.readouterr().err


def test_reproduce_pennington2017_small(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["reproduce", "pennington2017", "--dataset", "digits", "--depth", "12", "--width", "16", "--epochs",
                 "2", "--seeds", "1", "--device", "cpu", "--out", str(out)]) == 0
    assert "| orthogonal |" in capsys.readouterr().out
    saved = json.loads((out / "results.json").read_text())
    assert saved["depth"] == 12 and saved["steps_per_record"] == 12  # 1,437 digits in batches of 128
    assert (out / "pennington2017.png").exists() and (out / "report.md").exists()
