"""Model-level init: correct fans (measured as variance), activation gains, the registry, errors."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from torch import nn

import weightinit as wi
from weightinit.modelinit.schemes import SCHEMES
from weightinit.theory.schemes import CRITICAL_SCHEMES  # stacks only, by design: tests/theory

from ..distributions import P_MIN, ks_normal, ks_uniform


def output_variance(layer: nn.Module, x: torch.Tensor, crop: int) -> float:
    """Variance of layer(x) away from the borders, where padding changes the count of taps."""
    with torch.no_grad():
        y = layer(x)
    if crop:
        y = y[..., crop:-crop, crop:-crop]
    return y.var().item()


def input_gradient_variance(layer: nn.Module, x: torch.Tensor, crop: int) -> float:
    """Variance of d(sum(g·y))/dx for a unit-variance upstream gradient g: the backward signal."""
    x = x.clone().requires_grad_(True)
    y = layer(x)
    y.backward(torch.randn(y.shape, generator=torch.Generator().manual_seed(9)))
    g = x.grad
    if crop:
        g = g[..., crop:-crop, crop:-crop]
    return g.var().item()


def unit_input(*shape: int) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(3))


# ---------------------------------------------------------------- fans
@pytest.mark.parametrize(
    "layer, expected",
    [
        (nn.Linear(784, 256), (784, 256)),
        (nn.Conv2d(16, 32, 3), (16 * 9, 32 * 9)),
        (nn.Conv2d(16, 32, 3, groups=4), (4 * 9, 8 * 9)),
        (nn.Conv2d(64, 64, 3, groups=64), (9, 9)),
        (nn.Conv2d(16, 32, 4, stride=2), (16 * 16, 32 * 16 / 4)),
        (nn.Conv1d(8, 4, 5), (40, 20)),
        (nn.Conv3d(2, 3, (1, 2, 3)), (12, 18)),
        (nn.ConvTranspose2d(64, 32, 4, stride=2), (64 * 16 / 4, 32 * 16)),
        (nn.ConvTranspose2d(64, 32, 3, groups=2), (32 * 9, 16 * 9)),
        (nn.ConvTranspose1d(6, 9, 3), (18, 27)),
    ],
)
def test_layer_fans(layer, expected):
    assert wi.layer_fans(layer) == pytest.approx(expected)


def test_layer_fans_refuses_other_modules():
    with pytest.raises(TypeError, match="layer must be one of .* got ReLU"):
        wi.layer_fans(nn.ReLU())


# The proof that the fans are right: a unit-gain he_normal (fan_in) layer keeps the forward
# variance at 1, and a fan_out one keeps the backward variance at 1. torch.nn.init's fans miss.
FORWARD_CASES = [
    (lambda: nn.Conv2d(32, 48, 3, padding=1, groups=4, bias=False), (4, 32, 24, 24), 1),
    (lambda: nn.ConvTranspose2d(64, 32, 4, stride=2, padding=1, bias=False), (4, 64, 16, 16), 2),
    (lambda: nn.ConvTranspose2d(32, 32, 3, padding=1, groups=8, bias=False), (4, 32, 24, 24), 1),
    (lambda: nn.Linear(300, 200, bias=False), (512, 300), 0),
]


@pytest.mark.parametrize("make, shape, crop", FORWARD_CASES)
def test_fan_in_init_preserves_forward_variance(make, shape, crop):
    layer = make()
    wi.init_model(layer, "he_normal", nonlinearity="linear", generator=torch.Generator().manual_seed(0))
    assert output_variance(layer, unit_input(*shape), crop) == pytest.approx(1.0, abs=0.12)


def test_torch_fans_miss_for_the_strided_transposed_conv():
    layer = FORWARD_CASES[1][0]()
    nn.init.kaiming_normal_(layer.weight, nonlinearity="linear", generator=torch.Generator().manual_seed(0))
    # torch's fan_in is out·k = 512 against the true in·k/s = 256: half the variance.
    assert output_variance(layer, unit_input(4, 64, 16, 16), 2) == pytest.approx(0.5, abs=0.08)


BACKWARD_CASES = [
    (lambda: nn.Conv2d(64, 64, 3, padding=1, groups=64, bias=False), (4, 64, 24, 24), 1),  # depthwise
    (lambda: nn.Conv2d(16, 32, 4, stride=2, padding=1, bias=False), (4, 16, 32, 32), 2),
    (lambda: nn.ConvTranspose2d(32, 64, 4, stride=2, padding=1, groups=4, bias=False), (4, 32, 12, 12), 1),
]


@pytest.mark.parametrize("make, shape, crop", BACKWARD_CASES)
def test_fan_out_init_preserves_backward_variance(make, shape, crop):
    layer = make()
    fan_in, fan_out = wi.layer_fans(layer)
    wi.he_normal_(layer.weight, mode="fan_out", nonlinearity="linear", fan_in=fan_in, fan_out=fan_out,
                  generator=torch.Generator().manual_seed(0))
    assert input_gradient_variance(layer, unit_input(*shape), crop) == pytest.approx(1.0, abs=0.12)


def test_torch_fan_out_misses_for_the_depthwise_conv():
    layer = BACKWARD_CASES[0][0]()
    nn.init.kaiming_normal_(layer.weight, mode="fan_out", nonlinearity="linear",
                            generator=torch.Generator().manual_seed(0))
    # pytorch#23854: torch's fan_out is 64·9 against the true 9.
    assert input_gradient_variance(layer, unit_input(4, 64, 24, 24), 1) == pytest.approx(1 / 64, rel=0.15)


# ---------------------------------------------------------------- activations
class Mixed(nn.Module):
    """Linear, Conv2d and ConvTranspose2d with ReLU and Tanh, as the issue asks."""

    def __init__(self) -> None:
        super().__init__()
        self.encode = nn.Sequential(nn.Conv2d(3, 24, 3, padding=1), nn.BatchNorm2d(24), nn.ReLU(),
                                    nn.Conv2d(24, 24, 3, padding=1, groups=3), nn.Tanh())
        self.decode = nn.Sequential(nn.ConvTranspose2d(24, 12, 4, stride=2, padding=1), nn.LeakyReLU(0.2))
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(0.1), nn.Linear(12 * 16 * 16, 40), nn.SELU(),
                                  nn.Linear(40, 10))

    def forward(self, x):
        return self.head(self.decode(self.encode(x)))


def test_layer_nonlinearities_follow_forward_order():
    assert wi.layer_nonlinearities(Mixed()) == {
        "encode.0": ("relu", None),  # BatchNorm in between is passed over
        "encode.3": ("tanh", None),
        "decode.0": ("leaky_relu", 0.2),
        "head.2": ("selu", None),
        "head.4": ("linear", None),
    }


def test_two_layers_without_activation_between_are_linear():
    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 5), nn.GELU())
    assert wi.layer_nonlinearities(model) == {"0": ("linear", None), "1": ("gelu", None)}


@pytest.mark.parametrize("scheme", ["xavier_uniform", "xavier_normal", "he_uniform", "he_normal", "lecun_normal"])
def test_init_model_on_a_mixed_model_uses_true_fans_and_following_gains(scheme):
    model = Mixed()
    wi.init_model(model, scheme, generator=torch.Generator().manual_seed(1))
    gains = {"encode.0": math.sqrt(2), "encode.3": 5 / 3, "decode.0": math.sqrt(2 / 1.04), "head.2": 0.75,
             "head.4": 1.0}
    fans = {  # recomputed by hand: (fan_in, fan_out)
        "encode.0": (27, 216),
        "encode.3": (72, 72),
        "decode.0": (24 * 16 / 4, 12 * 16),
        "head.2": (3072, 40),
        "head.4": (40, 10),
    }
    modules = dict(model.named_modules())
    for name, (fan_in, fan_out) in fans.items():
        w = modules[name].weight
        gain = 1.0 if scheme.startswith(("lecun", "xavier")) else gains[name]  # Glorot's and LeCun's: gain 1
        n = (fan_in + fan_out) / 2 if scheme.startswith("xavier") else fan_in
        std = gain / math.sqrt(n)
        p = ks_uniform(w, math.sqrt(3) * std) if scheme.endswith("uniform") else ks_normal(w, std)
        assert p > P_MIN, (name, p)
        assert torch.count_nonzero(modules[name].bias) == 0


def test_xavier_takes_gain_1_under_auto_and_a_named_nonlinearitys_gain():
    """Glorot & Bengio, torch.nn.init and Keras define Xavier with gain 1; a ReLU after the
    layer does not turn it into He's init unless the user names the nonlinearity."""
    def model():
        return nn.Sequential(nn.Linear(400, 300), nn.ReLU(), nn.Linear(300, 200))

    auto = wi.init_model(model(), "xavier_normal", generator=torch.Generator().manual_seed(0))
    assert ks_normal(auto[0].weight, math.sqrt(2 / 700)) > P_MIN
    relu = wi.init_model(model(), "xavier_normal", nonlinearity="relu", generator=torch.Generator().manual_seed(0))
    assert ks_normal(relu[0].weight, math.sqrt(2) * math.sqrt(2 / 700)) > P_MIN
    assert ks_normal(relu[2].weight, math.sqrt(2) * math.sqrt(2 / 500)) > P_MIN
    plan = wi.plan_init(model(), "xavier_uniform")
    assert {row.gain for row in plan.rows if row.parameter == "weight"} == {1.0}
    assert not any(row.gain_guessed for row in plan.rows)  # nothing was guessed: the gain is the scheme's own


