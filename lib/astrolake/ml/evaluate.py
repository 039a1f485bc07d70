"""Science-grade evaluation of predictions, computed in Spark.

Every function takes a Spark DataFrame of predictions (the output of ``model.transform``) and
reaches the driver only through aggregates of bounded size (a k x k confusion count, a
per-class probability histogram, per-bin statistics); per-row data are never collected.  The
input is scanned a few times, so cache it first when it is expensive to recompute.

* :func:`classification_metrics` -- confusion matrix, purity (precision) / completeness (recall)
  / FPR / F1 per class, macro and weighted averages, one-vs-rest ROC and PR curves with their
  areas (from histograms of the class probabilities), calibration, and purity / completeness in
  magnitude and redshift bins.
* :func:`regression_metrics` -- photo-z statistics of dz = (z_phot - z_spec) / (1 + z_spec):
  bias, sigma_NMAD, outlier fraction, RMSE, MAE, coverage of the quoted errors, per magnitude bin.
* :func:`photoz_density` -- the z_spec vs z_phot 2-D histogram.
* :func:`clustering_metrics` -- silhouette and cluster sizes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import reduce
from operator import add

import numpy as np
import pandas as pd
from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from astrolake.ml.metrics import NMAD, f1_per_class


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------
def _name(s) -> str:
    """A class name usable in a metric key (MLflow accepts letters, digits and ``_-. /``)."""
    return re.sub(r"[^0-9A-Za-z_\-. /]", "_", str(s))


def _div(a, b, empty=np.nan):
    """a / b element-wise, ``empty`` where b == 0."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b > 0, a / np.where(b > 0, b, 1), empty)


def _as_array(df: DataFrame, col: str) -> Column:
    """A probability column as array<double>, whether it is an MLlib vector or already an array."""
    from pyspark.ml.functions import vector_to_array
    from pyspark.sql.types import ArrayType

    dtype = df.schema[col].dataType
    return F.col(col).cast("array<double>") if isinstance(dtype, ArrayType) else vector_to_array(F.col(col))


def _resolve_bins(df: DataFrame, specs: dict, names: dict) -> dict[str, np.ndarray]:
    """Bin edges per column: a sequence is taken as the edges; a number ``n`` (default 8) gives
    ``n`` equal-count bins (approximate quantiles, outer edges the exact min and max), all
    columns in one aggregation.  Repeated quantiles are merged, so there may be fewer bins.
    ``names`` maps the columns of ``df`` to the user's column names (for messages).
    """
    out, counted = {}, {}
    for col, spec in specs.items():
        if spec is None or isinstance(spec, (int, np.integer)):
            counted[col] = int(spec or 8)
            continue
        edges = np.asarray(spec, dtype=float)
        if edges.ndim != 1 or len(edges) < 2 or np.any(np.diff(edges) <= 0):
            raise ValueError(
                f"bin edges for {names[col]!r} must be an increasing sequence of two or more numbers, got {spec!r}"
            )
        out[col] = edges
    if counted:

        def quantiles(c, nb):
            return (
                F.percentile_approx(c, [float(q) for q in np.linspace(0, 1, nb + 1)[1:-1]], 10_000)
                if nb > 1
                else F.lit(None)
            )

        row = df.agg(*[x for c, nb in counted.items() for x in (F.min(c), F.max(c), quantiles(c, nb))]).collect()[0]
        for i, c in enumerate(counted):
            lo, hi, inner = row[3 * i], row[3 * i + 1], row[3 * i + 2]
            if lo is None:
                raise ValueError(f"cannot bin {names[c]!r}: the frame is empty or the column is all null")
            edges = np.unique([lo, *[q for q in inner or [] if lo < q < hi], hi])
            out[c] = edges if len(edges) > 1 else np.array([lo, lo + 1.0])
    return out


def _bin_index(c: Column, edges) -> Column:
    """Index of the bin holding ``c`` (bins half-open, the last one closed, like ``np.histogram``); null outside."""
    e = [float(x) for x in edges]
    inside = c.isNotNull() & (c >= e[0]) & (c <= e[-1])
    return F.when(inside, reduce(add, [(c >= x).cast("int") for x in e[1:-1]], F.lit(0)))


def _bins_frame(edges) -> pd.DataFrame:
    return pd.DataFrame({"bin_lo": edges[:-1], "bin_hi": edges[1:]})


