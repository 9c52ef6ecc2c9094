"""The likelihood-frontier settings of the RBM trainer (lr schedule, growing k, parameter
averaging, sparsity), the named recipes and the rules that fit their length to the data, on
scikit-learn's digits. Device: cpu."""

from __future__ import annotations

import copy

import pytest
import torch

from weightinit.boltzmann import RBM, RBMConfig, RBMTrainer, train_rbm
from weightinit.boltzmann.recipes import (
    MIN_UPDATES,
    RECIPES,
    ais_steps_for,
    auto_pretrain_epochs,
    epochs_for_updates,
    rbm_epochs,
    recipe_config,
    updates_per_epoch,
)
from weightinit.data.datasets import load_dataset


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def test_k_grows_linearly_from_k_to_k_final():
    config = RBMConfig(epochs=5, k=1, k_final=25)
    assert [config.k_at(e) for e in range(7)] == [1, 7, 13, 19, 25, 25, 25]
    assert [RBMConfig(epochs=3, k=2).k_at(e) for e in range(3)] == [2, 2, 2]
    assert RBMConfig(epochs=1, k=1, k_final=25).k_at(0) == 1


def test_linear_lr_decays_to_zero_per_update(digits):
    x = digits.train.x[:100]
    config = RBMConfig(epochs=2, batch_size=25, lr=0.08, lr_schedule="linear", device="cpu")
    trainer = RBMTrainer(RBM(64, 8).reset_parameters(x), config)
    seen: list[float] = []
    for _ in range(2):
        trainer.epoch(x, on_batch=lambda: seen.append(trainer.lr))
    assert seen == pytest.approx([0.08 * (1 - t / 8) for t in range(8)])
    assert config.lr_at(1.5) == 0.0 and RBMConfig(lr=0.08).lr_at(0.7) == 0.08


def test_the_trained_rbm_holds_the_moving_average_of_its_parameters(digits):
    x = digits.train.x[:200]
    config = RBMConfig(epochs=1, batch_size=50, average=0.6, persistent=True, device="cpu")
    rbm = RBM(64, 8).reset_parameters(x, torch.Generator().manual_seed(0))
    trainer = RBMTrainer(rbm, config)
    expected: list[torch.Tensor] | None = None

    def track() -> None:  # the EMA recomputed from the raw parameters after every update
        nonlocal expected
        now = [p.clone() for p in (rbm.W, rbm.b_v, rbm.b_h)]
        expected = now if expected is None else [0.6 * e + 0.4 * p for e, p in zip(expected, now)]

    trainer.epoch(x, on_batch=track)
    raw = rbm.W.clone()
    assert all(torch.allclose(a, e, atol=1e-6) for a, e in zip(trainer.averaged, expected))
    trainer.use_average()
    assert torch.allclose(rbm.W, expected[0], atol=1e-6) and not torch.equal(rbm.W, raw)
    # train_rbm ends with the average; its checkpoints hold the raw parameters, which training continues from
    averaged, saved = RBM(64, 8), []
    train_rbm(averaged, x, config, checkpoint=lambda state: saved.append(copy.deepcopy(state)))
    assert torch.equal(averaged.W, saved[-1]["trainer"]["averaged"][0])
    assert not torch.allclose(saved[-1]["rbm"]["W"], averaged.W)


def test_sparsity_target_pulls_the_mean_hidden_activation_towards_it(digits):
    x = digits.train.x
    means = {}
    for cost in (0.0, 1.0):
        rbm = RBM(64, 32)
        train_rbm(rbm, x, RBMConfig(epochs=5, batch_size=20, lr=0.05, sparsity_cost=cost, sparsity_target=0.02,
                                    device="cpu"))
        means[cost] = rbm.prob_h(x).mean().item()
    assert means[1.0] < 0.5 * means[0.0] and means[1.0] < 0.06


@pytest.mark.parametrize("settings", [dict(average=0.9, sparsity_cost=0.1), dict(k=1, k_final=3, lr_schedule="linear")])
def test_resuming_mid_run_continues_identically(digits, settings):
    x = digits.train.x[:300]
    config = RBMConfig(epochs=3, batch_size=50, persistent=True, device="cpu", **settings)
    whole = RBM(64, 8)
    train_rbm(whole, x, config)
    saved = []
    first = RBM(64, 8)
    train_rbm(first, x, config, checkpoint=lambda state: saved.append(copy.deepcopy(state)))
    resumed = RBM(64, 8)
    train_rbm(resumed, x, config, resume=saved[0])  # from the end of epoch 1
    assert all(torch.equal(p, q) for p, q in zip(whole.parameters(), resumed.parameters()))


