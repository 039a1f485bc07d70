"""Part ``classification``: astrolake's model search on SDSS DR17 against single-node peers on
exactly the same train / validation / test rows and features, then the ``full`` feature set."""

from __future__ import annotations

import json
import sys

from _common import Timed, fmt, r4, say, table
from learning.lake import DR17, DR17_FILE, Bench, collect_splits, split_counts
from learning.metrics import macro_f1, paired_bootstrap, per_class_f1
from learning.peers import EARLY_STOP, LGBM_GRID, XGB_GRID, peer_fit, tune_peer


def run(b: Bench) -> dict:
    out: dict = {"catalog": DR17, "ingest": b.catalog(DR17, [DR17_FILE])}
    res, data, classes, out["astrolake"] = astrolake_search(b)
    X, y, splits, idx = peer_rows(data, classes)
    out["peer_rows"] = {s: int(len(y[s])) for s in y}
    p_astro, astro_macro = astrolake_test_predictions(res, data, splits, idx, y["test"], classes, out["astrolake"])
    peers, preds = fit_peers(X, y, len(classes), b.args.seed)
    score_peers(peers, preds, y["test"], p_astro, classes, b.args.bootstrap, b.args.seed)
    out["peers"] = peers
    out["class_weights"] = {
        "astrolake": "class_weight = n / (k n_c) on the training rows (weightCol); mlp resampled",
        "peers": "balanced: n / (k n_c) (class_weight='balanced'; XGBoost sample_weight)",
    }
    print_comparison(res, out["astrolake"], astro_macro, peers, classes, len(y["test"]), b.args.bootstrap)
    out["full"] = full_feature_set(b, res, peers["LightGBM (tuned)"]["best_params"], idx, classes)
    return out


def astrolake_search(b: Bench):
    """``search.search`` within the budget; its leaderboard, printed; the run's summary."""
    import mlflow

    from astrolake.ml import features, search

    args = b.args
    say(f"classification: astrolake search, budget {args.budget_minutes:g} min")
    with Timed() as t_search:
        res = search.search(b.lake, DR17, budget_minutes=args.budget_minutes, name="bench_dr17")
    data = features.training_data(b.lake, DR17, version=res.table_version)
    counts = split_counts(data)
    print(f"\nastrolake features ({len(data.features)}): {', '.join(data.features)}", file=sys.stderr)
    print(
        f"astrolake rows: train {counts.get('train')}, validation {counts.get('validation')}, "
        f"test {counts.get('test')} (gold {data.table} v{data.version})",
        file=sys.stderr,
    )
    classes = json.loads(mlflow.get_run(res.run_id).data.tags["astrolake.classes"])
    leaderboard = sorted(
        (
            {
                "trial": t.number,
                "family": t.family,
                "params": t.params,
                "validation_macro_f1": r4(t.value),
                "fit_s": round(t.fit_seconds, 1),
            }
            for t in res.trials
        ),
        key=lambda r: -r["validation_macro_f1"],
    )
    summary = {
        "search_s": round(t_search.s, 1),
        "budget_minutes": args.budget_minutes,
        "stopped_by": res.stopped_by,
        "trials_run": len(res.trials),
        "run_id": res.run_id,
        "features": data.features,
        "rows": counts,
        "classes": classes,
        "leaderboard": leaderboard,
        "best": {"family": res.best.family, "params": res.best.params, "validation_macro_f1": r4(res.best.value)},
        "test_metrics": {
            k_: r4(v)
            for k_, v in res.test_metrics.items()
            if k_.startswith(("test_macro_", "test_accuracy", "test_f1_", "test_n"))
        },
    }
    print("\n### classification: astrolake search leaderboard (validation macro F1)\n")
    print(
        table(
            ["trial", "family", "params", "validation macro F1", "fit s"],
            [
                [r["trial"], r["family"], json.dumps(r["params"]), fmt(r["validation_macro_f1"]), r["fit_s"]]
                for r in leaderboard
            ],
        )
    )
    print(f"\nstopped by: {res.stopped_by}; {len(res.trials)} trials in {t_search.s / 60:.1f} min")
    return res, data, classes, summary


