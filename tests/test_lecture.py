"""`reproduce lecture`: the course's models with its settings, evaluated as the course did and
correctly. Device: CPU."""

from __future__ import annotations

import torch

from weightinit.data import load_dataset
from weightinit.experiments.reproduce.lecture import PUBLISHED, _network, lecture, models


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
    normal = _network(specs["N(0, 1)"], 784, 777)
    assert abs(normal[0].weight.std().item() - 1) < 0.01


def test_lecture_runs_and_reports_both_evaluations():
    result = lecture(load_dataset("digits"), seeds=2, epochs=2, device="cpu")
    rows = {row.model: row for row in result.rows}
    assert set(rows) == {"softmax", "N(0, 1)", "xavier", "deep", "deep, as intended"}
    assert rows["xavier"].published == PUBLISHED["xavier"] and len(rows["xavier"].accuracy) == 2
    # scaling the test pixels 255 times larger than the training ones changes some predictions
    assert any(row.accuracy != row.course_accuracy for row in rows.values())
    assert "| xavier | 98.05% |" in result.table()
    assert result.to_dict()["experiment"] == "lecture"
