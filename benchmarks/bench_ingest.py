#!/usr/bin/env python
"""Ingest throughput: CSV -> bronze -> silver (astrolake) against a plain CSV -> Delta copy.

For each size (synthetic SDSS SkyServer rows, ``--rows 1e5,1e6,1e7``):

1. write one synthetic CSV folder with ``write_synthetic_csv`` (a small ``--bad-fraction`` of
   corrupted rows, so quarantine does real work);
2. **baseline**: ``spark.read.csv(folder, header=True).write.format("delta").save(...)`` -- all
   columns as strings, no validation, no provenance, no key, one Delta commit;
3. **full**: ``astrolake.lake.pipeline.ingest(lake, "sdss_dr14_skyserver", [folder])`` into
   fresh tables -- plan (SHA-256 + manifest), bronze, validation, quarantine, silver (typed,
   deduplicated on the key, HEALPix-indexed) and the ledger.

Both read the same CSV in the same Spark session (same driver memory, same shuffle partitions),
each into table folders of its own.  Reported per size: rows/s of both, the ratio
full / baseline throughput (the goal is >= 0.5), how time grows from one size to the next
(against the 10x growth in rows), and where the full path's time goes (the seconds of each
step the pipeline logs as ``<catalog> batch <id>: [i/N] <step> ... <s> s``; the rest is planning).

Usage::

    .venv/bin/python benchmarks/bench_ingest.py --rows 1e5,1e6
    make bench                                     # 1e5, 1e6 and 1e7

A Markdown table goes to stdout; JSON to ``benchmarks/results/ingest-<date>.json`` (runs of the
same day are appended to that file's ``runs`` list).  See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import logging
import os
import platform
import re
import shutil
import statistics
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from _common import ROOT, folder_bytes, git_state, loadavg, memory_gib, parse_rows, write_json  # puts lib/ on sys.path

CATALOG = "sdss_dr14_skyserver"
RESULTS = ROOT / "benchmarks" / "results"
GOAL = 0.5  # full throughput / baseline throughput

# The steps of a batch the pipeline logs when each ends (lib/astrolake/lake/pipeline.py, astrolake.log.Steps):
# "<catalog> batch <id>: [i/N] <step> ... <seconds> s (detail)"; what precedes them is planning
# (ensure tables, list files, SHA-256, header check, manifest append).
PHASES = (
    ("bronze", "bronze <- "),  # read CSV, split fields, append to bronze
    ("validate_quarantine", "validate against contract"),  # re-read bronze, type, append quarantine
    ("silver_ledger", "silver"),  # rank, append/merge silver
    ("silver_ledger", "ledger"),  # counts, ledger append
)
PHASE_COLUMNS = ("plan", "bronze", "validate_quarantine", "silver_ledger")  # JSON phases_s, Markdown columns
STEP_LINE = re.compile(r": \[\d+/\d+\] (?P<what>.+?) \.\.\. (?P<seconds>[0-9.]+) s")


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def human(n: float) -> str:
    for unit, scale in (("e9", 1e9), ("e6", 1e6), ("e3", 1e3)):
        if n >= scale:
            v = n / scale
            return {"e9": f"{v:.3g}G", "e6": f"{v:.3g}M", "e3": f"{v:.3g}k"}[unit]
    return f"{n:.3g}"


class StepLines(logging.Handler):
    """Keeps the messages the ``astrolake`` logger emits at INFO and above."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@contextmanager
def step_lines():
    """Collect astrolake's log lines (INFO on, whatever the logging set-up) while the block runs."""
    logger = logging.getLogger("astrolake")
    handler, level = StepLines(), logger.level
    logger.addHandler(handler)
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def phase_times(lines: list[str], total: float) -> dict[str, float]:
    """Seconds spent in each pipeline phase, from the steps' own timings; planning is the rest."""
    spent = dict.fromkeys(PHASE_COLUMNS, 0.0)
    for line in lines:
        m = STEP_LINE.search(line)
        if m:
            for name, start in PHASES:
                if m["what"].startswith(start):
                    spent[name] += float(m["seconds"])
                    break
    spent["plan"] = max(total - sum(v for k, v in spent.items() if k != "plan"), 0.0)
    return {k: round(v, 3) for k, v in spent.items()}


# --------------------------------------------------------------------------------------------
# the measurements
# --------------------------------------------------------------------------------------------
def run_baseline(spark, csv: Path, table: Path) -> float:
    t0 = time.perf_counter()
    spark.read.csv(str(csv), header=True).write.format("delta").save(str(table))
    return time.perf_counter() - t0


