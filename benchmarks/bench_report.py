#!/usr/bin/env python
"""Report time and driver memory against table size (``astrolake report --table``).

For each size (``--rows 1e6,1e7``) a child process of its own (a fresh JVM, so memory peaks
belong to one size):

1. writes ``gold_sdss_dr14_skyserver`` with that many synthetic rows, generated inside Spark
   (:func:`astrolake.report.synthetic.write_synthetic_gold`; timed, not part of the report);
2. resets the JVM's peak-memory counters, then runs
   :func:`astrolake.report.build.table_report` on it (the same code as ``astrolake report
   --table``), with ``spark.driver.maxResultSize`` at ``--max-result-size`` (8m by default:
   collecting the table would fail);
3. records the wall time per report step, and the driver's peak memory during the report:
   **JVM heap** (``MemoryMXBean`` heap used, polled every 0.2 s from a thread, and the sum of
   the heap pools' peak usage since the reset), **JVM resident set** (``VmHWM`` of
   ``/proc/<jvm pid>/status`` after ``clear_refs`` reset it) and the Python driver's peak RSS.
   In local mode the executors live in the driver JVM, so these include the executors' work;
4. for the sizes in ``--baseline-rows`` (1e6 and 1e7 by default), the baseline in a fresh
   process on the same table: the hand-rolled notebook, ``toPandas()`` of the table and the
   same statistics with pandas / numpy (no figures drawn, which favours it), with
   ``spark.driver.maxResultSize=0`` and ``--baseline-driver-memory`` (8g) so that it can
   collect at all.  The ratio baseline / report is reported with the peak memories.

Usage::

    .venv/bin/python benchmarks/bench_report.py --rows 1e6
    .venv/bin/python benchmarks/bench_report.py --rows 1e6,1e7 --driver-memory 2g

A Markdown table goes to stdout; JSON to ``benchmarks/results/report-<UTC date>.json`` (runs of
the same day are appended to its ``runs`` list).  See docs/reports.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from _common import ROOT, folder_bytes, git_state, loadavg, memory_gib, parse_rows, write_json  # puts lib/ on sys.path

RESULTS = ROOT / "benchmarks" / "results"
CATALOG = "sdss_dr14_skyserver"


# --------------------------------------------------------------------------------------------
# child: one size in a fresh JVM
# --------------------------------------------------------------------------------------------
class HeapPoller(threading.Thread):
    """Polls the JVM heap until stopped: the most in use (garbage included, so it mostly shows how
    far the collector lets the heap grow) and the most still in use right after a collection (the
    live data: what the driver and the local executors really held)."""

    def __init__(self, jvm, pools, every: float = 0.2):
        super().__init__(daemon=True)
        self.bean = jvm.java.lang.management.ManagementFactory.getMemoryMXBean()
        self.pools = pools
        self.every, self.peak, self.live_peak, self.samples = every, 0, 0, 0
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            try:
                self.peak = max(self.peak, int(self.bean.getHeapMemoryUsage().getUsed()))
                after_gc = [p.getCollectionUsage() for p in self.pools]
                self.live_peak = max(self.live_peak, sum(int(u.getUsed()) for u in after_gc if u is not None))
                self.samples += 1
            except Exception:  # noqa: BLE001 - the gateway is closing
                return
            self._halt.wait(self.every)

    def stop(self) -> int:
        self._halt.set()
        self.join(timeout=5)
        return self.peak


def _heap_pools(jvm):
    from py4j.java_gateway import java_import

    java_import(jvm, "java.lang.management.*")
    return [p for p in jvm.ManagementFactory.getMemoryPoolMXBeans() if str(p.getType()) == "Heap memory"]


def _vm_hwm(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def child(args) -> dict:
    from astrolake.config import Settings
    from astrolake.lake.tables import Lake
    from astrolake.log import NORMAL, QUIET, configure
    from astrolake.report.build import table_report
    from astrolake.report.synthetic import write_synthetic_gold
    from astrolake.spark import get_spark

    configure(QUIET if args.quiet else NORMAL)  # the report's step lines on stderr
    base = Path(args.base)
    settings = Settings(
        base_path=str(base / "lake"),
        spark_master=args.master,
        driver_memory=args.driver_memory,
        shuffle_partitions=args.shuffle_partitions,
        extra_spark_conf={"spark.driver.maxResultSize": args.max_result_size},
    )
    spark = get_spark(settings, app_name="astrolake-bench-report")
    lake = Lake(spark, settings)
    jvm = spark.sparkContext._jvm
    jvm_pid = int(jvm.java.lang.ProcessHandle.current().pid())

    t0 = time.perf_counter()
    table = write_synthetic_gold(lake, args.rows, CATALOG, seed=args.seed)
    generate_s = time.perf_counter() - t0
    table_bytes = folder_bytes(Path(lake.location(table)))

    # reset the peaks: JVM GC first, heap pools' peak usage, the JVM process's VmHWM
    jvm.System.gc()
    pools = _heap_pools(jvm)
    for p in pools:
        p.resetPeakUsage()
    cleared = True
    try:
        Path(f"/proc/{jvm_pid}/clear_refs").write_text("5")
    except OSError:
        cleared = False
    poller = HeapPoller(jvm, pools)
    poller.start()
    t1 = time.perf_counter()
    report = table_report(lake, table, out=base / "report")
    report_s = time.perf_counter() - t1
    heap_polled = poller.stop()
    heap_pool_peaks = sum(int(p.getPeakUsage().getUsed()) for p in pools)
    heap_max = int(jvm.Runtime.getRuntime().maxMemory())
    return {
        "rows": args.rows,
        "table_bytes": table_bytes,
        "generate_s": round(generate_s, 2),
        "report_s": round(report_s, 2),
        "steps_s": report.timings,
        "rows_per_s": round(args.rows / report_s, 1),
        "driver_heap_peak_polled_bytes": heap_polled,
        "heap_samples": poller.samples,
        "driver_heap_pool_peaks_bytes": heap_pool_peaks,
        "driver_heap_max_bytes": heap_max,
        "driver_heap_live_after_gc_peak_bytes": poller.live_peak,
        "jvm_rss_peak_bytes": _vm_hwm(jvm_pid) if cleared else None,
        "python_rss_peak_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "figures": list(report.pngs),
        "html_bytes": report.html_path.stat().st_size,
        "max_result_size": spark.conf.get("spark.driver.maxResultSize"),
        "default_parallelism": spark.sparkContext.defaultParallelism,
    }


def baseline_child(args) -> dict:
    """The hand-rolled notebook: ``toPandas()`` of the table, then the same statistics with
    pandas / numpy (class balance, order-5 HEALPix counts, exact 0.5/99.5 % quantile edges, the
    per-class 2-D colour densities and 1-D magnitude / redshift histograms, missing values, the
    correlation matrix).  No figures are drawn, which favours the baseline."""
    import numpy as np
    import pandas as pd

    from astrolake.config import Settings
    from astrolake.lake.tables import Lake
    from astrolake.report import stats
    from astrolake.sky.healpix import HEALPIX_COLUMN, HEALPIX_ORDER
    from astrolake.spark import get_spark

    base = Path(args.base)
    settings = Settings(
        base_path=str(base / "lake"),
        spark_master=args.master,
        driver_memory=args.baseline_driver_memory,
        shuffle_partitions=args.shuffle_partitions,
        extra_spark_conf={"spark.driver.maxResultSize": "0", "spark.sql.execution.arrow.pyspark.enabled": "true"},
    )
    spark = get_spark(settings, app_name="astrolake-bench-report-baseline")
    lake = Lake(spark, settings)
    jvm = spark.sparkContext._jvm
    jvm_pid = int(jvm.java.lang.ProcessHandle.current().pid())
    table = f"gold_{CATALOG}"
    t0 = time.perf_counter()
    pdf = lake.read(table).toPandas()
    collect_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    bands = [b for b in stats.BANDS if b in pdf]
    binned = bands + [c for c in stats.COLOURS if c in pdf] + ["redshift"]
    balance = pdf["class"].value_counts(dropna=False)
    cells = pd.Series(
        np.right_shift(pdf[HEALPIX_COLUMN].dropna().to_numpy("int64"), 2 * (HEALPIX_ORDER - 5))
    ).value_counts()
    edges = {}
    for c in binned:
        lo, hi = np.nanquantile(pdf[c].to_numpy(float), [0.005, 0.995])
        edges[c] = np.linspace(lo, hi, 61)
    hists = {}
    for cls, g in pdf.groupby("class", dropna=False):
        for x, y in (("g_r", "u_g"), ("r_i", "g_r")):
            hists[(cls, x, y)] = np.histogram2d(g[x], g[y], bins=[edges[x], edges[y]])[0]
        for c in bands + ["redshift"]:
            hists[(cls, c)] = np.histogram(g[c], bins=np.linspace(edges[c][0], edges[c][-1], 41))[0]
    missing = pdf.isna().mean()
    corr = pdf[binned].dropna().corr()
    stats_s = time.perf_counter() - t1
    return {
        "rows": len(pdf),
        "collect_s": round(collect_s, 2),
        "stats_s": round(stats_s, 2),
        "baseline_s": round(collect_s + stats_s, 2),
        "driver_memory": args.baseline_driver_memory,
        "jvm_rss_peak_bytes": _vm_hwm(jvm_pid),
        "python_rss_peak_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "classes": int(len(balance)),
        "cells": int(len(cells)),
        "histograms": len(hists),
        "missing_columns": int(len(missing)),
        "corr_shape": list(corr.shape),
    }


# --------------------------------------------------------------------------------------------
# parent
# --------------------------------------------------------------------------------------------
def mib(n) -> str:
    return "-" if n is None else f"{n / 2**20:,.0f}"


def markdown(results: list[dict]) -> str:
    out = [
        "| rows | table on disk MiB | generate s | report s | rows/s | JVM heap peak MiB (in use / after GC) "
        "| JVM RSS peak MiB | Python RSS peak MiB | baseline s (collect + stats) | baseline / report "
        "| baseline Python RSS peak MiB |",
        "|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        if "error" in r:
            out.append(f"| {r['rows']:,} | {r['error']} | | | | | | | | | |")
            continue
        b = r.get("baseline")
        if b is None:
            base = "not run | | "
        elif "error" in b:
            base = f"{b['error']} | | "
        else:
            base = (
                f"{b['baseline_s']:.1f} ({b['collect_s']:.1f} + {b['stats_s']:.1f}) | "
                f"{b['baseline_s'] / r['report_s']:.2f} | {mib(b['python_rss_peak_bytes'])}"
            )
        out.append(
            f"| {r['rows']:,} | {mib(r['table_bytes'])} | {r['generate_s']:.0f} | {r['report_s']:.1f} | "
            f"{r['rows_per_s']:,.0f} | {mib(r['driver_heap_peak_polled_bytes'])} / "
            f"{mib(r['driver_heap_live_after_gc_peak_bytes'])} | {mib(r['jvm_rss_peak_bytes'])} | "
            f"{mib(r['python_rss_peak_bytes'])} | {base} |"
        )
    return "\n".join(out)


def run_child(cmd: list[str], timeout: float) -> dict:
    """One child process (its own process group: on a timeout its JVM, a grandchild, dies with it)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        stdout, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return {"error": f"not finished within {timeout:.0f} s"}
    line = next((x for x in stdout.splitlines() if x.startswith("BENCH-RESULT ")), None)
    if proc.returncode == 0 and line:
        return json.loads(line[len("BENCH-RESULT ") :])
    return {"error": f"child exited {proc.returncode}" + (" (killed: out of memory?)" if proc.returncode == -9 else "")}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=parse_rows, default=parse_rows("1e6"), help="sizes, e.g. 1e6,1e7 (default 1e6)")
    p.add_argument("--master", default="local[*]")
    p.add_argument("--driver-memory", default="2g")
    p.add_argument("--shuffle-partitions", type=int, default=4)
    p.add_argument("--max-result-size", default="8m", help="spark.driver.maxResultSize (default 8m)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--timeout", type=float, default=3600, help="seconds per size (default 3600)")
    p.add_argument("--work", help="folder for the tables (default: a temporary folder, deleted)")
    p.add_argument("--keep", action="store_true", help="keep the tables and reports")
    p.add_argument("--quiet", action="store_true")
    p.add_argument(
        "--baseline-rows",
        type=parse_rows,
        default=parse_rows("1e6,1e7"),
        help="sizes that also run the toPandas + numpy baseline on the same table (default 1e6,1e7)",
    )
    p.add_argument(
        "--baseline-driver-memory",
        default="8g",
        help="the baseline's driver memory (default 8g; it collects the whole table)",
    )
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--baseline-child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--base", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child or args.baseline_child:
        args.rows = args.rows[0]
        print("BENCH-RESULT " + json.dumps(baseline_child(args) if args.baseline_child else child(args)), flush=True)
        return 0

    started = dt.datetime.now(dt.timezone.utc)
    work = Path(args.work or tempfile.mkdtemp(prefix="astrolake-bench-report-"))
    results = []
    for rows in args.rows:
        base = work / f"rows-{rows}"
        shutil.rmtree(base, ignore_errors=True)
        base.mkdir(parents=True)
        cmd = [
            sys.executable,
            __file__,
            "--child",
            "--rows",
            str(rows),
            "--base",
            str(base),
            "--master",
            args.master,
            "--driver-memory",
            args.driver_memory,
            "--shuffle-partitions",
            str(args.shuffle_partitions),
            "--max-result-size",
            args.max_result_size,
            "--seed",
            str(args.seed),
        ]
        cmd += ["--quiet"] if args.quiet else []
        load_before = loadavg()
        print(f"bench_report: {rows:,} rows ...", file=sys.stderr, flush=True)
        res = {"rows": rows} | run_child(cmd, args.timeout)
        if rows in args.baseline_rows and "error" not in res:
            print(
                f"bench_report: baseline (toPandas + numpy) on the same {rows:,} rows ...", file=sys.stderr, flush=True
            )
            bcmd = [
                sys.executable,
                __file__,
                "--baseline-child",
                "--rows",
                str(rows),
                "--base",
                str(base),
                "--master",
                args.master,
                "--baseline-driver-memory",
                args.baseline_driver_memory,
                "--shuffle-partitions",
                str(args.shuffle_partitions),
            ]
            res["baseline"] = run_child(bcmd, args.timeout)
        res["load_before"], res["load_after"] = load_before, loadavg()
        results.append(res)
        print(markdown([res]).splitlines()[-1], file=sys.stderr, flush=True)
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    if not args.keep and not args.work:
        shutil.rmtree(work, ignore_errors=True)

    import pyspark

    run = {
        "started_at": started.isoformat(timespec="seconds"),
        "finished_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "environment": {
            "host": platform.node(),
            "cpus": os.cpu_count(),
            "memory_gib": memory_gib(),
            "python": platform.python_version(),
            "spark": pyspark.__version__,
            "master": args.master,
            "driver_memory": args.driver_memory,
            "shuffle_partitions": args.shuffle_partitions,
            "max_result_size": args.max_result_size,
            "git": git_state(),
            "command": "python benchmarks/bench_report.py " + " ".join(sys.argv[1:]),
        },
        "results": results,
    }
    path = write_json(run, RESULTS / f"report-{started:%Y-%m-%d}.json", "report")
    print(markdown(results))
    print(f"\nresults: {path.relative_to(ROOT)}", file=sys.stderr)
    return 0 if all("error" not in r for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
