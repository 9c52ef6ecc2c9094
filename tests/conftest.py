"""Shared fixtures: every test starts from the same global seeds."""

import os
import random

import numpy as np
import pytest
import torch
from hypothesis import settings

# Property-based tests: "ci" (make test) tries a bounded number of examples per test, "fuzz"
# (make fuzz) many more. Derandomized in CI, so a failure reproduces.
settings.register_profile("ci", max_examples=40, deadline=None, derandomize=True, print_blob=True)
settings.register_profile("fuzz", max_examples=2000, deadline=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


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
