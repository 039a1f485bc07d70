"""Part ``photoz``: astrolake's photo-z families with fixed moderate params against scikit-learn
RandomForestRegressor on the same rows and features (MLZ SDSS MGS and the 50k colours set)."""

from __future__ import annotations

import json
import sys
import traceback

from _common import Timed, fmt, r4, say, table
from learning.lake import PHOTOZ_SETS, Bench, collect_splits, split_counts
from learning.metrics import photoz_stats

# fixed "moderate" params (no search)
PHOTOZ_PARAMS = {
    "rf": {"numTrees": 100, "maxDepth": 12},
    "gbt": {"maxIter": 100, "maxDepth": 5},
    "xgb": {"n_estimators": 300, "max_depth": 6, "learning_rate": 0.1},
    "linear": {"regParam": 0.0},
}
PEER_PARAMS = {
    "sklearn RF (200 trees)": {"n_estimators": 200},
    "sklearn RF (100 trees, max_depth 12)": {"n_estimators": 100, "max_depth": 12},
}


def run(b: Bench) -> dict:
    return {cat: photoz_catalog(b, cat, files) for cat, files in PHOTOZ_SETS.items()}


def photoz_catalog(b: Bench, cat: str, files: list[str]) -> dict:
    """One catalog: ingest + gold, every astrolake family, the peers, the Markdown table."""
    from astrolake.ml import features

    info = b.catalog(cat, files)
    data = features.training_data(b.lake, cat, task="photoz")
    data.frame = data.frame.cache()
    counts = split_counts(data)
    print(f"\n{cat} features ({len(data.features)}): {', '.join(data.features)}", file=sys.stderr)
    print(f"{cat} rows: {counts}", file=sys.stderr)
    splits = collect_splits(data)
    ztest = splits["test"][["_key", "redshift"]]
    res: dict = {"ingest": info, "features": data.features, "rows": counts, "astrolake": {}, "peers": {}}
    for fam, params in PHOTOZ_PARAMS.items():
        say(f"photoz {cat}: astrolake {fam} {params}")
        res["astrolake"][fam] = astrolake_family(data, fam, params, ztest, b.args.seed, cat)
    res["peers"] = rf_peers(splits, data.features, b.args.seed, cat)
    data.frame.unpersist()
    print_photoz(cat, res, counts, len(data.features))
    return res


def astrolake_family(data, fam: str, params: dict, ztest, seed: int, cat: str) -> dict:
    """``train.fit`` of one family; its test metrics from Spark, recomputed from the collected rows."""
    from astrolake.ml import models, train

    try:
        with Timed() as t:
            fitted = train.fit(data, "photoz", fam, dict(params), seed=seed)
        m = train.evaluate(fitted.model, data.split("test"), "photoz", []).to_dict()
        pz = fitted.model.transform(data.split("test")).select("_key", models.Z_PHOT, models.Z_ERR).toPandas()
        j = ztest.merge(pz, on="_key", how="inner")
        check = photoz_stats(j["redshift"].to_numpy(), j[models.Z_PHOT].to_numpy(), j[models.Z_ERR].to_numpy())
        return {
            "params": params,
            "fit_s": round(t.s, 1),
            **{k: r4(m.get(k)) for k in ("n", "sigma_nmad", "bias", "outlier_fraction", "coverage_1sigma", "rmse")},
            "recomputed": {k: r4(v) for k, v in check.items()},
        }
    except Exception as exc:  # noqa: BLE001 - report and go on
        say(f"photoz {cat}: astrolake {fam} FAILED: {exc!r}")
        return {"params": params, "error": repr(exc)[:500], "traceback": traceback.format_exc()[-2000:]}


def rf_peers(splits: dict, feats: list[str], seed: int, cat: str) -> dict:
    """scikit-learn RandomForestRegressor on the same train rows, scored on the same test rows."""
    import numpy as np
    from sklearn.ensemble import RandomForestRegressor

    Xtr = splits["train"][feats].to_numpy(dtype=np.float64)
    ztr = splits["train"]["redshift"].to_numpy(dtype=np.float64)
    Xte = splits["test"][feats].to_numpy(dtype=np.float64)
    zte = splits["test"]["redshift"].to_numpy(dtype=np.float64)
    peers = {}
    for name, params in PEER_PARAMS.items():
        say(f"photoz {cat}: {name}")
        with Timed() as t:
            est = RandomForestRegressor(n_jobs=2, random_state=seed, **params).fit(Xtr, ztr)
        st = photoz_stats(zte, est.predict(Xte))
        peers[name] = {"params": params, "fit_s": round(t.s, 1), **{k: r4(v) for k, v in st.items()}}
    return peers


def print_photoz(cat: str, res: dict, counts: dict, n_features: int) -> None:
    rows = []
    for fam, r in res["astrolake"].items():
        if "error" in r:
            rows.append([f"astrolake {fam} {json.dumps(r['params'])}", "failed", "", "", "", "", ""])
            continue
        rows.append(
            [
                f"astrolake {fam} {json.dumps(r['params'])}",
                fmt(r["sigma_nmad"]),
                fmt(r["bias"], 5),
                fmt(r["outlier_fraction"]),
                fmt(r["coverage_1sigma"], 3),
                r["fit_s"],
                int(r["n"]),
            ]
        )
    for name, r in res["peers"].items():
        rows.append(
            [
                name,
                fmt(r["sigma_nmad"]),
                fmt(r["bias"], 5),
                fmt(r["outlier_fraction"]),
                "–",
                r["fit_s"],
                int(r["n"]),
            ]
        )
    print(
        f"\n### photoz: {cat} (train {counts.get('train')}, validation {counts.get('validation')}, "
        f"test {counts.get('test')}; {n_features} features)\n"
    )
    print(table(["model", "σ_NMAD", "bias", "outlier frac (|dz|>0.15)", "coverage 1σ", "fit s", "test n"], rows))
