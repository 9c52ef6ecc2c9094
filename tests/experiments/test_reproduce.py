"""`reproduce he2015 | glorot2010 --seeds N`: every network trained once per seed, the verdicts
stated on the mean ± std. Device: CPU."""

from __future__ import annotations

import pytest

from weightinit.cli import main
from weightinit.data import load_dataset
from weightinit.experiments.reproduce.glorot2010 import Glorot2010Config, glorot2010
from weightinit.experiments.reproduce.he2015 import He2015Config, he2015


@pytest.fixture(scope="module")
def synthetic():
    return load_dataset("synthetic")


def test_he2015_trains_each_network_once_per_seed_and_judges_every_seed(synthetic):
    result = he2015(synthetic, He2015Config(depths=(3, 4), width=16, epochs=1, seeds=2, seed=5, device="cpu"))
    assert result.seeds == [5, 6]
    assert [(r.init, r.seed) for r in result.runs] == [
        (f"{label} depth {depth}", seed) for depth in (3, 4) for label in ("xavier", "he") for seed in (5, 6)]
    assert result.runs[0].history != result.runs[1].history  # another seed: another draw and data order
    table = result.table()
    assert "| **he depth 4** | mean ± std | final " in table and " ± " in table.splitlines()[-1]
    (finding,) = result.findings()
    assert "at 4 layers over 2 seeds" in finding and "of 2 stalled" in finding and "of 2 converged" in finding
    assert any(verdict in finding for verdict in ("holds in every seed", "holds in part", "does not hold in any seed",
                                                  "holds in some seeds only"))


def test_glorot2010_states_its_findings_over_seeds_beside_the_papers_table(synthetic):
    result = glorot2010(synthetic, Glorot2010Config(hidden=(16, 16), epochs=1, activations=("tanh", "sigmoid"),
                                                    seeds=2, device="cpu"))
    reports = result.reports
    assert len(result.runs) == 8 and {r.seed for r in result.runs} == {0, 1}
    assert set(reports) == {"tanh standard", "tanh normalized", "sigmoid standard", "sigmoid normalized"}
    rows = {tuple(cells.split(" | ")[:2]): cells for cells in result.table().splitlines()[2:]}
    assert rows[("| tanh", "normalized")].endswith("| 1.64% |")  # Table 1: tanh N on MNIST
    assert rows[("| sigmoid", "normalized")].endswith("|  |")  # the paper has no normalized sigmoid row
    assert all("mean ± std over 2 seeds" in finding for finding in result.findings())


def test_cli_seeds_for_the_papers(tmp_path, capsys):
    assert main(["reproduce", "he2015", "--quick", "--epochs", "1", "--seeds", "0", "--out", str(tmp_path / "x")]) == 2
    assert "seeds must be >= 1, got 0" in capsys.readouterr().err and not (tmp_path / "x").exists()