# --------------------------------------------------------------------------------------------
# classification
# --------------------------------------------------------------------------------------------
@dataclass
class ClassificationMetrics:
    """Classification metrics; purity = precision, completeness = recall = TPR.

    ``confusion[i, j]`` counts rows of true class i predicted as j.  ``roc[c]`` has columns
    threshold, fpr, tpr and ``pr[c]`` threshold, recall, precision (one-vs-rest, from
    ``n_thresholds`` probability bins; both start at the highest threshold, the PR curve at
    recall 0, precision 1, like sklearn's).  ``pr_auc`` is the average precision.  ``calibration``
    has one row per class and probability bin.  ``by_magnitude`` / ``by_redshift`` have
    bin_lo, bin_hi, n and per class purity_<c>, completeness_<c>, n_true_<c>, n_pred_<c>
    (NaN where undefined).
    """

    classes: list[str]
    n: int
    confusion: np.ndarray
    confusion_normalised: np.ndarray
    per_class: pd.DataFrame
    macro: dict[str, float]
    weighted: dict[str, float]
    accuracy: float
    roc: dict[str, pd.DataFrame]
    pr: dict[str, pd.DataFrame]
    roc_auc: dict[str, float]
    pr_auc: dict[str, float]
    macro_roc_auc: float
    calibration: pd.DataFrame
    by_magnitude: pd.DataFrame | None = None
    by_redshift: pd.DataFrame | None = None
    mag_col: str | None = None
    z_col: str | None = None

    @property
    def macro_pr_auc(self) -> float:
        return float(np.nanmean(list(self.pr_auc.values())))

    def to_dict(self) -> dict[str, float]:
        """Scalar metrics with stable names (``macro_f1``, ``f1_GALAXY``, ``roc_auc_QSO``, ...)."""
        out = {
            "n": float(self.n),
            "accuracy": self.accuracy,
            "macro_roc_auc": self.macro_roc_auc,
            "macro_pr_auc": self.macro_pr_auc,
        }
        out |= {f"macro_{k}": v for k, v in self.macro.items()}
        out |= {f"weighted_{k}": v for k, v in self.weighted.items()}
        for label, row in self.per_class.iterrows():
            c = str(label)
            out |= {f"{k}_{_name(c)}": row[k] for k in ("precision", "recall", "fpr", "f1", "support")}
            out |= {f"roc_auc_{_name(c)}": self.roc_auc[c], f"pr_auc_{_name(c)}": self.pr_auc[c]}
        return {k: float(v) for k, v in out.items()}


def _check_indexes(counts: pd.DataFrame, col: str, what: str, user_col: str, k: int, classes) -> None:
    bad = [v for v in counts[col].unique() if v is None or not np.isfinite(v) or v != int(v) or not 0 <= v < k]
    if bad:
        shown = ", ".join("null" if v is None or v != v else repr(float(v)) for v in bad[:5])
        raise ValueError(
            f"{what} index {shown} in column {user_col!r} is outside 0..{k - 1} "
            f"(classes {', '.join(map(str, classes))})"
        )


def _curves(h: pd.DataFrame, P: int, N: int, n_thresholds: int):
    """ROC and PR curves, ROC AUC (trapezoid) and average precision (step-wise, like sklearn).

    ``h`` has one row per non-empty probability bin: b, pos, n.
    """
    h = h.sort_values("b", ascending=False)
    tp, fp = h["pos"].cumsum().to_numpy(float), (h["n"] - h["pos"]).cumsum().to_numpy(float)
    thr = h["b"].to_numpy(float) / n_thresholds
    tpr, fpr = _div(tp, P), _div(fp, N)
    roc = pd.DataFrame({"threshold": np.r_[np.inf, thr], "fpr": np.r_[0.0, fpr], "tpr": np.r_[0.0, tpr]})
    precision = _div(tp, tp + fp)
    pr = pd.DataFrame({"threshold": np.r_[np.inf, thr], "recall": np.r_[0.0, tpr], "precision": np.r_[1.0, precision]})
    # numpy 2.0.2's type stubs lack np.trapezoid (the function exists since 2.0)
    auc = float(np.trapezoid(roc["tpr"], roc["fpr"])) if P and N else np.nan  # type: ignore[attr-defined]
    ap = float(np.sum(np.diff(np.r_[0.0, tpr]) * precision)) if P else np.nan
    return roc, pr, auc, ap


