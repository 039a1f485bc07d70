"""Part ``speed``: training time of every astrolake classification family against the
single-node peers on the DR17 rows, scoring throughput through MLflow, and how astrolake's rf and
xgb grow over synthetic sizes (``--speed-rows``) next to the peers in a capped child process."""

from __future__ import annotations

import json
import shutil
import threading
import time
import traceback
from pathlib import Path

from _common import Timed, fmt, loadavg, say, table
from learning.lake import DR17, DR17_FILE, Bench
from learning.peers import timed_peer

SYNTH_CATALOG = "sdss_dr14_skyserver"
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


def run(b: Bench) -> dict:
    out: dict = {
        "family_params": SPEED_PARAMS,
        "peer_params": {k: v[1] for k, v in SPEED_PEERS.items()},
        "peer_cap_s": b.args.peer_cap_s,
        "spark_cap_s": b.args.spark_cap_s,
    }
    arrays = b.work / "arrays"
    out["dr17"] = family_times(b, arrays)
    b.checkpoint("speed", out)
    # scoring before the long scaling runs
    try:
        out["scoring"] = speed_scoring(b)
    except Exception as exc:  # noqa: BLE001 - keep the training measurements
        say(f"speed: scoring FAILED: {exc!r}")
        out["scoring"] = {"error": repr(exc)[:1000], "traceback": traceback.format_exc()[-3000:]}
    b.checkpoint("speed", out)
    out["scaling"] = scaling(b, arrays, out)
    print_scaling(out["scaling"], b.args)
    return out


def family_times(b: Bench, arrays: Path) -> dict:
    """Every family (and the peers, capped) on all complete DR17 gold rows as training rows."""
    from astrolake.ml import features

    args = b.args
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
    return {"rows": n, "ingest": info, "features": data.features, "astrolake": fams, "peers": peers}


def scaling(b: Bench, arrays: Path, out: dict) -> list[dict]:
    """astrolake rf and xgb, then the peers, over each synthetic size; a fit projected past
    ``--spark-cap-s`` is not run, a peer over its cap is not run at larger sizes."""
    from pyspark.sql import functions as F

    from astrolake.ml.features import TrainingData

    args = b.args
    results: list[dict] = []
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
        entry["peers"] = scaling_peers(path, feats, rows_n, arrays, over, args)
        entry["loadavg_after"] = loadavg()
        if not args.keep:
            shutil.rmtree(path, ignore_errors=True)
        results.append(entry)
        out["scaling"] = results
        b.checkpoint("speed", out)
    return results


def scaling_peers(path: Path, feats: list[str], rows_n: int, arrays: Path, over: set[str], args) -> dict:
    """The peers on one synthetic size (arrays written for the child process, removed after)."""
    import pandas as pd

    spdf = pd.read_parquet(path, columns=["class", *feats])
    sclasses = sorted(spdf["class"].unique())
    sxp, syp = save_arrays(spdf, feats, "class", sclasses, arrays, f"syn{rows_n}")
    del spdf
    peers = {}
    for label, (kind, params) in SPEED_PEERS.items():
        if label in over:
            peers[label] = {"status": "over cap (not run: a smaller size was over cap)"}
            continue
        say(f"speed: {label} on {rows_n:,} synthetic rows (cap {args.peer_cap_s} s)")
        peers[label] = timed_peer(kind, params, sxp, syp, args.peer_cap_s, args.seed, arrays)
        if peers[label]["status"] != "ok":
            over.add(label)
    for p in (sxp, syp):
        p.unlink(missing_ok=True)
    return peers


def print_scaling(results: list[dict], args) -> None:
    names = ["astrolake rf", "astrolake xgb", *SPEED_PEERS]
    srows = []
    last: dict[str, tuple[int, float]] = {}
    for e in results:
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


def speed_scoring(b: Bench, run_id: str | None = None) -> dict:
    import mlflow

    from astrolake.ml import features, train

    args = b.args
    if run_id is None:  # log the model once
        say("speed: logging an rf model (train.train, register=False) for the scoring measurements")
        tr = train.train(b.lake, DR17, family="rf", params=dict(SPEED_PARAMS["rf"]), register=False)
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
