# astrolake: `make demo` runs the main job end to end, `make test` runs the linters (`make lint`), then the suite.
# Both set up what they need first (virtualenv, pinned dependencies, Horovod build, Delta jars).
.PHONY: setup demo test test-fast test-slow lint bench docs clean
PY := .venv/bin/python
export TF_USE_LEGACY_KERAS := 1
export SPARK_LOCAL_IP := 127.0.0.1

setup:
	@bash scripts/setup.sh

demo: setup
	.venv/bin/astrolake demo --base-path lakehouse

# Tests (docs/testing.md): tests/unit never starts a JVM (a guard fails any test that does), plus the
# doctests of lib/astrolake; tests/spark runs real Spark, Delta, MLflow and Horovod.  `make test` runs
# every scenario once; `make test-slow` runs only the repeats marked slow (seed sweeps, soaks, 1e6 rows).
UNIT := --doctest-modules tests/unit lib/astrolake
# `make test` runs in PYTEST_WORKERS processes (pytest-xdist), each taking a whole test file at a time
# (--dist loadfile: a file's module fixtures are built once), in collection order (tests/conftest.py puts the
# longest files first; xdist's default order is by number of tests); PYTEST_WORKERS=0 runs in this process.
PYTEST_WORKERS ?= 2
XDIST := $(if $(filter 0,$(PYTEST_WORKERS)),,-n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder)

test:
	@ASTROLAKE_BROWSER=required bash scripts/setup.sh
	@# --- linters --------------------------------------------------------------------------
	@$(MAKE) --no-print-directory lint
	@# --- tests ----------------------------------------------------------------------------
	$(PY) -m pytest -q --durations=30 $(XDIST) -m "not slow" $(UNIT) tests/spark $(PYTEST_ARGS)

test-fast: setup
	$(PY) -m pytest -q --durations=10 -m "not slow" $(UNIT) $(PYTEST_ARGS)

test-slow:
	@ASTROLAKE_BROWSER=required bash scripts/setup.sh
	$(PY) -m pytest -q --durations=30 $(XDIST) -m slow tests/spark $(PYTEST_ARGS)

# ruff (lint, and format check at line length 120) over the tree, then mypy over lib/astrolake (pyproject.toml)
lint: setup
	$(PY) -m ruff check . && $(PY) -m ruff format --check . && $(PY) -m mypy

bench: setup
	$(PY) benchmarks/bench_ingest.py

docs: setup
	$(PY) scripts/data_dictionary.py

clean:
	rm -rf lakehouse reports spark-warehouse
