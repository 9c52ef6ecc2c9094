"""Tensor initializers: distributions (KS tests), formulas, torch as oracle, errors."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from scipy import integrate, special, stats

import weightinit as wi
from weightinit import init as I

from ..distributions import P_MIN, ks_normal, ks_truncnorm, ks_uniform


def random_shape(rng, dims: int) -> tuple[int, ...]:
    # Matrices of size 20-50; conv kernels of size 1-5 beyond the first two dims.
    return tuple(rng.randint(20, 50) if d < 2 else rng.randint(1, 5) for d in range(dims))


def shape_fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """Fans recomputed independently of the library: PyTorch's (out, in, *kernel) layout."""
    k = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * k, shape[0] * k


GAINS = [0.5, 1.0, math.sqrt(2.0), 5.0 / 3.0]
DIMS = [2, 3, 4, 5]
HE_NONLINEARITIES = [
    ("relu", 0.0, math.sqrt(2.0)),
    ("leaky_relu", 0.0, math.sqrt(2.0)),
    ("leaky_relu", 0.2, math.sqrt(2.0 / 1.04)),
    ("leaky_relu", -0.5, math.sqrt(2.0 / 1.25)),
    ("linear", 0.0, 1.0),
    ("tanh", 0.0, 5.0 / 3.0),
    ("sigmoid", 0.0, 1.0),
    ("selu", 0.0, 0.75),
    ("elu", 1.0, None),  # None: recomputed below by numerical integration
    ("gelu", 0.0, None),
    ("silu", 0.0, None),
    ("mish", 0.0, None),
    ("softsign", 0.0, None),
]


# ---------------------------------------------------------------- gains
def second_moment_gain(f) -> float:
    """1/sqrt(E[f(z)^2]), z ~ N(0, 1), integrated numerically on both sides of the kink at 0."""
    pdf = stats.norm.pdf
    m2 = sum(integrate.quad(lambda z: f(z) ** 2 * pdf(z), lo, hi, epsabs=1e-14, epsrel=1e-12)[0]
             for lo, hi in ((-np.inf, 0.0), (0.0, np.inf)))
    return 1.0 / math.sqrt(m2)


ACTIVATION_FUNCTIONS = {
    "relu": lambda z: max(z, 0.0),
    "elu": lambda z: z if z > 0 else math.expm1(z),
    "gelu": lambda z: z * stats.norm.cdf(z),
    "silu": lambda z: z * special.expit(z),
    "swish": lambda z: z * special.expit(z),
    "mish": lambda z: z * math.tanh(np.logaddexp(0.0, z)),
    "softsign": lambda z: z / (1.0 + abs(z)),
}


def expected_gain(name: str, param: float) -> float:
    for n, p, g in HE_NONLINEARITIES:
        if n == name and p == param and g is not None:
            return g
    return second_moment_gain(ACTIVATION_FUNCTIONS[name])


@pytest.mark.parametrize("name", sorted(ACTIVATION_FUNCTIONS))
def test_second_moment_gains_match_numerical_integration(name):
    assert wi.calculate_gain(name) == pytest.approx(second_moment_gain(ACTIVATION_FUNCTIONS[name]), rel=1e-9)


@pytest.mark.parametrize("alpha", [0.5, 1.0, 1.6732632423543772])
def test_elu_gain_closed_form_matches_integration(alpha):
    f = lambda z: z if z > 0 else alpha * math.expm1(z)  # noqa: E731
    assert wi.calculate_gain("elu", alpha) == pytest.approx(second_moment_gain(f), rel=1e-9)


