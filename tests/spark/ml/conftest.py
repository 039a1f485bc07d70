"""Fixtures of the learning tests: a lake and an MLflow store (SQLite) of their own per module."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def ml_settings(tmp_path_factory, settings):
    root = tmp_path_factory.mktemp("ml")
    return settings.with_overrides(
        base_path=str(root / "lake"), tracking_uri=f"sqlite:///{root}/mlflow.db", experiment="astrolake-tests"
    )


@pytest.fixture(scope="module")
def lake(spark, ml_settings):
    from astrolake.lake.tables import Lake

    return Lake(spark, ml_settings)
