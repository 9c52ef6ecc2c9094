"""weightinit.init as a drop-in for torch.nn.init, with torch as the oracle: the same
exceptions, the same warning text, the same numbers for the same generator, and PyTorch's own
test/nn/test_init.py checks (the ones about behaviour a caller relies on) run against
weightinit. Where weightinit deliberately differs, the test says so and
the README lists it (its "Deliberate differences from torch.nn.init").

Device: none.
"""

from __future__ import annotations

import random
import string
import warnings

import pytest
import torch
import torch.nn.init as torch_init
from scipy import stats

import weightinit.init as init


def _same_draw(name: str, *args, shape=(20, 30), **kwargs) -> tuple[torch.Tensor, torch.Tensor]:
    ours = getattr(init, name)(torch.empty(shape), *args, generator=torch.Generator().manual_seed(5), **kwargs)
    theirs = getattr(torch_init, name)(torch.empty(shape), *args, generator=torch.Generator().manual_seed(5), **kwargs)
    return ours, theirs


# ------------------------------------------------------------------ exceptions and warnings
@pytest.mark.parametrize("param", [True, [1], {"a": "b"}, "0.1"])
def test_calculate_gain_leaky_relu_refuses_a_non_number_with_value_error_as_torch(param):
    with pytest.raises(ValueError):
        torch_init.calculate_gain("leaky_relu", param)
    with pytest.raises(ValueError, match="param=.* is not a valid number"):
        init.calculate_gain("leaky_relu", param)


def test_calculate_gain_unknown_nonlinearity_is_a_value_error_as_in_torch():
    name = "".join(random.Random(0).choice(string.ascii_lowercase) for _ in range(7))
    for module in (torch_init, init):
        with pytest.raises(ValueError):
            module.calculate_gain(name)


@pytest.mark.parametrize("nonlinearity, param", [("linear", None), ("conv2d", None), ("sigmoid", None),
                                                 ("tanh", None), ("relu", None), ("leaky_relu", None),
                                                 ("leaky_relu", 0), ("leaky_relu", 0.2), ("leaky_relu", 10),
                                                 ("selu", None)])
def test_calculate_gain_equals_torch(nonlinearity, param):
    assert init.calculate_gain(nonlinearity, param) == pytest.approx(torch_init.calculate_gain(nonlinearity, param),
                                                                     rel=1e-15)


@pytest.mark.parametrize("name", ["kaiming_uniform_", "kaiming_normal_"])
def test_zero_element_warning_has_torchs_text(name):
    with warnings.catch_warnings(record=True) as theirs:
        warnings.simplefilter("always")
        getattr(torch_init, name)(torch.empty(0, 1))
    with warnings.catch_warnings(record=True) as ours:
        warnings.simplefilter("always")
        getattr(init, name)(torch.empty(0, 1))
    assert [str(w.message) for w in ours] == [str(w.message) for w in theirs] == [
        "Initializing zero-element tensors is a no-op"]
    assert ours[0].category is theirs[0].category is UserWarning


@pytest.mark.parametrize("name, dims", [("eye_", 1), ("eye_", 3), ("dirac_", 2), ("dirac_", 6),
                                        ("xavier_uniform_", 1), ("xavier_normal_", 1), ("kaiming_uniform_", 1),
                                        ("kaiming_normal_", 1)])
def test_shape_errors_are_value_errors_as_in_torch(name, dims):
    for module in (torch_init, init):
        with pytest.raises(ValueError):
            getattr(module, name)(torch.zeros([2] * dims))