@pytest.mark.parametrize(
    "name, param, value",
    [
        ("linear", None, 1.0),
        ("identity", None, 1.0),
        ("conv1d", None, 1.0),
        ("conv2d", None, 1.0),
        ("conv3d", None, 1.0),
        ("conv_transpose1d", None, 1.0),
        ("conv_transpose2d", None, 1.0),
        ("conv_transpose3d", None, 1.0),
        ("sigmoid", None, 1.0),
        ("tanh", None, 5.0 / 3.0),
        ("relu", None, math.sqrt(2.0)),
        ("leaky_relu", None, math.sqrt(2.0 / (1 + 0.01**2))),
        ("leaky_relu", 0.2, math.sqrt(2.0 / (1 + 0.04))),
        ("leaky_relu", 1, 1.0),
        ("selu", None, 0.75),
    ],
)
def test_exact_gains(name, param, value):
    assert wi.calculate_gain(name, param) == pytest.approx(value, rel=1e-15)


@pytest.mark.parametrize("name", ["linear", "conv2d", "sigmoid", "tanh", "relu", "leaky_relu", "selu"])
def test_gains_agree_with_torch_where_torch_defines_them(name):
    assert wi.calculate_gain(name) == pytest.approx(torch.nn.init.calculate_gain(name), rel=1e-12)


# ---------------------------------------------------------------- fans
@pytest.mark.parametrize("dims", DIMS)
def test_fans_follow_pytorch_layout(rng, dims):
    t = torch.empty(random_shape(rng, dims))
    assert wi.fans(t) == shape_fans(tuple(t.shape))
    assert wi.fans(t) == torch.nn.init._calculate_fan_in_and_fan_out(t)


# ---------------------------------------------------------------- distributions
@pytest.mark.parametrize("dims", DIMS)
@pytest.mark.parametrize("gain", GAINS)
def test_xavier_uniform_distribution(rng, dims, gain):
    t = torch.empty(random_shape(rng, dims))
    fan_in, fan_out = shape_fans(tuple(t.shape))
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    wi.xavier_uniform_(t, gain=gain)
    assert t.abs().max() <= bound
    assert ks_uniform(t, bound) > P_MIN


@pytest.mark.parametrize("dims", DIMS)
@pytest.mark.parametrize("gain", GAINS)
def test_xavier_normal_distribution(rng, dims, gain):
    t = torch.empty(random_shape(rng, dims))
    fan_in, fan_out = shape_fans(tuple(t.shape))
    wi.xavier_normal_(t, gain=gain)
    assert ks_normal(t, gain * math.sqrt(2.0 / (fan_in + fan_out))) > P_MIN


@pytest.mark.parametrize("dims", DIMS)
@pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
@pytest.mark.parametrize("nonlinearity, a, _", HE_NONLINEARITIES)
@pytest.mark.parametrize("distribution", ["uniform", "normal"])
def test_he_distribution(rng, dims, mode, nonlinearity, a, _, distribution):
    t = torch.empty(random_shape(rng, dims))
    fan_in, fan_out = shape_fans(tuple(t.shape))
    fan = fan_in if mode == "fan_in" else fan_out
    std = expected_gain(nonlinearity, a) / math.sqrt(fan)
    if distribution == "uniform":
        wi.he_uniform_(t, a=a, mode=mode, nonlinearity=nonlinearity)
        assert ks_uniform(t, math.sqrt(3.0) * std) > P_MIN
    else:
        wi.he_normal_(t, a=a, mode=mode, nonlinearity=nonlinearity)
        assert ks_normal(t, std) > P_MIN


@pytest.mark.parametrize("dims", DIMS)
def test_lecun_distributions(rng, dims):
    t = torch.empty(random_shape(rng, dims))
    fan_in, _ = shape_fans(tuple(t.shape))
    assert ks_uniform(wi.lecun_uniform_(t.clone()), math.sqrt(3.0 / fan_in)) > P_MIN
    assert ks_normal(wi.lecun_normal_(t.clone()), math.sqrt(1.0 / fan_in)) > P_MIN


