"""Training dynamics (weightinit.diagnostics) and TensorBoard event files read back with
TensorBoard's own reader. Device: CPU."""

from __future__ import annotations

import math

import pytest
import torch

import weightinit as wi
from weightinit.data import load_dataset
from weightinit.diagnostics import Dynamics
from weightinit.experiments.compare import CompareConfig, compare
from weightinit.models import mlp
from weightinit.training import TrainConfig, fit


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def test_dynamics_are_recorded_every_n_steps_for_every_layer(digits):
    model = wi.init_model(mlp("64-32-32-10", "relu"), "he_normal", generator=torch.Generator().manual_seed(0))
    dynamics = Dynamics(model, every=4)
    reference = wi.init_model(mlp("64-32-32-10", "relu"), "he_normal", generator=torch.Generator().manual_seed(0))
    config = TrainConfig(epochs=2, batch_size=100, device="cpu")
    plain = fit(reference, digits.train, config, evaluate_on=("test", digits.test))
    history = fit(model, digits.train, config, evaluate_on=("test", digits.test), dynamics=dynamics)
    dynamics.remove()
    steps = 2 * math.ceil(len(digits.train) / 100)  # 2 x 15
    assert sorted({r.step for r in dynamics.records}) == list(range(0, steps, 4))
    assert {r.layer for r in dynamics.records} == {"0", "2", "4"}
    first = [r for r in dynamics.records if r.step == 0]
    assert all(-6 < r.update_ratio_log10 < 0 for r in first)  # Adam at lr 1e-3: about 1e-3 of the weights
    assert all(r.dead is not None for r in first[:2]) and first[2].dead is None  # ReLU layers; the output is linear
    assert all(r.grad_std > 0 and r.activation_std > 0 for r in first)
    # recording changes nothing: same losses as a run without it, and no hooks left behind
    assert [r.train_loss for r in history.epochs] == [r.train_loss for r in plain.epochs]
    assert not any(m._forward_hooks for m in model.modules())
    with pytest.raises(ValueError, match="every"):
        Dynamics(model, every=0)


def test_compare_with_dynamics_and_tensorboard_events_read_back(digits, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from weightinit.reporting.tensorboard import write_run

    written = []
    result = compare(digits, CompareConfig(arch="64-32-10", inits=("normal", "he_normal"), dynamics_every=5,
                                           train=TrainConfig(epochs=2, device="cpu")),
                     on_run=lambda run, dyn: written.append(write_run(tmp_path, f"{run.init}-seed{run.seed}",
                                                                        run.history, dyn)))
    assert all(run.dynamics and {"step", "layer", "update_ratio_log10"} <= set(run.dynamics[0]) for run in result.runs)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["he_normal-seed777", "normal-seed777"]
    for folder in written:
        events = EventAccumulator(str(folder), size_guidance={"histograms": 0, "scalars": 0}).Reload()
        tags = events.Tags()
        assert {"loss/train", "loss/test", "accuracy/test"} <= set(tags["scalars"])
        assert [e.step for e in events.Scalars("accuracy/test")] == [1, 2]
        assert {"layer 0/activations", "layer 0/gradients", "layer 2/activations"} <= set(tags["histograms"])
        assert len(events.Histograms("layer 0/activations")) == len(range(0, 2 * 15, 5))
