#!/usr/bin/env python
"""Learning: astrolake's MLlib families against single-node scikit-learn, LightGBM and XGBoost.

Three parts (``--part classification,photoz,speed``, default all), all in one Spark session:

``classification``
    SDSS DR17 (``sdss_dr17_StellarObjs_99999.csv``) ingested and turned into gold by astrolake;
    the photometry features and the gold hash split (70/10/20).  astrolake side:
    ``search.search`` within ``--budget-minutes`` (default families and grids), its leaderboard,
    and the selected model's per-class and macro F1 on test.  Peers, on exactly the same
    train / validation / test rows and features (collected to pandas): scikit-learn
    RandomForestClassifier (200 trees) and HistGradientBoostingClassifier, LightGBM and XGBoost
    each tuned on the validation rows (small grid, early stopping on validation); all with
    balanced class weights n / (k n_c), as astrolake uses.  For every peer: macro F1 difference
    astrolake - peer on test with a paired bootstrap 95 % interval.  Then the ``full`` feature
    set (photometry + redshift): astrolake's best family and params against LightGBM.
``photoz``
    MLZ SDSS MGS (its own train / test files) and the 50k SDSS colours set (hash split): astrolake
    families rf, gbt, xgb, linear with fixed moderate params -> sigma_NMAD, bias, outlier
    fraction, 1-sigma coverage of z_phot_err on test, against scikit-learn RandomForestRegressor
    on the same rows and features.
``speed``
    training time of every astrolake classification family (fixed params, no search) on all
    complete DR17 gold rows against scikit-learn RandomForest, LightGBM and XGBoost; how MLlib
    RandomForest and SparkXGBClassifier (astrolake's rf and xgb) grow over ``--speed-rows``
    synthetic rows (features computed directly in Spark from ``synthetic_catalog``), with the
    single-node peers in a child process under ``--peer-cap-s``; scoring throughput of a logged
    rf model through ``mlflow.spark.load_model().transform``, ``mlflow.pyfunc.spark_udf`` and
    ``mlflow.pyfunc.load_model().predict``.

Usage (see benchmarks/README.md; unset OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE for this command)::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python benchmarks/bench_learning.py \\
        --budget-minutes 20 --speed-rows 1e5,1e6

Markdown tables go to stdout, progress to stderr, JSON to
``benchmarks/results/learning-<date>.json`` (runs of the same day are appended to ``runs``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

from _common import ROOT, git_state, loadavg, memory_gib, parse_rows, write_json  # puts lib/ on sys.path

os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

RESULTS = ROOT / "benchmarks" / "results"
DATA = Path(os.environ.get("ASTROLAKE_BENCH_DATA", "/work/shared/data"))
PARTS = ("classification", "photoz", "speed")
DR17 = "sdss_dr17_stellar"
DR17_FILE = "sdss_dr17_StellarObjs_99999.csv"
PHOTOZ_SETS = {  # catalog -> landing files
    "mlz_sdss_mgs": ["mlz_sdss_mgs_train.txt", "mlz_sdss_mgs_test.txt"],
    "sdss_colours": ["ddastro_sdss_galaxy_colors_50k.csv"],
}
SYNTH_CATALOG = "sdss_dr14_skyserver"

# fixed "moderate" params (no search) for photo-z and for the speed part
PHOTOZ_PARAMS = {
    "rf": {"numTrees": 100, "maxDepth": 12},
    "gbt": {"maxIter": 100, "maxDepth": 5},
    "xgb": {"n_estimators": 300, "max_depth": 6, "learning_rate": 0.1},
    "linear": {"regParam": 0.0},
}
SPEED_PARAMS = {  # every classification family of astrolake (models.TASK_FAMILIES)
    "logreg": {"regParam": 0.001},
    "tree": {"maxDepth": 10},
    "rf": {"numTrees": 100, "maxDepth": 12},
    "gbt": {"maxIter": 50, "maxDepth": 5},
    "svc": {"regParam": 0.001},
    "mlp": {"hidden": [32, 16]},
    "xgb": {"n_estimators": 300, "max_depth": 6, "learning_rate": 0.1},
}
SPEED_EXTRA = {
    "xgb (num_workers=2)": ("xgb", {"n_estimators": 300, "max_depth": 6, "learning_rate": 0.1, "num_workers": 2})
}
# single-node peers in the speed part: params matched to astrolake's rf and xgb above
SPEED_PEERS = {
    "sklearn RF": ("sklearn_rf", {"n_estimators": 100, "max_depth": 12}),
    "LightGBM": ("lightgbm", {"n_estimators": 300, "num_leaves": 63, "learning_rate": 0.1}),
    "XGBoost": ("xgboost", {"n_estimators": 300, "max_depth": 6, "learning_rate": 0.1}),
}
LGBM_GRID = {"num_leaves": [15, 31, 63, 127], "learning_rate": [0.05, 0.1]}
XGB_GRID = {"max_depth": [4, 6, 8], "learning_rate": [0.05, 0.1]}
EARLY_STOP, MAX_ROUNDS = 50, 2000


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------
def say(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def parse_parts(text: str) -> list[str]:
    parts = [p.strip() for p in text.split(",") if p.strip()]
    bad = [p for p in parts if p not in PARTS]
    if bad or not parts:
        raise argparse.ArgumentTypeError(f"parts must be among {', '.join(PARTS)}; got {text!r}")
    return parts


def r4(x, nd: int = 5):
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else round(float(x), nd)


def fmt(x, nd=4) -> str:
    if x is None:
        return "–"
    if isinstance(x, str):
        return x
    return f"{x:.{nd}f}"


def table(header: list[str], rows: list[list]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def blas_info() -> list[dict]:
    """Which BLAS / OpenMP libraries are loaded and which OpenBLAS kernel they run (threadpoolctl)."""
    import lightgbm  # noqa: F401 - load their thread pools too
    import numpy  # noqa: F401
    import scipy.linalg  # noqa: F401
    import sklearn.ensemble  # noqa: F401
    import xgboost  # noqa: F401
    from threadpoolctl import threadpool_info

    keep = ("user_api", "internal_api", "version", "architecture", "num_threads", "threading_layer", "prefix")
    return [{k: i.get(k) for k in keep} for i in threadpool_info()]


def versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for p in (
        "pyspark",
        "delta-spark",
        "mlflow",
        "scikit-learn",
        "lightgbm",
        "xgboost-cpu",
        "xgboost",
        "pandas",
        "numpy",
        "scipy",
        "pyarrow",
        "threadpoolctl",
    ):
        try:
            out[p] = version(p)
        except PackageNotFoundError:
            pass
    return out


def machine() -> dict:
    mem = memory_gib()
    cpu = None
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), None)
    except OSError:
        pass
    return dict(
        host=platform.node(),
        cpus=os.cpu_count(),
        cpu_model=cpu,
        memory_gib=mem,
        python=platform.python_version(),
        platform=platform.platform(),
    )


class Timed:
    def __enter__(self):
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.s = time.perf_counter() - self.t0
        return False


def spark_with_timeout(spark, fn, timeout_s: float, group: str):
    """Run ``fn()`` (Spark actions) and cancel its jobs after ``timeout_s``; returns (value, timed_out)."""
    sc = spark.sparkContext
    fired = threading.Event()

    def cancel():
        fired.set()
        sc.cancelJobGroup(group)

    sc.setJobGroup(group, f"bench_learning {group}", interruptOnCancel=True)
    timer = threading.Timer(timeout_s, cancel)
    timer.start()
    try:
        return fn(), False
    except Exception:
        if fired.is_set():
            return None, True
        raise
    finally:
        timer.cancel()
        sc.setLocalProperty("spark.jobGroup.id", None)
        sc.setLocalProperty("spark.job.description", None)


# --------------------------------------------------------------------------------------------
# metrics (numpy; used for the peers and to cross-check astrolake's numbers)
# --------------------------------------------------------------------------------------------
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


# --------------------------------------------------------------------------------------------
# single-node peers (in-process for the quality parts; in a child process, capped, for speed)
# --------------------------------------------------------------------------------------------
def peer_estimator(kind: str, params: dict, seed: int):
    if kind == "sklearn_rf":
        from sklearn.ensemble import RandomForestClassifier

        return RandomForestClassifier(n_jobs=2, class_weight="balanced", random_state=seed, **params)
    if kind == "sklearn_hgb":
        from sklearn.ensemble import HistGradientBoostingClassifier

        return HistGradientBoostingClassifier(class_weight="balanced", random_state=seed, **params)
    if kind == "lightgbm":
        import lightgbm as lgb

        return lgb.LGBMClassifier(n_jobs=2, class_weight="balanced", random_state=seed, verbose=-1, **params)
    if kind == "xgboost":
        import xgboost as xgb

        return xgb.XGBClassifier(n_jobs=2, tree_method="hist", random_state=seed, **params)
    raise ValueError(kind)


def peer_fit(kind: str, params: dict, X, y, seed: int):
    """Fit a peer with balanced class weights (XGBoost through sample weights)."""
    from sklearn.utils.class_weight import compute_sample_weight

    est = peer_estimator(kind, params, seed)
    if kind == "xgboost":
        est.fit(X, y, sample_weight=compute_sample_weight("balanced", y), verbose=False)
    else:
        est.fit(X, y)
    return est


def peer_worker(spec_path: str) -> int:
    """Child process: load X / y, time one peer fit, write the result JSON."""
    import numpy as np

    spec = json.loads(Path(spec_path).read_text())
    X, y = np.load(spec["X"]), np.load(spec["y"])
    t0 = time.perf_counter()
    peer_fit(spec["kind"], spec["params"], X, y, spec["seed"])
    fit_s = time.perf_counter() - t0
    Path(spec["out"]).write_text(json.dumps({"fit_s": fit_s, "rows": int(len(y))}))
    return 0


def timed_peer(kind: str, params: dict, X_path: Path, y_path: Path, cap_s: float, seed: int, work: Path) -> dict:
    """Time one peer fit in a child process; "over cap" when it runs past ``cap_s``."""
    spec = {
        "kind": kind,
        "params": params,
        "X": str(X_path),
        "y": str(y_path),
        "seed": seed,
        "out": str(work / f"peer_{kind}_{os.getpid()}_{time.time_ns()}.json"),
    }
    spec_path = Path(spec["out"]).with_suffix(".spec.json")
    spec_path.write_text(json.dumps(spec))
    load = {"loadavg_before": loadavg()}
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(
            [sys.executable, __file__, "--peer-worker", str(spec_path)],
            capture_output=True,
            text=True,
            timeout=cap_s + 60,
        )  # + time to load the arrays
    except subprocess.TimeoutExpired:
        return {"status": "over cap", "fit_s": None, "killed_after_s": round(time.perf_counter() - t0, 1), **load}
    if proc.returncode != 0:
        tail = (proc.stderr or "").strip().splitlines()[-3:]
        oom = proc.returncode in (-9, 137) or any("MemoryError" in ln for ln in tail)
        return {
            "status": "out of memory" if oom else "failed",
            "fit_s": None,
            "returncode": proc.returncode,
            "error": " / ".join(tail),
        }
    res = json.loads(Path(spec["out"]).read_text())
    status = "ok" if res["fit_s"] <= cap_s else "over cap"
    return {"status": status, "fit_s": round(res["fit_s"], 3), "rows": res["rows"], **load, "loadavg_after": loadavg()}


# --------------------------------------------------------------------------------------------
# the lake
# --------------------------------------------------------------------------------------------
class Bench:
    def __init__(self, args, work: Path):
        from astrolake.config import Settings
        from astrolake.lake.tables import Lake
        from astrolake.spark import get_spark

        self.args, self.work = args, work
        self.settings = Settings(
            base_path=str(work / "lake"),
            spark_master=args.master,
            shuffle_partitions=args.shuffle_partitions,
            driver_memory=args.driver_memory,
            tracking_uri=f"sqlite:///{work / 'mlflow.db'}",
            experiment="bench_learning",
        )
        self.spark = get_spark(self.settings, app_name="astrolake-bench-learning")
        self.lake = Lake(self.spark, self.settings)
        self.ingested: dict[str, dict] = {}
        self.checkpoint = lambda part, partial: None  # main() sets it: saves a part's partial results

    def catalog(self, name: str, files: list[str]) -> dict:
        """Ingest the catalog's files and build gold, once per run (timed)."""
        if name in self.ingested:
            return self.ingested[name]
        from astrolake.lake import pipeline
        from astrolake.ml import features

        paths = [str(DATA / f) for f in files]
        say(f"ingest {name} <- {', '.join(files)}")
        with Timed() as t_ing:
            res = pipeline.ingest(self.lake, name, paths, quiet=True)
        with Timed() as t_gold:
            gold = features.build_gold(self.lake, name, quiet=True)
        info = {
            "files": files,
            "ingest_s": round(t_ing.s, 2),
            "gold_s": round(t_gold.s, 2),
            "ledgers": [
                dict(
                    read=lg.read,
                    inserted=lg.inserted,
                    quarantined=lg.quarantined,
                    duplicates=lg.duplicates,
                    closes=lg.closes,
                )
                for lg in res.ledgers
            ],
            "gold_rows": gold.rows,
            "gold_version": None,
        }
        info["gold_version"] = self.lake.version(gold.table)
        say(f"ingest {name}: {info['ledgers']}; gold {gold.rows} rows ({t_ing.s:.0f} s + {t_gold.s:.0f} s)")
        self.ingested[name] = info
        return info