def _binned_classes(g: pd.DataFrame, edges, k: int, classes) -> pd.DataFrame:
    """Purity / completeness per bin from counts per (bin, label, prediction)."""
    out = _bins_frame(edges)
    nb = len(edges) - 1
    cube = np.zeros((nb, k, k))
    np.add.at(cube, (g["bin"].astype(int), g["label"].astype(int), g["pred"].astype(int)), g["count"])
    out["n"] = cube.sum(axis=(1, 2)).astype(int)
    for i, c in enumerate(classes):
        tp, n_true, n_pred = cube[:, i, i], cube[:, i, :].sum(1), cube[:, :, i].sum(1)
        out[f"purity_{c}"], out[f"completeness_{c}"] = _div(tp, n_pred), _div(tp, n_true)
        out[f"n_true_{c}"], out[f"n_pred_{c}"] = n_true.astype(int), n_pred.astype(int)
    return out


def classification_metrics(
    pred: DataFrame,
    classes,
    label_col: str = "label",
    prediction_col: str = "prediction",
    probability_col: str = "probability",
    mag_col: str | None = None,
    z_col: str | None = None,
    mag_bins=None,
    z_bins=None,
    n_thresholds: int = 1000,
    calibration_bins: int = 10,
) -> ClassificationMetrics:
    """Classification metrics of an MLlib prediction frame.

    Parameters
    ----------
    pred : DataFrame
        Numeric label and prediction indexes (0..k-1, as from ``StringIndexer``) and a probability
        column (MLlib vector or array<double> of length k).
    classes : list of str
        Class names in index order.
    mag_col, z_col : str, optional
        Columns to bin purity / completeness by (e.g. ``"r"``, ``"redshift"``).
    mag_bins, z_bins : int or sequence, optional
        Bin edges, or a number of equal-count bins (default 8).
    n_thresholds : int
        Probability bins for the ROC / PR curves.
    calibration_bins : int
        Probability bins for the reliability diagram.

    Raises
    ------
    ValueError
        When the frame is empty, or a label / prediction index is outside 0..k-1 (or null).
    """
    classes = [str(c) for c in classes]
    k = len(classes)
    if k < 2:
        raise ValueError(f"need at least two classes, got {classes!r}")
    prob = _as_array(pred, probability_col)
    binned_by = {a: (c, s) for a, c, s in (("mag", mag_col, mag_bins), ("z", z_col, z_bins)) if c}
    # every pass below reads these few columns: computed once (the model runs once, not per pass)
    df = pred.select(
        F.col(label_col).cast("double").alias("label"),
        F.col(prediction_col).cast("double").alias("pred"),
        prob.alias("prob"),
        *[F.col(c).cast("double").alias(a) for a, (c, _) in binned_by.items()],
    ).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        return _classification_metrics(
            df, classes, k, label_col, prediction_col, probability_col, binned_by, n_thresholds, calibration_bins
        )
    finally:
        df.unpersist()


