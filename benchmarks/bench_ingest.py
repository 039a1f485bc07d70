#!/usr/bin/env python
"""Ingest throughput: astrolake's validated path against plain Spark writes of the same CSV.

Variants, run in the same Spark session on the same files, in alternating order:

* **B1**: ``spark.read.csv(folder, header=True)`` (every column a string) -> Delta;
* **B2**: the same lines as text -> Delta, plus ``spark.read.csv`` with the contract's schema
  (no ``inferSchema``) -> Delta: the two writes any validated bronze + silver design needs;
* **full**: ``astrolake.lake.pipeline.ingest(lake, "sdss_dr14_skyserver", [folder])``: survey
  (format, header, SHA-256), manifest, bronze, validation, quarantine, dedup, silver (typed,
  HEALPix-indexed, liquid-clustered) and the ledger.

Scenarios: each size of ``--rows`` (median of ``--repeat`` runs; the ratios are time(B) /
time(full)), an **incremental** batch on top of the largest size (``--increment``: 10 %
changed, 10 % identical, the rest new; against a plain Delta MERGE on the key) and **many
files** (``--many-files``: 1e6 rows in that many files; against B1 on the same folder).

Usage::

    .venv/bin/python benchmarks/bench_ingest.py --rows 1e6,1e7 --repeat 3
    .venv/bin/python benchmarks/bench_ingest.py --rows 1e6 --repeat 1 --increment 1e5 --many-files 1000

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

from _common import (
    ROOT,
    driver_memory,
    folder_bytes,
    git_state,
    loadavg,
    memory_gib,
    parse_rows,
    say,
    timed,
    write_json,
)  # puts lib/ on sys.path

CATALOG = "sdss_dr14_skyserver"
RESULTS = ROOT / "benchmarks" / "results"

GOALS = {"b1": 0.5, "b2": 0.8, "increment": 0.5, "many_files": 0.5}  # time(baseline) / time(full)

# The steps of a batch the pipeline logs when each ends (lib/astrolake/lake/pipeline.py, astrolake.log.Steps):
# "<catalog> batch <id>: [i/N] <step> ... <seconds> s (detail)"; the survey logs "checked and hashed
# ... in <s> s"; what is left of the total is planning (tables, state, manifest).
PHASES = (
    ("bronze", "bronze <- "),  # read the files, append to bronze
    ("validate_quarantine", "validate against contract"),  # re-read bronze, parse, type, append quarantine
    ("silver", "silver"),  # dedup on the key, append/merge silver
    ("ledger", "ledger"),  # counts, ledger append
)
PHASE_COLUMNS = ("survey", "plan", "bronze", "validate_quarantine", "silver", "ledger")
STEP_LINE = re.compile(r": \[\d+/\d+\] (?P<what>.+?) \.\.\. (?P<seconds>[0-9.]+) s")
SURVEY_LINE = re.compile(r"checked and hashed .* in (?P<seconds>[0-9.]+) s")


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
        m = SURVEY_LINE.search(line)
        if m:
            spent["survey"] += float(m["seconds"])
    spent["plan"] = max(total - sum(v for k, v in spent.items() if k != "plan"), 0.0)
    return {k: round(v, 3) for k, v in spent.items()}


# --------------------------------------------------------------------------------------------
# the variants
# --------------------------------------------------------------------------------------------
def contract_schema(folder: Path) -> str:
    """The contract's types in the order of the files' header (for B2's typed read)."""
    from astrolake.catalogs.contract import get_catalog

    c = get_catalog(CATALOG).contract
    first = next(p for p in sorted(folder.iterdir()) if p.name.endswith(".csv"))
    names = first.open().readline().strip().split(",")
    types = {col.source: col.type for col in c.columns}
    return ", ".join(f"`{n}` {types.get(n, 'string').upper()}" for n in names)


def run_b1(spark, folder: Path, out: Path) -> dict:
    s = timed(lambda: spark.read.csv(str(folder), header=True).write.format("delta").save(str(out / "b1")))
    return dict(seconds=round(s, 3), bytes=folder_bytes(out))


def run_b2(spark, folder: Path, out: Path, schema: str) -> dict:
    def both():
        spark.read.text(str(folder)).write.format("delta").save(str(out / "b2_lines"))
        spark.read.csv(str(folder), header=True, schema=schema).write.format("delta").save(str(out / "b2_typed"))

    s = timed(both)
    return dict(seconds=round(s, 3), bytes=folder_bytes(out))


def run_full(spark, settings, folder: Path, base: Path) -> dict:
    from astrolake.lake import pipeline
    from astrolake.lake.tables import Lake

    lake = Lake(spark, settings.with_overrides(base_path=str(base)))
    with step_lines() as steps:
        t0 = time.perf_counter()
        result = pipeline.ingest(lake, CATALOG, [str(folder)])
        total = time.perf_counter() - t0
    (ledger,) = result.ledgers
    layers = {p.name: folder_bytes(p) for p in sorted(base.iterdir()) if p.is_dir()} if base.exists() else {}
    return dict(
        seconds=round(total, 3),
        phases_s=phase_times(steps.lines, total),
        ledger={k: getattr(ledger, k) for k in ("read", "inserted", "updated", "duplicates", "quarantined", "closes")},
        bytes=folder_bytes(base),
        bytes_per_table=layers,
    )


def run_variants(spark, settings, folder: Path, out: Path, rep: int, schema: str, keep_last: bool) -> dict:
    """One repetition of B1, B2 and full, in alternating order; each variant's tables are dropped
    before the next runs (the full path's lake is kept when ``keep_last``)."""
    order = ["b1", "b2", "full"] if rep % 2 == 0 else ["full", "b2", "b1"]
    runs: dict = {"order": order}
    for name in order:
        say(f"   {name}")
        where = out / name
        load = loadavg()
        if name == "b1":
            r = run_b1(spark, folder, where)
        elif name == "b2":
            r = run_b2(spark, folder, where, schema)
        else:
            r = run_full(spark, settings, folder, where)
        r.update(loadavg_before=load, loadavg_after=loadavg(), driver=driver_memory(spark))
        runs[name] = r
        if not (keep_last and name in ("full", "b2")):
            shutil.rmtree(where, ignore_errors=True)
    return runs


def median_of(reps: list[dict], name: str) -> float:
    return statistics.median(r[name]["seconds"] for r in reps)


def measure_size(spark, settings, rows: int, work: Path, args, keep: bool = False) -> dict:
    from astrolake.sources.synthetic import write_synthetic_csv

    size_dir = work / f"rows_{rows}"
    csv = size_dir / "landing" / "synthetic.csv"
    say(f"\n== {rows:,} rows: generating CSV")
    t0 = time.perf_counter()
    write_synthetic_csv(spark, rows, csv, seed=args.seed, bad_fraction=args.bad_fraction)
    gen_s = time.perf_counter() - t0
    parts = sorted(p.name for p in csv.iterdir() if p.name.endswith(".csv"))
    csv_bytes = sum((csv / p).stat().st_size for p in parts)
    schema = contract_schema(csv)
    reps = []
    for rep in range(args.repeat):
        say(f"== {rows:,} rows, run {rep + 1}/{args.repeat}")
        last = keep and rep == args.repeat - 1
        reps.append(run_variants(spark, settings, csv, size_dir / f"run_{rep}", rep, schema, keep_last=last))
    b1, b2, full = (median_of(reps, n) for n in ("b1", "b2", "full"))
    return dict(
        rows=rows,
        csv_files=len(parts),
        csv_bytes=csv_bytes,
        generate_s=round(gen_s, 3),
        b1_s=round(b1, 3),
        b2_s=round(b2, 3),
        full_s=round(full, 3),
        full_rows_per_s=round(rows / full, 1),
        ratio_b1=round(b1 / full, 3),
        ratio_b2=round(b2 / full, 3),
        runs=reps,
        landing=str(csv),
        kept=str(size_dir / f"run_{args.repeat - 1}") if keep else None,
    )


def measure_increment(spark, settings, base: dict, rows: int, work: Path, args) -> dict:
    """``rows`` more on top of ``base`` (a size measured with ``keep``): 10 % identical to rows
    already in silver, 10 % of them changed, the rest new; astrolake's ingest of them against a
    plain Delta MERGE of the same rows on the key into B2's typed table."""
    from delta.tables import DeltaTable
    from pyspark.sql import functions as F

    from astrolake.sources.synthetic import INJECTED, synthetic_catalog

    n = base["rows"]
    tenth = max(10_000, (rows // 10) // 10_000 * 10_000)
    same = synthetic_catalog(spark, tenth, seed=args.seed, bad_fraction=args.bad_fraction)
    changed = synthetic_catalog(spark, 2 * tenth, seed=args.seed, bad_fraction=args.bad_fraction, start_row=tenth)
    changed = changed.withColumn("z", F.when(F.col("z") != "", F.concat(F.col("z"), F.lit("1"))).otherwise(F.col("z")))
    fresh = synthetic_catalog(spark, n + rows - 2 * tenth, seed=args.seed, bad_fraction=args.bad_fraction, start_row=n)
    inc = work / "increment" / "landing"
    say(f"\n== increment: {rows:,} rows on top of {n:,} (writing CSV)")
    (
        same.unionByName(changed)
        .unionByName(fresh)
        .drop(INJECTED)
        .coalesce(max(1, rows // 1_000_000))
        .write.mode("overwrite")
        .options(header="true", emptyValue="", nullValue="", lineSep="\n")
        .csv(inc.as_uri())
    )
    kept = Path(base["kept"])
    schema = contract_schema(Path(base["landing"]))
    key = ["plate", "mjd", "fiberid"]

    def plain_merge():
        src = spark.read.csv(str(inc), header=True, schema=schema)
        cond = " AND ".join(f"t.{k} = s.{k}" for k in key)
        DeltaTable.forPath(spark, str(kept / "b2" / "b2_typed")).alias("t").merge(
            src.alias("s"), cond
        ).whenMatchedUpdateAll().whenNotMatchedInsertAll().execute()

    order = ["merge", "full"] if args.seed % 2 == 0 else ["full", "merge"]
    out: dict = {"rows": rows, "on_top_of": n, "identical": tenth, "changed": tenth, "order": order}
    for name in order:
        say(f"   {name}")
        load = loadavg()
        if name == "merge":
            out["merge"] = dict(seconds=round(timed(plain_merge), 3))
        else:
            out["full"] = run_full(spark, settings, inc, kept / "full")
        out[name].update(loadavg_before=load, loadavg_after=loadavg(), driver=driver_memory(spark))
    out["ratio"] = round(out["merge"]["seconds"] / out["full"]["seconds"], 3)
    shutil.rmtree(work / "increment", ignore_errors=True)
    return out


def measure_many_files(spark, settings, files: int, work: Path, args) -> dict:
    """1e6 rows spread over ``files`` files: astrolake against B1 on the same folder."""
    from astrolake.sources.synthetic import INJECTED, synthetic_catalog

    rows = 1_000_000
    folder = work / "many" / "landing"
    say(f"\n== many files: {rows:,} rows in {files:,} files (writing)")
    (
        synthetic_catalog(spark, rows, seed=args.seed, bad_fraction=args.bad_fraction)
        .drop(INJECTED)
        .repartition(files)
        .write.mode("overwrite")
        .options(header="true", emptyValue="", nullValue="", lineSep="\n")
        .csv(folder.as_uri())
    )
    n_files = sum(1 for p in folder.iterdir() if p.name.endswith(".csv"))
    reps = []
    for rep in range(args.repeat):
        order = ["b1", "full"] if rep % 2 == 0 else ["full", "b1"]
        runs: dict = {"order": order}
        for name in order:
            say(f"   many files, run {rep + 1}/{args.repeat}: {name}")
            where = work / "many" / f"{name}_{rep}"
            load = loadavg()
            runs[name] = run_b1(spark, folder, where) if name == "b1" else run_full(spark, settings, folder, where)
            runs[name].update(loadavg_before=load, loadavg_after=loadavg(), driver=driver_memory(spark))
            shutil.rmtree(where, ignore_errors=True)
        reps.append(runs)
    b1, full = median_of(reps, "b1"), median_of(reps, "full")
    mid = sorted(reps, key=lambda r: r["full"]["seconds"])[len(reps) // 2]["full"]
    planning = mid["phases_s"]["survey"] + mid["phases_s"]["plan"]
    shutil.rmtree(work / "many", ignore_errors=True)
    return dict(
        rows=rows,
        files=n_files,
        b1_s=round(b1, 3),
        full_s=round(full, 3),
        ratio=round(b1 / full, 3),
        planning_fraction=round(planning / mid["seconds"], 3),
        runs=reps,
    )


def add_scaling(results: list[dict]) -> None:
    """Time per row at each size against the previous size (linear scaling: 1.0)."""
    for prev, cur in itertools.pairwise(results):
        per_row = (cur["full_s"] / cur["rows"]) / (prev["full_s"] / prev["rows"])
        cur["scaling"] = dict(from_rows=prev["rows"], full_time_per_row_ratio=round(per_row, 3))


def verdict(value: float, goal: float) -> str:
    return f"{value:.2f} ({'met' if value >= goal else 'NOT met'}, goal >= {goal})"


def markdown(results: list[dict], increment: dict | None, many: dict | None) -> str:
    lines = [
        "| rows | CSV MB | B1 s | B2 s | full s | full rows/s | B1/full | B2/full | time/row vs previous size |",
        "|---:|---:|---:|---:|---:|---:|---|---|---|",
    ]
    for r in results:
        sc = r.get("scaling")
        lines.append(
            f"| {r['rows']:,} | {r['csv_bytes'] / 1e6:.1f} | {r['b1_s']:.2f} | {r['b2_s']:.2f} | {r['full_s']:.2f} | "
            f"{human(r['full_rows_per_s'])} | {verdict(r['ratio_b1'], GOALS['b1'])} | "
            f"{verdict(r['ratio_b2'], GOALS['b2'])} | "
            + (f"{sc['full_time_per_row_ratio']:.2f}x" if sc else "–")
            + " |"
        )
    lines += [
        "",
        "Full path, seconds per phase (median run), and driver memory after it:",
        "",
        "| rows | survey | plan | bronze | validate + quarantine | silver | ledger | read | quarantined "
        "| JVM heap MB | Python peak RSS MB |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        run = sorted(r["runs"], key=lambda x: x["full"]["seconds"])[len(r["runs"]) // 2]["full"]
        p, led, mem = run["phases_s"], run["ledger"], run["driver"]
        lines.append(
            f"| {r['rows']:,} | "
            + " | ".join(f"{p.get(n, float('nan')):.2f}" for n in PHASE_COLUMNS)
            + f" | {led['read']:,} | {led['quarantined']:,} | {mem['jvm_heap_used_mb']:.0f} | "
            f"{mem['python_peak_rss_mb']:.0f} |"
        )
    if increment:
        i = increment
        lines += [
            "",
            f"Incremental: {i['rows']:,} rows on top of {i['on_top_of']:,} ({i['changed']:,} changed, "
            f"{i['identical']:,} identical): plain MERGE {i['merge']['seconds']:.2f} s, full "
            f"{i['full']['seconds']:.2f} s, MERGE/full {verdict(i['ratio'], GOALS['increment'])}; ledger "
            + ", ".join(f"{k} {v:,}" for k, v in i["full"]["ledger"].items() if k != "closes"),
        ]
    if many:
        m = many
        lines += [
            "",
            f"Many files: {m['rows']:,} rows in {m['files']:,} files: B1 {m['b1_s']:.2f} s, full {m['full_s']:.2f} s, "
            f"B1/full {verdict(m['ratio'], GOALS['many_files'])}; planning (survey + plan) "
            f"{100 * m['planning_fraction']:.1f} % of the full path (goal < 10 %: "
            f"{'met' if m['planning_fraction'] < 0.1 else 'NOT met'})",
        ]
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
    ap.add_argument(
        "--increment", type=float, default=None, help="rows of an incremental batch on top of the largest size"
    )
    ap.add_argument("--many-files", type=int, default=None, help="also ingest 1e6 rows spread over this many files")
    ap.add_argument("--bad-fraction", type=float, default=0.01, help="corrupted rows (default: 0.01)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--repeat", type=int, default=3, help="runs per size; the median is reported (default: 3)")
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
        sizes = sorted(args.rows)
        results = [measure_size(spark, settings, n, work, args, keep=(n == sizes[-1])) for n in sizes]
        increment = (
            measure_increment(spark, settings, results[-1], int(args.increment), work, args) if args.increment else None
        )
        many = measure_many_files(spark, settings, args.many_files, work, args) if args.many_files else None
    finally:
        if made_work and not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    add_scaling(results)

    run = dict(
        started_at=started.isoformat(timespec="seconds"),
        finished_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        environment=env,
        goals=GOALS,
        results=results,
        increment=increment,
        many_files=many,
    )
    out = args.output or RESULTS / f"ingest-{started.date().isoformat()}.json"
    write_json(run, out, "ingest")
    print(markdown(results, increment, many))
    print(f"\nratios are time(baseline) / time(full path); JSON: {out}")
    ledgers = [r["full"]["ledger"] for res in results for r in res["runs"]]
    ledgers += [increment["full"]["ledger"]] if increment else []
    ledgers += [r["full"]["ledger"] for r in many["runs"]] if many else []
    if not all(led["closes"] for led in ledgers):
        print("a ledger did not close", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