def run_full(spark, settings, csv: Path, base: Path):
    from astrolake.lake import pipeline
    from astrolake.lake.tables import Lake

    lake = Lake(spark, settings.with_overrides(base_path=str(base)))
    with step_lines() as steps:
        t0 = time.perf_counter()
        result = pipeline.ingest(lake, CATALOG, [str(csv)])
        t1 = time.perf_counter()
    (ledger,) = result.ledgers
    return t1 - t0, ledger, phase_times(steps.lines, t1 - t0)


def measure_size(spark, settings, rows: int, work: Path, args) -> dict:
    from astrolake.sources.synthetic import write_synthetic_csv

    size_dir = work / f"rows_{rows}"
    csv = size_dir / "landing" / "synthetic.csv"
    print(f"\n== {rows:,} rows: generating CSV", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    write_synthetic_csv(spark, rows, csv, seed=args.seed, bad_fraction=args.bad_fraction)
    gen_s = time.perf_counter() - t0
    parts = sorted(p.name for p in csv.iterdir() if p.name.endswith(".csv"))
    csv_bytes = sum((csv / p).stat().st_size for p in parts)

    reps = []
    for rep in range(args.repeat):
        base_table = size_dir / f"baseline_{rep}"
        lake_dir = size_dir / f"lake_{rep}"
        load_before = loadavg()
        print(f"== {rows:,} rows, run {rep + 1}/{args.repeat}: baseline", file=sys.stderr, flush=True)
        b_s = run_baseline(spark, csv, base_table)
        print(f"== {rows:,} rows, run {rep + 1}/{args.repeat}: full path", file=sys.stderr, flush=True)
        f_s, ledger, phases = run_full(spark, settings, csv, lake_dir)
        baseline_rows = spark.read.format("delta").load(str(base_table)).count()  # untimed check
        reps.append(
            dict(
                baseline_s=round(b_s, 3),
                full_s=round(f_s, 3),
                phases_s=phases,
                baseline_rows=baseline_rows,
                ledger=dict(
                    read=ledger.read,
                    inserted=ledger.inserted,
                    updated=ledger.updated,
                    duplicates=ledger.duplicates,
                    quarantined=ledger.quarantined,
                    closes=ledger.closes,
                ),
                bytes=dict(baseline_table=folder_bytes(base_table), lake=folder_bytes(lake_dir)),
                loadavg_before=load_before,
                loadavg_after=loadavg(),
            )
        )
        if not args.keep:
            shutil.rmtree(base_table, ignore_errors=True)
            shutil.rmtree(lake_dir, ignore_errors=True)
    if not args.keep:
        shutil.rmtree(size_dir, ignore_errors=True)

    b_s = statistics.median(r["baseline_s"] for r in reps)
    f_s = statistics.median(r["full_s"] for r in reps)
    return dict(
        rows=rows,
        csv_files=len(parts),
        csv_bytes=csv_bytes,
        generate_s=round(gen_s, 3),
        baseline_s=round(b_s, 3),
        full_s=round(f_s, 3),
        baseline_rows_per_s=round(rows / b_s, 1),
        full_rows_per_s=round(rows / f_s, 1),
        ratio=round(b_s / f_s, 3),
        runs=reps,
    )


def add_scaling(results: list[dict]) -> None:
    """Time ratio between successive sizes, next to the row ratio (linear scaling: equal)."""
    for prev, cur in itertools.pairwise(results):
        cur["scaling"] = dict(
            from_rows=prev["rows"],
            row_ratio=round(cur["rows"] / prev["rows"], 3),
            baseline_time_ratio=round(cur["baseline_s"] / prev["baseline_s"], 3),
            full_time_ratio=round(cur["full_s"] / prev["full_s"], 3),
        )


def markdown(results: list[dict]) -> str:
    lines = [
        "| rows | CSV MB | baseline s | baseline rows/s | full s | full rows/s | full/baseline | "
        "time x vs rows x (baseline; full) |",
        "|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        sc = r.get("scaling")
        grow = (
            f"{sc['baseline_time_ratio']:.2f}x; {sc['full_time_ratio']:.2f}x for {sc['row_ratio']:g}x rows"
            if sc
            else "–"
        )
        ok = "" if r["ratio"] >= GOAL else " (below goal)"
        lines.append(
            f"| {r['rows']:,} | {r['csv_bytes'] / 1e6:.1f} | {r['baseline_s']:.2f} | "
            f"{human(r['baseline_rows_per_s'])} | {r['full_s']:.2f} | {human(r['full_rows_per_s'])} | "
            f"{r['ratio']:.2f}{ok} | {grow} |"
        )
    lines += [
        "",
        "Full path, seconds per phase (median run):",
        "",
        "| rows | plan | bronze | validate + quarantine | silver + ledger | read | inserted | quarantined |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        run = sorted(r["runs"], key=lambda x: x["full_s"])[len(r["runs"]) // 2]
        p, led = run["phases_s"], run["ledger"]
        lines.append(
            f"| {r['rows']:,} | "
            + " | ".join(f"{p.get(n, float('nan')):.2f}" for n in PHASE_COLUMNS)
            + f" | {led['read']:,} | {led['inserted']:,} | {led['quarantined']:,} |"
        )
    return "\n".join(lines)


def environment(spark, settings, args) -> dict:
    import pyspark

    try:
        from importlib.metadata import version

        delta_version = version("delta-spark")
    except Exception:  # noqa: BLE001
        delta_version = None
    mem = memory_gib()
    return dict(
        host=platform.node(),
        cpus=os.cpu_count(),
        memory_gib=mem,
        python=platform.python_version(),
        spark=pyspark.__version__,
        delta_spark=delta_version,
        master=spark.sparkContext.master,
        default_parallelism=spark.sparkContext.defaultParallelism,
        driver_memory=settings.driver_memory,
        shuffle_partitions=settings.shuffle_partitions,
        bad_fraction=args.bad_fraction,
        seed=args.seed,
        repeat=args.repeat,
        warmup=not args.no_warmup,
        git=git_state(),
        command=" ".join([Path(sys.executable).name, *sys.argv]),
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--rows",
        type=parse_rows,
        default=parse_rows("1e5,1e6,1e7"),
        help="comma-separated row counts (default: 1e5,1e6,1e7)",
    )
    ap.add_argument("--bad-fraction", type=float, default=0.01, help="corrupted rows (default: 0.01)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--repeat", type=int, default=1, help="runs per size; the median is reported")
    ap.add_argument("--driver-memory", default="8g")
    ap.add_argument(
        "--shuffle-partitions", type=int, default=None, help="spark.sql.shuffle.partitions (default: 2 x CPU cores)"
    )
    ap.add_argument("--master", default="local[*]")
    ap.add_argument(
        "--work-dir",
        type=Path,
        default=None,
        help="where CSVs and tables go (default: a temporary folder, removed afterwards)",
    )
    ap.add_argument("--keep", action="store_true", help="keep the CSVs and tables")
    ap.add_argument("--no-warmup", action="store_true", help="skip the untimed 10,000-row warm-up")
    ap.add_argument(
        "--output", type=Path, default=None, help="JSON file (default: benchmarks/results/ingest-<date>.json)"
    )
    args = ap.parse_args(argv)
    if args.repeat < 1:
        ap.error("--repeat must be >= 1")
    from astrolake.log import configure

    configure()  # the pipeline's progress lines on stderr

    from astrolake.config import Settings
    from astrolake.spark import get_spark

    shuffle = args.shuffle_partitions or 2 * (os.cpu_count() or 2)
    made_work = args.work_dir is None
    work = Path(tempfile.mkdtemp(prefix="astrolake-bench-")) if made_work else args.work_dir.absolute()
    work.mkdir(parents=True, exist_ok=True)
    settings = Settings(
        base_path=str(work / "lake"),
        spark_master=args.master,
        driver_memory=args.driver_memory,
        shuffle_partitions=shuffle,
    )
    spark = get_spark(settings, app_name="astrolake-bench-ingest")
    started = dt.datetime.now(dt.timezone.utc)
    env = environment(spark, settings, args)
    print(
        f"bench_ingest: {env['cpus']} CPUs, master {env['master']}, driver {settings.driver_memory}, "
        f"shuffle partitions {shuffle}, load average {loadavg()}",
        file=sys.stderr,
        flush=True,
    )
    try:
        if not args.no_warmup:  # JIT, Delta and Python workers warm before the first timed size
            print("== warm-up (10,000 rows, not reported)", file=sys.stderr, flush=True)
            warm = argparse.Namespace(**{**vars(args), "repeat": 1, "keep": False})
            measure_size(spark, settings, 10_000, work / "warmup", warm)
        results = [measure_size(spark, settings, n, work, args) for n in args.rows]
    finally:
        if made_work and not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    add_scaling(results)

    run = dict(
        started_at=started.isoformat(timespec="seconds"),
        finished_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        environment=env,
        goal_ratio=GOAL,
        results=results,
    )
    out = args.output or RESULTS / f"ingest-{started.date().isoformat()}.json"
    write_json(run, out, "ingest")
    print(markdown(results))
    print(f"\nratio = full rows/s / baseline rows/s (goal >= {GOAL}); JSON: {out}")
    if any(not r["ledger"]["closes"] for res in results for r in res["runs"]):
        print("a ledger did not close", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