@pytest.mark.parametrize("mode", ["fan_in", "fan_out", "fan_avg"])
@pytest.mark.parametrize("distribution", ["truncated_normal", "normal", "uniform"])
@pytest.mark.parametrize("scale", [0.5, 1.0, 2.0])
def test_variance_scaling_distribution(rng, mode, distribution, scale):
    t = torch.empty(random_shape(rng, 4))
    fan_in, fan_out = shape_fans(tuple(t.shape))
    n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]
    std = math.sqrt(scale / n)
    wi.variance_scaling_(t, scale=scale, mode=mode, distribution=distribution)
    if distribution == "uniform":
        assert ks_uniform(t, math.sqrt(3.0) * std) > P_MIN
    elif distribution == "normal":
        assert ks_normal(t, std) > P_MIN
    else:
        # Keras: N(0, (std/c)^2) cut at ±2 of its own std; c is recomputed from scipy here.
        c = stats.truncnorm(-2, 2).std()
        assert c == pytest.approx(I.TRUNCATED_NORMAL_STD, rel=1e-15)
        assert ks_truncnorm(t, 0.0, std / c, -2 * std / c, 2 * std / c) > P_MIN
        # ... whose std is the intended one (a loose check: ~1000-6000 samples)
        assert t.std().item() == pytest.approx(std, rel=0.1)


def test_truncated_normal_variance_is_corrected_on_a_large_draw():
    t = wi.variance_scaling_(torch.empty(1000, 1000), scale=2.0, generator=torch.Generator().manual_seed(1))
    assert t.std().item() == pytest.approx(math.sqrt(2.0 / 1000), rel=3e-3)
    assert t.abs().max().item() <= 2 * math.sqrt(2.0 / 1000) / I.TRUNCATED_NORMAL_STD


@pytest.mark.parametrize(
    "mean, std, a, b",
    [(0.0, 1.0, -2.0, 2.0), (0.5, 2.0, -1.0, 4.0), (0.0, 0.02, -0.04, 0.04), (0.0, 1.0, 5.0, 6.0),
     (0.0, 1.0, -9.0, -8.0), (3.0, 1.0, -1.0, 0.0)],
)
def test_trunc_normal_distribution_with_absolute_bounds(rng, mean, std, a, b):
    t = torch.empty(random_shape(rng, 2))
    wi.trunc_normal_(t, mean=mean, std=std, a=a, b=b)
    assert torch.isfinite(t).all()
    assert a <= t.min().item() and t.max().item() <= b
    assert ks_truncnorm(t, mean, std, a, b) > P_MIN


def test_trunc_normal_far_tail_where_torch_breaks():
    # torch's inverse-CDF in the input dtype collapses to a point (or inf) this far out.
    t = wi.trunc_normal_(torch.empty(200, 50), a=9.0, b=10.0, generator=torch.Generator().manual_seed(0))
    assert t.min().item() >= 9.0 and t.max().item() <= 10.0
    assert ks_truncnorm(t, 0.0, 1.0, 9.0, 10.0) > P_MIN


@pytest.mark.parametrize("mean, std", [(0.0, 1.0), (1.5, 0.1)])
def test_normal_and_uniform(rng, mean, std):
    t = torch.empty(random_shape(rng, 2))
    assert ks_normal(wi.normal_(t, mean, std), std, mean) > P_MIN
    u = wi.uniform_(torch.empty(random_shape(rng, 2)), -0.3, 0.3)
    assert ks_uniform(u, 0.3) > P_MIN


def test_sparse_zeroes_the_right_count_per_column(rng):
    rows, cols = random_shape(rng, 2)
    t = wi.sparse_(torch.empty(rows, cols), sparsity=0.3, std=0.5)
    zeros_per_column = (t == 0).sum(dim=0)
    assert (zeros_per_column == math.ceil(0.3 * rows)).all()
    assert ks_normal(t[t != 0], 0.5) > P_MIN


# ---------------------------------------------------------------- orthogonal
@pytest.mark.parametrize("shape", [(30, 30), (20, 45), (45, 20), (8, 3, 3, 3), (40, 4, 2, 2), (1, 30), (30, 1)])
@pytest.mark.parametrize("gain", [1.0, math.sqrt(2.0), 0.3])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_orthogonal_rows_or_columns_are_orthonormal(shape, gain, dtype):
    t = wi.orthogonal_(torch.empty(shape, dtype=dtype), gain=gain)
    flat = t.reshape(shape[0], -1).double()
    small = flat @ flat.T if flat.shape[0] <= flat.shape[1] else flat.T @ flat
    assert torch.allclose(small, gain**2 * torch.eye(small.shape[0], dtype=torch.float64), atol=1e-6, rtol=0)


