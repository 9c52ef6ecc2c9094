"""RBM conditionals against brute-force enumeration, sampling, training, and bad input."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from weightinit.boltzmann import RBM, RBMConfig, RBMTrainer, train_rbm
from weightinit.data import load_dataset
from weightinit.runs import devices as precision_module


def tiny_rbm(n_visible=4, n_hidden=3, visible="bernoulli", seed=0, scale=1.0) -> RBM:
    g = torch.Generator().manual_seed(seed)
    rbm = RBM(n_visible, n_hidden, visible).double()
    with torch.no_grad():
        rbm.W.normal_(0, scale, generator=g)
        rbm.b_v.normal_(0, 1, generator=g)
        rbm.b_h.normal_(0, 1, generator=g)
    return rbm


def states(n: int) -> torch.Tensor:
    return torch.tensor(list(itertools.product([0.0, 1.0], repeat=n)), dtype=torch.float64)


def energy(rbm: RBM, v: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """E(v, h) for every pair of rows: (n_v, n_h), written from the definition."""
    interaction = v @ rbm.W.T @ h.T  # h^T W v
    if rbm.visible == "bernoulli":
        visible_term = -(v @ rbm.b_v)[:, None]
    else:
        visible_term = 0.5 * ((v - rbm.b_v) ** 2).sum(1)[:, None]
    return visible_term - (h @ rbm.b_h)[None, :] - interaction


@pytest.fixture
def bernoulli_joint():
    rbm = tiny_rbm()
    v, h = states(4), states(3)
    joint = torch.exp(-energy(rbm, v, h))
    return rbm, v, h, joint / joint.sum()


def test_prob_h_is_the_conditional_of_the_joint(bernoulli_joint):
    rbm, v, h, joint = bernoulli_joint
    brute = (joint @ h) / joint.sum(1, keepdim=True)  # E[h | v] = p(h_j = 1 | v)
    assert torch.allclose(rbm.prob_h(v), brute, atol=1e-12)


def test_prob_v_is_the_conditional_of_the_joint(bernoulli_joint):
    rbm, v, h, joint = bernoulli_joint
    brute = (joint.T @ v) / joint.sum(0)[:, None]
    assert torch.allclose(rbm.prob_v(h), brute, atol=1e-12)


def test_free_energy_sums_out_the_hidden_units(bernoulli_joint):
    rbm, v, h, _ = bernoulli_joint
    brute = -torch.logsumexp(-energy(rbm, v, h), dim=1)
    assert torch.allclose(rbm.free_energy(v), brute, atol=1e-12)


def test_gaussian_free_energy_and_conditionals():
    rbm = tiny_rbm(3, 4, "gaussian")
    v = torch.randn(5, 3, dtype=torch.float64)
    h = states(4)
    assert torch.allclose(rbm.free_energy(v), -torch.logsumexp(-energy(rbm, v, h), dim=1), atol=1e-12)
    assert torch.allclose(rbm.prob_v(h), h @ rbm.W + rbm.b_v)


def test_exact_pseudo_likelihood_is_the_sum_of_the_conditionals(bernoulli_joint):
    rbm, v, h, joint = bernoulli_joint
    p_v = joint.sum(1)  # marginal of every visible state, in the order of `states`
    index = {tuple(row.tolist()): i for i, row in enumerate(v)}
    brute = []
    for row in v:
        total = 0.0
        for i in range(4):
            flipped = row.clone()
            flipped[i] = 1 - flipped[i]
            a, b = p_v[index[tuple(row.tolist())]], p_v[index[tuple(flipped.tolist())]]
            total += math.log(a / (a + b))
        brute.append(total)
    assert torch.allclose(rbm.pseudo_likelihood(v, exact=True), torch.tensor(brute, dtype=torch.float64), atol=1e-10)


@pytest.mark.slow
def test_sampled_pseudo_likelihood_is_unbiased(bernoulli_joint):
    rbm, v, _, _ = bernoulli_joint
    g = torch.Generator().manual_seed(0)
    estimates = torch.stack([rbm.pseudo_likelihood(v, generator=g) for _ in range(4000)])
    exact = rbm.pseudo_likelihood(v, exact=True)
    stderr = estimates.std(0) / math.sqrt(len(estimates))
    assert ((estimates.mean(0) - exact).abs() < 5 * stderr + 1e-9).all()


def test_sampled_means_match_the_probabilities():
    rbm = tiny_rbm(6, 5)
    g = torch.Generator().manual_seed(1)
    v = states(6)[[3, 17, 42]].repeat_interleave(20000, 0)
    h = rbm.sample_h(v, g)
    assert set(h.unique().tolist()) <= {0.0, 1.0}
    p = rbm.prob_h(v[::20000])
    means = h.view(3, 20000, 5).mean(1)
    assert (means - p).abs().max() < 4 * math.sqrt(0.25 / 20000)
    vs = rbm.sample_v(h[:20000], g)
    assert (vs.mean(0) - rbm.prob_v(h[:20000]).mean(0)).abs().max() < 4 * math.sqrt(0.25 / 20000)


def test_gaussian_visible_samples_have_unit_variance():
    rbm = tiny_rbm(3, 2, "gaussian")
    h = torch.ones(50000, 2, dtype=torch.float64)
    v = rbm.sample_v(h, torch.Generator().manual_seed(0))
    assert torch.allclose(v.mean(0), rbm.prob_v(h[:1])[0], atol=0.03)
    assert torch.allclose(v.var(0), torch.ones(3, dtype=torch.float64), atol=0.03)


@pytest.mark.parametrize("visible", ["bernoulli", "gaussian"])
def test_long_gibbs_chains_stay_finite(visible):
    rbm = tiny_rbm(20, 10, visible, scale=0.5)
    v0 = torch.rand(8, 20, dtype=torch.float64)
    v = rbm.gibbs(v0, steps=3000, generator=torch.Generator().manual_seed(0))
    assert torch.isfinite(v).all()
    if visible == "bernoulli":
        assert set(v.unique().tolist()) <= {0.0, 1.0}


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


@pytest.mark.parametrize("persistent, sample_visible", [(False, True), (True, True), (False, False), (True, False)])
def test_cd_and_pcd_reduce_reconstruction_error_on_digits(digits, persistent, sample_visible):
    rbm = RBM(64, 64)
    x = digits.train.x
    before = rbm.reset_parameters(x, torch.Generator().manual_seed(0)).reconstruction_error(digits.test.x)
    # scikit-learn's settings (lr 0.1, no momentum): momentum 0.9 multiplies PCD's step tenfold
    config = RBMConfig(epochs=15, batch_size=10, lr=0.1, momentum=0.0, final_momentum=0.0, persistent=persistent,
                       sample_visible=sample_visible, device="cpu")
    history = train_rbm(rbm, x, config, monitor=digits.test.x)
    after = history.epochs[-1].reconstruction_error
    assert after < 0.6 * before
    assert history.epochs[-1].pseudo_likelihood > history.epochs[0].pseudo_likelihood + 1
    assert all(torch.isfinite(p).all() for p in rbm.parameters())


def test_training_is_reproducible_and_leaves_x_alone(digits):
    x = digits.train.x.clone()
    a, b = RBM(64, 16), RBM(64, 16)
    config = RBMConfig(epochs=2, batch_size=20, device="cpu", persistent=True, k=2, weight_decay=1e-4)
    train_rbm(a, x, config)
    train_rbm(b, x, config)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert torch.equal(x, digits.train.x)


def test_initialization_follows_hintons_guide(digits):
    rbm = RBM(64, 200).reset_parameters(digits.train.x, torch.Generator().manual_seed(0))
    assert rbm.W.std().item() == pytest.approx(0.01, rel=0.05) and abs(rbm.W.mean().item()) < 1e-3
    assert torch.count_nonzero(rbm.b_h) == 0
    p = digits.train.x.mean(0).clamp(1e-3, 1 - 1e-3)
    assert torch.allclose(rbm.b_v, torch.log(p / (1 - p)), atol=1e-5)


def test_trainer_state_round_trip_continues_identically(digits):
    x = digits.train.x
    config = RBMConfig(batch_size=50, persistent=True, device="cpu")
    first = RBM(64, 16).reset_parameters(x, torch.Generator().manual_seed(0))
    trainer = RBMTrainer(first, config)
    trainer.epoch(x)
    second = RBM(64, 16)
    second.load_state_dict(first.state_dict())
    resumed = RBMTrainer(second, config)
    resumed.load_state_dict(trainer.state_dict())
    trainer.epoch(x)
    resumed.epoch(x)
    assert all(torch.equal(p, q) for p, q in zip(first.parameters(), second.parameters()))


@pytest.mark.skipif(not precision_module.bf16_supported(torch.device("cpu")), reason="no native bfloat16 on this CPU")
@pytest.mark.slow
def test_bf16_training_matches_float32_quality(digits):
    errors = {}
    for precision in ("float32", "bf16"):
        rbm = RBM(64, 64)
        history = train_rbm(rbm, digits.train.x, RBMConfig(epochs=10, batch_size=10, lr=0.05, precision=precision,
                                                           device="cpu"), monitor=digits.test.x)
        errors[precision] = history.epochs[-1].reconstruction_error
    assert errors["bf16"] == pytest.approx(errors["float32"], rel=0.05)


def test_bf16_falls_back_to_float32_where_unsupported(monkeypatch):
    monkeypatch.setattr(precision_module, "bf16_supported", lambda device: False)
    with pytest.warns(RuntimeWarning, match="falling back to float32"):
        trainer = RBMTrainer(RBM(4, 3), RBMConfig(precision="bf16"))
    assert trainer.dtype == torch.float32


@pytest.mark.parametrize(
    "data, message",
    [
        (torch.full((3, 4), 1.5), r"values in \[0, 1\] for Bernoulli visible units, got \[1.5, 1.5\]"),
        (torch.tensor([[0.0, float("nan"), 0.0, 0.0]]), "contains NaN or inf"),
        (torch.zeros(3, 5), r"must have shape \(n_samples, 4\), got \(3, 5\)"),
        (torch.zeros(0, 4), "is empty"),
        (torch.zeros(3, 4, dtype=torch.int64), "floating-point"),
    ],
)
def test_bad_data_is_refused(data, message):
    with pytest.raises((ValueError, TypeError), match=message):
        train_rbm(RBM(4, 3), data, RBMConfig(epochs=1))


@pytest.mark.parametrize(
    "make, error, message",
    [
        (lambda: RBM(4, 0), ValueError, "n_hidden must be >= 1, got 0"),
        (lambda: RBM(0, 3), ValueError, "n_visible must be >= 1, got 0"),
        (lambda: RBM(4, 3, "poisson"), ValueError,
         "visible='poisson' is not supported; use one of ['bernoulli', 'gaussian']"),
        (lambda: RBMConfig(k=0), ValueError, "k must be >= 1, got 0"),
        (lambda: RBMConfig(lr=0), ValueError, "lr must be > 0, got 0"),
        (lambda: RBMConfig(momentum=1.0), ValueError, "momentum must be in [0, 1), got 1.0"),
        (lambda: RBMConfig(weight_decay=-1.0), ValueError, "weight_decay must be >= 0, got -1.0"),
        (lambda: RBMConfig(precision="fp8"), ValueError,
         "precision='fp8' is not supported; use one of ['float32', 'bf16']"),
        (lambda: RBMConfig(persistent="yes"), TypeError, "persistent must be a bool"),
        (lambda: RBMConfig(sample_visible=1), TypeError, "sample_visible must be a bool"),
        (lambda: RBM(4, 3).gibbs(torch.zeros(2, 4), steps=0), ValueError, "steps must be >= 1, got 0"),
        (lambda: RBM(4, 3, "gaussian").pseudo_likelihood(torch.zeros(2, 4)), ValueError, "visible='bernoulli' only"),
    ],
)
def test_bad_parameters(make, error, message):
    with pytest.raises(error) as info:
        make()
    assert message in str(info.value)


def test_mean_field_reconstruction_draws_no_visible_samples(digits):
    """sample_visible=False: the negative phase's v is p(v | h), so a CD-1 update draws only the
    B x H uniforms of h0 (and the visible units' random stream is never touched)."""
    x = digits.train.x[:40]
    draws = []
    for sample_visible in (True, False):
        rbm = RBM(64, 16)
        rbm.reset_parameters(x, torch.Generator().manual_seed(0))
        trainer = RBMTrainer(rbm, RBMConfig(batch_size=40, sample_visible=sample_visible, seed=1))
        before = trainer.generator.get_state()
        trainer.step(x)
        used = torch.Generator().manual_seed(1)
        used.set_state(before)
        # count the uniforms consumed by replaying the stream until it matches the trainer's state
        n = 0
        while not torch.equal(used.get_state(), trainer.generator.get_state()) and n < 10_000:
            torch.empty(1).uniform_(generator=used)
            n += 1
        draws.append(n)
    assert draws == [40 * 16 + 40 * 64, 40 * 16]