def split_counts(data) -> dict:
    return {r["split"]: int(r["count"]) for r in data.frame.groupBy("split").count().collect()}


def collect_splits(data, extra: list[str] = ()):
    """The complete rows of every split as pandas (benchmark only: astrolake itself never collects)."""
    cols = ["_key", "split", data.label, *extra, *data.features]
    pdf = data.frame.select(*dict.fromkeys(cols)).toPandas()
    return {s: pdf[pdf["split"] == s].reset_index(drop=True) for s in ("train", "validation", "test")}


# --------------------------------------------------------------------------------------------
# part 1: classification
# --------------------------------------------------------------------------------------------
def tune_peer(kind: str, grid: dict, Xtr, ytr, Xva, yva, k: int, seed: int) -> dict:
    """Grid over ``grid`` with early stopping on the validation rows; select by validation macro F1."""
    import itertools

    import lightgbm as lgb
    from sklearn.utils.class_weight import compute_sample_weight

    wva = compute_sample_weight("balanced", yva)
    trials, best = [], None
    for values in itertools.product(*grid.values()):
        params = dict(zip(grid, values, strict=True))
        t0 = time.perf_counter()
        if kind == "lightgbm":
            est = peer_estimator("lightgbm", {**params, "n_estimators": MAX_ROUNDS}, seed)
            est.fit(
                Xtr,
                ytr,
                eval_X=(Xva,),
                eval_y=(yva,),
                eval_sample_weight=[wva],
                callbacks=[lgb.early_stopping(EARLY_STOP, verbose=False)],
            )
            rounds = int(est.best_iteration_ or MAX_ROUNDS)
        else:
            est = peer_estimator(
                "xgboost",
                {**params, "n_estimators": MAX_ROUNDS, "early_stopping_rounds": EARLY_STOP, "eval_metric": "mlogloss"},
                seed,
            )
            est.fit(
                Xtr,
                ytr,
                sample_weight=compute_sample_weight("balanced", ytr),
                eval_set=[(Xva, yva)],
                sample_weight_eval_set=[wva],
                verbose=False,
            )
            rounds = int(est.best_iteration) + 1
        fit_s = time.perf_counter() - t0
        val = macro_f1(yva, est.predict(Xva).astype(int), k)
        trials.append(
            {"params": params, "rounds": rounds, "validation_macro_f1": round(val, 5), "fit_s": round(fit_s, 2)}
        )
        say(f"  {kind} {params}: {rounds} rounds, validation macro F1 {val:.4f} ({fit_s:.1f} s)")
        if best is None or val > best[0]:
            best = (val, params, rounds, est)
    return {
        "trials": trials,
        "best_params": best[1],
        "best_rounds": best[2],
        "validation_macro_f1": best[0],
        "model": best[3],
        "tuning_s": round(sum(t["fit_s"] for t in trials), 2),
    }


