"""Apply a registered model to a Delta table, and write predictions back to Delta.

MLlib and xgboost pipelines (``spark`` flavour) are loaded once (``mlflow.spark.load_model``) and
applied with ``transform``; other flavours (Keras, logged with ``mlflow.tensorflow``) run through
``mlflow.pyfunc.spark_udf`` in Arrow batches, returning the named columns of
:mod:`astrolake.ml.pyfunc` (``predicted_class`` + ``prob_<CLASS>``, or ``z_phot`` + ``z_phot_err``).
Either way the predictions table gets the same columns (``PREDICTION_COLUMNS``):

``_key``, ``model_name``, ``model_version``, ``predicted_class`` (the class name) and
``probabilities`` (class name -> probability) for classifiers, ``z_phot`` + ``z_phot_err`` for
photo-z, ``cluster`` for clustering (the other task's columns null), ``source_table``,
``source_version``, ``scored_at``.

Incremental: rows already scored by the model (any version) are skipped; ``rescore=True`` scores
them again under the given version (only rows that version has not scored yet).  Re-running is a
no-op.

Retractions (:mod:`astrolake.lake.retract`): rows retracted in the scored table are not scored,
and their predictions (every model's) are soft-deleted with the same batch, time and reason at
the next run; a row revived later is scored again.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from astrolake import faults
from astrolake.errors import UserError
from astrolake.lake import pipeline
from astrolake.lake.tables import Lake, TableNotFoundError
from astrolake.layout import RETRACTED, RETRACTION_COLUMNS, live, retraction_ddl
from astrolake.ml import models, tracking
from astrolake.ml.features import complete_rows
from astrolake.ml.pyfunc import CLASS, PREFIX, spark_result_type

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
PREDICTIONS_DDL = ", ".join(f"{n} {t.upper()}" for n, t in PREDICTION_COLUMNS) + ", " + retraction_ddl()
_OUTPUTS = ("predicted_class", "z_phot", "z_phot_err", "cluster", "probabilities")


@dataclass
class Predictor:
    """A registered model, loaded once, that adds its outputs to any number of frames.

    MLlib models (``spark`` flavour) keep the loaded ``model`` (its stages are there to inspect);
    other flavours keep one ``mlflow.pyfunc.spark_udf`` returning the named columns of
    :mod:`astrolake.ml.pyfunc`.
    """

    ref: tracking.ModelRef
    model: Any = None  # PipelineModel of the spark flavour
    udf: Any = None  # pyfunc Spark UDF of any other flavour

    @classmethod
    def load(cls, ref: tracking.ModelRef, spark) -> Predictor:
        import mlflow

        if "spark" in ref.flavors or not ref.flavors:
            return cls(ref, model=mlflow.spark.load_model(ref.uri))
        if not ref.named_outputs:
            raise UserError(
                f"{ref.uri} ({', '.join(ref.flavors)}) was logged without astrolake's named outputs "
                f"(its pyfunc loader is {ref.pyfunc_loader}): train it again to score it"
            )
        result_type = spark_result_type(ref.task, ref.classes or None)
        return cls(ref, udf=mlflow.pyfunc.spark_udf(spark, ref.uri, env_manager="local", result_type=result_type))

    def __call__(self, df: DataFrame) -> DataFrame:
        """``df`` with ``prediction`` (class index), ``predicted_class`` and ``probability`` (classifiers),
        ``z_phot`` and ``z_phot_err`` (photo-z) or ``cluster``."""
        ref = self.ref
        missing = [c for c in ref.features if c not in df.columns]
        if missing:
            raise UserError(f"the table lacks the model's feature column(s) {', '.join(missing)}")
        if self.model is not None:
            return self.model.transform(df)
        out = df.withColumn("_out", self.udf(F.struct(*[F.col(c).cast("double").alias(c) for c in ref.features])))
        o = F.col("_out")
        if ref.task == "classification":
            classes = ref.classes
            names = F.array(*[F.lit(c) for c in classes])
            known = o[f"{PREFIX}{classes[0]}"].isNotNull()  # spark_udf turns a missing class name into "None"
            out = out.withColumns(
                {
                    "prediction": F.when(known, (F.array_position(names, o[CLASS]) - 1).cast("double")),
                    "predicted_class": F.when(known, o[CLASS]),
                    "probability": F.array(*[o[f"{PREFIX}{c}"] for c in classes]),
                }
            )
        elif ref.task == "photoz":
            out = out.withColumns({models.Z_PHOT: o[models.Z_PHOT], models.Z_ERR: o[models.Z_ERR]})
        else:
            out = out.withColumn("cluster", o["cluster"].cast("int"))
        return out.drop("_out")


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
        if models.Z_ERR in pred.columns:  # NaN (a model without an error model) is stored as null
            cols["z_phot_err"] = F.when(~F.isnan(models.Z_ERR), F.col(models.Z_ERR))
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
    retracted: int = 0

    def line(self) -> str:
        return (
            f"score: {self.model_name} v{self.model_version} on {self.table} v{self.table_version} -> "
            f"{self.out}: {self.scored} rows scored, {self.skipped} already scored"
            + (f", {self.retracted} predictions retracted" if self.retracted else "")
        )


def _retract_predictions(lake: Lake, rows: DataFrame, out: str) -> int:
    """Carry the retractions of the scored table's rows to their live predictions (every model's);
    returns how many predictions were retracted now."""
    if RETRACTED not in rows.columns:
        return 0
    gone = rows.where(F.col(RETRACTED).isNotNull()).select("_key", *[f"`{n}`" for n, _, _ in RETRACTION_COLUMNS])
    if gone.limit(1).count() == 0:
        return 0
    before = lake.version(out)
    (
        lake.delta(out)
        .alias("p")
        .merge(gone.alias("r"), f"p._key = r._key AND p.{RETRACTED} IS NULL")
        .whenMatchedUpdate(set={n: F.col(f"r.{n}") for n, _, _ in RETRACTION_COLUMNS})
        .execute()
    )
    if lake.version(out) == before:
        return 0
    metrics = lake.delta(out).history(1).select("operationMetrics").collect()[0][0] or {}
    return int(metrics.get("numTargetRowsUpdated", 0))


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
    pipeline.add_retraction_columns(lake, out)
    retracted = _retract_predictions(lake, rows, out)
    faults.point("score.retracted")
    rows = live(rows)
    done = live(lake.read(out)).where(F.col("model_name") == ref.name)
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
    nulls = [F.lit(None).cast(kind.lower()).alias(name) for name, kind, _ in RETRACTION_COLUMNS]
    lake.append(pred.select(*[n for n, _ in PREDICTION_COLUMNS], *nulls), out)
    after = lake.version(out)
    scored = 0
    if after > before:
        metrics = lake.delta(out).history(1).select("operationMetrics").collect()[0][0] or {}
        scored = int(metrics.get("numOutputRows", 0))
    result = ScoreResult(ref.name, ref.version, table, version, out, scored, skipped, retracted)
    log.info("%s ... %.1f s", result.line(), time.perf_counter() - t0)
    return result