def peer_rows(data, classes: list[str]):
    """The same complete rows and features for the peers, collected: X / y per split."""
    import numpy as np

    say("classification: collecting the three splits for the peers")
    splits = collect_splits(data)
    idx = {c: i for i, c in enumerate(classes)}
    X = {s: splits[s][data.features].to_numpy(dtype=np.float64) for s in splits}
    y = {s: splits[s][data.label].map(idx).to_numpy(dtype=np.int64) for s in splits}
    print(f"peer features ({len(data.features)}): {', '.join(data.features)}", file=sys.stderr)
    print(
        f"peer rows: train {len(y['train'])}, validation {len(y['validation'])}, test {len(y['test'])}", file=sys.stderr
    )
    return X, y, splits, idx


def astrolake_test_predictions(res, data, splits, idx: dict, y_test, classes: list[str], summary: dict):
    """astrolake's per-row test predictions (benchmark only: the search's logged model), aligned
    with the peers' test rows; its macro F1 recomputed from them."""
    import mlflow
    import numpy as np

    k = len(classes)
    model = mlflow.spark.load_model(f"runs:/{res.run_id}/model")
    pred = model.transform(data.split("test")).select("_key", "predicted_class").toPandas()
    test_keys = splits["test"]["_key"]
    aligned = test_keys.to_frame().merge(pred, on="_key", how="left")
    missing = int(aligned["predicted_class"].isna().sum())
    p_astro = aligned["predicted_class"].map(idx).fillna(-1).to_numpy(dtype=np.int64)
    if missing:
        say(f"WARNING: astrolake gave no prediction for {missing} test rows (counted as wrong)")
        p_astro = np.where(p_astro < 0, (y_test + 1) % k, p_astro)
    summary["test_rows_predicted"] = int(len(pred))
    summary["test_rows_missing"] = missing
    astro_macro = macro_f1(y_test, p_astro, k)
    summary["recomputed_test_macro_f1"] = r4(astro_macro)
    summary["recomputed_test_f1"] = {c: r4(v) for c, v in per_class_f1(y_test, p_astro, classes).items()}
    return p_astro, astro_macro


def fit_peers(X: dict, y: dict, k: int, seed: int):
    """scikit-learn RF and HGB on train; LightGBM and XGBoost tuned with early stopping on validation."""
    peers: dict[str, dict] = {}
    preds: dict = {}
    for name, kind, params in (
        ("sklearn RandomForest (200 trees)", "sklearn_rf", {"n_estimators": 200}),
        ("sklearn HistGradientBoosting", "sklearn_hgb", {}),
    ):
        say(f"classification: {name}")
        with Timed() as t:
            est = peer_fit(kind, params, X["train"], y["train"], seed)
        preds[name] = est.predict(X["test"]).astype(int)
        peers[name] = {
            "params": params,
            "fit_s": round(t.s, 2),
            "validation_macro_f1": r4(macro_f1(y["validation"], est.predict(X["validation"]).astype(int), k)),
        }
    for name, kind, grid in (("LightGBM (tuned)", "lightgbm", LGBM_GRID), ("XGBoost (tuned)", "xgboost", XGB_GRID)):
        say(f"classification: {name} grid {grid}, early stopping {EARLY_STOP} on validation")
        tuned = tune_peer(kind, grid, X["train"], y["train"], X["validation"], y["validation"], k, seed)
        preds[name] = tuned.pop("model").predict(X["test"]).astype(int)
        peers[name] = {"grid": grid, **tuned, "validation_macro_f1": r4(tuned["validation_macro_f1"])}
    return peers, preds


def score_peers(peers: dict, preds: dict, y_test, p_astro, classes: list[str], n_boot: int, seed: int) -> None:
    """Each peer's test metrics and astrolake - peer macro F1 with its paired bootstrap interval."""
    k = len(classes)
    for name, p in preds.items():
        peers[name]["test_macro_f1"] = r4(macro_f1(y_test, p, k))
        peers[name]["test_accuracy"] = r4(float((p == y_test).mean()))
        peers[name]["test_f1"] = {c: r4(v) for c, v in per_class_f1(y_test, p, classes).items()}
        peers[name]["astrolake_minus_peer"] = paired_bootstrap(y_test, p_astro, p, k, n_boot, seed)


