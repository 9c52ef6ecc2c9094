"""schoenholz2017 on a tiny grid: the result's contract (table, findings, files), the 6 xi_c
column from the theory, the agreement count, and a resumed run read back from its checkpoints."""

import json
import math

import pytest
import torch

from weightinit.data.datasets import Dataset, Split
from weightinit.experiments._config import ConfigError
from weightinit.experiments.reproduce.schoenholz2017 import Schoenholz2017Config, schoenholz2017, six_xi_c


def _data() -> Dataset:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(512, 20, generator=g)
    y = (x[:, 0] > 0.5).long() + 2 * (x[:, 1] > 0.5).long()
    return Dataset(name="toy", train=Split(x[:384], y[:384]), test=Split(x[384:], y[384:]), image_shape=(20,),
                   n_classes=4, source="test")


CONFIG = Schoenholz2017Config(sigma_w2=(1.0, 1.76, 4.0), depths=(2, 40), width=8, train_rows=256, batch_size=64,
                              device="cpu")


def test_grid_table_findings_and_files(tmp_path):
    result = schoenholz2017(_data(), CONFIG, checkpoint_dir=tmp_path / "checkpoints")
    assert len(result.accuracy) == 2 and len(result.accuracy[0]) == 3
    assert result.six_xi_c == pytest.approx(six_xi_c([1.0, 1.76, 4.0], 0.05))
    assert result.six_xi_c[1] > 1000 > result.six_xi_c[0]  # near the critical point, xi_c diverges
    assert result.agreement["cells"] == 6 and 0 <= result.agreement["agree"] <= 6
    assert "6 xi_c" in result.table() and "of 6 cells" in result.findings()[0]
    written = result.write(tmp_path)
    assert written == ["trainability.png", "results.json", "report.md"]
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["experiment"] == "schoenholz2017" and saved["critical_sigma_w2"] == pytest.approx(1.761, abs=1e-3)
    again = schoenholz2017(_data(), CONFIG, checkpoint_dir=tmp_path / "checkpoints")  # read back, not retrained
    assert again.accuracy == result.accuracy


def test_refusals_name_the_option():
    with pytest.raises(ConfigError, match="sigma_w2 needs 2 or more"):
        Schoenholz2017Config(sigma_w2=(1.0,))
    with pytest.raises(ConfigError, match="sigma_w2 must be in"):
        Schoenholz2017Config(sigma_w2=(1.0, -2.0))
    assert math.isfinite(Schoenholz2017Config().steps)
