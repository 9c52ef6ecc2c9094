"""Shared fixtures: every test starts from the same global seeds."""

import random

import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True)
def _seed_everything():
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    yield


@pytest.fixture
def rng() -> random.Random:
    """A seeded Python RNG for picking random tensor sizes in 20-50, as PyTorch's init tests do."""
    return random.Random(1234)
