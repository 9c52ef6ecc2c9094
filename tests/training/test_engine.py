"""The training engine's pieces, each on its own: the fit checkpoint's schema (FitState, the exact
dict fit and fit_batched write), the optimizer from a config (parameters or groups with lr_scale),
the schedule, the divergence verdict, the data order, evaluation of a stack of runs, and the
stop/checkpoint/resume protocol. Device: CPU."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

from weightinit.data import Split
from weightinit.models import mlp
from weightinit.runs.interrupt import Interrupted, request_stop, stop_on_sigint
from weightinit.training import (
    DIVERGENCE_LOSS,
    Checkpointing,
    EpochOrder,
    FitState,
    OptimizerSettings,
    TrainConfig,
    check_resumable,
    epoch_order,
    evaluate,
    evaluate_runs,
    first_divergence,
    fit,
    fit_batched,
    lr_at,
    make_optimizer,
    set_learning_rate,
)
from weightinit.training.stack import ParameterStack


@pytest.fixture(scope="module")
def tiny():
    """200 rows of 8 features, 3 classes that a small MLP learns."""
    g = torch.Generator().manual_seed(0)
    x = torch.rand(200, 8, generator=g)
    return Split(x, (x[:, 0] * 3).long().clamp(max=2))


def _model(seed: int = 0, arch: str = "8-16-3") -> nn.Module:
    torch.manual_seed(seed)
    return mlp(arch, "relu")


def _stopped_state(tiny, config, stop_at, **options) -> dict:
    """The state fit writes when a stop request finds it after batch ``stop_at``."""
    saved, count = [], iter(range(1, 10**6))

    def on_batch():
        if next(count) == stop_at:
            request_stop()

    with stop_on_sigint(), pytest.raises(Interrupted):
        fit(_model(), tiny, config, on_batch=on_batch, checkpoint=saved.append, **options)
    return saved[-1]


def _same(a, b) -> bool:
    """Equal JSON-like values with tensors, key order included."""
    if isinstance(a, dict):
        return isinstance(b, dict) and list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    return type(a) is type(b) and a == b


# ------------------------------------------------------------------ the state
@pytest.mark.parametrize("options", [{}, {"keep_best": True, "ema": 0.9}])
def test_fit_state_round_trips_the_exact_dict_fit_writes(tiny, options):
    keep_best = options.pop("keep_best", False)
    config = TrainConfig(epochs=2, batch_size=20, seed=1, device="cpu", **options)
    state = _stopped_state(tiny, config, 13, keep_best=keep_best, evaluate_on=("valid", tiny))
    assert list(state) == list(FitState.KEYS)
    assert state["kind"] == "fit" and state["epoch"] == 1 and state["position"]["batch"] == 3
    assert list(state["position"]) == ["permutation", "batch", "losses", "seconds"]
    parsed = FitState.from_dict(state)
    assert parsed.position.batch == 3 and parsed.history.epochs[0].epoch == 1
    assert _same(parsed.to_dict(), state)


def test_the_schema_is_the_dataclass_and_a_drift_fails(tiny):
    assert set(FitState.KEYS) == {f.name for f in dataclasses.fields(FitState)}
    state = _stopped_state(tiny, TrainConfig(epochs=2, batch_size=20, device="cpu"), 5)
    with pytest.raises(ValueError, match="lacks average"):
        FitState.from_dict({k: v for k, v in state.items() if k != "average"})
    with pytest.raises(ValueError, match="kind='rbm'"):
        FitState.from_dict({**state, "kind": "rbm"})
    extra = FitState.from_dict({**state, "initial_loss": 2.3})  # compare keeps its run's start beside the state
    assert _same(extra.to_dict(), state)


def test_a_batched_run_writes_the_lone_schema(tiny):
    saved = []
    configs = [TrainConfig(epochs=1, batch_size=50, seed=s, device="cpu") for s in (1, 2)]
    fit_batched([_model(0), _model(1)], tiny, configs, checkpoint=saved.append)
    lone = []
    fit(_model(0), tiny, configs[0], checkpoint=lone.append)
    for state in saved[-1]:
        assert list(state) == list(lone[-1]) and _same(FitState.from_dict(state).to_dict(), state)
        assert list(state["optimizer"]["param_groups"][0]) == list(lone[-1]["optimizer"]["param_groups"][0])


# ------------------------------------------------------------------ optimizer and schedule
def test_make_optimizer_is_the_fused_optimizer_the_config_names():
    params = list(_model().parameters())
    adam = make_optimizer(params, TrainConfig(lr=0.01, device="cpu"))
    assert isinstance(adam, torch.optim.Adam) and adam.defaults["fused"] and adam.defaults["lr"] == 0.01
    assert _same(adam.state_dict(), torch.optim.Adam(params, lr=0.01, fused=True).state_dict())
    sgd = make_optimizer(params, TrainConfig(optimizer="sgd", lr=0.1, momentum=0.9, device="cpu"))
    assert isinstance(sgd, torch.optim.SGD) and sgd.defaults["momentum"] == 0.9 and sgd.defaults["fused"]
    ignored = make_optimizer(params, OptimizerSettings("adam", 0.01, momentum=0.9))  # Adam keeps its own moments
    assert isinstance(ignored, torch.optim.Adam)
    with pytest.raises(ValueError, match="optimizer"):
        OptimizerSettings("lbfgs", 0.1)


def test_param_groups_scale_the_scheduled_learning_rate():
    model = _model()
    hidden, readout = list(model[0].parameters()), list(model[-1].parameters())
    config = TrainConfig(lr=0.1, lr_decay=0.5, device="cpu")
    optimizer = make_optimizer([{"params": hidden, "lr_scale": 0.25, "weight_decay": 0.01},
                                {"params": iter(readout)}], config)
    assert [g["lr"] for g in optimizer.param_groups] == [0.1 * 0.25, 0.1]
    assert [len(g["params"]) for g in optimizer.param_groups] == [2, 2]  # an iterator's parameters are kept
    assert optimizer.param_groups[0]["weight_decay"] == 0.01 and optimizer.param_groups[1]["weight_decay"] == 0
    assert lr_at(config, 1) == 0.1 and lr_at(config, 3) == 0.1 * 0.5**2
    set_learning_rate(optimizer, config, 3)
    assert [g["lr"] for g in optimizer.param_groups] == [lr_at(config, 3) * 0.25, lr_at(config, 3)]
    with pytest.raises(ValueError, match="lr_scale"):
        make_optimizer([{"params": hidden, "lr": 0.5}], config)


# ------------------------------------------------------------------ divergence, order, evaluation
def test_first_divergence_names_the_first_bad_batch():
    assert first_divergence(torch.tensor([2.3, 1.0, 0.5]), 4) is None
    assert first_divergence(torch.tensor([2.3, float("nan"), float("inf")]), 4) == \
        {"epoch": 4, "batch": 2, "loss": pytest.approx(float("nan"), nan_ok=True)}
    assert first_divergence(torch.tensor([2.3, 1.0, DIVERGENCE_LOSS * 2]), 1) == \
        {"epoch": 1, "batch": 3, "loss": DIVERGENCE_LOSS * 2}


def test_epoch_order_draws_a_seeded_permutation_or_continues_a_resumed_one():
    order = epoch_order(10, torch.Generator().manual_seed(3), "cpu")
    assert torch.equal(order.permutation, torch.randperm(10, generator=torch.Generator().manual_seed(3)))
    assert [b for b, _ in order.batches(4)] == [0, 1, 2] and order.n_batches(4) == 3
    assert torch.equal(torch.cat([rows for _, rows in order.batches(4)]), order.permutation)
    generator = torch.Generator().manual_seed(3)
    before = generator.get_state()
    resumed = epoch_order(10, generator, "cpu", resumed=EpochOrder(order.permutation, 2, 1.5))
    assert torch.equal(generator.get_state(), before)  # nothing drawn
    assert [(b, rows.tolist()) for b, rows in resumed.batches(4)] == [(2, order.permutation[8:].tolist())]
    assert resumed.elapsed == 1.5
    stacked = EpochOrder(torch.stack([order.permutation, order.permutation.flip(0)]))  # (R, n): each run's slice
    assert [rows.shape for _, rows in stacked.batches(4)] == [(2, 4), (2, 4), (2, 2)]


def test_a_stack_of_runs_evaluates_as_each_run_alone(tiny):
    models = [_model(0), _model(1)]
    stack = ParameterStack(models, torch.device("cpu"))
    losses, accuracies = evaluate_runs(stack.forward, 2, tiny, chunk=64)
    for model, loss, accuracy in zip(models, losses, accuracies):
        alone = evaluate(model, tiny, chunk=64)
        assert accuracy == alone[1] and loss == pytest.approx(alone[0], rel=1e-6)


# ------------------------------------------------------------------ the protocol
def test_check_resumable_names_what_differs_and_ignores_the_device():
    config = TrainConfig(epochs=2, device="cpu")
    state = {"kind": "fit", "config": dataclasses.asdict(TrainConfig(epochs=2, device="cuda"))}
    check_resumable(state, "fit", config)
    with pytest.raises(ValueError, match=r"another config \(epochs, lr differ\)"):
        check_resumable(state, "fit", TrainConfig(epochs=3, lr=0.1, device="cpu"))
    with pytest.raises(ValueError, match="written by fit's checkpoint, got kind='rbm'"):
        check_resumable({**state, "kind": "rbm"}, "fit", config)
    older = {"kind": "fit", "config": {k: v for k, v in state["config"].items() if k != "precision"}}
    check_resumable(older, "fit", config)  # a field the state predates reads as its default
    with pytest.raises(ValueError, match=r"\(precision differ\)"):
        check_resumable(older, "fit", TrainConfig(epochs=2, precision="bf16", device="cpu"))


def test_checkpointing_writes_then_stops_only_when_asked():
    written = []
    stops = Checkpointing(written.append, lambda epoch, where=None: {"epoch": epoch, "where": where})
    off = Checkpointing(None, lambda: pytest.fail("a loop without a checkpoint builds no state"))
    off.save()
    off.after_epoch(1, 3)
    assert not off.stop_requested() and not stops.stop_requested()
    stops.after_epoch(1, 3, 1)
    assert written == [{"epoch": 1, "where": None}]
    with stop_on_sigint():
        request_stop()
        assert stops.stop_requested() and not off.stop_requested()
        stops.stop_after(3, 3)  # the last epoch: nothing left to stop
        stops.stop_after(1, 3, more=False)  # a run that ends here (diverged)
        with pytest.raises(Interrupted, match="training stopped after epoch 2 of 3"):
            stops.after_epoch(2, 3, 2)
        with pytest.raises(Interrupted, match="at batch 4"):
            stops.stop("stopped at batch 4", 2, "here")
    assert written[1:] == [{"epoch": 2, "where": None}, {"epoch": 2, "where": "here"}]


def test_a_batched_resume_refuses_a_state_of_another_config(tiny):
    saved = []
    configs = [TrainConfig(epochs=1, batch_size=50, seed=s, device="cpu") for s in (1, 2)]
    fit_batched([_model(0), _model(1)], tiny, configs, checkpoint=saved.append)
    other = [dataclasses.replace(c, lr=0.1) for c in configs]
    with pytest.raises(ValueError, match=r"another config \(lr differ\)"):
        fit_batched([_model(0), _model(1)], tiny, other, resume=saved[-1])


@pytest.mark.parametrize("stop_at", [15, 20])  # inside epoch 2, at its end
def test_a_sweep_with_a_diverged_run_resumes_bit_identically(tiny, stop_at):
    """A frozen (diverged) run's checkpoint stays the state it diverged with, wherever a stop request
    finds the sweep later; resumed, it ends with the weights it diverged with, and the other runs
    continue with their own step count (Adam's bias correction), not the frozen run's."""
    configs = [TrainConfig(epochs=3, batch_size=20, seed=s, device="cpu") for s in (1, 2)]  # 10 batches an epoch

    def models():
        blown, fine = _model(0), _model(1)
        with torch.no_grad():
            blown[-1].weight.mul_(1e8)  # a first loss far above DIVERGENCE_LOSS: diverged in epoch 1
        return [blown, fine]

    reference = models()
    expected = fit_batched(reference, tiny, configs)
    assert expected[0].diverged and len(expected[0].epochs) == 1 and not expected[1].diverged
    saved, count = [], iter(range(1, 10**6))

    def on_batch():
        if next(count) == stop_at:
            request_stop()

    with stop_on_sigint(), pytest.raises(Interrupted):
        fit_batched(models(), tiny, configs, on_batch=on_batch, checkpoint=saved.append)
    frozen, running = saved[-1]
    assert _same(frozen, saved[0][0]) and frozen["epoch"] == 1 and frozen["position"] is None
    assert (running["epoch"], (running["position"] or {}).get("batch")) == ((1, 5) if stop_at == 15 else (2, None))
    fresh = models()
    resumed = fit_batched(fresh, tiny, configs, resume=saved[-1])
    assert [h.to_dict()["diverged_at"] for h in resumed] == [h.to_dict()["diverged_at"] for h in expected]
    assert [r.train_loss for r in resumed[1].epochs] == [r.train_loss for r in expected[1].epochs]
    for a, b in zip(reference, fresh):
        assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
