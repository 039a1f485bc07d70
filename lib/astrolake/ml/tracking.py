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
    # always set: a registry chosen by an earlier configure() in this process must not linger
    mlflow.set_registry_uri(registry or uri)
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


def log_model(
    flavor,
    model,
    task: str,
    classes: list[str] | None,
    features: list[str] | None,
    input_example=None,
    pip_requirements: list[str] | None = None,
    tensor_shape: tuple | None = None,
    name: str = "model",
):
    """Log ``model`` in the active run with its own flavour and named pyfunc outputs.

    ``flavor`` is ``mlflow.spark`` (MLlib and xgboost pipelines) or ``mlflow.tensorflow`` (Keras);
    the model keeps that flavour, and its ``python_function`` flavour returns the columns of
    :mod:`astrolake.ml.pyfunc` (class name and ``prob_<CLASS>``, ``z_phot``/``z_phot_err``,
    ``cluster``) with a matching signature: the feature columns in, or the image tensor of shape
    ``tensor_shape``.  ``input_example`` (feature rows) is kept for Spark models only:
    ``mlflow.tensorflow`` accepts tensor signatures and examples alone.
    """
    from types import SimpleNamespace

    from mlflow.models import Model

    from astrolake.ml import pyfunc

    sig = pyfunc.signature(task, classes, features, tensor_shape)
    spark = flavor.__name__.endswith(".spark")

    def save_model(path, mlflow_model, **kwargs):
        flavor.save_model(path=path, mlflow_model=mlflow_model, **kwargs)
        mlflow_model.signature = sig  # written with the MLmodel file by attach
        pyfunc.attach(path, mlflow_model, task, classes, features)

    wrapped = SimpleNamespace(__name__=flavor.__name__, save_model=save_model)
    inner = {"spark_model": model, "signature": sig, "input_example": input_example} if spark else {"model": model}
    return Model.log(artifact_path=None, name=name, flavor=wrapped, pip_requirements=pip_requirements, **inner)


def register(run_id: str, artifact_path: str, name: str, tags: dict[str, str] | None = None) -> str:
    """Register the run's model under ``name``; the new version becomes the challenger."""
    import mlflow
    from mlflow import MlflowClient

    mv = mlflow.register_model(f"runs:/{run_id}/{artifact_path}", name, tags=tags or None)
    MlflowClient().set_registered_model_alias(name, CHALLENGER, mv.version)
    return str(mv.version)


def version_of_run(name: str, run_id: str) -> str | None:
    """The version of ``name`` registered from run ``run_id``, if there is one (the lowest)."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    try:
        found = [v for v in MlflowClient().search_model_versions(f"run_id = '{run_id}'") if v.name == name]
    except MlflowException:
        return None
    return str(min(int(v.version) for v in found)) if found else None


def ensure_alias(name: str, version: str) -> None:
    """Make ``version`` the challenger unless an alias already points at it (a register that died
    between registering and setting the alias)."""
    from mlflow import MlflowClient

    client = MlflowClient()
    if not client.get_model_version(name, version).aliases:
        client.set_registered_model_alias(name, CHALLENGER, version)


@dataclass
class ModelRef:
    """A registered model version and what its training run recorded."""

    name: str
    version: str
    run_id: str
    source: str
    tags: dict[str, str]  # the training run's astrolake.* tags
    flavors: tuple[str, ...]
    pyfunc_loader: str | None = None  # loader module of the python_function flavour

    @property
    def named_outputs(self) -> bool:
        """True when pyfunc gives named columns (:mod:`astrolake.ml.pyfunc`), not a bare index/array."""
        from astrolake.ml.pyfunc import LOADER

        return self.pyfunc_loader == LOADER

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
    if mv.run_id is None or mv.source is None:
        raise ModelError(f"{uri} has no MLflow run behind it: it was not trained by astrolake")
    run = client.get_run(mv.run_id)
    tags = {k: v for k, v in run.data.tags.items() if k.startswith(TAG)}
    flavors: tuple[str, ...] = ()
    loader = None
    try:
        from mlflow.models import get_model_info

        info = get_model_info(mv.source).flavors
        flavors, loader = tuple(info), (info.get("python_function") or {}).get("loader_module")
    except Exception:  # noqa: BLE001 - flavors are only a hint for scoring
        pass
    return ModelRef(m["name"], str(mv.version), mv.run_id, mv.source, tags, flavors, loader)


def alias_version(name: str, alias: str) -> str | None:
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    try:
        return str(MlflowClient().get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None
