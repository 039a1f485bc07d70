"""Shared fixtures: one real Spark + Delta session for the whole run, data-file paths."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TESTS_DATA = ROOT / "tests" / "data"
SHARED_DATA = ROOT.parent / "shared" / "data"
#: the CLI options of a small local session, for the tests that start ``astrolake`` in a child process
SMALL_SESSION = ("--master", "local[2]", "--shuffle-partitions", "2", "--driver-memory", "1g")

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

# pytest-xdist runs tests in worker processes whose ``__main__`` has neither ``__spec__`` nor
# ``__file__``; pyspark.sql.connect takes such a process for a doctest run and calls sys.exit(0) when
# it is imported (MLflow imports it to check a model's kind).  Give the worker's __main__ a file.
_main = sys.modules["__main__"]
if getattr(_main, "__spec__", None) is None and not hasattr(_main, "__file__"):
    _main.__file__ = __file__


def shared_file(name: str) -> Path:
    """A file from ../shared/data; skips the test when it is absent (a plain clone).

    ``ASTROLAKE_NO_SHARED=1`` hides ../shared/data even where it exists, to check what a plain clone
    runs: every test that a small sample in tests/data can serve must still run then.
    """
    path = SHARED_DATA / name
    if os.environ.get("ASTROLAKE_NO_SHARED", "") not in ("", "0"):
        pytest.skip(f"../shared/data/{name} hidden by ASTROLAKE_NO_SHARED")
    if not path.exists():
        pytest.skip(f"../shared/data/{name} not present")
    return path


@pytest.fixture(scope="session")
def lake_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("lake")


@pytest.fixture(scope="session")
def settings(lake_root):
    from astrolake.config import Settings

    # The tests' tables hold tens to thousands of rows: compiling generated code for each of the
    # thousands of plans they run costs more than evaluating their expressions, so the tests' own
    # session interprets them (a third less time; the processes the tests start use the default).
    return Settings(
        base_path=str(lake_root),
        spark_master="local[2]",
        shuffle_partitions=2,
        driver_memory="2g",
        extra_spark_conf={"spark.sql.codegen.factoryMode": "NO_CODEGEN"},
    )


@pytest.fixture(scope="session")
def spark(settings):
    from astrolake.spark import get_spark

    session = get_spark(settings, app_name="astrolake-tests")
    yield session
    session.stop()


#: the real sample most Spark tests learn from: 5,000 DR17 spectra (tests/data/PROVENANCE.md)
STELLAR_5K = TESTS_DATA / "sdss_dr17_stellar_5k.csv"


@pytest.fixture(scope="session")
def stellar_lake(spark, settings, tmp_path_factory):
    """``copy(base_path)``: a lake at ``base_path`` holding :data:`STELLAR_5K` ingested into
    ``sdss_dr17_stellar`` (one batch) and its gold table built, as ``pipeline.ingest`` and
    ``build_gold`` leave them.  They run once per test process, into a folder that each caller
    gets a copy of (the tables are Delta folders addressed by path; the lock files stay behind)."""
    from astrolake.lake import pipeline
    from astrolake.lake.tables import Lake
    from astrolake.ml.features import build_gold

    template: Path | None = None

    def copy(base_path) -> None:
        nonlocal template
        if template is None:
            built = tmp_path_factory.mktemp("stellar") / "lake"
            lake = Lake(spark, settings.with_overrides(base_path=str(built)))
            pipeline.ingest(lake, "sdss_dr17_stellar", [str(STELLAR_5K)])
            build_gold(lake, "sdss_dr17_stellar")
            template = built
        shutil.copytree(template, base_path, ignore=shutil.ignore_patterns("_locks"), dirs_exist_ok=True)

    return copy


@pytest.fixture
def fresh_settings(tmp_path, settings):
    """Settings whose tables live in a folder of their own (for tests that need empty tables)."""
    return settings.with_overrides(base_path=str(tmp_path / "lake"))


@pytest.fixture(autouse=True)
def _unconfigured_logging():
    """Every test starts with astrolake's logging as a library user finds it (nothing configured),
    whatever an earlier ``cli.main`` or ``astrolake.log.configure`` in this process left behind:
    its records propagate to the root logger, where ``caplog`` sees them."""
    yield
    import logging

    root = logging.getLogger("astrolake")
    for handler in list(root.handlers):
        if getattr(handler, "_astrolake", False):
            root.removeHandler(handler)
    root.setLevel(logging.NOTSET)
    root.propagate = True


#: the longest test files (seconds on two idle cores, 2026-12): run first, so that with two pytest-xdist
#: workers (`make test`) the other worker takes the many short files meanwhile and neither waits
#: alone on a long file at the end
LONGEST_FIRST = (
    "tests/spark/ml/test_learning.py",
    "tests/spark/dl/test_deep.py",
    "tests/spark/lake/test_kills.py",
    "tests/spark/test_doors.py",
    "tests/spark/test_demo.py",
    "tests/spark/test_notebooks.py",
)


def pytest_collection_modifyitems(config, items):
    rank = {path: i for i, path in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(LONGEST_FIRST)))