def part_classification(b: Bench) -> dict:
    import mlflow
    import numpy as np

    from astrolake.ml import features, search, train

    args = b.args
    out: dict = {"catalog": DR17, "ingest": b.catalog(DR17, [DR17_FILE])}

    # ---- astrolake: model search within the budget
    say(f"classification: astrolake search, budget {args.budget_minutes:g} min")
    with Timed() as t_search:
        res = search.search(b.lake, DR17, budget_minutes=args.budget_minutes, quiet=False, name="bench_dr17")
    data = features.training_data(b.lake, DR17, version=res.table_version)
    counts = split_counts(data)
    print(f"\nastrolake features ({len(data.features)}): {', '.join(data.features)}", file=sys.stderr)
    print(
        f"astrolake rows: train {counts.get('train')}, validation {counts.get('validation')}, "
        f"test {counts.get('test')} (gold {data.table} v{data.version})",
        file=sys.stderr,
    )
    classes = json.loads(mlflow.get_run(res.run_id).data.tags["astrolake.classes"])
    k = len(classes)
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
    out["astrolake"] = {
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

    # astrolake's test predictions per row (benchmark only)
    model = mlflow.spark.load_model(f"runs:/{res.run_id}/model")
    pred = model.transform(data.split("test")).select("_key", "predicted_class").toPandas()

    # ---- peers: the same rows and features, collected
    say("classification: collecting the three splits for the peers")
    splits = collect_splits(data)
    idx = {c: i for i, c in enumerate(classes)}
    X = {s: splits[s][data.features].to_numpy(dtype=np.float64) for s in splits}
    y = {s: splits[s][data.label].map(idx).to_numpy(dtype=np.int64) for s in splits}
    print(f"peer features ({len(data.features)}): {', '.join(data.features)}", file=sys.stderr)
    print(
        f"peer rows: train {len(y['train'])}, validation {len(y['validation'])}, test {len(y['test'])}", file=sys.stderr
    )
    out["peer_rows"] = {s: int(len(y[s])) for s in y}
    test_keys = splits["test"]["_key"]
    aligned = test_keys.to_frame().merge(pred, on="_key", how="left")
    missing = int(aligned["predicted_class"].isna().sum())
    p_astro = aligned["predicted_class"].map(idx).fillna(-1).to_numpy(dtype=np.int64)
    if missing:
        say(f"WARNING: astrolake gave no prediction for {missing} test rows (counted as wrong)")
        p_astro = np.where(p_astro < 0, (y["test"] + 1) % k, p_astro)
    astro_macro = macro_f1(y["test"], p_astro, k)
    out["astrolake"]["test_rows_predicted"] = int(len(pred))
    out["astrolake"]["test_rows_missing"] = missing
    out["astrolake"]["recomputed_test_macro_f1"] = r4(astro_macro)
    out["astrolake"]["recomputed_test_f1"] = {c: r4(v) for c, v in per_class_f1(y["test"], p_astro, classes).items()}

    peers: dict[str, dict] = {}
    preds: dict[str, np.ndarray] = {}
    for name, kind, params in (
        ("sklearn RandomForest (200 trees)", "sklearn_rf", {"n_estimators": 200}),
        ("sklearn HistGradientBoosting", "sklearn_hgb", {}),
    ):
        say(f"classification: {name}")
        with Timed() as t:
            est = peer_fit(kind, params, X["train"], y["train"], args.seed)
        preds[name] = est.predict(X["test"]).astype(int)
        peers[name] = {
            "params": params,
            "fit_s": round(t.s, 2),
            "validation_macro_f1": r4(macro_f1(y["validation"], est.predict(X["validation"]).astype(int), k)),
        }
    for name, kind, grid in (("LightGBM (tuned)", "lightgbm", LGBM_GRID), ("XGBoost (tuned)", "xgboost", XGB_GRID)):
        say(f"classification: {name} grid {grid}, early stopping {EARLY_STOP} on validation")
        tuned = tune_peer(kind, grid, X["train"], y["train"], X["validation"], y["validation"], k, args.seed)
        preds[name] = tuned.pop("model").predict(X["test"]).astype(int)
        peers[name] = {"grid": grid, **tuned, "validation_macro_f1": r4(tuned["validation_macro_f1"])}
    for name, p in preds.items():
        peers[name]["test_macro_f1"] = r4(macro_f1(y["test"], p, k))
        peers[name]["test_accuracy"] = r4(float((p == y["test"]).mean()))
        peers[name]["test_f1"] = {c: r4(v) for c, v in per_class_f1(y["test"], p, classes).items()}
        peers[name]["astrolake_minus_peer"] = paired_bootstrap(y["test"], p_astro, p, k, args.bootstrap, args.seed)
    out["peers"] = peers
    out["class_weights"] = {
        "astrolake": "class_weight = n / (k n_c) on the training rows (weightCol); mlp resampled",
        "peers": "balanced: n / (k n_c) (class_weight='balanced'; XGBoost sample_weight)",
    }

    rows = [
        [
            "astrolake " + res.best.family + " " + json.dumps(res.best.params),
            fmt(out["astrolake"]["test_metrics"].get("test_accuracy")),
            fmt(astro_macro),
            *[fmt(out["astrolake"]["recomputed_test_f1"][c]) for c in classes],
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
    print(f"\n### classification: DR17 test split ({len(y['test'])} rows), photometry features\n")
    print(
        table(
            [
                "model",
                "accuracy",
                "macro F1",
                *[f"F1 {c}" for c in classes],
                "astrolake − peer",
                f"95 % CI ({args.bootstrap} paired resamples)",
            ],
            rows,
        )
    )
    print(
        f"\nastrolake's own test macro F1 (evaluate in Spark): "
        f"{fmt(out['astrolake']['test_metrics'].get('test_macro_f1'))}; recomputed from collected predictions: "
        f"{astro_macro:.4f}"
    )

    # ---- full feature set (adds redshift)
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
    lgb_params = {**peers["LightGBM (tuned)"]["best_params"]}
    lgb_full = tune_peer(
        "lightgbm",
        {k_: [v] for k_, v in lgb_params.items()},
        FX["train"],
        Fy["train"],
        FX["validation"],
        Fy["validation"],
        k,
        args.seed,
    )
    p_full = lgb_full.pop("model").predict(FX["test"]).astype(int)
    out["full"] = {
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
    fa, fl = out["full"]["astrolake"], out["full"]["lightgbm"]
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


# --------------------------------------------------------------------------------------------
# part 2: photo-z
# --------------------------------------------------------------------------------------------
def part_photoz(b: Bench) -> dict:
    import numpy as np
    from sklearn.ensemble import RandomForestRegressor

    from astrolake.ml import features, models, train

    out: dict = {}
    for cat, files in PHOTOZ_SETS.items():
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
            try:
                with Timed() as t:
                    fitted = train.fit(data, "photoz", fam, dict(params), seed=b.args.seed)
                m = train.evaluate(fitted.model, data.split("test"), "photoz", []).to_dict()
                pz = fitted.model.transform(data.split("test")).select("_key", models.Z_PHOT, models.Z_ERR).toPandas()
                j = ztest.merge(pz, on="_key", how="inner")
                check = photoz_stats(j["redshift"].to_numpy(), j[models.Z_PHOT].to_numpy(), j[models.Z_ERR].to_numpy())
                res["astrolake"][fam] = {
                    "params": params,
                    "fit_s": round(t.s, 1),
                    **{
                        k: r4(m.get(k))
                        for k in ("n", "sigma_nmad", "bias", "outlier_fraction", "coverage_1sigma", "rmse")
                    },
                    "recomputed": {k: r4(v) for k, v in check.items()},
                }
            except Exception as exc:  # noqa: BLE001 - report and go on
                say(f"photoz {cat}: astrolake {fam} FAILED: {exc!r}")
                res["astrolake"][fam] = {
                    "params": params,
                    "error": repr(exc)[:500],
                    "traceback": traceback.format_exc()[-2000:],
                }
        Xtr = splits["train"][data.features].to_numpy(dtype=np.float64)
        ztr = splits["train"]["redshift"].to_numpy(dtype=np.float64)
        Xte = splits["test"][data.features].to_numpy(dtype=np.float64)
        zte = splits["test"]["redshift"].to_numpy(dtype=np.float64)
        for name, params in (
            ("sklearn RF (200 trees)", {"n_estimators": 200}),
            ("sklearn RF (100 trees, max_depth 12)", {"n_estimators": 100, "max_depth": 12}),
        ):
            say(f"photoz {cat}: {name}")
            with Timed() as t:
                est = RandomForestRegressor(n_jobs=2, random_state=b.args.seed, **params).fit(Xtr, ztr)
            st = photoz_stats(zte, est.predict(Xte))
            res["peers"][name] = {"params": params, "fit_s": round(t.s, 1), **{k: r4(v) for k, v in st.items()}}
        data.frame.unpersist()
        out[cat] = res
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
            f"test {counts.get('test')}; {len(data.features)} features)\n"
        )
        print(table(["model", "σ_NMAD", "bias", "outlier frac (|dz|>0.15)", "coverage 1σ", "fit s", "test n"], rows))
    return out


# --------------------------------------------------------------------------------------------
# part 3: speed
# --------------------------------------------------------------------------------------------
def all_rows_as_train(data):
    """Every complete row of every split as training rows (for timing only)."""
    from pyspark.sql import functions as F

    data.frame = data.frame.withColumn("split", F.lit("train")).cache()
    n = data.frame.count()
    return data, n


def save_arrays(pdf, feats: list[str], label: str, classes: list[str], folder: Path, tag: str):
    import numpy as np

    folder.mkdir(parents=True, exist_ok=True)
    idx = {c: i for i, c in enumerate(classes)}
    X = pdf[feats].to_numpy(dtype=np.float64)
    y = pdf[label].map(idx).to_numpy(dtype=np.int64)
    xp, yp = folder / f"X_{tag}.npy", folder / f"y_{tag}.npy"
    np.save(xp, X)
    np.save(yp, y)
    return xp, yp


def synthetic_features(b: Bench, rows: int, seed: int) -> tuple[Path, list[str], float]:
    """``rows`` synthetic SkyServer rows -> the photometry features gold would hold, as parquet."""
    from pyspark.sql import functions as F

    from astrolake.catalogs.contract import get_catalog
    from astrolake.ml import features
    from astrolake.sources.synthetic import synthetic_catalog

    path = b.work / f"synthetic_{rows}.parquet"
    t0 = time.perf_counter()
    raw = synthetic_catalog(b.spark, rows, seed=seed, bad_fraction=0.0).drop("_injected")
    typed = raw.select(
        *[F.col(c).cast("double").alias(c) for c in ("u", "g", "r", "i", "z", "redshift")],
        "class",
        "plate",
        "mjd",
        "fiberid",
    )
    gold = features.gold_rows(typed, get_catalog(SYNTH_CATALOG))
    feats = features.feature_columns(gold.columns, "photometry")
    gold.select("_key", "class", *feats).write.mode("overwrite").parquet(str(path))
    return path, feats, time.perf_counter() - t0


def fit_family(data, family: str, params: dict, seed: int) -> dict:
    from astrolake.ml import train

    try:
        load = loadavg()
        with Timed() as t:
            fitted = train.fit(data, "classification", family, dict(params), seed=seed)
        return {
            "status": "ok",
            "wall_s": round(t.s, 2),
            "fit_s": round(fitted.fit_seconds, 2),
            "loadavg_before": load,
            "loadavg_after": loadavg(),
        }
    except Exception as exc:  # noqa: BLE001
        say(f"speed: {family} FAILED: {exc!r}")
        return {"status": "failed", "error": repr(exc)[:500], "traceback": traceback.format_exc()[-2000:]}


def part_speed(b: Bench) -> dict:
    import pandas as pd
    from pyspark.sql import functions as F

    from astrolake.ml import features
    from astrolake.ml.features import TrainingData

    args = b.args
    out: dict = {
        "family_params": SPEED_PARAMS,
        "peer_params": {k: v[1] for k, v in SPEED_PEERS.items()},
        "peer_cap_s": args.peer_cap_s,
        "spark_cap_s": args.spark_cap_s,
    }
    arrays = b.work / "arrays"

    # ---- (a) every family on all complete DR17 gold rows
    info = b.catalog(DR17, [DR17_FILE])
    data = features.training_data(b.lake, DR17)
    data, n = all_rows_as_train(data)
    pdf = data.frame.select("class", *data.features).toPandas()
    classes = sorted(pdf["class"].unique())
    say(f"speed: DR17 {n} rows, {len(data.features)} features, classes {classes}")
    xp, yp = save_arrays(pdf, data.features, "class", classes, arrays, "dr17")
    fams = {}
    for fam, params in SPEED_PARAMS.items():
        say(f"speed: astrolake {fam} {params} on {n} rows")
        fams[fam] = {"params": params, **fit_family(data, fam, params, args.seed)}
    for label, (fam, params) in SPEED_EXTRA.items():
        say(f"speed: astrolake {label} {params} on {n} rows")
        fams[label] = {"params": params, **fit_family(data, fam, params, args.seed)}
    peers = {}
    for label, (kind, params) in SPEED_PEERS.items():
        say(f"speed: {label} {params} on {n} rows (child process, cap {args.peer_cap_s} s)")
        peers[label] = {"params": params, **timed_peer(kind, params, xp, yp, args.peer_cap_s, args.seed, arrays)}
    data.frame.unpersist()
    out["dr17"] = {"rows": n, "ingest": info, "features": data.features, "astrolake": fams, "peers": peers}
    print(f"\n### speed: training time on all {n:,} complete DR17 gold rows ({len(data.features)} features)\n")
    rows = [
        [
            f"astrolake {f}",
            json.dumps(r["params"]),
            fmt(r.get("wall_s"), 1) if r["status"] == "ok" else r["status"],
            fmt(r.get("fit_s"), 1) if r["status"] == "ok" else "–",
        ]
        for f, r in fams.items()
    ]
    rows += [
        [
            p,
            json.dumps(r["params"]),
            fmt(r["fit_s"], 1) if r["status"] == "ok" else r["status"],
            fmt(r["fit_s"], 1) if r["status"] == "ok" else "–",
        ]
        for p, r in peers.items()
    ]
    print(table(["model", "params", "wall s (train.fit / peer fit)", "fit s (estimator only)"], rows))

    b.checkpoint("speed", out)

    # ---- (b) scoring throughput of a logged rf model on the DR17 rows (before the long scaling runs)
    try:
        out["scoring"] = speed_scoring(b)
    except Exception as exc:  # noqa: BLE001 - keep the training measurements
        say(f"speed: scoring FAILED: {exc!r}")
        out["scoring"] = {"error": repr(exc)[:1000], "traceback": traceback.format_exc()[-3000:]}
    b.checkpoint("speed", out)

    # ---- (c) scaling over synthetic rows: astrolake rf and xgb vs the peers
    scaling = []
    prev: dict[str, float | None] = {}
    over: set[str] = set()
    for rows_n in args.speed_rows:
        say(f"speed: synthetic {rows_n:,} rows: generating features")
        path, feats, gen_s = synthetic_features(b, rows_n, args.seed)
        frame = b.spark.read.parquet(str(path))
        complete = F.col("class").isNotNull()
        for c in feats:
            complete = complete & F.col(c).isNotNull() & ~F.isnan(F.col(c))
        sdata = TrainingData(f"synthetic_{rows_n}", 0, feats, "class", frame.where(complete))
        sdata, n = all_rows_as_train(sdata)
        entry = {
            "rows": rows_n,
            "complete_rows": n,
            "features": len(feats),
            "generate_s": round(gen_s, 1),
            "class_counts": {r[0]: int(r[1]) for r in sdata.frame.groupBy("class").count().collect()},
            "loadavg_before": loadavg(),
            "astrolake": {},
            "peers": {},
        }
        for fam in ("rf", "xgb"):
            key = f"astrolake {fam}"
            projected = prev.get(key) and prev[key] * rows_n / prev[f"{key}_rows"]
            if projected and projected > args.spark_cap_s:
                entry["astrolake"][fam] = {"status": f"not run (projected {projected:.0f} s > spark cap)"}
                say(f"speed: {key} at {rows_n:,} rows not run: projected {projected:.0f} s")
                continue
            say(f"speed: {key} {SPEED_PARAMS[fam]} on {n:,} synthetic rows")
            entry["astrolake"][fam] = {
                "params": SPEED_PARAMS[fam],
                **fit_family(sdata, fam, SPEED_PARAMS[fam], args.seed),
            }
            if entry["astrolake"][fam]["status"] == "ok":
                prev[key], prev[f"{key}_rows"] = entry["astrolake"][fam]["wall_s"], rows_n
        sdata.frame.unpersist()
        spdf = pd.read_parquet(path, columns=["class", *feats])
        sclasses = sorted(spdf["class"].unique())
        sxp, syp = save_arrays(spdf, feats, "class", sclasses, arrays, f"syn{rows_n}")
        del spdf
        for label, (kind, params) in SPEED_PEERS.items():
            if label in over:
                entry["peers"][label] = {"status": "over cap (not run: a smaller size was over cap)"}
                continue
            say(f"speed: {label} on {rows_n:,} synthetic rows (cap {args.peer_cap_s} s)")
            entry["peers"][label] = timed_peer(kind, params, sxp, syp, args.peer_cap_s, args.seed, arrays)
            if entry["peers"][label]["status"] != "ok":
                over.add(label)
        entry["loadavg_after"] = loadavg()
        for p in (sxp, syp):
            p.unlink(missing_ok=True)
        if not args.keep:
            shutil.rmtree(path, ignore_errors=True)
        scaling.append(entry)
        out["scaling"] = scaling
        b.checkpoint("speed", out)
    out["scaling"] = scaling
    names = ["astrolake rf", "astrolake xgb", *SPEED_PEERS]
    srows = []
    last: dict[str, tuple[int, float]] = {}
    for e in scaling:
        row = [f"{e['rows']:,}"]
        for nm in names:
            r = e["astrolake"].get(nm.split()[-1]) if nm.startswith("astrolake") else e["peers"].get(nm)
            if not r:
                row.append("not run")
                continue
            t = r.get("wall_s", r.get("fit_s")) if r.get("status") == "ok" else None
            if t is None:
                row.append(r.get("status", "–"))
                continue
            grow = ""
            if nm in last:
                grow = f" ({t / last[nm][1]:.1f}x for {e['rows'] / last[nm][0]:g}x rows)"
            last[nm] = (e["rows"], t)
            row.append(f"{t:.1f}{grow}")
        srows.append(row)
    not_run = [f"{r:,}" for r in (10**7,) if r not in args.speed_rows]
    print(
        "\n### speed: training time (s) over synthetic rows (astrolake: train.fit wall time; peers: fit in a "
        f"child process, cap {args.peer_cap_s:g} s)\n"
    )
    print(table(["rows", *names], srows))
    if not_run:
        print(f"\n{', '.join(not_run)} rows: not run (not in --speed-rows)")

    return out


def speed_scoring(b: Bench, run_id: str | None = None) -> dict:
    import mlflow

    from astrolake.ml import features, train

    args = b.args
    if run_id is None:  # log the model once
        say("speed: logging an rf model (train.train, register=False) for the scoring measurements")
        tr = train.train(b.lake, DR17, family="rf", params=dict(SPEED_PARAMS["rf"]), register=False, quiet=True)
        run_id, feats = tr.run_id, tr.features
    else:  # an rf model logged before (re-measuring only)
        feats = json.loads(mlflow.get_run(run_id).data.tags["astrolake.features"])
    uri = f"runs:/{run_id}/model"
    sdf = features.training_data(b.lake, DR17).frame.select("_key", *feats).cache()
    n = sdf.count()
    spdf = sdf.select(*feats).toPandas()
    scoring = {
        "model_uri": uri,
        "family": "rf",
        "params": SPEED_PARAMS["rf"],
        "rows": n,
        "arrow_enabled": b.spark.conf.get("spark.sql.execution.arrow.pyspark.enabled"),
        "cap_s": args.score_cap_s,
    }

    def measure(label, load, run):
        say(f"speed: scoring with {label}")
        try:
            with Timed() as tl:
                obj = load()
            with Timed() as ts:
                value, timed_out = spark_with_timeout(b.spark, lambda: run(obj), args.score_cap_s, "score")
            if timed_out:
                scoring[label] = {"status": f"over cap ({args.score_cap_s:g} s, cancelled)", "load_s": round(tl.s, 2)}
                return
            scoring[label] = {
                "status": "ok",
                "load_s": round(tl.s, 2),
                "score_s": round(ts.s, 2),
                "rows_per_s": round(n / ts.s, 1),
                "rows_out": value,
            }
        except Exception as exc:  # noqa: BLE001 - report and go on
            say(f"speed: scoring with {label} FAILED: {exc!r}")
            scoring[label] = {"status": "failed", "error": repr(exc)[:500], "traceback": traceback.format_exc()[-2500:]}

    def transform_noop(model):
        model.transform(sdf).write.format("noop").mode("overwrite").save()
        return n

    def udf_noop(udf):
        sdf.withColumn("prediction", udf(*feats)).write.format("noop").mode("overwrite").save()
        return n

    def pyfunc_predict(model):
        return int(len(model.predict(spdf)))

    measure("mlflow.spark.load_model + transform (noop write)", lambda: mlflow.spark.load_model(uri), transform_noop)
    measure(
        "mlflow.pyfunc.spark_udf (env_manager=local, noop write)",
        lambda: mlflow.pyfunc.spark_udf(b.spark, uri, env_manager="local"),
        udf_noop,
    )
    measure("mlflow.pyfunc.load_model + predict(pandas)", lambda: mlflow.pyfunc.load_model(uri), pyfunc_predict)
    sdf.unpersist()
    print(f"\n### speed: scoring throughput, rf {json.dumps(SPEED_PARAMS['rf'])} on {n:,} DR17 rows\n")
    srows = []
    for label, r in scoring.items():
        if not isinstance(r, dict) or "status" not in r:
            continue
        if r["status"] == "ok":
            srows.append([label, fmt(r["load_s"], 1), fmt(r["score_s"], 1), f"{r['rows_per_s']:,.0f}"])
        else:
            srows.append([label, fmt(r.get("load_s"), 1), r["status"], "–"])
    print(table(["path", "load s", "score s", "rows/s"], srows))
    return scoring


# --------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    if argv is None and len(sys.argv) == 3 and sys.argv[1] == "--peer-worker":
        return peer_worker(sys.argv[2])
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--part",
        type=parse_parts,
        default=list(PARTS),
        help="comma-separated parts: classification,photoz,speed (default: all)",
    )
    ap.add_argument("--budget-minutes", type=float, default=20.0, help="astrolake search budget (default 20)")
    ap.add_argument(
        "--speed-rows",
        type=parse_rows,
        default=parse_rows("1e5,1e6,1e7"),
        help="synthetic sizes for the scaling measurement (default 1e5,1e6,1e7)",
    )
    ap.add_argument("--peer-cap-s", type=float, default=600, help="per-fit cap of a single-node peer (default 600)")
    ap.add_argument(
        "--spark-cap-s",
        type=float,
        default=3600,
        help="skip an astrolake fit whose time, projected linearly from the previous size, exceeds this",
    )
    ap.add_argument("--score-cap-s", type=float, default=300, help="cap of each scoring measurement (default 300)")
    ap.add_argument("--bootstrap", type=int, default=1000, help="paired bootstrap resamples (default 1000)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--driver-memory", default="8g")
    ap.add_argument("--shuffle-partitions", type=int, default=4)
    ap.add_argument("--work-dir", type=Path, default=None, help="lake, MLflow store and arrays (default: temporary)")
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    ap.add_argument(
        "--output", type=Path, default=None, help="JSON file (default: benchmarks/results/learning-<date>.json)"
    )
    args = ap.parse_args(argv)

    started = dt.datetime.now(dt.timezone.utc)
    made_work = args.work_dir is None
    work = Path(tempfile.mkdtemp(prefix="astrolake-bench-learning-")) if made_work else args.work_dir.absolute()
    work.mkdir(parents=True, exist_ok=True)
    out_path = args.output or RESULTS / f"learning-{started.date().isoformat()}.json"
    openblas_env = {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OMP_NUM_THREADS")}
    blas = blas_info()
    kernels = sorted(
        {f"{i['internal_api']} {i.get('version')} {i.get('architecture')}" for i in blas if i["user_api"] == "blas"}
    )
    say(f"bench_learning: parts {','.join(args.part)}; BLAS {kernels}; env {openblas_env}; load {loadavg()}")
    if openblas_env["OPENBLAS_CORETYPE"] or openblas_env["OPENBLAS_L2_SIZE"]:
        say("note: OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are set; see benchmarks/README.md")

    b = Bench(args, work)
    import pyspark

    run = dict(
        started_at=started.isoformat(timespec="seconds"),
        finished_at=None,
        environment=dict(
            **machine(),
            versions=versions(),
            blas=blas,
            blas_kernels=kernels,
            openblas_env=openblas_env,
            spark=pyspark.__version__,
            master=b.spark.sparkContext.master,
            driver_memory=args.driver_memory,
            shuffle_partitions=args.shuffle_partitions,
            git=git_state(),
            command=" ".join([Path(sys.executable).name, *sys.argv]),
            loadavg_start=loadavg(),
        ),
        options=dict(
            parts=args.part,
            budget_minutes=args.budget_minutes,
            speed_rows=args.speed_rows,
            peer_cap_s=args.peer_cap_s,
            spark_cap_s=args.spark_cap_s,
            score_cap_s=args.score_cap_s,
            bootstrap=args.bootstrap,
            seed=args.seed,
        ),
        parts={},
    )
    t_all = time.perf_counter()
    failed = False

    def checkpoint(part: str, partial: dict) -> None:
        run["parts"][part] = {**partial, "partial": True}
        run["wall_s"] = round(time.perf_counter() - t_all, 1)
        write_json(run, out_path, "learning")

    b.checkpoint = checkpoint
    try:
        for part in args.part:
            say(f"===== part {part}")
            t0 = time.perf_counter()
            try:
                result = {"classification": part_classification, "photoz": part_photoz, "speed": part_speed}[part](b)
                result["wall_s"] = round(time.perf_counter() - t0, 1)
                run["parts"][part] = result
            except Exception as exc:  # noqa: BLE001 - record, go on with the next part
                failed = True
                say(f"part {part} FAILED: {exc!r}")
                traceback.print_exc()
                run["parts"][part] = {
                    "error": repr(exc)[:1000],
                    "traceback": traceback.format_exc()[-4000:],
                    "wall_s": round(time.perf_counter() - t0, 1),
                }
            run["wall_s"] = round(time.perf_counter() - t_all, 1)
            write_json(run, out_path, "learning")
            sys.stdout.flush()
    finally:
        run["finished_at"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        run["wall_s"] = round(time.perf_counter() - t_all, 1)
        run["environment"]["loadavg_end"] = loadavg()
        write_json(run, out_path, "learning")
        if made_work and not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(f"\nwall time {run['wall_s'] / 60:.1f} min; JSON: {out_path}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
