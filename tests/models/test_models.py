"""MLP builders from spec strings; the deep model really is deep."""

import pytest
from torch import nn

from weightinit.models import mlp, parse_arch


def test_lecture_and_deep_take_their_ends_from_the_data():
    assert parse_arch("lecture", 784, 10) == [784, 256, 256, 10]
    assert parse_arch("deep", 784, 10) == [784, 512, 512, 512, 512, 10]
    assert parse_arch("784-100-10", 784, 10) == [784, 100, 10]


def test_deep_wires_all_five_layers():
    model = mlp(parse_arch("deep", 784, 10))
    linears = [m for m in model if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(784, 512), (512, 512), (512, 512), (512, 512),
                                                                   (512, 10)]
    assert sum(isinstance(m, nn.ReLU) for m in model) == 4


def test_activation_and_dropout():
    model = mlp("10-20-30-5", activation="tanh", dropout=0.5)
    assert [type(m).__name__ for m in model] == ["Linear", "Tanh", "Dropout", "Linear", "Tanh", "Dropout", "Linear"]


@pytest.mark.parametrize(
    "spec, inputs, outputs, message",
    [
        ("784-abc", None, None, "arch='784-abc' is not a layer spec"),
        ("784", None, None, "arch='784' is not a layer spec"),
        ("784-0-10", None, None, "is not a layer spec"),
        ("784--10", None, None, "is not a layer spec"),
        ("100-10", 784, 10, "arch='100-10' starts with 100 inputs but the data has 784 features"),
        ("784-5", 784, 10, "ends with 5 outputs but the data has 10 classes"),
        ("deep", None, None, "takes its input and output sizes from the data"),
    ],
)
def test_bad_specs(spec, inputs, outputs, message):
    with pytest.raises(ValueError, match=message):
        parse_arch(spec, inputs, outputs)


@pytest.mark.parametrize("kwargs, message", [({"activation": "swish"}, "activation='swish' is not supported"),
                                              ({"dropout": 1.0}, "dropout must be in \\[0, 1\\)")])
def test_bad_model_options(kwargs, message):
    with pytest.raises(ValueError, match=message):
        mlp("4-4-2", **kwargs)
