#!/usr/bin/env python
"""Fit the model behind ``astrolake.sources.synthetic`` from a real SDSS DR17 table.

Usage::

    python scripts/fit_synthetic.py [CSV] [--out lib/astrolake/sources/synthetic_model.json]

CSV defaults to ``../shared/data/sdss_dr17_star_classification_test20k.csv`` (the Kaggle DR17
table with its full 18-column schema: obj_ID, alpha, delta, u, g, r, i, z, run_ID, rerun_ID,
cam_col, field_ID, spec_obj_ID, class, redshift, plate, MJD, fiber_ID).

What is fitted, per class (GALAXY, STAR, QSO):

* the class fraction;
* a Gaussian mixture (full covariance, number of components chosen by BIC from 1..5) over
  ``(r, u-g, g-r, r-i, i-z, t)`` where ``t`` is the redshift, transformed so that sampled
  redshifts stay physical: ``t = log(redshift + 0.01)`` for GALAXY and QSO (so every sampled
  redshift is > -0.01), ``t = redshift`` for STAR (stars scatter around 0, both signs);
* a monotone marginal correction per feature: quantiles of a large GMM sample (``from``) and the
  same quantiles of the data (``to``); the generator maps each sampled feature through
  ``np.interp(x, from, to)``.  This makes every marginal (the r distribution, each colour's
  median and tails, the redshift distribution) follow the data closely while the mixture keeps
  the correlations, and it also clips samples to the observed range.

Common to all classes: the sky footprint as a 5 x 5 degree histogram of (ra, dec) (rows of
counts per declination band, only the bands that hold data), and simple distributions of the
imaging identifiers (run, field quantiles; camcol frequencies; rerun).

The mixture is written in the original units (mean and lower Cholesky factor of each
component's covariance), so the generator only needs numpy.  Output: a few KB of JSON.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CSV = ROOT.parent / "shared" / "data" / "sdss_dr17_star_classification_test20k.csv"
DEFAULT_OUT = ROOT / "lib" / "astrolake" / "sources" / "synthetic_model.json"

CLASSES = ("GALAXY", "STAR", "QSO")
FEATURES = ("r", "u_g", "g_r", "r_i", "i_z", "t")
REDSHIFT_TRANSFORM = {"GALAXY": "log_z_plus_0.01", "QSO": "log_z_plus_0.01", "STAR": "identity"}
MAX_COMPONENTS = 5
QUANTILE_P = (0.0, 0.001, 0.005, 0.01, 0.025) + tuple(k / 20 for k in range(1, 20)) + (0.975, 0.99, 0.995, 0.999, 1.0)
MAP_SAMPLES = 400_000
SKY_STEP = 5.0  # degrees, both axes
SIG = 5  # significant digits kept in the JSON


def _round(x, sig: int = SIG):
    """Round a number or nested list to ``sig`` significant digits (plain Python floats)."""
    if isinstance(x, (list, tuple, np.ndarray)):
        return [_round(v, sig) for v in x]
    x = float(x)
    return 0.0 if x == 0 else float(f"{x:.{sig}g}")


def load(path: Path) -> pd.DataFrame:
    """Read the DR17 CSV and return clean rows with the model features."""
    df = pd.read_csv(path, dtype={"obj_ID": str, "spec_obj_ID": str})
    df.columns = [c.strip() for c in df.columns]
    mags = df[["u", "g", "r", "i", "z"]]
    ok = mags.gt(0).all(axis=1) & mags.lt(40).all(axis=1) & df["class"].isin(CLASSES)
    ok &= df["redshift"].gt(-0.01)
    df = df[ok].copy()
    df["u_g"] = df["u"] - df["g"]
    df["g_r"] = df["g"] - df["r"]
    df["r_i"] = df["r"] - df["i"]
    df["i_z"] = df["i"] - df["z"]
    return df


def to_t(cls: str, z: np.ndarray) -> np.ndarray:
    return np.log(z + 0.01) if REDSHIFT_TRANSFORM[cls] != "identity" else z


def from_t(cls: str, t: np.ndarray) -> np.ndarray:
    return np.exp(t) - 0.01 if REDSHIFT_TRANSFORM[cls] != "identity" else t


def fit_class(cls: str, sub: pd.DataFrame, seed: int) -> dict:
    from sklearn.mixture import GaussianMixture

    x = sub[list(FEATURES[:-1])].to_numpy(float)
    x = np.column_stack([x, to_t(cls, sub["redshift"].to_numpy(float))])
    mu, sd = x.mean(axis=0), x.std(axis=0)
    xs = (x - mu) / sd  # standardised: the star redshift (~1e-3) and magnitudes on one scale
    best, best_bic = None, np.inf
    for k in range(1, MAX_COMPONENTS + 1):
        gm = GaussianMixture(k, covariance_type="full", n_init=3, random_state=seed, reg_covar=1e-4, max_iter=500).fit(
            xs
        )
        bic = gm.bic(xs)
        if bic < best_bic:
            best, best_bic = gm, bic
    comps = []
    order = np.argsort(-best.weights_)
    for j in order:
        mean = best.means_[j] * sd + mu
        cov = best.covariances_[j] * np.outer(sd, sd)
        chol = np.linalg.cholesky(cov)
        comps.append(
            {
                "weight": _round(best.weights_[j]),
                "mean": _round(mean),
                "chol": [_round(chol[i, : i + 1]) for i in range(len(FEATURES))],
            }
        )
    sample = sample_components(comps, MAP_SAMPLES, np.random.default_rng(seed))
    p = np.asarray(QUANTILE_P)
    marginal_map = []
    for f in range(len(FEATURES)):
        q_from = np.quantile(sample[:, f], p)
        q_to = np.quantile(x[:, f], p)
        marginal_map.append({"from": _round(q_from), "to": _round(q_to)})
    return {
        "rows": int(len(sub)),
        "redshift_transform": REDSHIFT_TRANSFORM[cls],
        "components": comps,
        "marginal_map": marginal_map,
        "reference_medians": {
            "r": _round(np.median(sub["r"]), 5),
            "u_g": _round(np.median(sub["u_g"]), 5),
            "g_r": _round(np.median(sub["g_r"]), 5),
            "r_i": _round(np.median(sub["r_i"]), 5),
            "i_z": _round(np.median(sub["i_z"]), 5),
            "redshift": _round(np.median(sub["redshift"]), 5),
        },
    }


def sample_components(comps: list[dict], n: int, rng: np.random.Generator) -> np.ndarray:
    """Draw ``n`` points from the mixture as stored in the JSON (no marginal correction)."""
    d = len(FEATURES)
    w = np.array([c["weight"] for c in comps])
    k = rng.choice(len(w), size=n, p=w / w.sum())
    out = np.empty((n, d))
    for j, c in enumerate(comps):
        sel = k == j
        lt = np.zeros((d, d))
        for i, row in enumerate(c["chol"]):
            lt[i, : i + 1] = row
        out[sel] = np.asarray(c["mean"]) + rng.standard_normal((int(sel.sum()), d)) @ lt.T
    return out


def fit_sky(df: pd.DataFrame) -> dict:
    ra_edges = np.arange(0.0, 360.0 + SKY_STEP, SKY_STEP)
    dec_edges = np.arange(-90.0, 90.0 + SKY_STEP, SKY_STEP)
    h, _, _ = np.histogram2d(df["delta"], df["alpha"], bins=[dec_edges, ra_edges])
    rows = np.flatnonzero(h.sum(axis=1) > 0)
    lo, hi = rows.min(), rows.max()
    return {
        "ra_step": SKY_STEP,
        "dec_step": SKY_STEP,
        "dec_min": float(dec_edges[lo]),
        "note": "counts[k][j]: rows with dec in [dec_min + k*dec_step, +dec_step), ra in [j*ra_step, +ra_step)",
        "counts": h[lo : hi + 1].astype(int).tolist(),
    }


def fit_ids(df: pd.DataFrame) -> dict:
    q = np.linspace(0, 1, 21)
    camcol = df["cam_col"].value_counts(normalize=True).sort_index()
    return {
        "run_quantiles": [int(v) for v in np.quantile(df["run_ID"], q)],
        "field_quantiles": [int(v) for v in np.quantile(df["field_ID"], q)],
        "camcol_p": {str(int(k)): _round(v, 4) for k, v in camcol.items()},
        "rerun": int(df["rerun_ID"].mode().iloc[0]),
    }


def fit(path: Path, seed: int = 0) -> dict:
    df = load(path)
    counts = df["class"].value_counts()
    model = {
        "model": "astrolake synthetic SDSS catalog, v1",
        "source": path.name,
        "fitted_on": dt.datetime.now(dt.timezone.utc).date().isoformat(),
        "fitted_by": "scripts/fit_synthetic.py",
        "source_rows_used": int(len(df)),
        "features": list(FEATURES),
        "feature_note": "r mag, colours u-g g-r r-i i-z, t = transformed redshift (see redshift_transform)",
        "class_fractions": {c: _round(counts.get(c, 0) / len(df), 5) for c in CLASSES},
        "classes": {c: fit_class(c, df[df["class"] == c], seed) for c in CLASSES},
        "sky": fit_sky(df),
        "ids": fit_ids(df),
    }
    return model


def check(model: dict, n: int = 200_000, seed: int = 1) -> None:
    """Print sampled vs reference medians (a quick look at the fit)."""
    rng = np.random.default_rng(seed)
    for cls, m in model["classes"].items():
        out = sample_components(m["components"], n, rng)
        for f, mm in enumerate(m["marginal_map"]):
            out[:, f] = np.interp(out[:, f], mm["from"], mm["to"])
        z = from_t(cls, out[:, -1])
        ref = m["reference_medians"]
        got = dict(zip(FEATURES[:-1], np.median(out[:, :-1], axis=0), strict=True), redshift=np.median(z))
        diffs = ", ".join(f"{k}: {got[k]:+.3f} vs {ref[k]:+.3f}" for k in ref)
        print(f"  {cls:6s} {len(m['components'])} comps | {diffs}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("csv", nargs="?", default=str(DEFAULT_CSV), help="DR17 18-column CSV")
    ap.add_argument("--out", default=str(DEFAULT_OUT), help="model JSON to write")
    ap.add_argument("--seed", type=int, default=0, help="random_state of the mixture fits")
    args = ap.parse_args(argv)
    path = Path(args.csv)
    if not path.is_file():
        print(f"no such file: {path}", file=sys.stderr)
        return 2
    model = fit(path, args.seed)
    # one line per top-level key / class / sky row keeps diffs readable and the file small
    text = json.dumps(model, indent=1, separators=(",", ":"))
    text = _compact(text)
    Path(args.out).write_text(text + "\n")
    print(
        f"wrote {args.out} ({len(text)} bytes) from {path.name}: "
        f"{model['source_rows_used']} rows, fractions {model['class_fractions']}"
    )
    check(model)
    return 0


def _compact(text: str) -> str:
    """Put innermost JSON lists on one line (json.dumps(indent=...) puts every number on its own)."""
    import re

    flat = re.compile(r"\[\s*([^\[\]{}]*?)\s*\]", re.S)
    text = flat.sub(lambda m: "[" + re.sub(r"\s+", "", m.group(1)) + "]", text)
    nested = re.compile(r"\[\s*((?:\[[^\[\]{}]*\]\s*,?\s*)+)\]", re.S)
    text = nested.sub(lambda m: "[" + re.sub(r"\s+", "", m.group(1)) + "]", text)
    small = re.compile(r"\{\s*(\"(?:weight|from)\"[^{}]*?)\s*\}", re.S)
    return small.sub(lambda m: "{" + re.sub(r"\n\s*", "", m.group(1)) + "}", text)


if __name__ == "__main__":
    sys.exit(main())
