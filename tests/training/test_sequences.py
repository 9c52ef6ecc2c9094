"""fit and evaluate on a sequence model: (B, T, V) logits against (B, T) targets, every position
counted; an epoch of ``epoch_rows`` rows; no batched sweep for it.

Device: CPU.
"""

from __future__ import annotations

import math

import pytest
import torch

from weightinit.data.datasets import Split
from weightinit.data.text import load_corpus
from weightinit.models.gpt import GPT
from weightinit.training import TrainConfig, can_batch, evaluate, fit


@pytest.mark.slow
def test_fit_on_text_windows_lowers_the_loss():
    corpus = load_corpus(32)
    train, valid = Split(corpus.train_x[:256], corpus.train_y[:256]), Split(corpus.valid_x[:32], corpus.valid_y[:32])
    torch.manual_seed(0)
    model = GPT(len(corpus.vocabulary), layers=1, width=32, heads=2, context=32)
    before, _ = evaluate(model, valid)
    assert abs(before - math.log(len(corpus.vocabulary))) < 1.0
    history = fit(model, train, TrainConfig(lr=3e-3, batch_size=16, epochs=3, epoch_rows=128, device="cpu"),
                  evaluate_on=("valid", valid))
    assert len(history.epochs) == 3
    assert history.epochs[-1].train_loss < history.epochs[0].train_loss < before
    assert history.last.eval_loss < before - 0.5
    assert 0 < history.last.eval_accuracy < 1


def test_evaluate_counts_every_position():
    logits = torch.tensor([[[5.0, 0.0], [0.0, 5.0], [5.0, 0.0]]])  # (1, 3, 2): predicts 0, 1, 0
    model = torch.nn.Module()
    model.forward = lambda x: logits.expand(len(x), -1, -1)
    split = Split(torch.zeros(2, 3, dtype=torch.int64), torch.tensor([[0, 1, 1], [0, 1, 1]]))
    loss, accuracy = evaluate(model, split)
    expected = torch.nn.functional.cross_entropy(logits[0], torch.tensor([0, 1, 1]))
    assert math.isclose(accuracy, 2 / 3) and math.isclose(loss, float(expected), rel_tol=1e-6)


def test_no_batched_sweep_for_a_gpt_or_partial_epochs():
    gpts = [GPT(10, layers=1, width=8, heads=2, context=4) for _ in range(2)]
    assert not can_batch(gpts, [TrainConfig(), TrainConfig(seed=1)])
    mlps = [torch.nn.Sequential(torch.nn.Linear(4, 3)) for _ in range(2)]
    assert can_batch(mlps, [TrainConfig(), TrainConfig(seed=1)])
    assert not can_batch(mlps, [TrainConfig(epoch_rows=8), TrainConfig(epoch_rows=8, seed=1)])
