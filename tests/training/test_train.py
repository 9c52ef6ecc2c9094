"""The training loop: it learns, it is reproducible, it notices divergence, it refuses bad configs.
Device: CPU, and CUDA in the tests marked cuda (skipped without it); the device contract of fit."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

import weightinit as wi
from weightinit import init_model
from weightinit.data import load_dataset
from weightinit.models import mlp
from weightinit.runs.devices import resolve_device
from weightinit.training import TrainConfig, WeightAverage, evaluate, fit


@pytest.fixture(scope="module")
def synthetic():
    return load_dataset("synthetic")


def _model(seed: int = 0, dropout: float = 0.0) -> nn.Module:
    return init_model(mlp("64-32-10", dropout=dropout), "he_normal", generator=torch.Generator().manual_seed(seed))


def test_learns_the_synthetic_task(synthetic):
    history = fit(_model(), synthetic.train, TrainConfig(epochs=5, seed=1, device="cpu"),
                  evaluate_on=("test", synthetic.test))
    losses = [r.train_loss for r in history.epochs]
    assert losses[-1] < losses[0] / 3
    assert history.last.eval_accuracy > 0.95
    assert not history.diverged and len(history.epochs) == 5
    assert all(r.seconds > 0 for r in history.epochs)


@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_same_seed_same_result_and_global_rng_untouched(synthetic, dropout):
    a, b, c = _model(dropout=dropout), _model(dropout=dropout), _model(dropout=dropout)
    state = torch.random.get_rng_state()
    ha = fit(a, synthetic.train, TrainConfig(epochs=2, seed=3, device="cpu"), evaluate_on=("test", synthetic.test))
    hb = fit(b, synthetic.train, TrainConfig(epochs=2, seed=3, device="cpu"), evaluate_on=("test", synthetic.test))
    hc = fit(c, synthetic.train, TrainConfig(epochs=2, seed=4, device="cpu"), evaluate_on=("test", synthetic.test))
    assert [r.train_loss for r in ha.epochs] == [r.train_loss for r in hb.epochs]
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert [r.train_loss for r in ha.epochs] != [r.train_loss for r in hc.epochs]
    assert torch.equal(state, torch.random.get_rng_state())


def test_train_loss_is_the_mean_over_batches_including_the_last_partial_one(synthetic):
    # 2000 samples, batch 300: 7 batches, the last of 200.
    model = _model()
    history = fit(model, synthetic.train, TrainConfig(epochs=1, batch_size=300, lr=1e-12, device="cpu"),
                  evaluate_on=("test", synthetic.test))
    with torch.no_grad():
        full_loss = nn.functional.cross_entropy(model(synthetic.train.x), synthetic.train.y).item()
    # with a negligible learning rate every batch sees the initial weights
    per_batch = torch.tensor([nn.functional.cross_entropy(model(synthetic.train.x[i:i + 300]),
                                                          synthetic.train.y[i:i + 300]).item()
                              for i in range(0, 2000, 300)])
    assert history.epochs[0].train_loss == pytest.approx(per_batch.mean().item(), rel=0.05)
    assert history.epochs[0].train_loss == pytest.approx(full_loss, rel=0.1)


def test_fused_optimizers_match_the_reference_implementation(synthetic):
    for name, make in (("adam", lambda p, fused: torch.optim.Adam(p, lr=1e-3, fused=fused)),
                       ("sgd", lambda p, fused: torch.optim.SGD(p, lr=0.1, momentum=0.9, fused=fused))):
        ours = _model()
        fit(ours, synthetic.train, TrainConfig(optimizer=name, lr=1e-3 if name == "adam" else 0.1,
                                         momentum=0.0 if name == "adam" else 0.9, epochs=1, seed=5, device="cpu"),
            evaluate_on=("test", synthetic.test))
        reference = _model()
        optimizer = make(reference.parameters(), False)
        order = torch.Generator().manual_seed(5)
        with torch.random.fork_rng():
            perm = torch.randperm(2000, generator=order)
            for b in range(20):
                index = perm[b * 100:(b + 1) * 100]
                loss = nn.functional.cross_entropy(reference(synthetic.train.x[index]), synthetic.train.y[index])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        for p, q in zip(ours.parameters(), reference.parameters()):
            assert torch.allclose(p, q, atol=1e-5), name


def test_divergence_is_detected_and_stops_the_run(synthetic):
    model = init_model(mlp("64-64-64-10"), "normal", generator=torch.Generator().manual_seed(0))
    history = fit(model, synthetic.train, TrainConfig(optimizer="sgd", lr=1e4, epochs=5, device="cpu"),
                  evaluate_on=("test", synthetic.test))
    assert history.diverged
    assert history.diverged_at["epoch"] == 1 and history.diverged_at["batch"] >= 1
    assert len(history.epochs) == 1


def test_evaluate(synthetic):
    model = _model()
    loss, accuracy = evaluate(model, synthetic.test, chunk=7)
    with torch.no_grad():
        logits = model(synthetic.test.x)
    assert loss == pytest.approx(nn.functional.cross_entropy(logits, synthetic.test.y).item(), rel=1e-5)
    assert accuracy == pytest.approx((logits.argmax(1) == synthetic.test.y).double().mean().item(), abs=1e-12)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"epochs": 0}, "epochs must be >= 1, got 0"),
        ({"lr": 0.0}, "lr must be > 0, got 0.0"),
        ({"lr": -1e-3}, "lr must be > 0, got -0.001"),
        ({"batch_size": 0}, "batch_size must be >= 1, got 0"),
        ({"optimizer": "rmsprop"}, "optimizer='rmsprop' is not supported; use one of ['adam', 'sgd']"),
        ({"momentum": 1.0}, "momentum must be in [0, 1), got 1.0"),
        ({"momentum": 0.9}, "momentum=0.9 applies to optimizer='sgd' only: Adam keeps its own moment estimates; "
                            "use momentum=0.0 with optimizer='adam', or optimizer='sgd'"),
        ({"device": "tpu"}, "device='tpu' is not supported; use one of ['auto', 'cpu', 'cuda']"),
        ({"seed": -1}, "seed must be >= 0, got -1"),
        ({"lr_decay": 0.0}, "lr_decay must be in (0, 1], got 0.0"),
        ({"lr_decay": 1.5}, "lr_decay must be in (0, 1], got 1.5"),
        ({"ema": 1.0}, "ema must be in [0, 1) (0 = no averaging; 0.999 is typical), got 1.0"),
        ({"ema": -0.5}, "ema must be in [0, 1)"),
    ],
)
def test_bad_config(kwargs, message):
    with pytest.raises(ValueError) as info:
        TrainConfig(**kwargs)
    assert message in str(info.value)


def test_momentum_belongs_to_sgd():
    assert TrainConfig(optimizer="sgd", momentum=0.9, device="cpu").momentum == 0.9
    assert TrainConfig(optimizer="adam", momentum=0.0, device="cpu").momentum == 0.0
    with pytest.raises(wi.UserError, match="momentum=0.5 applies to optimizer='sgd' only"):
        TrainConfig(optimizer="adam", momentum=0.5, device="cpu")


# ------------------------------------------------------------------ devices
@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message when CUDA is missing")
def test_cuda_asked_for_without_cuda(synthetic):
    with pytest.raises(ValueError, match="device='cuda' was asked for but torch sees no CUDA device"):
        fit(_model(), synthetic.train, TrainConfig(device="cuda"), evaluate_on=("test", synthetic.test))


@pytest.mark.auto_device
def test_auto_is_cuda_where_torch_sees_it_else_the_cpu():
    assert TrainConfig().device == "auto"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")


def test_a_test_that_leaves_device_auto_is_failed_by_the_conftest_guard(synthetic):
    with pytest.raises(pytest.fail.Exception, match="device='auto' reached resolve_device"):
        fit(_model(), synthetic.train, TrainConfig(epochs=1), evaluate_on=("test", synthetic.test))


def test_fit_on_the_cpu_leaves_the_splits_alone_and_returns_floats(synthetic):  # device: cpu
    x, y = synthetic.train.x.clone(), synthetic.train.y.clone()
    model = _model()
    history = fit(model, synthetic.train, TrainConfig(epochs=1, device="cpu"), evaluate_on=("test", synthetic.test))
    assert torch.equal(synthetic.train.x, x) and torch.equal(synthetic.train.y, y)
    assert all(p.device.type == "cpu" for p in model.parameters())
    record = history.last
    assert all(type(v) is float for v in (record.train_loss, record.eval_loss, record.eval_accuracy, record.seconds))


@pytest.mark.cuda
@pytest.mark.parametrize("ema", [0.0, 0.99])
def test_fit_on_cuda_moves_the_model_not_the_splits(synthetic, ema):  # device: cuda
    config = dict(optimizer="sgd", lr=0.2, momentum=0.9, epochs=2, ema=ema)
    model = _model()
    history = fit(model, synthetic.train, TrainConfig(**config, device="cuda"), keep_best=True,
                  evaluate_on=("test", synthetic.test))
    assert all(p.is_cuda for p in model.parameters())  # the model stays on the device, best/averaged weights too
    assert synthetic.train.x.device.type == "cpu" and synthetic.test.x.device.type == "cpu"
    assert type(history.last.train_loss) is float
    assert evaluate(model, wi.data.Split(synthetic.test.x.cuda(), synthetic.test.y.cuda()))[1] == pytest.approx(
        history.epochs[history.best_epoch - 1].eval_accuracy, abs=1e-9)
    on_cpu = fit(_model(), synthetic.train, TrainConfig(**config, device="cpu"), keep_best=True,
                 evaluate_on=("test", synthetic.test))
    assert [r.train_loss for r in history.epochs] == pytest.approx([r.train_loss for r in on_cpu.epochs], rel=1e-2)


@pytest.mark.cuda
def test_no_batch_waits_for_the_gpu(synthetic):  # device: cuda
    """The host synchronizations of a fit do not grow with its number of batches."""

    def synchronizations(batch_size: int) -> int:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")
            try:
                fit(_model(), synthetic.train, TrainConfig(epochs=2, batch_size=batch_size, device="cuda"),
                    evaluate_on=("test", synthetic.test))
            finally:
                torch.cuda.set_sync_debug_mode("default")
        return sum("synchroniz" in str(w.message) for w in caught)

    synchronizations(200)  # warm-up: lazy CUDA initialization
    assert synchronizations(200) == synchronizations(20)  # 10 against 100 batches per epoch


def test_lr_decay_is_the_exponential_schedule_per_epoch(synthetic, monkeypatch):
    seen = []  # the learning rate of every optimizer step, deduplicated: one entry per epoch
    original = torch.optim.SGD.step

    def step(self, *args, **kwargs):
        if not seen or seen[-1] != self.param_groups[0]["lr"]:
            seen.append(self.param_groups[0]["lr"])
        return original(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.SGD, "step", step)
    fit(_model(), synthetic.train, TrainConfig(optimizer="sgd", lr=0.2, lr_decay=0.5, epochs=3, device="cpu"),
        evaluate_on=("test", synthetic.test))
    monkeypatch.undo()
    assert seen == [0.2, 0.1, 0.05]
    # and lr_decay=1 is the constant rate: the same result as before the option existed
    a, b = _model(), _model()
    fit(a, synthetic.train, TrainConfig(epochs=2, device="cpu"), evaluate_on=("test", synthetic.test))
    fit(b, synthetic.train, TrainConfig(epochs=2, lr_decay=1.0, device="cpu"), evaluate_on=("test", synthetic.test))
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_weight_average_is_the_warmed_up_exponential_average():
    model = nn.Linear(3, 2)
    average = WeightAverage(model, decay=0.9)
    expected = [p.detach().clone() for p in model.parameters()]
    for step in range(30):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p))
        d = min(0.9, (1 + step) / (10 + step))  # 0.1, 0.18, ... then 0.9 from step 71 on; here below 0.9
        expected = [d * e + (1 - d) * p.detach() for e, p in zip(expected, model.parameters())]
        average.update(step)
    for a, e in zip(average.average, expected):
        torch.testing.assert_close(a, e)
    live = [p.detach().clone() for p in model.parameters()]
    with average.applied():
        assert all(torch.equal(p, e) for p, e in zip(model.parameters(), average.average))
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), live))


@pytest.mark.parametrize("keep_best", [False, True])
def test_ema_evaluates_and_returns_the_averaged_weights(synthetic, keep_best):
    config = TrainConfig(optimizer="sgd", lr=0.2, momentum=0.9, epochs=3, ema=0.99, device="cpu")
    model = _model(dropout=0.3)
    history = fit(model, synthetic.train, config, keep_best=keep_best, evaluate_on=("test", synthetic.test))
    chosen = history.epochs[(history.best_epoch or 3) - 1]
    loss, accuracy = evaluate(model, synthetic.test)
    # the model ends with the weights that were evaluated: the average (of the chosen epoch)
    assert (loss, accuracy) == pytest.approx((chosen.eval_loss, chosen.eval_accuracy), abs=1e-6)
    plain = _model(dropout=0.3)
    fit(plain, synthetic.train, TrainConfig(optimizer="sgd", lr=0.2, momentum=0.9, epochs=3, device="cpu"),
        evaluate_on=("test", synthetic.test))
    assert not torch.equal(plain[0].weight, model[0].weight)