def test_orthogonal_is_haar_distributed():
    # Entries of a Haar-random n x n orthogonal matrix, times sqrt(n), are ~N(0, 1) for large n;
    # without the sign correction the diagonal would be biased positive.
    g = torch.Generator().manual_seed(3)
    diagonals = torch.cat([torch.diagonal(wi.orthogonal_(torch.empty(64, 64), generator=g)) for _ in range(20)])
    assert ks_normal(diagonals * 8.0, 1.0) > P_MIN


# ---------------------------------------------------------------- torch as oracle
def _pair(seed: int) -> tuple[torch.Generator, torch.Generator]:
    return torch.Generator().manual_seed(seed), torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("shape", [(30, 40), (16, 8, 3, 3)])
@pytest.mark.parametrize(
    "ours, theirs, kwargs",
    [
        (wi.xavier_uniform_, torch.nn.init.xavier_uniform_, {"gain": 1.7}),
        (wi.xavier_normal_, torch.nn.init.xavier_normal_, {"gain": 0.9}),
        (wi.kaiming_uniform_, torch.nn.init.kaiming_uniform_, {}),
        (wi.kaiming_normal_, torch.nn.init.kaiming_normal_, {}),
        (wi.kaiming_uniform_, torch.nn.init.kaiming_uniform_, {"a": 0.2, "mode": "fan_out"}),
        (wi.kaiming_normal_, torch.nn.init.kaiming_normal_, {"nonlinearity": "relu", "mode": "fan_out"}),
        (wi.kaiming_uniform_, torch.nn.init.kaiming_uniform_, {"a": math.sqrt(5)}),
        (wi.orthogonal_, torch.nn.init.orthogonal_, {"gain": 2.0}),
    ],
)
def test_same_draws_as_torch_nn_init(shape, ours, theirs, kwargs):
    ga, gb = _pair(42)
    a = ours(torch.empty(shape), generator=ga, **kwargs)
    b = theirs(torch.empty(shape), generator=gb, **kwargs)
    if ours is wi.orthogonal_:
        # torch runs QR in float32, we run it in float64: same matrix up to rounding.
        assert torch.allclose(a, b, atol=1e-5)
    else:
        assert torch.allclose(a, b, rtol=1e-6, atol=0)


def test_he_defaults_differ_from_kaiming_only_by_the_nonlinearity_name():
    ga, gb = _pair(5)
    a = wi.he_normal_(torch.empty(30, 40), generator=ga)  # relu
    b = wi.kaiming_normal_(torch.empty(30, 40), generator=gb)  # leaky_relu with slope 0 == relu
    assert torch.equal(a, b)


# ---------------------------------------------------------------- reproducibility
RANDOM_FUNCTIONS = [
    lambda t, g: wi.uniform_(t, generator=g),
    lambda t, g: wi.normal_(t, generator=g),
    lambda t, g: wi.trunc_normal_(t, generator=g),
    lambda t, g: wi.sparse_(t, 0.5, generator=g),
    lambda t, g: wi.orthogonal_(t, generator=g),
    lambda t, g: wi.variance_scaling_(t, generator=g),
    lambda t, g: wi.xavier_uniform_(t, generator=g),
    lambda t, g: wi.xavier_normal_(t, generator=g),
    lambda t, g: wi.he_uniform_(t, generator=g),
    lambda t, g: wi.he_normal_(t, generator=g),
    lambda t, g: wi.kaiming_uniform_(t, generator=g),
    lambda t, g: wi.kaiming_normal_(t, generator=g),
    lambda t, g: wi.lecun_uniform_(t, generator=g),
    lambda t, g: wi.lecun_normal_(t, generator=g),
]