@pytest.mark.slow
def test_cd_k_growing_and_averaged_pcd_train_on_digits(digits):
    # 2,000 updates (28 epochs of 72 batches): the former 3 epochs (216 updates) left the reconstruction error
    # where it started (4.70 -> 4.68) and the pseudo-likelihood within its noise, which the new digits split
    # tipped below the old bound. Measured (seeds 0-2): PL -22.7..-25.3 -> -16.5..-20.9, recon 4.7 -> 1.8..2.5
    x = digits.train.x
    epochs = epochs_for_updates(2000, len(x), 20)
    for name in ("cd25", "pcd"):
        config, binarize = recipe_config(name, epochs=epochs, batch_size=20, device="cpu")
        history = train_rbm(RBM(64, 32), x, config, monitor=digits.test.x)
        first, last = history.epochs[0], history.epochs[-1]
        assert binarize and last.pseudo_likelihood > first.pseudo_likelihood + 1, name
        assert last.reconstruction_error < 0.7 * first.reconstruction_error, name


def test_recipes_are_valid_configs_and_overrides_win():
    for name, recipe in RECIPES.items():
        config, binarize = recipe_config(name)
        assert isinstance(config, RBMConfig) and binarize == recipe.binarize and recipe.description
    config, _ = recipe_config("cd25")
    assert (config.k, config.k_final, config.lr_schedule) == (1, 25, "linear")
    config, _ = recipe_config("pcd", lr=0.01, epochs=None)
    assert config.lr == 0.01 and config.epochs == RECIPES["pcd"].settings["epochs"] and config.persistent
    with pytest.raises(ValueError, match=r"recipe='cd2' is not supported; use one of \['guide', 'cd1'"):
        recipe_config("cd2")


@pytest.mark.parametrize(
    "settings, message",
    [
        (dict(lr_schedule="cosine"), "lr_schedule='cosine' is not supported; use one of ['constant', 'linear']"),
        (dict(k_final=0), "k_final must be >= 1, got 0"),
        (dict(average=1.0), "average must be in [0, 1), got 1.0"),
        (dict(sparsity_cost=-1.0), "sparsity_cost must be >= 0, got -1.0"),
        (dict(sparsity_target=1.0), "sparsity_target must be in (0, 1), got 1.0"),
        (dict(sparsity_decay=1.5), "sparsity_decay must be in [0, 1), got 1.5"),
    ],
)
def test_bad_settings_are_refused(settings, message):
    with pytest.raises(ValueError) as info:
        RBMConfig(**settings)
    assert message in str(info.value)


# ------------------------------------------------------------------ lengths that fit the data (issue 29)
def test_every_recipe_keeps_its_epochs_on_mnist_and_gets_enough_updates_on_digits():
    for name in RECIPES:
        epochs = recipe_config(name)[0].epochs
        assert rbm_epochs(epochs, 60_000, 100) == epochs, name  # MNIST: the published settings stay
        assert rbm_epochs(epochs, 60_000, 100) * 600 >= MIN_UPDATES
        on_digits = rbm_epochs(epochs, 1437, 100)
        assert on_digits * 15 >= MIN_UPDATES and (on_digits - 1) * 15 < MIN_UPDATES or on_digits == epochs, name
    assert rbm_epochs(10, 1437, 100) == 400 and rbm_epochs(10, 1437, 10) == 42  # 144 updates a pass
    assert updates_per_epoch(1437, 100) == 15 and updates_per_epoch(1400, 100) == 14
    assert epochs_for_updates(2000, 1437, 100) == 134 and epochs_for_updates(1, 1437, 100) == 1


def test_ais_temperatures_are_mnists_in_proportion_to_the_visible_units():
    assert ais_steps_for(784) == 14_500  # Salakhutdinov & Murray 2008, unchanged
    assert ais_steps_for(64) == 1184 and ais_steps_for(1) == 19
    assert all(ais_steps_for(d) >= 14_500 * d / 784 for d in (1, 63, 64, 500, 1000))


def test_the_pretraining_rule_is_the_dbn_estimators_rule():
    # boltzmann.recipes holds the rule (the CLI may not import estimators, docs/architecture.md);
    # the estimators' pretrain_epochs="auto" is that very function
    from weightinit.estimators import _dbn_base as dbn_base

    assert dbn_base.auto_pretrain_epochs is auto_pretrain_epochs
    assert auto_pretrain_epochs(1197, 100) == 100 and auto_pretrain_epochs(50_000, 100) == 5