# ------------------------------------------------------------------ the same numbers for the same generator
@pytest.mark.parametrize("name, args, kwargs", [
    ("uniform_", (), {"a": -0.3, "b": 0.7}),
    ("normal_", (), {"mean": 0.5, "std": 2.0}),
    ("xavier_uniform_", (), {"gain": 1.3}),
    ("xavier_normal_", (), {}),
    ("kaiming_uniform_", (), {"a": 0.1, "mode": "fan_out", "nonlinearity": "leaky_relu"}),
    ("kaiming_normal_", (), {}),
    ("trunc_normal_", (), {}),  # [-2, 2] around N(0, 1): torch's rejection sampler, draw for draw
    ("trunc_normal_", (), {"mean": 0.3, "std": 0.5, "a": -0.2, "b": 1.0}),
    ("trunc_normal_", (), {"mean": 1.0, "std": 2.0, "a": 0.0, "b": 5.0}),
])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16])
def test_seeded_draws_equal_torchs(name, args, kwargs, dtype):
    ours = getattr(init, name)(torch.empty(20, 30, dtype=dtype), *args, generator=torch.Generator().manual_seed(5),
                               **kwargs)
    theirs = getattr(torch_init, name)(torch.empty(20, 30, dtype=dtype), *args,
                                       generator=torch.Generator().manual_seed(5), **kwargs)
    assert torch.equal(ours, theirs)


def test_orthogonal_equals_torch_to_rounding():
    ours, theirs = _same_draw("orthogonal_", gain=2.0)
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-6)


def test_trunc_normal_far_tail_differs_from_torch_on_purpose():
    # Deliberate difference (listed in the README): where [a, b] holds less than 30% of
    # the mass, weightinit samples by the inverse CDF - the same distribution, other numbers.
    ours = init.trunc_normal_(torch.empty(4000), a=2.5, b=3.5, generator=torch.Generator().manual_seed(0))
    assert ((ours >= 2.5) & (ours <= 3.5)).all()
    assert stats.kstest(ours.double().numpy(), "truncnorm", args=(2.5, 3.5)).pvalue > 1e-4


def test_sparse_uses_the_generator_where_torch_uses_the_global_rng():
    # Deliberate difference: torch.nn.init.sparse_ picks its zeros with the global RNG even when a
    # generator is given; weightinit's follow the generator, so a seeded call repeats exactly.
    first = init.sparse_(torch.empty(10, 6), 0.3, generator=torch.Generator().manual_seed(1))
    torch.manual_seed(123)  # the global RNG moved: weightinit's draw must not care
    again = init.sparse_(torch.empty(10, 6), 0.3, generator=torch.Generator().manual_seed(1))
    assert torch.equal(first, again)
    assert ((first == 0).sum(0) == 3).all()


# ------------------------------------------------------------------ PyTorch's own test_init.py checks
def test_torch_trunc_normal_generator_test_passes():
    """PyTorch's test_trunc_normal_generator, verbatim but for ``init``."""
    gen = torch.Generator()
    gen.manual_seed(42)
    input_tensor = torch.empty(5)
    init.trunc_normal_(input_tensor, generator=gen)

    ref = torch.empty(5)
    torch.manual_seed(42)
    init.trunc_normal_(ref)

    assert torch.equal(input_tensor, ref)
    # torch's test then runs a KS test of these 5 draws against truncnorm(0, 1); it passes for
    # torch's numbers (the same as ours now) and is repeated here as it is written there
    assert stats.kstest(input_tensor.view(-1).tolist(), "truncnorm", args=(0, 1))[1] > 0.0001


def test_torch_calculate_gain_leaky_relu_values():
    for param, expected in ((None, 1.4141428569978354), (0, 1.4142135623730951), (0.01, 1.4141428569978354),
                            (10, 0.14071950894605836)):
        assert init.calculate_gain("leaky_relu", param) == pytest.approx(expected, rel=1e-15)


@pytest.mark.parametrize("name", ["uniform", "normal", "constant", "xavier_uniform", "xavier_normal", "kaiming_uniform",
                                  "kaiming_normal", "orthogonal", "sparse", "eye", "dirac"])
