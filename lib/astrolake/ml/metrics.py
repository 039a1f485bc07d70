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
from dataclasses import dataclass

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


# --------------------------------------------------------------------------------------------
# paired bootstrap: is a challenger better than a champion beyond the noise?
# --------------------------------------------------------------------------------------------
BOOTSTRAP_METRICS = {
    "classification": ("macro_f1", "accuracy"),
    "photoz": ("sigma_nmad", "outlier_fraction", "rmse", "mae"),
}
OUTLIER_THRESHOLD = 0.15  # |dz| above it is a photo-z outlier (as astrolake.ml.evaluate counts them)


@dataclass(frozen=True)
class Gain:
    """How much a challenger beats a champion on the same rows, with a paired-bootstrap interval.

    ``gain`` is signed so that positive means the challenger is better (champion - challenger for
    error-like metrics); ``low``/``high`` bound it at ``confidence``; ``n`` rows, ``n_boot``
    resamples.  :meth:`significant` is the promotion rule: the whole interval above ``min_gain``.
    """

    metric: str
    challenger: float
    champion: float
    gain: float
    low: float
    high: float
    n: int
    n_boot: int
    confidence: float

    def significant(self, min_gain: float = 0.0) -> bool:
        return self.gain > min_gain and self.low > min_gain

    def line(self) -> str:
        pct = f"{100 * self.confidence:g}%"
        return f"gain {self.gain:+.5f} ({pct} interval {self.low:+.5f} .. {self.high:+.5f}, {self.n:,} rows)"


def check_bootstrap(n_boot: int, confidence: float) -> None:
    """ValueError unless ``n_boot`` >= 100 resamples and ``confidence`` in [0.5, 1)."""
    if n_boot < 100:
        raise ValueError(f"a bootstrap needs at least 100 resamples, not {n_boot}")
    if not 0.5 <= confidence < 1:
        raise ValueError(f"confidence is in [0.5, 1), not {confidence}")


def _interval(diffs: np.ndarray, confidence: float) -> tuple[float, float]:
    tail = (1 - confidence) / 2
    lo, hi = np.quantile(diffs, [tail, 1 - tail])
    return float(lo), float(hi)


def _macro_f1_batch(cm: np.ndarray) -> np.ndarray:
    """Macro F1 of a stack of confusion matrices (..., k, k)."""
    tp = np.diagonal(cm, axis1=-2, axis2=-1)
    denom = cm.sum(axis=-2) + cm.sum(axis=-1)
    f1 = np.where(denom > 0, 2 * tp / np.where(denom > 0, denom, 1), 0.0)
    return f1.mean(axis=-1)


