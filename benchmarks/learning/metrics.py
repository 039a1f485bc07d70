"""Metrics of the learning benchmark, in one place (numpy; used for the peers and to cross-check
astrolake's own numbers on the same rows)."""

from __future__ import annotations


def macro_f1(y, p, k: int) -> float:
    """scikit-learn's macro F1 over classes 0..k-1: the independent reference astrolake's
    (``astrolake.ml.metrics.macro_f1``, tested equal in tests/unit/test_metrics.py) is checked against."""
    from sklearn.metrics import f1_score

    return float(f1_score(y, p, labels=list(range(k)), average="macro", zero_division=0))


def per_class_f1(y, p, classes) -> dict:
    from sklearn.metrics import f1_score

    return {
        c: float(v)
        for c, v in zip(classes, f1_score(y, p, labels=list(range(len(classes))), average=None), strict=True)
    }


def paired_bootstrap(y, p_a, p_b, k: int, n_boot: int, seed: int) -> dict:
    """macro F1(a) - macro F1(b) on the test rows, and its 95 % interval over ``n_boot`` resamples
    of the rows (the same resample for both sides)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    n = len(y)
    diffs = np.empty(n_boot)
    for b in range(n_boot):
        idx = rng.integers(0, n, n)
        diffs[b] = macro_f1(y[idx], p_a[idx], k) - macro_f1(y[idx], p_b[idx], k)
    point = macro_f1(y, p_a, k) - macro_f1(y, p_b, k)
    lo, hi = np.percentile(diffs, [2.5, 97.5])
    return {
        "diff": point,
        "ci95": [float(lo), float(hi)],
        "resamples": n_boot,
        "seed": seed,
        "share_positive": float((diffs > 0).mean()),
    }


def photoz_stats(z, zp, err=None) -> dict:
    import numpy as np

    from astrolake.ml.metrics import sigma_nmad

    dz = (zp - z) / (1 + z)
    out = {
        "n": int(len(z)),
        "sigma_nmad": sigma_nmad(dz),
        "bias": float(dz.mean()),
        "outlier_fraction": float((np.abs(dz) > 0.15).mean()),
        "rmse": float(np.sqrt(np.mean((zp - z) ** 2))),
    }
    if err is not None:
        out["coverage_1sigma"] = float((np.abs(zp - z) <= err).mean())
    return out