def _classification_metrics(
    df: DataFrame, classes, k, label_col, prediction_col, probability_col, binned_by, n_thresholds, calibration_bins
) -> ClassificationMetrics:
    # pass 1: confusion counts (and probability vector lengths)
    counts = (
        df.groupBy("label", "pred")
        .agg(F.count("*").alias("count"), F.min(F.size("prob")).alias("lo"), F.max(F.size("prob")).alias("hi"))
        .toPandas()
    )
    if counts.empty:
        raise ValueError("cannot evaluate an empty prediction frame (no rows)")
    _check_indexes(counts, "label", "label", label_col, k, classes)
    _check_indexes(counts, "pred", "prediction", prediction_col, k, classes)
    if counts["lo"].min() != k or counts["hi"].max() != k:
        raise ValueError(
            f"{probability_col!r} must hold {k} probabilities per row (one per class), "
            f"found lengths {int(counts['lo'].min())}..{int(counts['hi'].max())}"
        )
    confusion = np.zeros((k, k), dtype=np.int64)
    np.add.at(confusion, (counts["label"].astype(int), counts["pred"].astype(int)), counts["count"].astype(np.int64))
    n = int(confusion.sum())
    support, n_pred, tp = confusion.sum(1), confusion.sum(0), np.diag(confusion)
    precision, recall = _div(tp, n_pred, 0.0), _div(tp, support, 0.0)
    fpr = _div(n_pred - tp, n - support, 0.0)
    f1 = f1_per_class(confusion)
    per_class = pd.DataFrame(
        {"precision": precision, "recall": recall, "fpr": fpr, "f1": f1, "support": support},
        index=pd.Index(classes, name="class"),
    )
    w = support / n
    macro = {m: float(per_class[m].mean()) for m in ("precision", "recall", "f1", "fpr")}
    weighted = {m: float(np.sum(per_class[m] * w)) for m in ("precision", "recall", "f1")}

    # pass 2: per class, probability histogram (positives, rows, sum of p) on the fine and calibration bins
    def binned(c, nb):
        return F.greatest(F.lit(0), F.least(F.floor(c * nb), F.lit(nb - 1))).cast("int")

    hist = (
        df.select("label", F.posexplode("prob").alias("c", "p"))
        .groupBy("c", binned(F.col("p"), n_thresholds).alias("b"), binned(F.col("p"), calibration_bins).alias("cb"))
        .agg(
            F.sum((F.col("label") == F.col("c")).cast("long")).alias("pos"),
            F.count("*").alias("n"),
            F.sum("p").alias("sp"),
        )
        .toPandas()
    )
    roc, pr, roc_auc, pr_auc, calib = {}, {}, {}, {}, []
    cal_edges = np.linspace(0, 1, calibration_bins + 1)
    for i, c in enumerate(classes):
        hc = hist[hist["c"] == i]
        fine = hc.groupby("b", as_index=False)[["pos", "n"]].sum()
        roc[c], pr[c], roc_auc[c], pr_auc[c] = _curves(fine, int(support[i]), n - int(support[i]), n_thresholds)
        cal = hc.groupby("cb")[["pos", "n", "sp"]].sum().reindex(range(calibration_bins), fill_value=0)
        calib.append(
            pd.DataFrame(
                {
                    "class": c,
                    "bin": range(calibration_bins),
                    "bin_lo": cal_edges[:-1],
                    "bin_hi": cal_edges[1:],
                    "mean_predicted": _div(cal["sp"], cal["n"]),
                    "observed_fraction": _div(cal["pos"], cal["n"]),
                    "count": cal["n"].astype(int).to_numpy(),
                }
            )
        )

    # pass 3 (after a quantile pass for default bins): purity / completeness in magnitude and redshift bins
    tables = {}
    if binned_by:
        edges = _resolve_bins(df, {a: s for a, (_, s) in binned_by.items()}, {a: c for a, (c, _) in binned_by.items()})
        keyed = F.explode(
            F.array(*[F.struct(F.lit(a).alias("axis"), _bin_index(F.col(a), e).alias("bin")) for a, e in edges.items()])
        )
        g = (
            df.select("label", "pred", keyed.alias("k"))
            .where(F.col("k.bin").isNotNull())
            .groupBy(F.col("k.axis").alias("axis"), F.col("k.bin").alias("bin"), "label", "pred")
            .count()
            .toPandas()
        )
        tables = {a: _binned_classes(g[g["axis"] == a], e, k, classes) for a, e in edges.items()}

    return ClassificationMetrics(
        classes=classes,
        n=n,
        confusion=confusion,
        confusion_normalised=_div(confusion, support[:, None], 0.0),
        per_class=per_class,
        macro=macro,
        weighted=weighted,
        accuracy=float(tp.sum() / n),
        roc=roc,
        pr=pr,
        roc_auc=roc_auc,
        pr_auc=pr_auc,
        macro_roc_auc=float(np.nanmean(list(roc_auc.values()))),
        calibration=pd.concat(calib, ignore_index=True),
        by_magnitude=tables.get("mag"),
        by_redshift=tables.get("z"),
        mag_col=binned_by.get("mag", (None, None))[0],
        z_col=binned_by.get("z", (None, None))[0],
    )


