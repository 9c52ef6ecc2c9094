"""`reproduce lecture`: the course's models with its settings, evaluated as the course did and
correctly. Device: CPU."""

from __future__ import annotations

import json

import torch

from weightinit.cli import main
from weightinit.data import load_dataset
from weightinit.experiments.reproduce.lecture import PUBLISHED, LectureRow, _network, lecture, models


def test_the_course_models_are_built_as_published():
    specs = {spec.name: spec for spec in models(10)}
    deep = _network(specs["deep"], 784, 777)
    assert [m.out_features for m in deep if isinstance(m, torch.nn.Linear)] == [512, 512, 512]  # as the course wired it
    intended = _network(specs["deep, as intended"], 784, 777)
    assert [m.out_features for m in intended if isinstance(m, torch.nn.Linear)] == [512, 512, 512, 512, 10]
    xavier = _network(specs["xavier"], 784, 777)
    bound = (6 / (784 + 256)) ** 0.5  # gain 1, as torch's xavier_uniform_
    assert xavier[0].weight.abs().max() <= bound and xavier[0].weight.abs().max() > 0.99 * bound
    assert xavier[0].bias.abs().max() <= 1 / 784 ** 0.5 and xavier[0].bias.abs().max() > 0  # torch's default bias
    # lab 09-1 as first published kept torch's own init; since 2019-03 it draws N(0, 1)
    default = _network(specs["softmax, default init"], 784, 777)
    assert default[0].weight.abs().max() <= 1 / 784 ** 0.5
    normal = _network(specs["N(0, 1)"], 784, 777)
    assert abs(normal[0].weight.std().item() - 1) < 0.01


def test_lecture_runs_and_reports_both_evaluations():
    result = lecture(load_dataset("digits"), seeds=2, epochs=2, device="cpu")
    rows = {row.model: row for row in result.rows}
    assert set(rows) == {"softmax, default init", "softmax", "N(0, 1)", "xavier", "deep", "deep, as intended"}
    assert len(rows["xavier"].accuracy) == 2
    # scaling the test pixels 255 times larger than the training ones changes some predictions
    assert any(row.accuracy != row.course_accuracy for row in rows.values())
    # the published figures are MNIST's: on the digits they are not set beside ours
    assert all(row.published is None for row in rows.values()) and "| xavier |  |" in result.table()
    assert any("nothing to set them beside" in note for note in result.notes())
    assert result.to_dict()["experiment"] == "lecture"


def test_a_published_figure_is_judged_on_mean_plus_minus_two_std():
    row = LectureRow("xavier", PUBLISHED["xavier"], course_accuracy=[97.9, 98.1, 98.0])  # std 0.1
    assert row.within_two_std()
    assert not LectureRow("xavier", 98.5, course_accuracy=[97.9, 98.1, 98.0]).within_two_std()
    assert LectureRow("xavier", 98.05, course_accuracy=[98.0]).within_two_std() is None  # one seed: no spread
    # one published run against 3 of ours: the 95% prediction interval is mean ± 4.97 s (t with 2 d.o.f.)
    row = LectureRow("xavier", 98.05, course_accuracy=[97.8, 97.85, 97.9])  # mean 97.85, s 0.05
    assert not row.within_two_std() and row.within_prediction_interval()
    assert not LectureRow("xavier", 98.2, course_accuracy=[97.8, 97.85, 97.9]).within_prediction_interval()


def test_cli_reproduce_lecture_writes_its_table(tmp_path, capsys):
    out = tmp_path / "lecture"
    assert main(["reproduce", "lecture", "--quick", "--epochs", "1", "--device", "cpu", "--out", str(out),
                 "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("| model | published") and "| deep, as intended |" in printed
    assert sorted(p.name for p in out.iterdir()) == ["checkpoints", "report.md", "results.json", "settings.json"]
    assert json.loads((out / "results.json").read_text())["epochs"] == 1
    assert main(["reproduce", "lecture", "--seeds", "0", "--out", str(tmp_path / "bad")]) == 2
    assert "seeds must be >= 1, got 0" in capsys.readouterr().err and not (tmp_path / "bad").exists()
