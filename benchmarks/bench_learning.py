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

The real catalogs are read from ``--data`` (default ``../shared/data`` beside the repository,
where the tests find them too). The parts live in ``benchmarks/learning/`` (one module each,
plus the lake, the peers and the metrics); this script is their driver.

Usage (see benchmarks/README.md; unset OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE for this command)::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python benchmarks/bench_learning.py \\
        --budget-minutes 20 --speed-rows 1e5,1e6

Markdown tables go to stdout, progress to stderr, JSON to
``benchmarks/results/learning-<date>.json`` (runs of the same day are appended to ``runs``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

from _common import (  # puts lib/ on sys.path
    ROOT,
    SHARED_DATA,
    data_folder,
    git_state,
    loadavg,
    machine,
    parse_rows,
    say,
    write_json,
)
from learning import classification, photoz, speed
from learning.lake import PART_FILES, Bench, blas_info, versions

os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

RESULTS = ROOT / "benchmarks" / "results"
PART_RUNS = {"classification": classification.run, "photoz": photoz.run, "speed": speed.run}
PARTS = tuple(PART_RUNS)


def parse_parts(text: str) -> list[str]:
    parts = [p.strip() for p in text.split(",") if p.strip()]
    bad = [p for p in parts if p not in PARTS]
    if bad or not parts:
        raise argparse.ArgumentTypeError(f"parts must be among {', '.join(PARTS)}; got {text!r}")
    return parts


def main(argv: list[str] | None = None) -> int:
    if argv is None and len(sys.argv) == 3 and sys.argv[1] == "--peer-worker":
        from learning.peers import peer_worker

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
    ap.add_argument(
        "--data",
        type=Path,
        default=SHARED_DATA,
        help="folder holding the real catalogs (default: ../shared/data beside the repository)",
    )
    ap.add_argument("--work-dir", type=Path, default=None, help="lake, MLflow store and arrays (default: temporary)")
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    ap.add_argument(
        "--output", type=Path, default=None, help="JSON file (default: benchmarks/results/learning-<date>.json)"
    )
    args = ap.parse_args(argv)
    args.data = data_folder(args.data, sorted({f for part in args.part for f in PART_FILES[part]}))
    from astrolake.log import configure

    configure()  # astrolake's progress lines (search trials, ingest and gold steps) on stderr
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
            data=str(args.data),
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
                result = PART_RUNS[part](b)
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
