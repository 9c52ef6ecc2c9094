"""Partition functions: enumeration against brute force, AIS against enumeration."""

from __future__ import annotations

import math

import pytest
import torch
from scipy import integrate

from weightinit.boltzmann import RBM
from weightinit.boltzmann.conservative import raise_log_likelihood
from weightinit.boltzmann.partition import ais_log_partition, average_log_likelihood, beta_schedule, log_partition_exact

from .test_rbm import states, tiny_rbm


def test_exact_log_z_matches_summing_over_visible_states():
    rbm = tiny_rbm(10, 6, seed=3)
    brute = torch.logsumexp(-rbm.free_energy(states(10)), 0).item()
    assert log_partition_exact(rbm) == pytest.approx(brute, abs=1e-9)


def test_exact_gaussian_log_z_matches_numerical_integration():
    rbm = tiny_rbm(1, 3, "gaussian", seed=4, scale=0.7)
    z, _ = integrate.quad(lambda x: math.exp(-rbm.free_energy(torch.tensor([[x]], dtype=torch.float64)).item()),
                          -30, 30, epsabs=1e-12, limit=200)
    assert log_partition_exact(rbm) == pytest.approx(math.log(z), abs=1e-8)


@pytest.mark.parametrize("visible, scale", [("bernoulli", 1.0), ("gaussian", 0.2)])
@pytest.mark.slow
def test_ais_agrees_with_the_exact_value(visible, scale):
    rbm = tiny_rbm(12, 8, visible, seed=0, scale=scale).float()
    data = (torch.rand(200, 12, generator=torch.Generator().manual_seed(1)) < 0.4).float() if visible == "bernoulli" \
        else torch.randn(200, 12, generator=torch.Generator().manual_seed(1))
    result = ais_log_partition(rbm, data=data, n_chains=400, n_steps=2000, generator=torch.Generator().manual_seed(2))
    exact = log_partition_exact(rbm)
    assert result.log_z == pytest.approx(exact, abs=0.1)
    assert result.log_z_low <= exact + 0.05 and exact - 0.05 <= result.log_z_high


def test_ais_without_data_and_log_likelihood():
    rbm = tiny_rbm(10, 5, seed=5).float()
    result = ais_log_partition(rbm, n_chains=300, n_steps=1500, generator=torch.Generator().manual_seed(0))
    exact = log_partition_exact(rbm)
    assert result.log_z == pytest.approx(exact, abs=0.1)
    v = states(10).float()
    log_p = (-rbm.free_energy(v).double() - exact)
    assert torch.logsumexp(log_p, 0).item() == pytest.approx(0.0, abs=1e-6)  # a normalized distribution
    assert average_log_likelihood(rbm, v[:7], exact) == pytest.approx(log_p[:7].mean().item(), abs=1e-6)


def test_beta_schedule():
    betas = beta_schedule(14_500)
    assert len(betas) == 14_501 and betas[0] == 0 and betas[-1] == 1
    assert (betas[1:] > betas[:-1]).all()
    assert (betas <= 0.5).sum() == 501  # 500 steps to 0.5, as in Salakhutdinov & Murray
    assert len(beta_schedule(100)) == 101 and len(beta_schedule(2)) == 3


def test_exact_refuses_large_hidden_layers():
    with pytest.raises(ValueError, match="n_hidden=21 > 20, use AIS"):
        log_partition_exact(RBM(5, 21))


def _model_data(rbm: RBM, n: int, seed: int) -> torch.Tensor:
    """``n`` near-exact samples of a tiny Bernoulli ``rbm``: 2,000 Gibbs steps from uniform noise."""
    g = torch.Generator().manual_seed(seed)
    v = (torch.rand(n, rbm.n_visible, generator=g) < 0.5).to(rbm.W.dtype)
    return rbm.gibbs(v, 2000, g)


# The stated tolerance: on models with up to 20 hidden units, AIS with 400 chains x 2,000 steps
# is within 0.05 nats of the exact log Z (errors seen: under 0.003 nats).
AIS_TOLERANCE = 0.05


@pytest.mark.parametrize("n_visible, n_hidden, scale, seed", [(16, 20, 0.5, 0), (24, 12, 1.0, 1), (10, 20, 1.5, 2)])
@pytest.mark.slow
def test_ais_matches_exact_log_z_up_to_20_hidden_units(n_visible, n_hidden, scale, seed):
    rbm = tiny_rbm(n_visible, n_hidden, seed=seed, scale=scale).float()
    data = _model_data(rbm, 500, seed)
    result = ais_log_partition(rbm, data=data, n_chains=400, n_steps=2000, generator=torch.Generator().manual_seed(3))
    exact = log_partition_exact(rbm)
    assert result.log_z == pytest.approx(exact, abs=AIS_TOLERANCE)
    assert result.log_z_low - 0.02 <= exact <= result.log_z_high + 0.02


@pytest.mark.parametrize("n_visible, n_hidden, scale, seed", [(16, 20, 0.5, 0), (24, 12, 1.0, 1)])
@pytest.mark.slow
def test_raise_is_a_conservative_estimate_close_to_the_exact_log_likelihood(n_visible, n_hidden, scale, seed):
    rbm = tiny_rbm(n_visible, n_hidden, seed=seed, scale=scale).float()
    data = _model_data(rbm, 500, seed)
    test = _model_data(rbm, 200, seed + 10)
    exact = average_log_likelihood(rbm, test, log_partition_exact(rbm))
    result, per_image = raise_log_likelihood(rbm, test, data=data, n_steps=2000,
                                             generator=torch.Generator().manual_seed(4), per_image=True)
    assert result.n_images == 200 and result.n_steps == 2000 and per_image.shape == (200,)
    assert result.log_likelihood == pytest.approx(per_image.mean().item())
    # a lower bound in expectation (the annealed model is close to the RBM), and a tight one
    assert exact - 0.05 <= result.log_likelihood <= exact + 0.02  # seen: within 0.004
    assert 0 < result.std_err < 1


def test_raise_on_gaussian_visible_units_and_with_few_steps():
    rbm = tiny_rbm(6, 8, "gaussian", seed=1, scale=0.2).float()
    data = torch.randn(300, 6, generator=torch.Generator().manual_seed(1))
    exact = average_log_likelihood(rbm, data[:100], log_partition_exact(rbm))
    result = raise_log_likelihood(rbm, data[:100], data=data, n_steps=1000, generator=torch.Generator().manual_seed(2))
    assert exact - 0.15 <= result.log_likelihood <= exact + 0.02  # seen: 0.07 below (data not the model's)
    loose = raise_log_likelihood(rbm, data[:100], data=data, n_steps=2, generator=torch.Generator().manual_seed(2))
    assert loose.log_likelihood < exact  # few temperatures: a looser bound, still below


def test_raise_refuses_bad_arguments():
    rbm = RBM(5, 3)
    with pytest.raises(ValueError, match="n_steps must be >= 1, got 0"):
        raise_log_likelihood(rbm, torch.zeros(2, 5), n_steps=0)
    with pytest.raises(ValueError, match=r"must have shape \(n_samples, 5\)"):
        raise_log_likelihood(rbm, torch.zeros(2, 4))