def paired_bootstrap_classes(
    label,
    challenger,
    champion,
    k: int,
    counts=None,
    metric: str = "macro_f1",
    n_boot: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Gain:
    """Paired bootstrap of a classification metric for two models' predictions of the same rows.

    ``label``, ``challenger`` and ``champion`` are class indexes (0..k-1) per row, or per distinct
    (label, challenger, champion) cell with ``counts`` rows each: at most k^3 cells, so a Spark
    ``groupBy(...).count()`` of any number of rows resamples in memory.  Each resample draws the
    rows with replacement (multinomial cell counts) and scores both models on the *same* draw.

    >>> y = [0] * 50 + [1] * 50
    >>> a = [0] * 50 + [1] * 45 + [0] * 5  # 95 right
    >>> b = [0] * 50 + [1] * 25 + [0] * 25  # 75 right
    >>> g = paired_bootstrap_classes(y, a, b, 2, metric="accuracy")
    >>> round(g.gain, 2), g.low > 0, g.significant(), paired_bootstrap_classes(y, b, a, 2).significant()
    (0.2, True, True, False)
    """
    check_bootstrap(n_boot, confidence)
    if metric not in BOOTSTRAP_METRICS["classification"]:
        raise ValueError(f"no bootstrap for {metric!r}; choose one of {', '.join(BOOTSTRAP_METRICS['classification'])}")
    y, a, b = (np.asarray(v, dtype=np.int64) for v in (label, challenger, champion))
    w = np.ones(y.size, dtype=np.int64) if counts is None else np.asarray(counts, dtype=np.int64)
    if not (y.shape == a.shape == b.shape == w.shape):
        raise ValueError("label, challenger, champion (and counts) differ in length")
    for v in (y, a, b):
        if v.size and (v.min() < 0 or v.max() >= k):
            raise ValueError(f"class indexes must lie in 0..{k - 1}")
    n = int(w.sum())
    if n == 0:
        raise ValueError("no rows to compare on")
    cell_a, cell_b = y * k + a, y * k + b

    def score(weights: np.ndarray, cells: np.ndarray) -> np.ndarray:
        cm = np.zeros(weights.shape[:-1] + (k * k,))
        for c in np.unique(cells):
            cm[..., c] = weights[..., cells == c].sum(axis=-1)
        cm = cm.reshape(weights.shape[:-1] + (k, k))
        if metric == "accuracy":
            return np.trace(cm, axis1=-2, axis2=-1) / n
        return _macro_f1_batch(cm)

    rng = np.random.default_rng(seed)
    draws = rng.multinomial(n, w / n, size=n_boot).astype(np.float64)  # (n_boot, cells)
    va, vb = score(w.astype(np.float64), cell_a), score(w.astype(np.float64), cell_b)
    diffs = score(draws, cell_a) - score(draws, cell_b)
    lo, hi = _interval(diffs, confidence)
    return Gain(metric, float(va), float(vb), float(va - vb), lo, hi, n, n_boot, confidence)


def _regression_stat(metric: str, d: np.ndarray, dz: np.ndarray) -> np.ndarray:
    """The metric along the last axis: ``d`` = z_phot - z_spec, ``dz`` = d / (1 + z_spec)."""
    if metric == "sigma_nmad":
        return NMAD * np.median(np.abs(dz - np.median(dz, axis=-1, keepdims=True)), axis=-1)
    if metric == "outlier_fraction":
        return (np.abs(dz) > OUTLIER_THRESHOLD).mean(axis=-1)
    if metric == "rmse":
        return np.sqrt((d * d).mean(axis=-1))
    return np.abs(d).mean(axis=-1)  # mae


def paired_bootstrap_redshift(
    z_spec,
    challenger,
    champion,
    metric: str = "sigma_nmad",
    n_boot: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Gain:
    """Paired bootstrap of a photo-z error metric (lower is better); ``gain`` = champion - challenger.

    >>> rng = np.random.default_rng(1)
    >>> z = rng.uniform(0.05, 0.3, 2000)
    >>> good, bad = z + rng.normal(0, 0.01, z.size), z + rng.normal(0, 0.03, z.size)
    >>> paired_bootstrap_redshift(z, good, bad).significant(), paired_bootstrap_redshift(z, bad, good).significant()
    (True, False)
    """
    check_bootstrap(n_boot, confidence)
    if metric not in BOOTSTRAP_METRICS["photoz"]:
        raise ValueError(f"no bootstrap for {metric!r}; choose one of {', '.join(BOOTSTRAP_METRICS['photoz'])}")
    z, a, b = (np.asarray(v, dtype=np.float64) for v in (z_spec, challenger, champion))
    if not (z.shape == a.shape == b.shape) or z.ndim != 1:
        raise ValueError("z_spec, challenger and champion differ in length")
    if z.size == 0:
        raise ValueError("no rows to compare on")
    da, db = a - z, b - z
    dza, dzb = da / (1 + z), db / (1 + z)
    va, vb = float(_regression_stat(metric, da, dza)), float(_regression_stat(metric, db, dzb))
    rng = np.random.default_rng(seed)
    chunk = max(1, min(n_boot, 20_000_000 // z.size))  # resamples per batch: about 160 MB of indexes
    diffs = []
    for start in range(0, n_boot, chunk):
        idx = rng.integers(0, z.size, size=(min(chunk, n_boot - start), z.size))
        diffs.append(_regression_stat(metric, db[idx], dzb[idx]) - _regression_stat(metric, da[idx], dza[idx]))
    lo, hi = _interval(np.concatenate(diffs), confidence)
    return Gain(metric, va, vb, vb - va, lo, hi, int(z.size), n_boot, confidence)