def test_explicit_nonlinearity_applies_to_every_layer():
    model = nn.Sequential(nn.Linear(400, 300), nn.Tanh(), nn.Linear(300, 200))
    wi.init_model(model, "he_normal", nonlinearity="relu")
    assert ks_normal(model[0].weight, math.sqrt(2 / 400)) > P_MIN
    assert ks_normal(model[2].weight, math.sqrt(2 / 300)) > P_MIN


# ---------------------------------------------------------------- registry
def test_registry_has_the_required_schemes_with_formulas():
    required = {"default", "zeros", "normal", "xavier_uniform", "xavier_normal", "he_uniform", "he_normal",
                "lecun_uniform", "lecun_normal", "orthogonal"}
    assert required <= set(SCHEMES)
    for name, scheme in SCHEMES.items():
        assert scheme.name == name and scheme.formula and "\n" not in scheme.formula


@pytest.mark.parametrize("scheme", sorted(name for name, s in SCHEMES.items()
                                          if not s.needs_data and name not in CRITICAL_SCHEMES))
def test_every_per_layer_scheme_initializes_every_layer_type_and_is_reproducible(scheme):
    a = wi.init_model(Mixed(), scheme, generator=torch.Generator().manual_seed(4))
    b = wi.init_model(Mixed(), scheme, generator=torch.Generator().manual_seed(4))
    for (name, p), q in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(p, q), name
        assert torch.isfinite(p).all()


