# astrolake: `make demo` runs the main job end to end, `make test` runs the suite.
# Both set up what they need first (virtualenv, pinned dependencies, Horovod build, Delta jars).
.PHONY: setup demo test lint bench docs clean
PY := .venv/bin/python
export TF_USE_LEGACY_KERAS := 1
export SPARK_LOCAL_IP := 127.0.0.1

setup:
	@bash scripts/setup.sh

demo: setup
	.venv/bin/astrolake demo --base-path lakehouse

test:
	@ASTROLAKE_BROWSER=required bash scripts/setup.sh
	$(PY) -m pytest -q --durations=25 $(PYTEST_ARGS)

# ruff (lint, and format check at line length 120) over the tree, then mypy over lib/astrolake (pyproject.toml)
lint: setup
	$(PY) -m ruff check . && $(PY) -m ruff format --check . && $(PY) -m mypy

bench: setup
	$(PY) benchmarks/bench_ingest.py

docs: setup
	$(PY) scripts/data_dictionary.py

clean:
	rm -rf lakehouse reports spark-warehouse
