"""The contrastive-divergence update's tensor maths (weightinit.cd), eager and compiled."""

import shutil
import warnings

import pytest
import torch

from weightinit.boltzmann import RBM, RBMConfig, RBMTrainer, cd
from weightinit.data import load_dataset

needs_compiler = pytest.mark.skipif(shutil.which("c++") is None and shutil.which("g++") is None,
                                    reason="torch.compile on the CPU needs a C++ compiler")


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def test_noise_shapes_follow_the_chain():
    shapes = lambda **kw: cd.noise_shapes(10, 6, 4, **{"k": 1, "persistent": False, "chain_ready": False,
                                                         "sample_visible": True, **kw})
    assert shapes() == [("uniform", (10, 4)), ("visible", (10, 6))]
    assert shapes(k=2) == [("uniform", (10, 4)), ("visible", (10, 6)), ("uniform", (10, 4)), ("visible", (10, 6))]
    assert shapes(sample_visible=False) == [("uniform", (10, 4))]
    # PCD: the data's hidden sample seeds the chains once; afterwards each step samples h
    assert shapes(persistent=True) == [("uniform", (10, 4)), ("visible", (10, 6)), ("uniform", (10, 4))]
    assert shapes(persistent=True, chain_ready=True) == [("visible", (10, 6)), ("uniform", (10, 4))]


def test_momentum_update_is_the_formula_in_float32():
    torch.manual_seed(0)
    w, b = torch.randn(3, 5), torch.randn(5)
    vw, vb = torch.randn(3, 5), torch.randn(5)
    gw, gb = torch.randn(3, 5).bfloat16(), torch.randn(5)
    scale, mu, decay = torch.tensor(0.01), torch.tensor(0.9), torch.tensor(-1e-3)
    expected_vw = 0.9 * vw + 0.01 * gw.float() - 1e-3 * w
    expected_vb = 0.9 * vb + 0.01 * gb  # no decay on the biases
    expected_w, expected_b = w + expected_vw, b + expected_vb
    cd.momentum_update((w, b), (vw, vb), (gw, gb), scale, mu, use_velocity=True, decay=decay)
    torch.testing.assert_close(vw, expected_vw)
    torch.testing.assert_close(w, expected_w)
    torch.testing.assert_close(b, expected_b)
    # no momentum, no decay: the velocity is left alone
    cd.momentum_update((w,), (vw,), (gw,), scale, torch.tensor(0.0), use_velocity=False, decay=None)
    torch.testing.assert_close(w, expected_w + 0.01 * gw.float())
    torch.testing.assert_close(vw, expected_vw)


def _train(x, config: RBMConfig, visible: str = "bernoulli", steps: int = 6) -> RBM:
    rbm = RBM(x.shape[1], 16, visible=visible).reset_parameters(x, torch.Generator().manual_seed(0))
    trainer = RBMTrainer(rbm, config)
    for step in range(steps):
        trainer.step(x[step * 20 : (step + 1) * 20])
        trainer.epochs_done = step  # walk through the momentum schedule (0.5, then 0.9)
    return rbm


@needs_compiler
@pytest.mark.parametrize("visible, settings", [
    ("bernoulli", dict(k=2, persistent=True, weight_decay=1e-3, momentum_epochs=3)),
    ("gaussian", dict(k=1, lr=0.01, sample_visible=True)),
])
@pytest.mark.slow
def test_compiled_update_matches_the_eager_one(digits, visible, settings):
    x = digits.train.x[:120]
    if visible == "gaussian":
        x = (x - x.mean(0)) / (x.std(0) + 0.1)
    eager = _train(x, RBMConfig(batch_size=20, seed=3, **settings), visible)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # a fallback to eager would make this test vacuous
        compiled = _train(x, RBMConfig(batch_size=20, seed=3, compile=True, **settings), visible)
    for name, value in eager.state_dict().items():
        torch.testing.assert_close(compiled.state_dict()[name], value, rtol=1e-5, atol=1e-6)
    assert not torch.equal(eager.W, _train(x, RBMConfig(batch_size=20, seed=3, **settings), visible, steps=1).W)


def test_a_failed_compile_falls_back_with_a_warning(monkeypatch):
    def broken(fn, **options):
        def call(*args, **kwargs):
            raise RuntimeError("no compiler here\nsecond line")
        return call

    monkeypatch.setattr(torch, "compile", broken)
    monkeypatch.setattr(shutil, "which", lambda name: "/usr/bin/" + name)
    double = cd.fused(lambda t: t * 2, enabled=True)
    with pytest.warns(RuntimeWarning,
                      match="torch.compile failed .RuntimeError: no compiler here.; running uncompiled"):
        assert torch.equal(double(torch.ones(2)), torch.full((2,), 2.0))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # warned once, then eager without trying again
        assert torch.equal(double(torch.ones(2)), torch.full((2,), 2.0))


def test_no_compiler_means_eager_with_a_warning(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    fn = lambda t: t
    with pytest.warns(RuntimeWarning, match="needs a C\\+\\+ compiler"):
        assert cd.fused(fn, enabled=True) is fn
    assert cd.fused(fn, enabled=False) is fn


def test_compile_must_be_a_bool():
    with pytest.raises(TypeError, match="compile must be a bool, got 'yes'"):
        RBMConfig(compile="yes")