# --------------------------------------------------------------------------------------------
# photometric redshift
# --------------------------------------------------------------------------------------------
@dataclass
class RegressionMetrics:
    """Photo-z metrics of dz = (z_phot - z_spec) / (1 + z_spec).

    ``bias`` = mean(dz); ``sigma_nmad`` = 1.4826 median(|dz - median(dz)|); ``outlier_fraction``
    = fraction of |dz| > ``outlier_threshold``; ``rmse`` / ``mae`` of z_phot - z_spec;
    ``coverage_1sigma`` / ``coverage_2sigma`` = fraction of |z_phot - z_spec| within 1 / 2 times
    the quoted error (ideal 0.683 / 0.954).  ``by_magnitude`` has the same per magnitude bin;
    ``density`` is ``photoz_density``'s (counts, edges).
    """

    n: int
    bias: float
    sigma_nmad: float
    outlier_fraction: float
    rmse: float
    mae: float
    coverage_1sigma: float | None = None
    coverage_2sigma: float | None = None
    outlier_threshold: float = 0.15
    by_magnitude: pd.DataFrame | None = None
    density: tuple[np.ndarray, np.ndarray] | None = None
    label_col: str = "redshift"
    prediction_col: str = "z_phot"
    mag_col: str | None = None

    def to_dict(self) -> dict[str, float]:
        """Scalar metrics: n, bias, sigma_nmad, outlier_fraction, rmse, mae (+ coverage_1sigma, coverage_2sigma)."""
        keys = ["n", "bias", "sigma_nmad", "outlier_fraction", "rmse", "mae", "coverage_1sigma", "coverage_2sigma"]
        return {k: float(getattr(self, k)) for k in keys if getattr(self, k) is not None}


_STATS = ["n", "bias", "sigma_nmad", "outlier_fraction", "rmse", "mae", "coverage_1sigma", "coverage_2sigma"]


def regression_metrics(
    pred: DataFrame,
    label_col: str = "redshift",
    prediction_col: str = "z_phot",
    error_col: str | None = None,
    mag_col: str | None = None,
    mag_bins=None,
    outlier_threshold: float = 0.15,
    density_bins: int = 100,
) -> RegressionMetrics:
    """Photo-z metrics (exact medians, ``percentile`` in Spark), overall and per magnitude bin.

    Rows with a null z_spec or z_phot are ignored.  ``mag_bins``: edges, or a number of
    equal-count bins (default 8).

    Raises
    ------
    ValueError
        When no row has both a z_spec and a z_phot.
    """
    z, zp = F.col(label_col).cast("double"), F.col(prediction_col).cast("double")
    cols = {"z": z, "zp": zp}
    if error_col:
        cols["err"] = F.col(error_col).cast("double")
    if mag_col:
        cols["mag"] = F.col(mag_col).cast("double")
    df = (
        pred.select(*[c.alias(a) for a, c in cols.items()])
        .where(z.isNotNull() & zp.isNotNull())
        .withColumns({"d": F.col("zp") - F.col("z")})
        .withColumn("dz", F.col("d") / (1 + F.col("z")))
    )
    edges = _resolve_bins(df, {"mag": mag_bins}, {"mag": mag_col})["mag"] if mag_col else None
    # key -1: all rows; key i >= 0: magnitude bin i (every row is counted in both)
    keys = [F.lit(-1)] + ([_bin_index(F.col("mag"), edges)] if edges is not None else [])
    df = df.withColumn("key", F.explode(F.array(*keys))).where(F.col("key").isNotNull())

    aggs = [
        F.count("*").alias("n"),
        F.avg("dz").alias("bias"),
        F.percentile("dz", 0.5).alias("median"),
        F.avg((F.abs("dz") > outlier_threshold).cast("double")).alias("outlier_fraction"),
        F.sqrt(F.avg(F.col("d") * F.col("d"))).alias("rmse"),
        F.avg(F.abs("d")).alias("mae"),
        F.max(F.greatest("z", "zp")).alias("z_max"),
    ]
    if error_col:
        aggs += [F.avg((F.abs("d") <= m * F.col("err")).cast("double")).alias(f"coverage_{m}sigma") for m in (1, 2)]
    stats = df.groupBy("key").agg(*aggs).toPandas().set_index("key")
    if -1 not in stats.index:
        raise ValueError(
            f"cannot evaluate an empty prediction frame (no rows with both {label_col!r} and {prediction_col!r})"
        )
    # second pass: median absolute deviation around each group's median (medians passed as literals)
    group_ids = stats.index.astype(int)
    medians = F.create_map(
        *[F.lit(x) for key, m in zip(group_ids, stats["median"], strict=True) for x in (int(key), float(m))]
    )
    abs_dev = F.abs(F.col("dz") - F.element_at(medians, F.col("key")))
    mad = df.groupBy("key").agg(F.percentile(abs_dev, 0.5).alias("mad")).toPandas().set_index("key")["mad"]
    stats["sigma_nmad"] = NMAD * mad.reindex(stats.index)
    stats["n"] = stats["n"].astype(int)

    total = stats.loc[-1]
    by_mag = None
    if edges is not None:
        by_mag = _bins_frame(edges).join(stats.drop(index=-1)[[c for c in _STATS if c in stats]], how="left")
        by_mag["n"] = by_mag["n"].fillna(0).astype(int)
    density = photoz_density(
        pred.where(z.isNotNull() & zp.isNotNull()),
        label_col,
        prediction_col,
        bins=density_bins,
        z_max=float(total["z_max"]),
    )
    return RegressionMetrics(
        n=int(total["n"]),
        bias=float(total["bias"]),
        sigma_nmad=float(total["sigma_nmad"]),
        outlier_fraction=float(total["outlier_fraction"]),
        rmse=float(total["rmse"]),
        mae=float(total["mae"]),
        coverage_1sigma=float(total["coverage_1sigma"]) if error_col else None,
        coverage_2sigma=float(total["coverage_2sigma"]) if error_col else None,
        outlier_threshold=outlier_threshold,
        by_magnitude=by_mag,
        density=density,
        label_col=label_col,
        prediction_col=prediction_col,
        mag_col=mag_col,
    )


