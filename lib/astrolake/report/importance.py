"""Feature importances of a registered model: the trees' own, or permutation importance in Spark.

Tree models (decision tree, random forest, gradient-boosted trees, one-vs-rest of those) carry
``featureImportances`` (total impurity decrease, normalised to 1), read from the fitted MLlib
stage.  Any other model gets **permutation importance** on the validation split: one feature at
a time is shuffled across rows and the drop in the score (macro F1 for classifiers, the rise in
sigma_NMAD for photo-z) is the feature's importance.

The shuffle stays in Spark.  Rows get a dense index 0..n-1 from their partition and position
(partition sizes are the only thing counted on the driver); the feature's values are sorted by
a seeded random key and indexed the same way; joining the two on the index gives every row the
value of another, random row -- a uniform random permutation, with the other columns untouched.
"""

from __future__ import annotations

import logging
import time

import numpy as np
import pandas as pd
from pyspark import StorageLevel
from pyspark.sql import DataFrame
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


def permuted(base: DataFrame, column: str, seed: int, index: str = "_i") -> tuple[DataFrame, DataFrame]:
    """``(frame, cached)``: ``base`` (with a dense ``index``) with ``column``'s values randomly
    permuted across rows, and the persisted donor column (``cached.unpersist()`` when done)."""
    donor, _, cached = dense_index(base.select(column).orderBy(F.rand(seed)), index)
    return base.drop(column).join(donor, index), cached


def classification_score(pred: DataFrame, label: str = "label_index") -> float:
    """Macro F1 from the (label, prediction) counts (at most k x k rows reach the driver)."""
    from astrolake.ml.models import MacroF1Evaluator

    return float(MacroF1Evaluator(labelCol=label).evaluate(pred))


def photoz_score(pred: DataFrame, label: str = "redshift", prediction: str = "z_phot") -> float:
    """sigma_NMAD of dz = (z_phot - z_spec) / (1 + z_spec), as model tuning scores it."""
    from astrolake.ml.models import SigmaNMADEvaluator

    return float(SigmaNMADEvaluator(labelCol=label, predictionCol=prediction).evaluate(pred))


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
    shuffled, one at a time.  At most about ``max_rows`` rows are used (a seeded sample).
    Classification: macro F1 (unshuffled) - macro F1 (shuffled); photo-z: sigma_NMAD (shuffled) -
    sigma_NMAD (unshuffled).  ``attrs["baseline"]`` holds the unshuffled score.
    """
    label = label or ("label_index" if task == "classification" else "redshift")
    score = classification_score if task == "classification" else photoz_score
    lower_is_better = metrics.lower_is_better(metrics.primary_metric(task))  # importance: the score gets worse
    keep = list(dict.fromkeys([*features, label]))
    rows = df.select(*keep)
    n = rows.count()
    if n == 0:
        raise ValueError("cannot compute permutation importance on an empty frame")
    if n > max_rows:
        rows = rows.sample(fraction=min(1.0, 1.05 * max_rows / n), seed=seed)
    base, n, cached = dense_index(rows)
    held = [cached]
    try:
        baseline = score(predict(base))
        out = {}
        for k, col in enumerate(columns or features):
            t0 = time.perf_counter()
            shuffled, donor = permuted(base, col, seed + 1 + k)
            held.append(donor)
            value = score(predict(shuffled))
            out[col] = (value - baseline) if lower_is_better else (baseline - value)
            donor.unpersist()
            log.info(f"report: permutation importance of {col}: {out[col]:+.4f} ... {time.perf_counter() - t0:.1f} s")
    finally:
        for h in held:
            h.unpersist()
    s = pd.Series(out, name="importance")
    s.attrs["baseline"] = baseline
    s.attrs["rows"] = n
    return s
