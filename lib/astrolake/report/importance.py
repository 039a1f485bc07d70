"""Feature importances of a registered model: the trees' own, or permutation importance in Spark.

Tree models (decision tree, random forest, gradient-boosted trees, one-vs-rest of those) carry
``featureImportances`` (total impurity decrease, normalised to 1), read from the fitted MLlib
stage.  Any other model gets **permutation importance** on the validation split: one feature at
a time is shuffled across rows and the drop in the score (macro F1 for classifiers, the rise in
sigma_NMAD for photo-z) is the feature's importance.

The shuffle stays in Spark, and all the features are shuffled in one pass.  Rows get a dense index
0..n-1 from their partition and position (partition sizes are the only thing counted on the driver).
The frame is then copied once per shuffled feature (copy 0 is left as it is): in copy k, every row
takes feature k's value from another row, chosen by sorting that feature's values by a seeded random
key -- a uniform random permutation, with the other columns untouched.  The model predicts all the
copies at once and the score of each copy comes from one grouped aggregation, so the cost is a few
Spark jobs whatever the number of features (a model served by a Python UDF starts its workers once).
"""

from __future__ import annotations

import logging
import time

import numpy as np
import pandas as pd
from pyspark import StorageLevel
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from astrolake.ml import metrics

log = logging.getLogger(__name__)

_POSITION_BITS = 33  # monotonically_increasing_id = partition << 33 | position in the partition


def tree_importances(stages, features: list[str], prediction_col: str | None = None) -> pd.Series | None:
    """``featureImportances`` of the model's tree stage (None when the predicting stage is no tree).

    With ``prediction_col`` only the stage writing that column counts (a photo-z pipeline also
    holds the random forest of its error model, which predicts ``_err_raw``, not ``z_phot``).
    One-vs-rest models average their binary models' importances.  The vector follows the
    assembler's input order, i.e. ``features``.
    """
    from pyspark.ml.classification import OneVsRestModel

    for stage in stages:
        if prediction_col and hasattr(stage, "getPredictionCol") and stage.getPredictionCol() != prediction_col:
            continue
        vec = None
        if isinstance(stage, OneVsRestModel):
            inner = [m.featureImportances.toArray() for m in stage.models if hasattr(m, "featureImportances")]
            if inner:
                vec = np.mean(inner, axis=0)
        elif hasattr(stage, "featureImportances"):
            vec = stage.featureImportances.toArray()
        if vec is not None:
            if len(vec) != len(features):
                return None
            total = vec.sum()
            return pd.Series(vec / total if total > 0 else vec, index=list(features), name="importance")
    return None


def dense_index(df: DataFrame, name: str = "_i") -> tuple[DataFrame, int, DataFrame]:
    """``(indexed, n, cached)``: ``df`` with a dense 0..n-1 ``name`` column, its row count, and the
    persisted frame behind it (``cached.unpersist()`` when done).

    The index comes from each row's partition and position in it; only the partition sizes reach
    the driver.
    """
    mask = (1 << _POSITION_BITS) - 1
    staged = df.withColumns(
        {"_pid": F.spark_partition_id(), "_pos": F.monotonically_increasing_id().bitwiseAND(F.lit(mask))}
    )
    staged = staged.persist(StorageLevel.MEMORY_AND_DISK)  # fixes the nondeterministic ids
    sizes = sorted((int(r[0]), int(r[1])) for r in staged.groupBy("_pid").count().collect())
    offsets, n = [], 0
    for pid, count in sizes:
        offsets += [pid, n]
        n += count
    if not sizes:
        return staged.withColumn(name, F.lit(None).cast("long")).drop("_pid", "_pos"), 0, staged
    start = F.create_map(*[F.lit(v) for v in offsets])
    indexed = staged.withColumn(name, (F.element_at(start, F.col("_pid")) + F.col("_pos")).cast("long"))
    return indexed.drop("_pid", "_pos"), n, staged


#: the column that numbers the copies of :func:`permuted_copies` (0: unshuffled, k: ``columns[k - 1]`` shuffled)
COPY = "_copy"


