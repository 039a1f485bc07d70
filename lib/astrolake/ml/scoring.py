"""Apply a registered model to a Delta table, and write predictions back to Delta.

MLlib models are loaded once (``mlflow.spark.load_model``) and applied with ``transform``; other
flavours (Keras through ``mlflow.tensorflow``) run through ``mlflow.pyfunc.spark_udf`` in Arrow
batches.  Either way the output has the same columns:

``_key``, ``predicted_class`` + ``prob_<CLASS>`` (classifiers) or ``z_phot`` + ``z_phot_err``
(photo-z) or ``cluster``, ``model_name``, ``model_version``, ``source_table``,
``source_version``, ``scored_at``.

Incremental: rows already scored by the model (any version) are skipped; ``rescore=True`` scores
them again under the given version (only rows that version has not scored yet).  Re-running is a
no-op.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from astrolake.errors import UserError
from astrolake.lake.tables import Lake, TableNotFoundError
from astrolake.ml import models, tracking
from astrolake.ml.features import complete_rows

log = logging.getLogger(__name__)

PREDICTION_COLUMNS = [
    ("_key", "string"),
    ("model_name", "string"),
    ("model_version", "string"),
    ("predicted_class", "string"),
    ("z_phot", "double"),
    ("z_phot_err", "double"),
    ("cluster", "int"),
    ("probabilities", "map<string,double>"),
    ("source_table", "string"),
    ("source_version", "bigint"),
    ("scored_at", "timestamp"),
]
PREDICTIONS_DDL = ", ".join(f"{n} {t.upper()}" for n, t in PREDICTION_COLUMNS)
_OUTPUTS = ("predicted_class", "z_phot", "z_phot_err", "cluster", "probabilities")


@dataclass
class Predictor:
    """A registered model, loaded once, that adds its outputs to any number of frames.

    MLlib models (``spark`` flavour) keep the loaded ``model`` (its stages are there to inspect);
    other flavours keep one ``mlflow.pyfunc.spark_udf``.
    """

    ref: tracking.ModelRef
    model: object | None = None  # PipelineModel of the spark flavour
    udf: object | None = None  # pyfunc Spark UDF of any other flavour

    @classmethod
    def load(cls, ref: tracking.ModelRef, spark) -> Predictor:
        import mlflow

        if "spark" in ref.flavors or not ref.flavors:
            return cls(ref, model=mlflow.spark.load_model(ref.uri))
        return cls(ref, udf=mlflow.pyfunc.spark_udf(spark, ref.uri, env_manager="local", result_type="array<double>"))

    def __call__(self, df: DataFrame) -> DataFrame:
        ref = self.ref
        missing = [c for c in ref.features if c not in df.columns]
        if missing:
            raise ValueError(f"the table lacks the model's feature column(s) {', '.join(missing)}")
        if self.model is not None:
            return self.model.transform(df)
        # Keras models take one float32 matrix, columns in the order of the model's feature list
        out = df.withColumn("_out", self.udf(F.struct(*[F.col(c).cast("float").alias(c) for c in ref.features])))
        if ref.task == "classification":
            classes = ref.classes
            best = (F.array_position(F.col("_out"), F.array_max(F.col("_out"))) - 1).cast("int")
            names = F.array(*[F.lit(c) for c in classes])
            out = out.withColumns(
                {
                    "prediction": best.cast("double"),
                    "predicted_class": F.element_at(names, best + 1),
                    "probability": F.col("_out"),
                }
            )
            return out.drop("_out")
        return out.withColumns(
            {models.Z_PHOT: F.col("_out")[0], models.Z_ERR: F.when(F.size("_out") > 1, F.col("_out")[1])}
        ).drop("_out")


def predict(ref: tracking.ModelRef, df: DataFrame) -> DataFrame:
    """``df`` with the model's outputs, for any flavour; keeps ``df``'s columns.

    Classifiers give ``prediction`` (class index), ``predicted_class`` and ``probability``; a
    ``label_index`` column already in ``df`` (:func:`astrolake.ml.models.index_labels`) is kept, so
    the same frame can be evaluated.  To apply one model to several frames, load a
    :class:`Predictor` once.
    """
    return Predictor.load(ref, df.sparkSession)(df)


def prediction_columns(ref: tracking.ModelRef, pred: DataFrame) -> DataFrame:
    """The stored prediction columns (see PREDICTION_COLUMNS)."""
    from pyspark.ml.functions import vector_to_array

    cols = {n: F.lit(None).cast(t) for n, t in PREDICTION_COLUMNS if n in _OUTPUTS}
    if ref.task == "classification" and "probability" in pred.columns:
        prob = pred.schema["probability"].dataType.simpleString()
        arr = F.col("probability") if prob.startswith("array") else vector_to_array(F.col("probability"))
        cols["predicted_class"] = F.col("predicted_class")
        cols["probabilities"] = F.map_from_arrays(F.array(*[F.lit(c) for c in ref.classes]), arr)
    elif ref.task == "photoz":
        cols["z_phot"] = F.col(models.Z_PHOT)
        cols["z_phot_err"] = F.col(models.Z_ERR) if models.Z_ERR in pred.columns else F.lit(None).cast("double")
    elif ref.task == "clustering":
        cols["cluster"] = F.col("cluster").cast("int")
    return pred.select("_key", *[v.alias(k) for k, v in cols.items()])


@dataclass
class ScoreResult:
    model_name: str
    model_version: str
    table: str
    table_version: int
    out: str
    scored: int
    skipped: int

    def line(self) -> str:
        return (
            f"score: {self.model_name} v{self.model_version} on {self.table} v{self.table_version} -> "
            f"{self.out}: {self.scored} rows scored, {self.skipped} already scored"
        )


def score(
    lake: Lake,
    model_uri: str,
    table: str,
    out: str,
    rescore: bool = False,
    table_version: int | None = None,
) -> ScoreResult:
    """Score ``table`` with ``model_uri`` and append the predictions to Delta table ``out``."""
    t0 = time.perf_counter()
    tracking.configure(lake.settings)
    ref = tracking.resolve(model_uri)
    if not lake.exists(table):
        raise TableNotFoundError(f"no table {table!r} at {lake.location(table)}")
    version = lake.version(table) if table_version is None else int(table_version)
    rows = lake.read(table, version=version)
    if "_key" not in rows.columns:
        raise UserError(f"{table} has no _key column: score a gold table (astrolake features CATALOG)")
    lake.create(out, PREDICTIONS_DDL, comment="model predictions, one row per object, model and version")
    done = lake.read(out).where(F.col("model_name") == ref.name)
    if rescore:
        done = done.where(F.col("model_version") == ref.version)
    done_keys = done.select("_key").distinct()
    skipped = done_keys.join(rows.select("_key"), "_key").count()
    todo = rows.join(done_keys, "_key", "left_anti")
    todo = complete_rows(todo, ref.features)
    pred = prediction_columns(ref, predict(ref, todo)).withColumns(
        {
            "model_name": F.lit(ref.name),
            "model_version": F.lit(ref.version),
            "source_table": F.lit(table),
            "source_version": F.lit(version).cast("bigint"),
            "scored_at": F.current_timestamp(),
        }
    )
    before = lake.version(out)
    lake.append(pred.select(*[n for n, _ in PREDICTION_COLUMNS]), out)
    after = lake.version(out)
    scored = 0
    if after > before:
        metrics = lake.delta(out).history(1).select("operationMetrics").first()[0] or {}
        scored = int(metrics.get("numOutputRows", 0))
    result = ScoreResult(ref.name, ref.version, table, version, out, scored, skipped)
    log.info("%s ... %.1f s", result.line(), time.perf_counter() - t0)
    return result
