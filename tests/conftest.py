"""Shared fixtures: every test starts from the same global seeds, and states the device it is about.

Devices. The suite must pass on a machine without CUDA and on one with it. A test that leaves
``device="auto"`` (the default of ``TrainConfig``, ``RBMConfig``, the estimators and the CLI)
runs on the GPU there and on the CPU here, so it is really two tests, and the CUDA one usually
breaks (CPU tensors fed to a model that ``fit`` moved to the GPU). So here, on any machine:

- ``device="auto"`` reaching :func:`weightinit.runs.devices.resolve_device` fails the test:
  a CPU test passes ``device="cpu"`` (``--device cpu`` to the CLI);
- ``@pytest.mark.cuda`` marks a test about CUDA: it is skipped without CUDA (and may use "auto");
- ``@pytest.mark.auto_device`` marks a test about what "auto" itself does.

Test modules still to be audited (``UNAUDITED``) may reach "auto"; ``pytest --strict-devices``
checks them too.
"""

import os
import random
import sys

import numpy as np
import pytest
import torch
from hypothesis import settings

from weightinit.runs import devices

# Property-based tests: "ci" (make test) tries a bounded number of examples per test, "fuzz"
# (make fuzz) many more. Derandomized in CI, so a failure reproduces.
settings.register_profile("ci", max_examples=40, deadline=None, derandomize=True, print_blob=True)
settings.register_profile("fuzz", max_examples=2000, deadline=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# Test modules whose tests may still leave device="auto" (remove a name once its tests state
# their device; `pytest --strict-devices` ignores this list).
UNAUDITED = frozenset({
    "test_cd.py", "test_cli_rbm.py", "test_diagnostics.py", "test_notebooks.py", "test_partition.py",
    "test_rbm.py", "test_rbm_recipes.py", "test_updown.py",
})


def pytest_addoption(parser):
    parser.addoption("--strict-devices", action="store_true",
                     help="fail every test in which device='auto' reaches resolve_device, UNAUDITED modules included")


def pytest_configure(config):
    config.addinivalue_line("markers", "cuda: a test about CUDA; skipped where torch sees no CUDA device")
    config.addinivalue_line("markers", "auto_device: a test about what device='auto' resolves to")


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs CUDA (torch sees no CUDA device)")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


# ---------------------------------------------------------------- device="auto" in a test
_resolve_device = devices.resolve_device
_auto = {"allowed": True, "test": ""}  # set per test by _device_stated


def _guarded_resolve_device(device: str) -> torch.device:
    if device == "auto" and not _auto["allowed"]:
        pytest.fail(f"{_auto['test']}: device='auto' reached resolve_device; on a machine with CUDA this test "
                    "would run on the GPU. Pass device='cpu' (--device cpu), or mark the test "
                    "@pytest.mark.cuda or @pytest.mark.auto_device", pytrace=True)
    return _resolve_device(device)


def _install_guard() -> None:
    """Point every loaded weightinit module's ``resolve_device`` at the guarded one (modules
    import it by name, so patching ``devices`` alone would not reach them)."""
    for name, module in list(sys.modules.items()):
        if (name == "weightinit" or name.startswith("weightinit.")) and \
                getattr(module, "resolve_device", None) is _resolve_device:
            module.resolve_device = _guarded_resolve_device


@pytest.fixture(autouse=True)
def _device_stated(request):
    _install_guard()  # again for each test: modules imported since are patched too
    marked = any(request.node.get_closest_marker(m) for m in ("cuda", "auto_device"))
    unaudited = request.node.path.name in UNAUDITED and not request.config.getoption("--strict-devices")
    _auto.update(allowed=marked or unaudited, test=request.node.nodeid)
    yield
    _auto.update(allowed=True, test="")


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