def test_default_scheme_is_exactly_torch_reset_parameters():
    layers = [nn.Linear(50, 30), nn.Conv2d(6, 8, 3, groups=2), nn.ConvTranspose2d(6, 8, 4, stride=2)]
    for layer in layers:
        torch.manual_seed(11)
        layer.reset_parameters()
        expected = [p.clone() for p in layer.parameters()]
        wi.init_model(layer, "default", generator=torch.Generator().manual_seed(11))
        for ours, theirs in zip(layer.parameters(), expected):
            assert torch.allclose(ours, theirs, rtol=1e-6, atol=0), type(layer).__name__


def test_normal_and_zeros_schemes():
    model = nn.Sequential(nn.Linear(40, 30), nn.ReLU(), nn.Linear(30, 20))
    wi.init_model(model, "normal", generator=torch.Generator().manual_seed(0))
    assert ks_normal(torch.cat([model[0].weight.flatten(), model[2].weight.flatten()]), 1.0) > P_MIN
    wi.init_model(model, "zeros")
    assert all(torch.count_nonzero(p) == 0 for p in model.parameters())


def test_orthogonal_scheme_uses_gain():
    model = nn.Sequential(nn.Linear(40, 30), nn.ReLU())
    wi.init_model(model, "orthogonal")
    w = model[0].weight.double()
    assert torch.allclose(w @ w.T, 2.0 * torch.eye(30, dtype=torch.float64), atol=1e-5)


