"""MLflow: where runs are tracked, how models are logged, registered and found by alias.

Locally runs and the registry go to a SQLite file in the working folder (``mlflow.db``, artifacts
in ``mlruns/`` beside it); ``tracking_uri`` / ``registry_uri`` / ``experiment`` in the settings
change that.  On Databricks the workspace tracking server is used, and with Unity Catalog the
registry is ``databricks-uc`` and model names are ``catalog.schema.name``.

Aliases replace stages: every newly registered version becomes ``challenger``; ``champion`` is
moved only by :func:`astrolake.ml.registry.promote`.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from astrolake.config import Settings
from astrolake.errors import UserError
from astrolake.spark import on_databricks

CHAMPION, CHALLENGER = "champion", "challenger"
TAG = "astrolake."  # prefix of every tag astrolake sets on runs and model versions


class ModelError(UserError, ValueError):
    """A model request that cannot be served: unknown family, task or metric, malformed model URI,
    a model astrolake did not train, or one that does not fit the table."""


class ModelNotFoundError(ModelError, LookupError):
    """No registered model version answers to the URI (unknown name, alias or version)."""


def configure(settings: Settings) -> str:
    """Point MLflow at the tracking store and registry of ``settings``; return the experiment id."""
    import logging

    import mlflow

    logging.getLogger("mlflow").setLevel(logging.WARNING)  # its INFO lines drown astrolake's progress
    uri = settings.tracking_uri
    if not uri:
        uri = "databricks" if on_databricks() else f"sqlite:///{Path.cwd().absolute() / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    registry = settings.registry_uri or ("databricks-uc" if on_databricks() and settings.uses_unity_catalog else None)
    if registry:
        mlflow.set_registry_uri(registry)
    name = settings.experiment
    if on_databricks() and not name.startswith("/"):
        name = f"/Shared/{name}"
    exp = mlflow.get_experiment_by_name(name)
    if exp is None:
        location = None
        if uri.startswith("sqlite:///"):  # artifacts beside the database, not in the cwd
            location = (Path(uri[len("sqlite:///") :]).parent / "mlruns").absolute().as_uri()
        exp_id = mlflow.create_experiment(name, artifact_location=location)
    else:
        exp_id = exp.experiment_id
    mlflow.set_experiment(experiment_id=exp_id)
    os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
    return exp_id


def tracking_uri() -> str:
    import mlflow

    return mlflow.get_tracking_uri()


def model_name(settings: Settings, task: str, catalog: str) -> str:
    """Registered model name: ``astrolake_<task>_<catalog>`` (three-part on Unity Catalog)."""
    base = f"astrolake_{task}_{catalog}"
    if settings.uses_unity_catalog and (on_databricks() or (settings.registry_uri or "").startswith("databricks-uc")):
        return f"{settings.uc_catalog}.{settings.uc_schema}.{base}"
    return base


def pip_requirements(extra: list[str] | None = None) -> list[str]:
    """What a scoring environment needs (given explicitly: inferring it starts another JVM)."""
    import mlflow
    import pyspark

    reqs = [f"pyspark=={pyspark.__version__}", f"mlflow=={mlflow.__version__}"]
    return reqs + list(extra or [])


def register(run_id: str, artifact_path: str, name: str, tags: dict[str, str] | None = None) -> str:
    """Register the run's model under ``name``; the new version becomes the challenger."""
    import mlflow
    from mlflow import MlflowClient

    mv = mlflow.register_model(f"runs:/{run_id}/{artifact_path}", name, tags=tags or None)
    MlflowClient().set_registered_model_alias(name, CHALLENGER, mv.version)
    return str(mv.version)


@dataclass
class ModelRef:
    """A registered model version and what its training run recorded."""

    name: str
    version: str
    run_id: str
    source: str
    tags: dict[str, str]  # the training run's astrolake.* tags
    flavors: tuple[str, ...]

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"

    @property
    def task(self) -> str:
        return self.tags.get(TAG + "task", "classification")

    @property
    def features(self) -> list[str]:
        return json.loads(self.tags.get(TAG + "features", "[]"))

    @property
    def classes(self) -> list[str]:
        return json.loads(self.tags.get(TAG + "classes", "[]"))


_URI = re.compile(r"^models:/(?P<name>[^@/]+)(?:@(?P<alias>[\w-]+)|/(?P<version>\d+))$")


def resolve(uri: str) -> ModelRef:
    """``models:/NAME@alias`` or ``models:/NAME/VERSION`` -> :class:`ModelRef` (clear error if absent)."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    m = _URI.match(uri.strip())
    if not m:
        raise ModelError(f"model URI {uri!r} must look like models:/NAME@champion or models:/NAME/3")
    client = MlflowClient()
    try:
        if m["alias"]:
            mv = client.get_model_version_by_alias(m["name"], m["alias"])
        else:
            mv = client.get_model_version(m["name"], m["version"])
    except MlflowException as exc:
        raise ModelNotFoundError(f"no registered model version for {uri}: {str(exc).splitlines()[0]}") from None
    run = client.get_run(mv.run_id)
    tags = {k: v for k, v in run.data.tags.items() if k.startswith(TAG)}
    flavors: tuple[str, ...] = ()
    try:
        from mlflow.models import get_model_info

        flavors = tuple(get_model_info(mv.source).flavors)
    except Exception:  # noqa: BLE001 - flavors are only a hint for scoring
        pass
    return ModelRef(m["name"], str(mv.version), mv.run_id, mv.source, tags, flavors)


def alias_version(name: str, alias: str) -> str | None:
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    try:
        return str(MlflowClient().get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None
