"""Named outputs for every model astrolake logs: what ``mlflow.pyfunc.load_model(uri).predict`` returns.

A registered astrolake model, loaded with plain MLflow, takes a pandas DataFrame with its feature
columns (other columns are ignored) and returns a pandas DataFrame with the same index:

============== ======================================================================================
task           columns
============== ======================================================================================
classification ``predicted_class`` (the class name, e.g. ``GALAXY``), then ``prob_<CLASS>`` for every
               class in the model's class order (``float64``, summing to 1 per row)
photoz         ``z_phot`` and ``z_phot_err`` (the calibrated 1-sigma; NaN for models without one)
clustering     ``cluster`` (``int64``)
============== ======================================================================================

A row that lacks a feature (null / NaN) gets no prediction: ``predicted_class`` None and NaN
elsewhere (``cluster`` -1).  The Galaxy Zoo CNN takes its image tensor ``(n, size, size, 3)``
instead of a DataFrame and returns the classification columns.

How: the model keeps its own flavour (``spark`` for MLlib and xgboost pipelines, ``tensorflow``
for Keras), so ``mlflow.spark.load_model`` / ``mlflow.tensorflow.load_model`` still give the raw
model; only its ``python_function`` flavour is pointed at this file, which is copied into the
model (``code/astrolake_pyfunc.py``) and needs nothing but mlflow, numpy, pandas and the model's
own library -- not astrolake.  The task, class names and feature order travel in the flavour's
``config``.  The inner flavour's own loader (``_load_pyfunc``, the loader protocol of MLflow)
still loads the raw model.
"""

from __future__ import annotations

import importlib
import os
import shutil

import numpy as np
import pandas as pd

LOADER = "astrolake_pyfunc"  # module name of this file inside a logged model
CLASS, PREFIX = "predicted_class", "prob_"
Z_PHOT, Z_ERR = "z_phot", "z_phot_err"
CLUSTER = "cluster"
TASKS = ("classification", "photoz", "clustering")


def output_columns(task: str, classes: list[str] | None = None) -> list[tuple[str, str]]:
    """``(name, type)`` of a model's output columns, in order (types as MLflow's ``ColSpec``).

    >>> output_columns("classification", ["GALAXY", "QSO", "STAR"])
    [('predicted_class', 'string'), ('prob_GALAXY', 'double'), ('prob_QSO', 'double'), ('prob_STAR', 'double')]
    >>> output_columns("photoz")
    [('z_phot', 'double'), ('z_phot_err', 'double')]
    """
    if task == "classification":
        if not classes:
            raise ValueError("a classifier's outputs need its class names")
        return [(CLASS, "string")] + [(f"{PREFIX}{c}", "double") for c in classes]
    if task == "photoz":
        return [(Z_PHOT, "double"), (Z_ERR, "double")]
    if task == "clustering":
        return [(CLUSTER, "long")]
    raise ValueError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")


def spark_result_type(task: str, classes: list[str] | None = None) -> str:
    """The outputs as a Spark DDL struct, the ``result_type`` of ``mlflow.pyfunc.spark_udf``.

    >>> spark_result_type("photoz")
    '`z_phot` double, `z_phot_err` double'
    """
    spark_type = {"string": "string", "double": "double", "long": "bigint"}
    return ", ".join(f"`{n}` {spark_type[t]}" for n, t in output_columns(task, classes))