@pytest.mark.parametrize("bias, check", [("zeros", lambda b: torch.count_nonzero(b) == 0),
                                          (0.1, lambda b: torch.allclose(b, torch.full_like(b, 0.1))),
                                          ("keep", lambda b: torch.equal(b, torch.full_like(b, 7.0))),
                                          ("default", lambda b: b.abs().max() <= 1 / math.sqrt(40) and b.std() > 0)])
def test_bias_rules(bias, check):
    layer = nn.Linear(40, 300)
    nn.init.constant_(layer.bias, 7.0)
    wi.init_model(layer, "he_normal", bias=bias)
    assert check(layer.bias)


def test_bias_free_layers_are_fine():
    model = nn.Sequential(nn.Linear(40, 30, bias=False), nn.Conv1d(30, 20, 3, bias=False))
    for layer in model:
        nn.init.constant_(layer.weight, 7.0)  # a value xavier_uniform never draws
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "parameter(s) ... have no initialization rule"
        wi.init_model(model, "xavier_uniform", generator=torch.Generator().manual_seed(0))
    # gain 1 (xavier under nonlinearity="auto"); fans: Linear 40 in, 30 out; Conv1d 30·3 in, 20·3 out
    for layer, fan_in, fan_out in ((model[0], 40, 30), (model[1], 90, 60)):
        bound = math.sqrt(6 / (fan_in + fan_out))
        assert layer.bias is None and [name for name, _ in layer.named_parameters()] == ["weight"]
        assert layer.weight.abs().max() <= bound and layer.weight.abs().max() > 0.9 * bound  # every value drawn anew
        assert ks_uniform(layer.weight, bound) > P_MIN


def test_data_driven_schemes_take_numpy_data_as_float32():
    x = np.random.default_rng(0).random((600, 20))  # float64, as numpy makes it
    a, b = (nn.Sequential(nn.Linear(20, 30), nn.Tanh(), nn.Linear(30, 5)) for _ in range(2))
    wi.init_model(a, "lsuv", data=x, generator=torch.Generator().manual_seed(3))
    wi.init_model(b, "lsuv", data=torch.as_tensor(x, dtype=torch.float32), generator=torch.Generator().manual_seed(3))
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))  # the same as its float32 tensor
    assert all(p.dtype == torch.float32 for p in a.parameters())
    # what is neither a tensor nor a numpy array is refused as such, not as if no data were given
    with pytest.raises(ValueError, match="data must be a torch.Tensor or a numpy array, got list"):
        wi.init_model(a, "lsuv", data=x.tolist())
    with pytest.raises(ValueError, match="data must hold numbers, got a numpy array of dtype <U1"):
        wi.init_model(a, "lsuv", data=np.array(["a", "b"]))


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"scheme": "glorot"}, ValueError, "scheme='glorot' is not supported; use one of ['default', 'zeros'"),
        ({"scheme": "he_normal", "nonlinearity": "swishy"}, ValueError,
         "nonlinearity='swishy' is not supported; use one of ['auto'"),
        ({"scheme": "he_normal", "bias": "ones"}, ValueError,
         "bias='ones' is not supported; use one of ['auto', 'zeros', 'default', 'keep']"),
        ({"scheme": "he_normal", "bias": float("nan")}, ValueError, "bias must be a finite number, got nan"),
        ({"scheme": "he_normal", "generator": 3}, TypeError, "generator must be a torch.Generator or None, got int"),
    ],
)
def test_init_model_bad_input_names_the_parameter_and_modifies_nothing(kwargs, error, message):
    model = Mixed()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(error) as info:
        wi.init_model(model, **kwargs)
    assert message in str(info.value)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_init_model_refuses_non_modules():
    with pytest.raises(TypeError, match="model must be a torch.nn.Module, got dict"):
        wi.init_model({}, "he_normal")