def print_comparison(
    res, astro: dict, astro_macro: float, peers: dict, classes: list[str], n_test: int, n_boot: int
) -> None:
    rows = [
        [
            "astrolake " + res.best.family + " " + json.dumps(res.best.params),
            fmt(astro["test_metrics"].get("test_accuracy")),
            fmt(astro_macro),
            *[fmt(astro["recomputed_test_f1"][c]) for c in classes],
            "–",
            "–",
        ]
    ]
    for name, pr in peers.items():
        bs = pr["astrolake_minus_peer"]
        rows.append(
            [
                name + (f" {json.dumps(pr['best_params'])}, {pr['best_rounds']} rounds" if "best_params" in pr else ""),
                fmt(pr["test_accuracy"]),
                fmt(pr["test_macro_f1"]),
                *[fmt(pr["test_f1"][c]) for c in classes],
                f"{bs['diff']:+.4f}",
                f"[{bs['ci95'][0]:+.4f}, {bs['ci95'][1]:+.4f}]",
            ]
        )
    print(f"\n### classification: DR17 test split ({n_test} rows), photometry features\n")
    print(
        table(
            [
                "model",
                "accuracy",
                "macro F1",
                *[f"F1 {c}" for c in classes],
                "astrolake − peer",
                f"95 % CI ({n_boot} paired resamples)",
            ],
            rows,
        )
    )
    print(
        f"\nastrolake's own test macro F1 (evaluate in Spark): "
        f"{fmt(astro['test_metrics'].get('test_macro_f1'))}; recomputed from collected predictions: "
        f"{astro_macro:.4f}"
    )


def full_feature_set(b: Bench, res, lgb_params: dict, idx: dict, classes: list[str]) -> dict:
    """photometry + redshift: the search's best family and params against LightGBM with the grid
    point it chose on photometry (early stopping on the full set's validation rows)."""
    import numpy as np

    from astrolake.ml import features, train

    k = len(classes)
    say(f"classification: full feature set, astrolake {res.best.family} {res.best.params} vs LightGBM")
    full = features.training_data(b.lake, DR17, feature_set="full", version=res.table_version)
    full.frame = full.frame.cache()
    fcounts = split_counts(full)
    with Timed() as t_fit:
        fitted = train.fit(full, "classification", res.best.family, dict(res.best.params))
    m = train.evaluate(fitted.model, full.split("test"), "classification", fitted.classes)
    md = m.to_dict()
    fsplits = collect_splits(full)
    full.frame.unpersist()
    FX = {s: fsplits[s][full.features].to_numpy(dtype=np.float64) for s in fsplits}
    Fy = {s: fsplits[s][full.label].map(idx).to_numpy(dtype=np.int64) for s in fsplits}
    lgb_params = {**lgb_params}
    lgb_full = tune_peer(
        "lightgbm",
        {k_: [v] for k_, v in lgb_params.items()},
        FX["train"],
        Fy["train"],
        FX["validation"],
        Fy["validation"],
        k,
        b.args.seed,
    )
    p_full = lgb_full.pop("model").predict(FX["test"]).astype(int)
    out = {
        "features": full.features,
        "rows": fcounts,
        "astrolake": {
            "family": res.best.family,
            "params": res.best.params,
            "fit_s": round(t_fit.s, 1),
            "test_accuracy": r4(md["accuracy"]),
            "test_macro_f1": r4(md["macro_f1"]),
            "test_f1": {c: r4(md[f"f1_{c}"]) for c in classes},
        },
        "lightgbm": {
            "params": lgb_params,
            "rounds": lgb_full["best_rounds"],
            "test_accuracy": r4(float((p_full == Fy["test"]).mean())),
            "test_macro_f1": r4(macro_f1(Fy["test"], p_full, k)),
            "test_f1": {c: r4(v) for c, v in per_class_f1(Fy["test"], p_full, classes).items()},
        },
    }
    print(f"\n### classification: `full` feature set (photometry + redshift), test {fcounts.get('test')} rows\n")
    fa, fl = out["astrolake"], out["lightgbm"]
    print(
        table(
            ["model", "accuracy", "macro F1", *[f"F1 {c}" for c in classes]],
            [
                [
                    f"astrolake {fa['family']} {json.dumps(fa['params'])}",
                    fmt(fa["test_accuracy"]),
                    fmt(fa["test_macro_f1"]),
                    *[fmt(fa["test_f1"][c]) for c in classes],
                ],
                [
                    f"LightGBM {json.dumps(fl['params'])}, {fl['rounds']} rounds",
                    fmt(fl["test_accuracy"]),
                    fmt(fl["test_macro_f1"]),
                    *[fmt(fl["test_f1"][c]) for c in classes],
                ],
            ],
        )
    )
    return out