def signature(task: str, classes: list[str] | None, features: list[str] | None, tensor_shape=None):
    """MLflow signature: the feature columns (``double``) or an image tensor in, the named columns out."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema, TensorSpec

    if tensor_shape is not None:
        inputs = Schema([TensorSpec(np.dtype(np.float32), tuple(tensor_shape))])
    elif features:
        inputs = Schema([ColSpec("double", f) for f in features])
    else:
        raise ValueError("a model signature needs the feature columns or an input tensor shape")
    return ModelSignature(inputs=inputs, outputs=Schema([ColSpec(t, n) for n, t in output_columns(task, classes)]))


def attach(path: str, mlflow_model, task: str, classes: list[str] | None, features: list[str] | None) -> None:
    """Point the ``python_function`` flavour of a model just saved at ``path`` to this file.

    Called right after the inner flavour's ``save_model`` (``mlflow.spark`` or
    ``mlflow.tensorflow``) wrote the model, before it is uploaded.
    """
    output_columns(task, classes)  # validates task and classes
    conf = mlflow_model.flavors.get("python_function")
    if conf is None:
        raise ValueError("the saved model has no python_function flavour to wrap")
    if conf.get("loader_module") == LOADER:
        return
    code = conf.get("code") or "code"
    os.makedirs(os.path.join(path, code), exist_ok=True)
    shutil.copyfile(os.path.abspath(__file__), os.path.join(path, code, f"{LOADER}.py"))
    conf["config"] = {
        "inner_loader": conf["loader_module"],
        "task": task,
        "classes": list(classes or []),
        "features": list(features or []),
    }
    conf["loader_module"], conf["code"] = LOADER, code
    mlflow_model.save(os.path.join(path, "MLmodel"))


def _load_pyfunc(data_path: str, model_config: dict | None = None):
    """MLflow's loader hook: the inner flavour's model behind :class:`NamedOutputs`."""
    config = dict(model_config or {})
    if "inner_loader" not in config:  # loaded without MLflow passing the flavour's config
        from mlflow.models import Model

        here = data_path if os.path.isfile(os.path.join(data_path, "MLmodel")) else os.path.dirname(data_path)
        config = dict(Model.load(os.path.join(here, "MLmodel")).flavors["python_function"]["config"])
    inner = importlib.import_module(config["inner_loader"])._load_pyfunc(data_path)
    return NamedOutputs(inner, config)


class NamedOutputs:
    """The model's raw pyfunc (``mlflow.spark`` or ``mlflow.tensorflow``) with named outputs."""

    def __init__(self, inner, config: dict):
        self.inner = inner
        self.task = config["task"]
        self.classes = list(config.get("classes") or [])
        self.features = list(config.get("features") or [])
        self.columns = [n for n, _ in output_columns(self.task, self.classes)]
        self.spark = getattr(inner, "spark", None) is not None

    def get_raw_model(self):
        """The MLlib ``PipelineModel`` or the Keras model."""
        return self.inner.get_raw_model()

    def predict(self, data, params=None) -> pd.DataFrame:
        if isinstance(data, dict) and len(data) == 1:  # a tensor signature gives {name: array}
            data = next(iter(data.values()))
        if not isinstance(data, pd.DataFrame):
            return self._from_matrix(np.asarray(data, dtype=np.float32))
        missing = [c for c in self.features if c not in data.columns]
        if missing:
            raise ValueError(f"the input lacks the model's feature column(s) {', '.join(missing)}")
        if self.spark:
            return self._spark(data)
        x = data[self.features].to_numpy(dtype=np.float32, na_value=np.nan)
        return self._from_matrix(x, index=data.index)

    # ---------------------------------------------------------------------------------------
    def _empty(self, index) -> pd.DataFrame:
        out = pd.DataFrame(index=index)
        for name, kind in output_columns(self.task, self.classes):
            if kind == "string":
                out[name] = pd.Series([None] * len(index), index=index, dtype=object)
            elif kind == "long":
                out[name] = pd.Series(-1, index=index, dtype=np.int64)
            else:
                out[name] = pd.Series(np.nan, index=index, dtype=np.float64)
        return out

    def _from_matrix(self, x: np.ndarray, index=None) -> pd.DataFrame:
        """Keras: one float32 matrix (features in the model's order) or image tensor in."""
        index = pd.RangeIndex(len(x)) if index is None else index
        out = self._empty(index)
        ok = ~np.isnan(x.reshape(len(x), -1)).any(axis=1) if len(x) else np.zeros(0, bool)
        if not ok.any():
            return out
        raw = self.inner.get_raw_model().predict(x[ok], batch_size=4096, verbose=0)
        raw = np.asarray(raw, dtype=np.float64).reshape(int(ok.sum()), -1)
        if self.task == "classification":
            self._classes_into(out, ok, raw)
        else:
            out.loc[ok, Z_PHOT] = raw[:, 0]
            if raw.shape[1] > 1:
                out.loc[ok, Z_ERR] = raw[:, 1]
        return out

    def _classes_into(self, out: pd.DataFrame, ok: np.ndarray, prob: np.ndarray, names=None) -> None:
        if prob.shape[1] != len(self.classes):
            raise ValueError(f"the model gives {prob.shape[1]} probabilities for {len(self.classes)} classes")
        prob = prob / prob.sum(axis=1, keepdims=True)  # float32 models (xgboost, Keras) sum to 1 +- 1e-7
        for i, c in enumerate(self.classes):
            out.loc[ok, f"{PREFIX}{c}"] = prob[:, i]
        if names is None:
            names = np.asarray(self.classes, dtype=object)[prob.argmax(axis=1)]
        out.loc[ok, CLASS] = names

    def _spark(self, data: pd.DataFrame) -> pd.DataFrame:
        """MLlib / xgboost pipeline: one Spark transform of the rows, outputs collected in row order."""
        from pyspark.ml.functions import vector_to_array
        from pyspark.sql import functions as F

        out = self._empty(data.index)
        if len(data) == 0:
            return out
        rows = data[self.features].astype("float64").reset_index(drop=True)
        rows.insert(0, "__row", np.arange(len(rows), dtype=np.int64))
        pred = self.get_raw_model().transform(self.inner.spark.createDataFrame(rows))
        if self.task == "classification":
            vec = F.col("probability")
            if not pred.schema["probability"].dataType.simpleString().startswith("array"):
                vec = vector_to_array(vec)
            got = pred.select("__row", CLASS, vec.alias("__p")).toPandas()
        elif self.task == "photoz":
            err = F.col(Z_ERR) if Z_ERR in pred.columns else F.lit(None).cast("double")
            got = pred.select("__row", Z_PHOT, err.alias(Z_ERR)).toPandas()
        else:
            got = pred.select("__row", F.col(CLUSTER).cast("long")).toPandas()
        ok = np.zeros(len(rows), bool)
        at = got["__row"].to_numpy()
        ok[at] = True
        got = got.set_index("__row").loc[np.flatnonzero(ok)]  # row order of the input
        if self.task == "classification":
            prob = np.array(got["__p"].tolist(), dtype=np.float64).reshape(len(got), -1)
            self._classes_into(out, ok, prob, names=got[CLASS].to_numpy(dtype=object))
        else:
            for c in self.columns:
                out.loc[ok, c] = got[c].to_numpy()
        return out