def test_lazy_layer_is_refused_before_anything_changes():
    model = nn.Sequential(nn.Linear(4, 4), nn.LazyLinear(3))
    before = model[0].weight.clone()
    with pytest.raises(ValueError, match="layer '1' is lazy"):
        wi.init_model(model, "he_normal")
    assert torch.equal(before, model[0].weight)


def test_model_without_layers_warns():
    with pytest.warns(UserWarning, match="nothing was initialized"):
        wi.init_model(nn.Sequential(nn.ReLU()), "he_normal")


# ---------------------------------------------------------------- LSUV
from weightinit.modelinit.lsuv import LSUVConfig  # noqa: E402


def _output_variances(model: nn.Module, x: torch.Tensor) -> list[float]:
    outputs: list[float] = []
    hooks = [m.register_forward_hook(lambda mod, i, o: outputs.append(float(o.var())))
             for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    with torch.no_grad():
        model(x)
    for hook in hooks:
        hook.remove()
    return outputs


@pytest.mark.parametrize("activation", [nn.Tanh, nn.ReLU])
def test_lsuv_gives_every_layer_unit_output_variance(activation):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2000, 64, generator=g)
    model = nn.Sequential(nn.Linear(64, 128), activation(), nn.Linear(128, 128), activation(), nn.Linear(128, 10))
    wi.init_model(model, "lsuv", data=x, generator=g)
    batch = x[torch.randperm(2000, generator=torch.Generator().manual_seed(0))[:512]]
    assert all(abs(v - 1) < 0.1 for v in _output_variances(model, batch))  # on the batch it used
    assert all(abs(v - 1) < 0.15 for v in _output_variances(model, x))  # and on the rest of the data


def test_lsuv_on_a_conv_net_with_bias_shift():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(64, 3, 12, 12, generator=g) * 3 + 1
    model = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 8, 3, padding=1), nn.ReLU(),
                          nn.Flatten(), nn.Linear(8 * 144, 10))
    wi.init_model(model, "lsuv", data=x, generator=g, config=LSUVConfig(bias_shift=True, tol=0.05))
    assert all(abs(v - 1) < 0.05 for v in _output_variances(model, x))
    with torch.no_grad():
        first = model[0](x)
    assert first.mean(dim=(0, 2, 3)).abs().max() < 1e-4  # each channel centred


def test_lsuv_is_reproducible_and_leaves_training_mode():
    x = torch.rand(600, 20, generator=torch.Generator().manual_seed(0))
    a = nn.Sequential(nn.Linear(20, 30), nn.Dropout(0.5), nn.ReLU(), nn.Linear(30, 5))
    b = nn.Sequential(nn.Linear(20, 30), nn.Dropout(0.5), nn.ReLU(), nn.Linear(30, 5))
    for m in (a, b):
        wi.init_model(m, "lsuv", data=x, generator=torch.Generator().manual_seed(3))
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert a.training


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({}, ValueError, r"scheme='lsuv' needs data=: training inputs \(a tensor or a numpy array\)"),
        ({"data": torch.rand(10, 4), "config": {"tol": 0.1}}, TypeError, "config must be an LSUVConfig"),
    ],
)
def test_lsuv_bad_input(kwargs, error, message):
    with pytest.raises(error, match=message):
        wi.init_model(nn.Sequential(nn.Linear(4, 3)), "lsuv", **kwargs)


@pytest.mark.parametrize("kwargs, message", [({"tol": 0}, "tol must be > 0"), ({"max_iter": 0}, "max_iter must be"),
                                             ({"batch_size": 1}, "batch_size must be")])
def test_lsuv_config_checks(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LSUVConfig(**kwargs)
