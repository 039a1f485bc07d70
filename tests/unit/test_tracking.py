"""Model references that astrolake refuses before loading anything (MLflow's sqlite store, no JVM)."""

from __future__ import annotations

import pytest

from astrolake.ml import tracking


def test_a_model_version_without_a_run_is_refused_by_name(fresh_settings, tmp_path):
    from mlflow import MlflowClient

    settings = fresh_settings.with_overrides(
        tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}", registry_uri=f"sqlite:///{tmp_path / 'mlflow.db'}"
    )
    tracking.configure(settings)
    client = MlflowClient()
    client.create_registered_model("handmade")
    client.create_model_version("handmade", source=str(tmp_path / "model"))  # registered without a run
    with pytest.raises(tracking.ModelError, match=r"models:/handmade/1 has no MLflow run behind it"):
        tracking.resolve("models:/handmade/1")
