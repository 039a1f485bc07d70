"""Deep-learning throughput: samples/s of the Keras MLP with 1 and 2 workers, and scaling efficiency.

    .venv/bin/python benchmarks/bench_dnn.py                       # DR17 sample shipped in tests/data
    .venv/bin/python benchmarks/bench_dnn.py --csv ../shared/data/sdss_dr17_StellarObjs_99999.csv

Both sizes run the same training function (astrolake.dl.trainer.train_worker) on the same gold
snapshot, with the same per-worker batch size and epochs; the 2-worker runs use each backend's
launcher (Horovod ranks started by Spark, tf.distribute workers in a Spark barrier stage).
Efficiency = samples/s with 2 workers / (2 x samples/s with 1 worker).  On a 2-core machine
two workers share the cores with Spark itself: read the numbers as a smoke figure.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--csv", default=str(ROOT / "tests" / "data" / "sdss_dr17_stellar_5k.csv"))
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / f"dnn-{time.strftime('%Y-%m-%d')}.json"))
    args = ap.parse_args()
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    from astrolake.config import Settings
    from astrolake.dl.train import train_dnn
    from astrolake.lake import pipeline
    from astrolake.lake.tables import Lake
    from astrolake.log import QUIET, configure
    from astrolake.ml.features import build_gold
    from astrolake.spark import get_spark

    configure(QUIET)  # the table below is the output

    work = Path(tempfile.mkdtemp(prefix="astrolake-bench-dnn-"))
    s = Settings(
        base_path=str(work / "lake"),
        spark_master="local[2]",
        shuffle_partitions=2,
        tracking_uri=f"sqlite:///{work}/mlflow.db",
        experiment="bench-dnn",
    )
    lake = Lake(get_spark(s), s)
    pipeline.ingest(lake, "sdss_dr17_stellar", [args.csv])
    build_gold(lake, "sdss_dr17_stellar")
    params = {"epochs": args.epochs, "batch_size": args.batch_size, "patience": args.epochs}
    rows = []
    for backend, n in [("local", 1), ("horovod", 1), ("horovod", 2), ("tf-distribute", 1), ("tf-distribute", 2)]:
        t0 = time.perf_counter()
        r = train_dnn(lake, "sdss_dr17_stellar", backend=backend, num_proc=n, params=params, register=False)
        wall = time.perf_counter() - t0
        r0 = r.ranks[0]
        rows.append(
            {
                "backend": backend,
                "workers": n,
                "samples_per_second": r0["samples_per_second"],
                "train_seconds": r0["train_seconds"],
                "wall_seconds": wall,
                "epochs": r0["epochs_run"],
                "validation_macro_f1": r0.get("validation_macro_f1"),
            }
        )
        print(
            f"{backend:14s} x{n}: {r0['samples_per_second']:9.0f} samples/s  fit {r0['train_seconds']:6.1f} s  "
            f"wall {wall:6.1f} s  val macro F1 {r0.get('validation_macro_f1', float('nan')):.3f}",
            flush=True,
        )
    for backend in ("horovod", "tf-distribute"):
        one = next(x for x in rows if x["backend"] == backend and x["workers"] == 1)
        two = next(x for x in rows if x["backend"] == backend and x["workers"] == 2)
        eff = two["samples_per_second"] / (2 * one["samples_per_second"])
        two["scaling_efficiency"] = eff
        print(f"{backend}: scaling efficiency 1 -> 2 workers {eff:.2f}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(
        json.dumps(
            {"csv": args.csv, "params": params, "machine": platform.platform(), "cores": os.cpu_count(), "runs": rows},
            indent=1,
        )
    )
    print(f"results: {args.out}")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