def photoz_density(
    pred: DataFrame,
    label_col: str = "redshift",
    prediction_col: str = "z_phot",
    bins: int = 100,
    z_max: float | None = None,
    z_min: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """2-D histogram of z_spec (first axis) vs z_phot (second axis), counted in Spark.

    Both axes share ``edges`` = ``bins`` equal bins over [z_min, z_max] (``z_max`` defaults to the
    largest z_spec or z_phot); rows outside are left out.  Returns ``(counts, edges)`` with
    ``counts.shape == (bins, bins)``.
    """
    z, zp = F.col(label_col).cast("double"), F.col(prediction_col).cast("double")
    if z_max is None:
        z_max = pred.agg(F.max(F.greatest(z, zp))).collect()[0][0]
        if z_max is None:
            raise ValueError("cannot histogram an empty prediction frame")
    z_max = float(z_max) if z_max > z_min else z_min + 1.0
    width = (z_max - z_min) / bins

    def index(c):
        return F.when(c.between(z_min, z_max), F.least(F.floor((c - z_min) / width), F.lit(bins - 1)).cast("int"))

    g = (
        pred.select(index(z).alias("i"), index(zp).alias("j"))
        .where("i IS NOT NULL AND j IS NOT NULL")
        .groupBy("i", "j")
        .count()
        .toPandas()
    )
    counts = np.zeros((bins, bins), dtype=np.int64)
    np.add.at(counts, (g["i"].astype(int), g["j"].astype(int)), g["count"].astype(np.int64))
    return counts, np.linspace(z_min, z_max, bins + 1)


# --------------------------------------------------------------------------------------------
# clustering
# --------------------------------------------------------------------------------------------
def clustering_metrics(pred: DataFrame, features_col: str = "features", prediction_col: str = "cluster") -> dict:
    """Silhouette (squared euclidean, MLlib ``ClusteringEvaluator``) and cluster sizes.

    Returns ``{"silhouette", "n", "n_clusters", "sizes": {cluster: count}}``; silhouette is NaN
    with fewer than two clusters.
    """
    from pyspark.ml.evaluation import ClusteringEvaluator

    sizes = {int(r[0]): int(r[1]) for r in pred.groupBy(prediction_col).count().orderBy(prediction_col).collect()}
    if not sizes:
        raise ValueError("cannot evaluate an empty prediction frame (no rows)")
    silhouette = np.nan
    if len(sizes) > 1:
        silhouette = ClusteringEvaluator(
            featuresCol=features_col,
            predictionCol=prediction_col,
            metricName="silhouette",
            distanceMeasure="squaredEuclidean",
        ).evaluate(pred)
    return {"silhouette": float(silhouette), "n": sum(sizes.values()), "n_clusters": len(sizes), "sizes": sizes}
