"""The metrics astrolake selects, tunes and promotes models by: one definition each.

Pure numpy / Python, usable on the driver, in benchmarks and in tests.  The Spark evaluations
(:mod:`astrolake.ml.evaluate`, the tuning evaluators of :mod:`astrolake.ml.models`) compute the
same quantities from Spark aggregates: a k x k confusion count, exact medians.

* macro F1 from confusion counts: :func:`f1_per_class`, :func:`macro_f1`;
* photo-z: :data:`NMAD`, :func:`normalized_residuals`, :func:`sigma_nmad`;
* which metric ranks models of a task (:data:`PRIMARY_METRIC`), and which way is better
  (:func:`lower_is_better`, :func:`better`).

>>> cm = [[50, 5, 0], [10, 30, 0], [0, 0, 5]]  # rows: true class, columns: predicted class
>>> f1_per_class(cm).round(4).tolist()
[0.8696, 0.8, 1.0]
>>> round(macro_f1(cm), 4)
0.8899
>>> round(sigma_nmad([0.01, -0.02, 0.0, 0.03, -0.01]), 5)
0.01483
>>> better("sigma_nmad", 0.02, 0.03), better("macro_f1", 0.80, 0.85)
(True, False)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

NMAD = 1.4826  # sigma_NMAD = NMAD * median(|dz - median(dz)|): 1 / Phi^-1(3/4), rounded as in the literature

PRIMARY_METRIC = {"classification": "macro_f1", "photoz": "sigma_nmad", "clustering": "silhouette"}
LOWER_IS_BETTER = frozenset({"sigma_nmad", "bias_abs", "outlier_fraction", "rmse", "mae", "loss"})
SPLIT_PREFIXES = ("validation_", "test_", "train_")


# --------------------------------------------------------------------------------------------
# classification
# --------------------------------------------------------------------------------------------
def confusion_matrix(labels: Sequence[int], predictions: Sequence[int], k: int) -> np.ndarray:
    """k x k counts (rows: true class index, columns: predicted index) from two index arrays.

    >>> confusion_matrix([0, 0, 1, 2], [0, 1, 1, 2], 3).tolist()
    [[1, 1, 0], [0, 1, 0], [0, 0, 1]]
    """
    y, p = np.asarray(labels, dtype=np.int64), np.asarray(predictions, dtype=np.int64)
    if y.shape != p.shape:
        raise ValueError(f"labels ({y.size}) and predictions ({p.size}) differ in length")
    bad = (y < 0) | (y >= k) | (p < 0) | (p >= k)
    if bad.any():
        raise ValueError(f"class indexes must lie in 0..{k - 1}; found {sorted(set(y[bad]) | set(p[bad]))[:5]}")
    return np.bincount(y * k + p, minlength=k * k).reshape(k, k)


def f1_per_class(confusion) -> np.ndarray:
    """F1 of each class, 2 TP / (2 TP + FP + FN), from confusion counts (rows true, columns predicted).

    A class with neither rows nor predictions has F1 = 0, as scikit-learn's
    ``f1_score(labels=range(k), average=None)`` gives it.
    """
    cm = np.asarray(confusion, dtype=np.float64)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or cm.shape[0] == 0:
        raise ValueError(f"a confusion matrix is k x k with k >= 1, not {cm.shape}")
    if (cm < 0).any():
        raise ValueError("confusion counts cannot be negative")
    tp = np.diag(cm)
    denom = cm.sum(axis=0) + cm.sum(axis=1)  # (TP + FP) + (TP + FN)
    return np.where(denom > 0, 2 * tp / np.where(denom > 0, denom, 1), 0.0)


def macro_f1(confusion) -> float:
    """Unweighted mean of the per-class F1 over all k classes of the confusion matrix.

    Equal to scikit-learn's ``f1_score(y, p, labels=range(k), average="macro")``.
    """
    return float(f1_per_class(confusion).mean())


def confusion_from_counts(rows, k: int | None = None) -> np.ndarray:
    """k x k matrix from ``(label, prediction, count)`` triples, as a Spark ``groupBy().count()`` gives.

    ``k`` defaults to the largest index seen + 1.

    >>> confusion_from_counts([(0.0, 0.0, 3), (1.0, 0.0, 1), (1.0, 1.0, 2)]).tolist()
    [[3, 0], [1, 2]]
    """
    rows = [(int(a), int(b), int(n)) for a, b, n in rows]
    if k is None:
        k = max((max(a, b) for a, b, _ in rows), default=-1) + 1
    cm = np.zeros((k, k), dtype=np.int64)
    for a, b, n in rows:
        if not (0 <= a < k and 0 <= b < k):
            raise ValueError(f"class index pair ({a}, {b}) outside 0..{k - 1}")
        cm[a, b] += n
    return cm


# --------------------------------------------------------------------------------------------
# photometric redshift
# --------------------------------------------------------------------------------------------
def normalized_residuals(z_phot, z_spec) -> np.ndarray:
    """dz = (z_phot - z_spec) / (1 + z_spec)."""
    zp, z = np.asarray(z_phot, dtype=np.float64), np.asarray(z_spec, dtype=np.float64)
    return (zp - z) / (1 + z)


def sigma_nmad(dz) -> float:
    """Normalised median absolute deviation of the residuals: NMAD * median(|dz - median(dz)|).

    NaN values are ignored; an empty input gives NaN.
    """
    d = np.asarray(dz, dtype=np.float64)
    d = d[~np.isnan(d)]
    if d.size == 0:
        return float("nan")
    return float(NMAD * np.median(np.abs(d - np.median(d))))


# --------------------------------------------------------------------------------------------
# which way is better
# --------------------------------------------------------------------------------------------
def lower_is_better(metric: str) -> bool:
    """True for error-like metrics (``sigma_nmad``, ``rmse``, ...), also with a split prefix.

    >>> lower_is_better("test_sigma_nmad"), lower_is_better("validation_macro_f1")
    (True, False)
    """
    for prefix in SPLIT_PREFIXES:
        if metric.startswith(prefix) and metric[len(prefix) :]:
            metric = metric[len(prefix) :]
            break
    return metric in LOWER_IS_BETTER


def better(metric: str, a: float, b: float | None) -> bool:
    """True when value ``a`` strictly beats ``b`` for ``metric`` (``b`` None: nothing to beat).

    A NaN ``a`` never wins; any number beats a NaN ``b``.
    """
    if b is None:
        return True
    if a != a:
        return False
    if b != b:
        return True
    return a < b if lower_is_better(metric) else a > b


def primary_metric(task: str) -> str:
    """The metric that ranks models of ``task`` (``macro_f1``, ``sigma_nmad``, ``silhouette``)."""
    try:
        return PRIMARY_METRIC[task]
    except KeyError:
        raise ValueError(f"unknown task {task!r}; choose one of {', '.join(PRIMARY_METRIC)}") from None
