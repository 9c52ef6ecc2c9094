"""pennington2017 on a toy problem: the result's contract (table, findings, files), the spectra
from the theory beside the measured ones, steps_to, a resumed run read back from its checkpoint,
and the refusals."""

import json
import math

import pytest
import torch

from weightinit.data.datasets import Dataset, Split
from weightinit.experiments._config import ConfigError
from weightinit.experiments.reproduce.pennington2017 import Pennington2017Config, pennington2017, steps_to


def _data() -> Dataset:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(512, 20, generator=g)
    y = (x[:, 0] > 0.5).long() + 2 * (x[:, 1] > 0.5).long()
    return Dataset(name="toy", train=Split(x[:384], y[:384]), test=Split(x[384:], y[384:]), image_shape=(20,),
                   n_classes=4, source="test")


CONFIG = Pennington2017Config(depth=30, width=24, seeds=2, train_rows=256, batch_size=64, epochs=3, target=1.2,
                              lr=1e-2, device="cpu")


def test_steps_to():
    assert steps_to([2.0, 1.5, 0.9, 0.4], 1.0, 25) == 75
    assert steps_to([2.0, math.nan, 1.1], 1.0, 25) is None


def test_runs_table_findings_and_files(tmp_path):
    result = pennington2017(_data(), CONFIG, checkpoint_dir=tmp_path / "checkpoints")
    assert result.steps_per_record == 4 and result.sigma_w2 == pytest.approx(1.0395, abs=1e-3)
    assert set(result.losses) == {"gaussian", "orthogonal"}
    assert all(len(rows) == 2 and all(len(r) == 3 for r in rows) for rows in result.losses.values())
    # the stack has depth - 1 = 29 layers; the prediction is the theory's for it
    assert result.predicted["gaussian"]["variance"] > 28 > 1 > result.predicted["orthogonal"]["variance"]
    assert result.spreads["orthogonal"]["share_within"] > result.spreads["gaussian"]["share_within"]
    assert result.spreads["orthogonal"]["n"] == 8 * 24
    assert "steps to training loss 1.2" in result.table() and "mean over 2 seeds" in result.findings()[0]
    written = result.write(tmp_path)
    assert written == ["pennington2017.png", "results.json", "report.md"]
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["experiment"] == "pennington2017" and "series" not in saved and len(saved["findings"]) == 2
    again = pennington2017(_data(), CONFIG, checkpoint_dir=tmp_path / "checkpoints")  # read back, not retrained
    assert again.losses == result.losses


def test_refusals_name_the_option():
    with pytest.raises(ConfigError, match="depth must be >= 2"):
        Pennington2017Config(depth=1)
    with pytest.raises(ConfigError, match="sigma_b2 must be"):
        Pennington2017Config(sigma_b2=0.0)
    assert Pennington2017Config().steps == 1500
