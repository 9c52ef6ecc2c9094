"""DBN samples to look at: a Gibbs chain in the top RBM, each frame shown by one down pass.
Device: cpu."""

from __future__ import annotations

import pytest
import torch

from weightinit.boltzmann import DBN, RBMConfig
from weightinit.data.datasets import load_dataset


@pytest.fixture(scope="module")
def dbn():
    digits = load_dataset("digits")
    model = DBN((64, 32, 16))
    model.pretrain(digits.train.x, RBMConfig(epochs=2, batch_size=20, device="cpu"))
    return model, digits


def test_chains_start_at_the_data_and_stay_probabilities(dbn):
    model, digits = dbn
    starts = digits.test.x[:4]
    chains = model.gibbs_chains(starts, steps=5, frames=3, generator=torch.Generator().manual_seed(0))
    assert chains.shape == (4, 3, 64) and torch.equal(chains[:, 0], starts)
    assert chains.min() >= 0 and chains.max() <= 1 and torch.isfinite(chains).all()
    again = model.gibbs_chains(starts, steps=5, frames=3, generator=torch.Generator().manual_seed(0))
    assert torch.equal(chains, again)


def test_down_is_the_lower_rbms_mean_field_pass(dbn):
    model, _ = dbn
    h = torch.rand(3, 32)
    assert torch.allclose(model.down(h), model.rbms[0].prob_v(h))
    v = torch.rand(2, 64)
    assert torch.equal(DBN((64, 8)).down(v), v)  # one RBM: the top's visible layer is the data


def test_bad_chain_arguments_are_refused(dbn):
    model, digits = dbn
    with pytest.raises(ValueError, match="steps must be >= 1, got 0"):
        model.gibbs_chains(digits.test.x[:2], steps=0, frames=2)
    with pytest.raises(ValueError, match=r"starts must have shape \(n_samples, 64\)"):
        model.gibbs_chains(torch.zeros(2, 5), steps=1, frames=2)


def test_chains_png_takes_the_steps_between_frames(dbn, tmp_path):
    # `dbn --quick` draws its chains 100 Gibbs steps apart, not 1,000 (issue 29); device: cpu
    from matplotlib.image import imread

    from weightinit.experiments.dbn import write_chains

    model, digits = dbn
    write_chains(model, digits, tmp_path / "chains.png", seed=0, steps=3)
    pixels = imread(tmp_path / "chains.png")[..., :3]
    assert pixels.std() > 0.02  # not blank
