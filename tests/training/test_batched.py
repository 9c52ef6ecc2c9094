"""Batched sweeps (weightinit.training): R runs trained as one stacked model equal the same runs
trained alone, diverged runs are masked, checkpoints resume exactly and in fit's format; bf16
autocast. Device: CPU."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

import weightinit as wi
from weightinit.data import load_dataset
from weightinit.experiments.compare import CompareConfig, compare
from weightinit.models import mlp
from weightinit.runs import devices
from weightinit.runs.interrupt import Interrupted, request_stop, stop_on_sigint
from weightinit.training import TrainConfig, can_batch, fit, fit_batched

INITS = ("normal", "xavier_uniform", "he_normal", "default")


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def _models(inits=INITS, seeds=(0,), arch="64-32-32-10", activation="relu"):
    return [wi.init_model(mlp(arch, activation), init, generator=torch.Generator().manual_seed(seed))
            for init in inits for seed in seeds]


@pytest.mark.slow
def test_a_batched_sweep_equals_the_runs_trained_alone(digits):
    configs = [TrainConfig(epochs=3, seed=s, batch_size=50, device="cpu") for s in (1, 2, 1, 2)]
    alone, stacked = _models(seeds=(0,)), _models(seeds=(0,))
    expected = [fit(m, digits.train, c, evaluate_on=("test", digits.test)) for m, c in zip(alone, configs)]
    got = fit_batched(stacked, digits.train, configs, evaluate_on=("test", digits.test))
    for e, h, a, b in zip(expected, got, alone, stacked):
        assert [r.eval_accuracy for r in h.epochs] == [r.eval_accuracy for r in e.epochs]  # same predictions
        for x, y in zip(h.epochs, e.epochs):
            assert x.train_loss == pytest.approx(y.train_loss, rel=1e-5)
            assert x.eval_loss == pytest.approx(y.eval_loss, rel=1e-5)
        for p, q in zip(a.parameters(), b.parameters()):  # only the rounding of the batched products differs
            assert torch.allclose(p, q, rtol=1e-4, atol=1e-5)


def test_compare_batched_and_one_by_one_agree(digits):
    config = dict(inits=INITS, seeds=2, train=TrainConfig(epochs=2, device="cpu"))
    one_by_one = compare(digits, CompareConfig(**config, batched=False))
    batched = compare(digits, CompareConfig(**config, batched=True))
    assert [(r.init, r.seed, r.test_accuracy) for r in batched.runs] == \
        [(r.init, r.seed, r.test_accuracy) for r in one_by_one.runs]
    assert [s.init for s in batched.summary] == [s.init for s in one_by_one.summary]


def test_a_diverging_run_is_masked_and_the_others_go_on(digits):
    # lr 0.1: N(0, 1) weights blow up in the first epoch, He's train. (At lr 0.5 He's run is itself
    # near the edge, where the batched products' rounding grows to 5e-3 in the weights after 3
    # epochs under AVX-512 kernels: chaos, not masking, would then decide the comparison.)
    configs = [TrainConfig(optimizer="sgd", lr=0.1, epochs=3, seed=3, device="cpu")] * 2
    models = _models(inits=("normal", "he_normal"), arch="64-256-256-256-10")
    alone = _models(inits=("he_normal",), arch="64-256-256-256-10")[0]
    histories = fit_batched(models, digits.train, configs, evaluate_on=("test", digits.test))
    expected = fit(alone, digits.train, configs[1], evaluate_on=("test", digits.test))
    assert histories[0].diverged and histories[0].diverged_at["epoch"] == 1 and len(histories[0].epochs) == 1
    assert not histories[1].diverged and len(histories[1].epochs) == 3
    assert [r.eval_accuracy for r in histories[1].epochs] == [r.eval_accuracy for r in expected.epochs]
    for p, q in zip(models[1].parameters(), alone.parameters()):  # the diverged run left no trace in He's
        assert torch.allclose(p, q, rtol=1e-4, atol=1e-5)


def test_an_interrupted_batched_run_resumes_bit_identically_batched_or_alone(digits):
    configs = [TrainConfig(epochs=3, seed=s, batch_size=64, device="cpu") for s in (5, 6)]
    reference = _models(inits=("xavier_uniform", "he_normal"))
    expected = fit_batched(reference, digits.train, configs, evaluate_on=("test", digits.test))
    saved: list[list[dict]] = []
    count = 0

    def stop_after_30():
        nonlocal count
        count += 1
        if count == 30:  # inside epoch 2 (23 batches per epoch)
            request_stop()

    models = _models(inits=("xavier_uniform", "he_normal"))
    with stop_on_sigint(), pytest.raises(Interrupted):  # stop_on_sigint clears the stop request afterwards
        fit_batched(models, digits.train, configs, evaluate_on=("test", digits.test), on_batch=stop_after_30,
                    checkpoint=saved.append)
    states = saved[-1]  # one list of the runs' states, written together
    assert states[0]["position"]["batch"] == 7 and states[0]["epoch"] == 1 and states[1]["position"]["batch"] == 7
    fresh = _models(inits=("xavier_uniform", "he_normal"))
    resumed = fit_batched(fresh, digits.train, configs, evaluate_on=("test", digits.test),
                          resume=states)
    for e, h in zip(expected, resumed):
        assert [(r.train_loss, r.eval_accuracy) for r in e.epochs] == \
            [(r.train_loss, r.eval_accuracy) for r in h.epochs]
    for a, b in zip(reference, fresh):
        assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    # the same state in fit's own format: run 1 continues alone
    alone = mlp("64-32-32-10")
    history = fit(alone, digits.train, configs[1], evaluate_on=("test", digits.test), resume=states[1])
    assert [r.eval_accuracy for r in history.epochs] == [r.eval_accuracy for r in expected[1].epochs]


def test_what_cannot_be_batched():
    plain = [mlp("8-4-2"), mlp("8-4-2")]
    config = TrainConfig(device="cpu")
    assert can_batch(plain, [config, TrainConfig(seed=1, device="cpu")])
    assert not can_batch(plain, [config, TrainConfig(lr=0.1, device="cpu")])  # other training settings
    assert not can_batch(plain, [TrainConfig(ema=0.9, device="cpu")] * 2)
    assert not can_batch([mlp("8-4-2", dropout=0.5)] * 2, [config] * 2)  # dropout draws per run
    assert not can_batch([mlp("8-4-2"), mlp("8-5-2")], [config] * 2)
    assert not can_batch([nn.Sequential(nn.Linear(8, 4), nn.BatchNorm1d(4))] * 2, [config] * 2)
    with pytest.raises(ValueError, match="cannot train as one stacked model"):
        fit_batched([mlp("8-4-2")], wi.data.Split(torch.zeros(4, 8), torch.zeros(4, dtype=torch.long)), [config])


@pytest.mark.skipif(not devices.bf16_supported(torch.device("cpu")), reason="no native bfloat16 on this CPU")
def test_bf16_autocast_trains_close_to_float32(digits):  # device: cpu with avx512_bf16/amx_bf16
    f32 = fit(_models(inits=("he_normal",))[0], digits.train, TrainConfig(epochs=3, device="cpu"),
              evaluate_on=("test", digits.test))
    bf16 = fit(_models(inits=("he_normal",))[0], digits.train, TrainConfig(epochs=3, precision="bf16", device="cpu"),
               evaluate_on=("test", digits.test))
    assert abs(f32.last.eval_accuracy - bf16.last.eval_accuracy) < 0.03
    batched = fit_batched(_models(inits=("he_normal", "xavier_uniform")), digits.train,
                          [TrainConfig(epochs=3, precision="bf16", device="cpu")] * 2,
                          evaluate_on=("test", digits.test))
    assert abs(batched[0].last.eval_accuracy - f32.last.eval_accuracy) < 0.03


def test_bf16_falls_back_to_float32_with_a_warning_where_unsupported(digits, monkeypatch):
    monkeypatch.setattr(devices, "bf16_supported", lambda device: False)
    model = _models(inits=("he_normal",))[0]
    with pytest.warns(RuntimeWarning, match="falling back to float32"):
        bf16 = fit(model, digits.train, TrainConfig(epochs=1, precision="bf16", device="cpu"),
                   evaluate_on=("test", digits.test))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        f32 = fit(_models(inits=("he_normal",))[0], digits.train, TrainConfig(epochs=1, device="cpu"),
                  evaluate_on=("test", digits.test))
    assert bf16.last.eval_accuracy == f32.last.eval_accuracy
    with pytest.raises(ValueError, match="precision='fp8'"):
        TrainConfig(precision="fp8")
