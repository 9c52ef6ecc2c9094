"""`reproduce lecture`: the course's models with its settings, evaluated as the course did and
correctly. Device: CPU."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from matplotlib.image import imread

from weightinit.cli import main
from weightinit.data import load_dataset
from weightinit.experiments.reproduce.lecture import (
    PUBLISHED,
    RAW_SCALE,
    LectureConfig,
    LectureResult,
    LectureRow,
    _network,
    lecture,
    models,
)


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


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


@pytest.mark.slow
def test_lecture_runs_and_reports_both_evaluations(digits):
    result = lecture(digits, LectureConfig(seeds=2, epochs=2, device="cpu"))
    rows = {row.model: row for row in result.rows}
    assert set(rows) == {"softmax, default init", "softmax", "N(0, 1)", "xavier", "deep", "deep, as intended"}
    assert len(rows["xavier"].accuracy) == 2
    # the course's evaluation on the digits: their raw 0-16 pixels (not 0-255, which digits never were)
    assert result.raw_scale == RAW_SCALE["digits"] == 16
    assert "(raw 0-16 test pixels; mean ± std, n=2 seeds)" in result.table().splitlines()[0]
    # scaling the test pixels 16 times larger than the training ones changes some predictions
    assert any(row.accuracy != row.course_accuracy for row in rows.values())
    # the published figures are MNIST's: on the digits there are no published or verdict columns (they would
    # be empty), and a note says why
    header = result.table().splitlines()[0]
    assert all(row.published is None for row in rows.values()) and "published" not in header
    assert header.count("|") == 4 and all(line.count("|") == 4 for line in result.table().splitlines())
    assert any("nothing to set them beside, so the table has no published column" in note for note in result.findings())
    # per seed: a history with the (correct) test accuracy of every epoch, for curves.png
    assert [len(h) for h in rows["xavier"].histories] == [2, 2]
    assert rows["xavier"].histories[0][-1]["test_accuracy"] * 100 == pytest.approx(rows["xavier"].accuracy[0])
    assert result.steps == 2 * 15  # 1,437 training digits in batches of 100
    assert result.to_dict()["experiment"] == "lecture"


def test_the_course_evaluation_multiplies_the_test_pixels_by_the_raw_scale(digits):
    # raw_scale 1: the course's evaluation is the correct one, accuracy for accuracy (at 16 they differ, above)
    result = lecture(digits, LectureConfig(epochs=1, device="cpu", raw_scale=1))
    assert all(row.course_accuracy == row.accuracy for row in result.rows)
    assert "raw 0-1 test pixels" in result.table() and any("the two evaluations are the same" in n
                                                             for n in result.findings())


def _result(dataset="digits", seeds=1, **accuracies) -> LectureResult:
    rows = [LectureRow(model, PUBLISHED.get(model) if dataset == "mnist" else None, course_accuracy=list(values),
                       accuracy=list(values), scheme="normal", weights_moved=[0.05] * len(values))
            for model, values in accuracies.items()]
    return LectureResult(dataset, list(range(777, 777 + seeds)), 10, rows, {}, RAW_SCALE[dataset], 10, 150)


def test_a_single_seed_cell_has_no_plus_minus_and_says_n_1():
    table = _result(xavier=[97.5]).table()
    assert "| xavier | 97.50% | 97.50% |" in table and "±" not in table
    assert "n=1 seed" in table.splitlines()[0]
    table = _result(seeds=2, xavier=[97.0, 98.0]).table()
    assert "| xavier | 97.50% ± 0.71 | 97.50% ± 0.71 |" in table and "n=2 seeds" in table.splitlines()[0]


def test_the_columns_on_mnist_are_those_that_have_something_to_say():
    one = _result("mnist", xavier=[98.0], **{"deep, as intended": [98.3]})
    header = one.table().splitlines()[0]
    assert "published (course's evaluation)" in header and "± 2 std" not in header  # one seed: nothing to judge
    assert "| xavier | 98.05% | 98.00% | 98.00% |" in one.table()
    assert "| deep, as intended | - |" in one.table()
    assert any(note.startswith("One seed: no spread") for note in one.findings())
    assert any(note.startswith("'-': the course never ran that model") for note in one.findings())
    three = _result("mnist", seeds=3, xavier=[97.9, 98.1, 98.0], **{"deep, as intended": [98.3, 98.4, 98.2]})
    assert "| xavier | 98.05% | 98.00% ± 0.10 | 98.00% ± 0.10 | yes | yes |" in three.table()
    assert "| deep, as intended | - | 98.30% ± 0.10 | 98.30% ± 0.10 | - | - |" in three.table()
    assert any("never ran that model" in note for note in three.findings())


def test_a_row_near_or_below_chance_is_explained():
    notes = _result(softmax=[6.94], xavier=[97.78], **{"N(0, 1)": [15.0]}).findings()
    below = [n for n in notes if n.startswith("softmax:")]
    assert len(below) == 1 and "below chance (10.00% for 10 classes)" in below[0]
    assert "150 Adam steps" in below[0] and "moved by 5.0% of their size" in below[0]
    assert "is not the cause" in below[0] and "89.44% published" in below[0]  # MNIST's 9,000 steps do learn
    assert any(n.startswith("N(0, 1): 15.00%") and "near chance" in n for n in notes)  # under 10% + 9 points
    assert not any(n.startswith("xavier:") for n in notes)
    # at chance with the course's evaluation only: the raw pixels are to blame, and the note says so
    row = LectureRow("deep", None, course_accuracy=[9.0], accuracy=[97.0], scheme="xavier_uniform",
                     weights_moved=[0.5])
    (note,) = LectureResult("digits", [777], 10, [row], {}, 16, 10, 150)._chance_notes()
    assert "with the course's evaluation, below chance" in note and "16 times those it learned from" in note
    # weights that moved a lot and still learned nothing: no story of a random draw is told
    row = LectureRow("softmax", None, course_accuracy=[9.0], accuracy=[9.0], scheme="normal", weights_moved=[0.8])
    (note,) = LectureResult("digits", [777], 10, [row], {}, 16, 10, 150)._chance_notes()
    assert "moved by 80.0% of their size" in note and "random draw" not in note and "curves.png" in note


def test_help_sets_each_published_figure_beside_its_model(capsys):
    assert main(["reproduce", "lecture", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "%%" not in text and "98.19% (deep)" in text
    assert "91.02% (softmax, default init" in text and "89.44% (softmax, N(0, 1)" in text
    assert "0-16 on digits" in text and "curves.png" in text
    assert "--quick seconds, not minutes: scikit-learn's digits" in text and "10 epochs (2 on MNIST-sized" in text


def test_a_published_figure_is_judged_on_mean_plus_minus_two_std():
    row = LectureRow("xavier", PUBLISHED["xavier"], course_accuracy=[97.9, 98.1, 98.0])  # std 0.1
    assert row.within_two_std()
    assert not LectureRow("xavier", 98.5, course_accuracy=[97.9, 98.1, 98.0]).within_two_std()
    assert LectureRow("xavier", 98.05, course_accuracy=[98.0]).within_two_std() is None  # one seed: no spread
    # one published run against 3 of ours: the 95% prediction interval is mean ± 4.97 s (t with 2 d.o.f.)
    row = LectureRow("xavier", 98.05, course_accuracy=[97.8, 97.85, 97.9])  # mean 97.85, s 0.05
    assert not row.within_two_std() and row.within_prediction_interval()
    assert not LectureRow("xavier", 98.2, course_accuracy=[97.8, 97.85, 97.9]).within_prediction_interval()


@pytest.mark.slow
def test_cli_reproduce_lecture_writes_its_table(tmp_path, capsys):
    out = tmp_path / "lecture"
    assert main(["reproduce", "lecture", "--quick", "--epochs", "1", "--device", "cpu", "--out", str(out),
                 "--no-progress"]) == 0
    printed = capsys.readouterr().out
    # the digits have no published figures: no such column (it was empty)
    assert printed.startswith("| model | ours, course's evaluation (raw 0-16") and "| deep, as intended |" in printed
    assert sorted(p.name for p in out.iterdir()) == ["checkpoints", "curves.png", "report.md", "results.json",
                                                     "settings.json"]
    pixels = imread(out / "curves.png")[..., :3]  # the figure the README lists, not blank
    assert pixels.std() > 0.05 and len(np.unique(pixels.reshape(-1, 3), axis=0)) > 20
    assert "![curves](curves.png)" in (out / "report.md").read_text()
    assert json.loads((out / "results.json").read_text())["epochs"] == 1
    assert main(["reproduce", "lecture", "--seeds", "0", "--out", str(tmp_path / "bad")]) == 2
    assert "seeds must be >= 1, got 0" in capsys.readouterr().err and not (tmp_path / "bad").exists()