def test_torchs_deprecated_names_work_and_warn_in_its_words(name):
    args = {"constant": (0.5,), "sparse": (0.5,)}.get(name, ())
    shape = (3, 3, 3) if name == "dirac" else (4, 3)
    with warnings.catch_warnings(record=True) as theirs:
        warnings.simplefilter("always")
        expected = getattr(torch_init, name)(torch.zeros(shape), *args)
    with warnings.catch_warnings(record=True) as ours:
        warnings.simplefilter("always")
        got = getattr(init, name)(torch.zeros(shape), *args)
    assert [(w.category, str(w.message)) for w in ours] == [(w.category, str(w.message)) for w in theirs]
    assert got.shape == expected.shape
    assert name not in init.__all__  # deprecated: reachable, not advertised


# ------------------------------------------------------------------ trunc_normal_ across dtypes
# What PyTorch's device-type trunc_normal_ tests ask of every float dtype, here on the CPU with a
# seeded generator: bounds respected after rounding, the right shape of distribution, enough
# distinct values, nothing non-finite, and no pile-up at a or b. 10,000 draws each.
_N = 10_000
_HALF_DTYPES = [torch.float16, torch.bfloat16]
_ALL_FLOAT_DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16]


def _draw_trunc(dtype: torch.dtype, seed: int = 11, **kwargs) -> torch.Tensor:
    return init.trunc_normal_(torch.empty(_N, dtype=dtype), generator=torch.Generator().manual_seed(seed), **kwargs)


def _truncnorm_pvalue(values: torch.Tensor, low: float, high: float) -> float:
    # values are standard-normal draws already (mean 0, std 1), so scipy's bounds are a and b
    return stats.kstest(values.double().numpy(), "truncnorm", args=(low, high)).pvalue


@pytest.mark.parametrize("dtype", _HALF_DTYPES)
def test_trunc_normal_in_half_precision_keeps_bounds_and_shape(dtype):
    values = _draw_trunc(dtype)  # N(0, 1) cut to [-2, 2]: the rejection sampler, in the tensor's dtype
    assert values.dtype == dtype
    assert values.min().item() >= -2.0 and values.max().item() <= 2.0
    assert torch.isfinite(values).all()
    assert _truncnorm_pvalue(values, -2.0, 2.0) > 1e-4


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16])
def test_trunc_normal_narrow_interval_far_from_the_mean_fits_truncnorm(dtype):
    # [2, 3] holds about 2% of N(0, 1): the inverse-CDF path, rounded into the dtype at the end
    values = _draw_trunc(dtype, a=2.0, b=3.0)
    assert values.min().item() >= 2.0 and values.max().item() <= 3.0
    assert _truncnorm_pvalue(values, 2.0, 3.0) > 1e-4


def test_trunc_normal_narrow_interval_in_bfloat16_stays_inside():
    # bfloat16 has only 65 values in [2, 3], so a KS test would reject the staircase on its own;
    # what must hold is that rounding into the dtype never leaves the interval
    values = _draw_trunc(torch.bfloat16, a=2.0, b=3.0)
    assert values.min().item() >= 2.0 and values.max().item() <= 3.0
    assert torch.isfinite(values).all()


@pytest.mark.parametrize("dtype, at_least", [(torch.float32, 5000), (torch.float64, 5000), (torch.float16, 3000),
                                             (torch.bfloat16, 1000)])
def test_trunc_normal_uses_much_of_the_dtypes_value_space(dtype, at_least):
    values = _draw_trunc(dtype)
    assert values.unique().numel() > at_least
    assert not values.isnan().any() and not values.isinf().any()
    assert values.min().item() >= -2.0 and values.max().item() <= 2.0


@pytest.mark.parametrize("dtype", _ALL_FLOAT_DTYPES)
def test_trunc_normal_small_std_never_lands_exactly_on_a_bound(dtype):
    # std 0.1 puts a and b 20 std away: a value equal to -2 or 2 could only come from clamping
    values = _draw_trunc(dtype, std=0.1)
    assert not (values == -2.0).any()
    assert not (values == 2.0).any()