@pytest.mark.parametrize("fill", RANDOM_FUNCTIONS)
def test_seeded_generator_reproduces_a_draw_and_leaves_global_rng_alone(fill):
    state = torch.random.get_rng_state()
    a = fill(torch.empty(25, 35), torch.Generator().manual_seed(7))
    b = fill(torch.empty(25, 35), torch.Generator().manual_seed(7))
    c = fill(torch.empty(25, 35), torch.Generator().manual_seed(8))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert torch.equal(state, torch.random.get_rng_state())


@pytest.mark.parametrize("fill", RANDOM_FUNCTIONS)
def test_returns_the_same_tensor_filled_in_place(fill):
    t = torch.full((25, 35), float("nan"))
    assert fill(t, None) is t
    assert torch.isfinite(t).all()


def test_in_place_on_a_parameter_without_grad_history():
    p = torch.nn.Parameter(torch.empty(10, 20))
    wi.xavier_uniform_(p)
    assert p.grad_fn is None and p.requires_grad


# ---------------------------------------------------------------- explicit fans
def test_explicit_fans_override_the_shape():
    t = wi.he_normal_(torch.empty(2000), fan_in=50, generator=torch.Generator().manual_seed(0))
    assert ks_normal(t, math.sqrt(2.0 / 50)) > P_MIN
    u = wi.xavier_uniform_(torch.empty(40, 40), fan_in=10, fan_out=30)
    assert ks_uniform(u, math.sqrt(6.0 / 40)) > P_MIN


def test_deterministic_fillers():
    assert torch.equal(wi.zeros_(torch.ones(3, 4)), torch.zeros(3, 4))
    assert torch.equal(wi.ones_(torch.zeros(3, 4)), torch.ones(3, 4))
    assert torch.equal(wi.constant_(torch.zeros(3, 4), 0.25), torch.full((3, 4), 0.25))
    assert torch.equal(wi.eye_(torch.empty(3, 5)), torch.eye(3, 5))
    for groups in (1, 2):
        w = torch.empty(4, 3, 3, 3)
        assert torch.equal(wi.dirac_(w.clone(), groups), torch.nn.init.dirac_(w.clone(), groups))


def test_dirac_conv_is_identity():
    conv = torch.nn.Conv2d(6, 6, 3, padding=1, bias=False)
    wi.dirac_(conv.weight)
    x = torch.randn(2, 6, 7, 7)
    assert torch.equal(conv(x), x)