def permuted_copies(base: DataFrame, columns: list[str], seed: int, index: str = "_i") -> DataFrame:
    """``base`` (with a dense ``index``) repeated ``len(columns) + 1`` times, numbered by :data:`COPY`:
    copy 0 unchanged, copy k with ``columns[k - 1]``'s values randomly permuted across the rows.

    One window, partitioned by copy and ordered by a seeded random key, deals each feature's values
    out to new row indexes; one join puts them in place.  Nothing is collected.
    """
    types = dict(base.dtypes)
    values = F.array(
        *[F.struct(F.lit(k).alias(COPY), F.col(c).cast("double").alias("_v")) for k, c in enumerate(columns, 1)]
    )
    deal = Window.partitionBy(COPY).orderBy(F.rand(seed), F.col(index))
    donors = (
        base.select(index, F.explode(values).alias("_d"))
        .select(F.col("_d." + COPY).alias(COPY), F.col("_d._v").alias("_v"), index)
        .withColumn(index, (F.row_number().over(deal) - 1).cast("long"))
    )
    copies = base.withColumn(COPY, F.explode(F.sequence(F.lit(0), F.lit(len(columns)))))
    joined = copies.join(donors, [COPY, index], "left")
    return joined.withColumns(
        {c: F.when(F.col(COPY) == k, F.col("_v").cast(types[c])).otherwise(F.col(c)) for k, c in enumerate(columns, 1)}
    ).drop("_v")


def classification_scores(pred: DataFrame, label: str = "label_index") -> dict[int, float]:
    """Macro F1 of each copy (:data:`COPY`), over the classes of all copies."""
    from astrolake.ml.models import macro_f1_by

    return {int(c): v for (c,), v in macro_f1_by(pred, [COPY], label).items()}


def photoz_scores(pred: DataFrame, label: str = "redshift", prediction: str = "z_phot") -> dict[int, float]:
    """sigma_NMAD of each copy (:data:`COPY`), with the exact medians that model tuning uses."""
    from astrolake.ml.models import sigma_nmad_by

    return {int(c): v for (c,), v in sigma_nmad_by(pred, [COPY], label, prediction).items() if v is not None}


def permutation_importance(
    predict,
    df: DataFrame,
    features: list[str],
    task: str = "classification",
    label: str | None = None,
    columns: list[str] | None = None,
    max_rows: int = 100_000,
    seed: int = 42,
) -> pd.Series:
    """Score drop when each feature is shuffled (positive: the model relies on the feature).

    ``predict`` maps a frame with the model's ``features`` (and the label) to predictions
    (``prediction`` for classifiers, ``z_phot`` for photo-z); ``df`` is the validation split, labels
    indexed (``label_index``) for classifiers; ``columns`` (default: every feature) are the ones
    shuffled, each in its own copy of the rows (:func:`permuted_copies`), all copies predicted and
    scored in one pass.  At most about ``max_rows`` rows are used (a seeded sample).
    Classification: macro F1 (unshuffled) - macro F1 (shuffled); photo-z: sigma_NMAD (shuffled) -
    sigma_NMAD (unshuffled).  ``attrs["baseline"]`` holds the unshuffled score.
    """
    label = label or ("label_index" if task == "classification" else "redshift")
    score = classification_scores if task == "classification" else photoz_scores
    lower_is_better = metrics.lower_is_better(metrics.primary_metric(task))  # importance: the score gets worse
    keep = list(dict.fromkeys([*features, label]))
    rows = df.select(*keep)
    n = rows.count()
    if n == 0:
        raise ValueError("cannot compute permutation importance on an empty frame")
    if n > max_rows:
        rows = rows.sample(fraction=min(1.0, 1.05 * max_rows / n), seed=seed)
    base, n, cached = dense_index(rows)
    columns = list(columns or features)
    t0 = time.perf_counter()
    try:
        scores = score(predict(permuted_copies(base, columns, seed + 1)), label)
    finally:
        cached.unpersist()
    baseline = scores[0]
    out = {}
    for k, col in enumerate(columns, 1):
        value = scores.get(k, float("nan"))
        out[col] = (value - baseline) if lower_is_better else (baseline - value)
        log.info(f"report: permutation importance of {col}: {out[col]:+.4f}")
    took = time.perf_counter() - t0
    log.info(f"report: permutation importance of {len(columns)} feature(s) on {n:,} rows ... {took:.1f} s")
    s = pd.Series(out, name="importance")
    s.attrs["baseline"] = baseline
    s.attrs["rows"] = n
    return s
