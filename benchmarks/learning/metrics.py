"""Metrics of the learning benchmark, in one place (numpy; used for the peers and to cross-check
astrolake's own numbers on the same rows)."""

from __future__ import annotations


def macro_f1(y, p, k: int) -> float:
    import numpy as np

    cm = np.bincount(y * k + p, minlength=k * k).reshape(k, k)
    tp = np.diag(cm).astype(float)
    denom = cm.sum(0) + cm.sum(1)
    f1 = np.where(denom > 0, 2 * tp / np.maximum(denom, 1), 0.0)
    return float(f1.mean())


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

    dz = (zp - z) / (1 + z)
    med = np.median(dz)
    out = {
        "n": int(len(z)),
        "sigma_nmad": float(1.4826 * np.median(np.abs(dz - med))),
        "bias": float(dz.mean()),
        "outlier_fraction": float((np.abs(dz) > 0.15).mean()),
        "rmse": float(np.sqrt(np.mean((zp - z) ** 2))),
    }
    if err is not None:
        out["coverage_1sigma"] = float((np.abs(zp - z) <= err).mean())
    return out