# ---------------------------------------------------------------- bad input
BAD_CALLS = [
    (lambda t: wi.xavier_uniform_(t, gain=-1.0), ValueError, "gain must be >= 0, got -1.0"),
    (lambda t: wi.xavier_normal_(t, gain=float("nan")), ValueError, "gain must be a finite number, got nan"),
    (lambda t: wi.he_uniform_(t, mode="fan_avg"), ValueError,
     "mode='fan_avg' is not supported; use one of ['fan_in', 'fan_out']"),
    (lambda t: wi.he_normal_(t, nonlinearity="relu6"), ValueError,
     "nonlinearity='relu6' is not supported; use one of ["),
    (lambda t: wi.he_normal_(t, a=float("inf"), nonlinearity="leaky_relu"), ValueError,
     "a must be a finite number, got inf"),
    (lambda t: wi.variance_scaling_(t, mode="avg"), ValueError,
     "mode='avg' is not supported; use one of ['fan_in', 'fan_out', 'fan_avg']"),
    (lambda t: wi.variance_scaling_(t, distribution="gauss"), ValueError,
     "distribution='gauss' is not supported; use one of ['truncated_normal', 'normal', 'uniform']"),
    (lambda t: wi.variance_scaling_(t, scale=-2.0), ValueError, "scale must be >= 0, got -2.0"),
    (lambda t: wi.variance_scaling_(t, fan_in=0), ValueError, "fan_in must be > 0, got 0.0"),
    (lambda t: wi.variance_scaling_(t, mode="fan_out", fan_out=-3), ValueError, "fan_out must be > 0, got -3.0"),
    (lambda t: wi.normal_(t, std=-1.0), ValueError, "std must be >= 0, got -1.0"),
    (lambda t: wi.normal_(t, mean=float("nan")), ValueError, "mean must be a finite number, got nan"),
    (lambda t: wi.uniform_(t, 1.0, 0.0), ValueError, "a must be <= b, got a=1.0, b=0.0"),
    (lambda t: wi.trunc_normal_(t, a=2.0, b=-2.0), ValueError, "a must be < b, got a=2.0, b=-2.0"),
    (lambda t: wi.trunc_normal_(t, std=0.0), ValueError, "std must be > 0, got 0.0"),
    (lambda t: wi.orthogonal_(t, gain=-0.5), ValueError, "gain must be >= 0, got -0.5"),
    (lambda t: wi.sparse_(t, sparsity=1.5), ValueError, "sparsity must be in [0, 1], got 1.5"),
    (lambda t: wi.xavier_uniform_(t, gain="1"), TypeError, "gain must be a real number, got '1' of type str"),
    (lambda t: wi.xavier_uniform_(t, gain=True), TypeError, "gain must be a real number, got True of type bool"),
    (lambda t: wi.xavier_uniform_(t, generator=123), TypeError, "generator must be a torch.Generator or None, got int"),
    (lambda t: wi.calculate_gain("relu", 0.1), ValueError, "param=0.1 is not used by nonlinearity='relu'"),
    # calculate_gain's param: a ValueError, as torch.nn.init raises
    (lambda t: wi.calculate_gain("leaky_relu", "0.1"), ValueError, "param='0.1' is not a valid number"),
    (lambda t: wi.dirac_(torch.empty(4, 3, 3, 3), groups=3), ValueError,
     "groups=3 must divide the output channels, got 4"),
    (lambda t: wi.dirac_(t), ValueError, "tensor must be 3-, 4- or 5-D for dirac_, got shape (6, 7)"),
]


@pytest.mark.parametrize("call, error, message", BAD_CALLS)
def test_bad_input_names_the_parameter_and_modifies_nothing(call, error, message):
    t = torch.full((6, 7), 3.0)
    with pytest.raises(error) as info:
        call(t)
    assert message in str(info.value)
    assert torch.equal(t, torch.full((6, 7), 3.0))


@pytest.mark.parametrize(
    "fill",
    [wi.xavier_uniform_, wi.xavier_normal_, wi.he_uniform_, wi.he_normal_, wi.kaiming_uniform_,
     wi.kaiming_normal_, wi.lecun_uniform_, wi.lecun_normal_, wi.variance_scaling_, wi.orthogonal_],
)
def test_fan_based_schemes_refuse_one_dimensional_tensors(fill):
    t = torch.full((5,), 3.0)
    with pytest.raises(ValueError, match=r"at least 2 dimensions .* got shape \(5,\)"):
        fill(t)
    assert torch.equal(t, torch.full((5,), 3.0))


@pytest.mark.parametrize("bad", [[1.0, 2.0], np.zeros((3, 3)), None])
def test_non_tensors_raise_type_error(bad):
    with pytest.raises(TypeError, match="tensor must be a torch.Tensor"):
        wi.xavier_uniform_(bad)


def test_integer_tensors_raise_type_error():
    with pytest.raises(TypeError, match="floating-point dtype, got torch.int64"):
        wi.he_normal_(torch.zeros(3, 3, dtype=torch.int64))


@pytest.mark.parametrize("fill", [wi.xavier_uniform_, wi.he_normal_, wi.orthogonal_, wi.zeros_, wi.normal_,
                                  wi.trunc_normal_])
def test_zero_element_tensor_warns_and_is_left_alone(fill):
    t = torch.empty(0, 5)
    with pytest.warns(UserWarning, match="^Initializing zero-element tensors is a no-op$"):  # torch's text
        assert fill(t) is t


def test_a_real_call_does_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        wi.he_normal_(torch.empty(4, 4))


def test_glorot_aliases():
    assert wi.glorot_uniform_ is wi.xavier_uniform_
    assert wi.glorot_normal_ is wi.xavier_normal_
