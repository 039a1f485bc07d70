#!/usr/bin/env python
"""Sky queries: astrolake's cross-match against astropy (and LSDB), and cone search against a full scan.

**Cross-match.**  For each size of ``--rows`` two synthetic skies are generated inside Spark
(nothing is built on the driver) and written to Parquet, the common starting point of every tool:

* **A**, ``n`` rows (``id``, ``ra``, ``dec``): 95 % uniform on a 400 deg² patch (RA 150-170,
  Dec -10..+10, uniform in sin dec) and 5 % in one dense cluster, a disc of 0.2 deg around
  (163, +3);
* **B**, 1.2 ``n`` rows: every row of A moved by 0.3" (the offset's size |N(0, 0.3")|, its
  direction uniform), keeping A's ``id``, plus 0.2 ``n`` rows uniform on the patch (ids from
  ``n`` on).

Each random number is a hash of (seed, id, stream), so the skies do not depend on partitioning
and B's counterparts are computed from A's ids without a join.  Tools, in the same run, on the
same files, their order alternated between repetitions, each writing its pairs to Parquet
(nearest partner within 1"):

* **astrolake**: ``spark.read.parquet`` -> :func:`astrolake.sky.crossmatch` (``mode="nearest"``,
  1") -> ``write.parquet``, in one Spark job: its wall time is **total s**.  **read s** is a
  separate scan of both inputs into Spark's ``noop`` sink; **write s** is the time to write
  the same pairs again from a cached copy (read back from the pairs just written, cached and
  counted untimed); **match s** = total - read - write.  The match is computed once.
* **astropy**: a child process (``RLIMIT_AS`` = ``--astropy-mem-gb``) reads both with
  ``pyarrow.parquet.read_table`` into numpy (read s), ``SkyCoord.match_to_catalog_sky`` and
  keeps separations <= 1" (match s), writes the pairs with ``pyarrow`` (write s).  A size that
  runs out of memory is reported "did not fit" and larger sizes are not tried.
* **LSDB**: only with ``--lsdb-python PATH`` (the python of a separate environment holding lsdb,
  which cannot be installed beside astrolake's pins): the same child with pandas ->
  ``lsdb.from_dataframe`` (read s, partitioning included) -> ``crossmatch(radius_arcsec=1,
  n_neighbors=1)`` computed into pandas (match s) -> ``to_parquet`` (write s).  Otherwise "not run".

**Recall**: the pairs a tool found that the oracle also has, over the oracle's pairs.  The
oracle is astropy's result where it ran in that repetition; otherwise the construction: each A
row whose own counterpart in B lies within 1".  **True-pair recall** (every tool) is the pairs
(i, i) a tool found over the counterparts within 1" by construction.

**Cone search** (``--cone-rows``, default 1e7; 0 skips it): a silver-shaped Delta table (objid,
ra, dec, healpix_29, ugriz), created liquid-clustered by ``healpix_29`` and OPTIMIZEd, then a 1"
cone (on a row of the table) and a 1 deg cone: median latency of ``--cone-repeat`` runs, files
read (:func:`astrolake.sky.cone_files`), against a full scan of the same table filtered on the
exact separation alone.

Usage::

    .venv/bin/python benchmarks/bench_sky.py --rows 1e6,1e7
    .venv/bin/python benchmarks/bench_sky.py --rows 1e8 --cone-rows 0 --astropy-mem-gb 20
    .venv/bin/python benchmarks/bench_sky.py --rows 1e7 --lsdb-python ~/lsdb-venv/bin/python

A Markdown table goes to stdout; JSON to ``benchmarks/results/sky-<UTC date>.json`` (runs of the
same day are appended to that file's ``runs`` list).  See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from _common import (
    ROOT,
    driver_memory,
    git_state,
    loadavg,
    memory_gib,
    parse_count,
    parse_rows,
    say,
    timed,
    write_json,
)  # puts lib/ on sys.path

RESULTS = ROOT / "benchmarks" / "results"

# the synthetic sky: a 400 deg² patch (RA 150-170, Dec -10..+10) and one dense cluster
RA_MIN, RA_MAX, DEC_MIN, DEC_MAX = 150.0, 170.0, -10.0, 10.0
CLUSTER_RA, CLUSTER_DEC, CLUSTER_RADIUS_DEG, CLUSTER_FRACTION = 163.0, 3.0, 0.2, 0.05
JITTER_ARCSEC = 0.3  # B's counterparts: offset |N(0, 0.3")| in a uniform direction
EXTRA_FRACTION = 0.2  # B = A jittered + 20 % more rows on the patch
RADIUS_ARCSEC = 1.0
CONE_BIG_CENTRE = (156.0, -4.0)  # the 1 deg cone: plain density, away from the cluster and the edges

# the extrapolation: ZTF x Gaia in a working session
ZTF_ROWS, GAIA_ROWS, TARGET_MINUTES = 1.2e9, 1.8e9, 46

TOOLS = ("astrolake", "astropy", "lsdb")
GOALS = {
    "faster_than_peers_at": 10_000_000,
    "time_per_row_growth_max": 1.1,  # time per row at 10x the rows, against the smaller size
    "completed_at": 100_000_000,
}


# --------------------------------------------------------------------------------------------
# the synthetic skies, in Spark
# --------------------------------------------------------------------------------------------
def _uniform(seed: int, stream: int, open_low: bool = False):
    """A uniform number in [0, 1) ((0, 1] with ``open_low``) from a hash of (seed, id, stream)."""
    from pyspark.sql import functions as F

    bits = F.shiftrightunsigned(F.xxhash64(F.lit(seed), F.col("id"), F.lit(stream)), 11)
    if open_low:
        bits = bits + F.lit(1)
    return bits.cast("double") / float(1 << 53)


def _patch_position(seed: int):
    """(ra, dec) uniform on the patch (uniform in RA and in sin dec: uniform on the sphere)."""
    from pyspark.sql import functions as F

    lo, hi = math.sin(math.radians(DEC_MIN)), math.sin(math.radians(DEC_MAX))
    ra = F.lit(RA_MIN) + (RA_MAX - RA_MIN) * _uniform(seed, 1)
    dec = F.degrees(F.asin(F.lit(lo) + (hi - lo) * _uniform(seed, 2)))
    return ra, dec


def _left_position(seed: int):
    """A's (ra, dec): the cluster for ``CLUSTER_FRACTION`` of the ids, the patch for the rest."""
    from pyspark.sql import functions as F

    r = CLUSTER_RADIUS_DEG * F.sqrt(_uniform(seed, 3))
    theta = 2 * math.pi * _uniform(seed, 4)
    c_ra = F.lit(CLUSTER_RA) + r * F.cos(theta) / math.cos(math.radians(CLUSTER_DEC))
    c_dec = F.lit(CLUSTER_DEC) + r * F.sin(theta)
    p_ra, p_dec = _patch_position(seed)
    in_cluster = _uniform(seed, 0) < CLUSTER_FRACTION
    return F.when(in_cluster, c_ra).otherwise(p_ra), F.when(in_cluster, c_dec).otherwise(p_dec)


def left_sky(spark, start: int, end: int, parts: int, seed: int):
    """Rows ``start``..``end - 1`` of sky A: ``id``, ``ra``, ``dec``."""
    ra, dec = _left_position(seed)
    return spark.range(start, end, 1, parts).select("id", ra.alias("ra"), dec.alias("dec"))


def _jittered(seed: int):
    """A's position of each id moved by |N(0, JITTER)| in a uniform direction: (ra, dec)."""
    from pyspark.sql import functions as F

    gauss = F.sqrt(F.lit(-2.0) * F.log(_uniform(seed, 5, open_low=True))) * F.cos(2 * math.pi * _uniform(seed, 6))
    rho = F.abs(gauss) * (JITTER_ARCSEC / 3600.0)
    phi = 2 * math.pi * _uniform(seed, 7)
    dec = F.col("dec_a") + rho * F.cos(phi)
    ra = F.col("ra_a") + rho * F.sin(phi) / F.cos(F.radians(F.col("dec_a")))
    return ra, dec


def _counterparts(spark, n: int, parts: int, seed: int):
    """A's rows with their counterparts' positions: ``id``, ``ra_a``, ``dec_a``, ``ra``, ``dec``."""
    a = left_sky(spark, 0, n, parts, seed).withColumnRenamed("ra", "ra_a").withColumnRenamed("dec", "dec_a")
    ra, dec = _jittered(seed)
    return a.select("id", "ra_a", "dec_a", ra.alias("ra"), dec.alias("dec"))


def right_sky(spark, n: int, parts: int, seed: int):
    """Sky B: A's ``n`` rows jittered (same ids), then ``EXTRA_FRACTION * n`` rows on the patch."""
    extra = round(EXTRA_FRACTION * n)
    moved = _counterparts(spark, n, parts, seed).select("id", "ra", "dec")
    ra, dec = _patch_position(seed + 1)
    more = spark.range(n, n + extra, 1, max(1, round(parts * EXTRA_FRACTION))).select(
        "id", ra.alias("ra"), dec.alias("dec")
    )
    return moved.unionByName(more)


def counterparts_within(spark, n: int, parts: int, seed: int, radius_arcsec: float) -> int:
    """How many A rows have their own counterpart in B within the radius (exact separation)."""
    from pyspark.sql import functions as F

    from astrolake.sky.cone import separation_deg

    sep = separation_deg(F.col("ra_a"), F.col("dec_a"), F.col("ra"), F.col("dec")) * 3600.0
    return int(_counterparts(spark, n, parts, seed).where(sep <= radius_arcsec).count())


def input_parts(spark, rows: int) -> int:
    """Parquet files per sky: at least two per core (so every tool can read in parallel), and about
    1e6 rows (24 MB) each above that."""
    return max(2 * cores_of(spark), math.ceil(rows / 1_000_000))


# --------------------------------------------------------------------------------------------
# measuring
# --------------------------------------------------------------------------------------------
def cores_of(spark) -> int:
    """Cores Spark runs tasks on: N of local[N], every CPU for local[*], else ``spark.cores.max``
    (or the default parallelism when that is unset)."""
    master = spark.sparkContext.master
    m = re.fullmatch(r"local\[(\*|\d+)(?:,\d+)?\]", master)
    if m:
        return (os.cpu_count() or 1) if m[1] == "*" else int(m[1])
    if master == "local":
        return 1
    cores = spark.sparkContext.getConf().get("spark.cores.max", None)
    return int(cores) if cores else spark.sparkContext.defaultParallelism


def _folder_bytes(path: Path) -> int:
    """Bytes under ``path``, tolerant of files that vanish while it walks (Spark's temporary files)."""
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


def _tree_rss(root: int) -> int:
    """Resident bytes of process ``root`` and all its descendants (the JVM and its Python workers)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    page, total, todo = os.sysconf("SC_PAGE_SIZE"), 0, [root]
    while todo:
        pid = todo.pop()
        try:
            with open(f"/proc/{pid}/statm") as fh:
                total += int(fh.read().split()[1]) * page
        except (OSError, IndexError, ValueError):
            pass
        todo.extend(children.get(pid, []))
    return total


class Sampler(threading.Thread):
    """Polls, until stopped: the JVM heap in use (garbage included) and live after the last
    collection, the resident memory of the JVM with its Python workers, and (every fourth poll)
    the bytes under the work folder.  Peaks are kept for the whole run and for named windows
    (:meth:`window` starts or restarts one, :meth:`take` reads it)."""

    KEYS = ("jvm_heap_used", "jvm_heap_live", "spark_rss", "disk")

    def __init__(self, spark, work: Path, every: float = 0.5):
        super().__init__(daemon=True)
        from py4j.java_gateway import java_import

        jvm = spark.sparkContext._jvm
        java_import(jvm, "java.lang.management.*")
        self.bean = jvm.ManagementFactory.getMemoryMXBean()
        self.pools = [p for p in jvm.ManagementFactory.getMemoryPoolMXBeans() if str(p.getType()) == "Heap memory"]
        self.pid = int(jvm.java.lang.ProcessHandle.current().pid())
        self.work, self.every = work, every
        self.lock = threading.Lock()
        self.run_peak = dict.fromkeys(self.KEYS, 0)
        self.windows: dict[str, dict[str, int]] = {}
        self.samples = 0
        self._halt = threading.Event()

    def _sample(self, disk: bool) -> dict[str, int]:
        now = {
            "jvm_heap_used": int(self.bean.getHeapMemoryUsage().getUsed()),
            "jvm_heap_live": sum(int(u.getUsed()) for u in (p.getCollectionUsage() for p in self.pools) if u),
            "spark_rss": _tree_rss(self.pid),
        }
        if disk:
            now["disk"] = _folder_bytes(self.work)
        return now

    def run(self) -> None:
        while not self._halt.is_set():
            try:
                now = self._sample(disk=self.samples % 4 == 0)
            except Exception:  # noqa: BLE001 - the gateway is closing
                return
            with self.lock:
                for peaks in (self.run_peak, *self.windows.values()):
                    for k, v in now.items():
                        peaks[k] = max(peaks[k], v)
                self.samples += 1
            self._halt.wait(self.every)

    def window(self, name: str) -> None:
        with self.lock:
            self.windows[name] = dict.fromkeys(self.KEYS, 0)

    def take(self, name: str) -> dict[str, float]:
        """The peaks of window ``name`` so far, in MB (one more sample first, so a short window has one)."""
        try:
            now = self._sample(disk=True)
        except Exception:  # noqa: BLE001 - the gateway is closing
            now = {}
        with self.lock:
            peaks = self.windows.setdefault(name, dict.fromkeys(self.KEYS, 0))
            for target in (self.run_peak, peaks):
                for k, v in now.items():
                    target[k] = max(target[k], v)
            return {f"{k}_peak_mb": round(v / 2**20, 1) for k, v in peaks.items()}

    def stop(self) -> dict[str, float]:
        self._halt.set()
        self.join(timeout=10)
        return {f"{k}_peak_mb": round(v / 2**20, 1) for k, v in self.run_peak.items()}


# --------------------------------------------------------------------------------------------
# the tools
# --------------------------------------------------------------------------------------------
def run_astrolake(spark, left: Path, right: Path, out: Path) -> dict:
    """Read both Parquet folders, cross-match (nearest within 1"), write the pairs; see the module
    docstring for how read, match and write are told apart without computing the match twice."""
    from pyspark import StorageLevel

    from astrolake.sky.xmatch import crossmatch, crossmatch_order

    def read_both():
        for path in (left, right):
            spark.read.parquet(str(path)).write.format("noop").mode("overwrite").save()

    read_s = timed(read_both)
    pairs = crossmatch(
        spark.read.parquet(str(left)),
        spark.read.parquet(str(right)),
        radius_arcsec=RADIUS_ARCSEC,
        mode="nearest",
        left_key="id",
        right_key="id",
    )
    total_s = timed(lambda: pairs.write.mode("overwrite").parquet(str(out)))
    memory = driver_memory(spark, after_gc=True)  # before the write probe caches anything
    cached = spark.read.parquet(str(out)).persist(StorageLevel.MEMORY_AND_DISK)
    n_pairs = cached.count()
    probe = out.with_name(out.name + "_write_probe")
    write_s = timed(lambda: cached.write.mode("overwrite").parquet(str(probe)))
    cached.unpersist(blocking=True)
    shutil.rmtree(probe, ignore_errors=True)
    match_raw = total_s - read_s - write_s
    return dict(
        status="ok",
        read_s=round(read_s, 3),
        match_s=round(max(match_raw, 0.0), 3),
        match_s_raw=round(match_raw, 3),
        write_s=round(write_s, 3),
        total_s=round(total_s, 3),
        pairs=int(n_pairs),
        healpix_order=crossmatch_order(RADIUS_ARCSEC),
        driver=memory,
        cores=cores_of(spark),
    )


# The peers run in a child process: its address space is capped first (a size too large for the
# cap fails with MemoryError instead of taking the machine), then it writes one JSON result file.
CHILD_PRELUDE = r"""
import json, resource, sys, time
args = json.loads(sys.argv[1])
cap = int(args["mem_bytes"])
if cap > 0:
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
result = {"status": "failed"}

def peak_rss_mb():
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)

def finish():
    result["peak_rss_mb"] = peak_rss_mb()
    with open(args["result"], "w") as fh:
        json.dump(result, fh)
"""

ASTROPY_CHILD = (
    CHILD_PRELUDE
    + r"""
try:
    import os
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq
    import astropy
    import astropy.units as u
    from astropy.coordinates import SkyCoord

    result["version"] = astropy.__version__
    t0 = time.perf_counter()
    left = pq.read_table(args["left"], columns=["id", "ra", "dec"])
    right = pq.read_table(args["right"], columns=["id", "ra", "dec"])
    lid, lra, ldec = (left.column(c).to_numpy() for c in ("id", "ra", "dec"))
    rid, rra, rdec = (right.column(c).to_numpy() for c in ("id", "ra", "dec"))
    del left, right
    t1 = time.perf_counter()
    a = SkyCoord(ra=lra * u.deg, dec=ldec * u.deg)
    b = SkyCoord(ra=rra * u.deg, dec=rdec * u.deg)
    idx, d2d, _ = a.match_to_catalog_sky(b)
    sep = d2d.to_value(u.arcsec)
    keep = sep <= args["radius_arcsec"]
    j = idx[keep]
    t2 = time.perf_counter()
    pairs = pa.table(
        {
            "id_l": lid[keep], "ra_l": lra[keep], "dec_l": ldec[keep],
            "id_r": rid[j], "ra_r": rra[j], "dec_r": rdec[j], "sep_arcsec": sep[keep],
        }
    )
    os.makedirs(args["out"], exist_ok=True)
    pq.write_table(pairs, os.path.join(args["out"], "part-00000.parquet"))
    t3 = time.perf_counter()
    result.update(
        status="ok", read_s=t1 - t0, match_s=t2 - t1, write_s=t3 - t2, total_s=t3 - t0, pairs=int(keep.sum())
    )
except MemoryError as exc:
    result.update(status="did not fit", error=f"MemoryError: {exc}")
except BaseException as exc:
    result.update(status="failed", error=f"{type(exc).__name__}: {exc}")
finish()
"""
)

LSDB_CHILD = (
    CHILD_PRELUDE
    + r"""
try:
    import os
    import pandas as pd
    import lsdb

    result["version"] = getattr(lsdb, "__version__", None)
    t0 = time.perf_counter()
    left = pd.read_parquet(args["left"], columns=["id", "ra", "dec"])
    right = pd.read_parquet(args["right"], columns=["id", "ra", "dec"])
    a = lsdb.from_dataframe(left, ra_column="ra", dec_column="dec")
    b = lsdb.from_dataframe(right, ra_column="ra", dec_column="dec")
    del left, right
    t1 = time.perf_counter()
    pairs = a.crossmatch(b, radius_arcsec=args["radius_arcsec"], n_neighbors=1, suffixes=("_l", "_r")).compute()
    t2 = time.perf_counter()
    pairs = pairs.reset_index(drop=True).rename(columns={"_dist_arcsec": "sep_arcsec"})
    cols = [c for c in ("id_l", "ra_l", "dec_l", "id_r", "ra_r", "dec_r", "sep_arcsec") if c in pairs.columns]
    os.makedirs(args["out"], exist_ok=True)
    pairs[cols].to_parquet(os.path.join(args["out"], "part-00000.parquet"), index=False)
    t3 = time.perf_counter()
    result.update(
        status="ok", read_s=t1 - t0, match_s=t2 - t1, write_s=t3 - t2, total_s=t3 - t0, pairs=int(len(pairs))
    )
except MemoryError as exc:
    result.update(status="did not fit", error=f"MemoryError: {exc}")
except BaseException as exc:
    result.update(status="failed", error=f"{type(exc).__name__}: {exc}")
finish()
"""
)

OUT_OF_MEMORY = re.compile(
    r"MemoryError|bad_alloc|Cannot allocate memory|out of memory|failed to map segment|mmap failed", re.I
)


def run_child(python: str, code: str, left: Path, right: Path, out: Path, mem_gb: float, timeout: float) -> dict:
    """One peer in a child process of its own (process group: killed whole on a timeout)."""
    result_file = out.with_name(out.name + ".result.json")
    log_file = out.with_name(out.name + ".log")
    args = dict(
        left=str(left),
        right=str(right),
        out=str(out),
        result=str(result_file),
        radius_arcsec=RADIUS_ARCSEC,
        mem_bytes=int(mem_gb * 2**30),
    )
    t0 = time.perf_counter()
    with open(log_file, "w") as log:
        proc = subprocess.Popen(
            [python, "-c", code, json.dumps(args)], stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            rc = None
    wall = time.perf_counter() - t0
    tail = log_file.read_text(errors="replace")[-2000:] if log_file.exists() else ""
    if rc is None:
        res = {"status": "over time", "error": f"not finished within {timeout:.0f} s"}
    elif result_file.is_file():
        res = json.loads(result_file.read_text())
        if res.get("status") == "failed" and OUT_OF_MEMORY.search(res.get("error", "")):
            res["status"] = "did not fit"  # the cap hit elsewhere than numpy (an import, a library's mmap)
    elif rc == -signal.SIGKILL or OUT_OF_MEMORY.search(tail):
        res = {"status": "did not fit", "error": f"child exited {rc} (killed or out of memory)"}
    else:
        res = {"status": "failed", "error": f"child exited {rc}"}
    for k in ("read_s", "match_s", "write_s", "total_s"):
        if k in res:
            res[k] = round(res[k], 3)
    res.update(child_wall_s=round(wall, 3), returncode=rc, cores=1)
    if res["status"] != "ok":
        res["log_tail"] = tail
    result_file.unlink(missing_ok=True)
    return res


def pair_checks(spark, out: Path, reference: Path | None) -> dict:
    """True pairs (a row with its own counterpart) among a tool's pairs, and its agreement with
    the reference pairs (astropy's) on the left key: same partner, another partner, missing, extra."""
    from pyspark.sql import functions as F

    got = spark.read.parquet(str(out)).select("id_l", "id_r")
    checks = {"true_pairs": int(got.where(F.col("id_l") == F.col("id_r")).count())}
    if reference is not None:
        ref = spark.read.parquet(str(reference)).select("id_l", F.col("id_r").alias("ref_r"))
        both = ref.join(got, "id_l", "full")
        row = both.agg(
            F.sum((F.col("ref_r") == F.col("id_r")).cast("long")).alias("same"),
            F.sum((F.col("ref_r") != F.col("id_r")).cast("long")).alias("other"),
            F.sum(F.col("id_r").isNull().cast("long")).alias("missing"),
            F.sum(F.col("ref_r").isNull().cast("long")).alias("extra"),
        ).first()
        checks.update(
            vs_astropy={k: int(row[k] or 0) for k in ("same", "other", "missing", "extra")},
        )
    return checks


# --------------------------------------------------------------------------------------------
# one size
# --------------------------------------------------------------------------------------------
def write_inputs(spark, rows: int, folder: Path, seed: int) -> dict:
    parts = input_parts(spark, rows)
    left, right = folder / "a.parquet", folder / "b.parquet"
    t0 = time.perf_counter()
    left_sky(spark, 0, rows, parts, seed).write.mode("overwrite").parquet(str(left))
    right_sky(spark, rows, parts, seed).write.mode("overwrite").parquet(str(right))
    gen_s = time.perf_counter() - t0
    within = counterparts_within(spark, rows, parts, seed, RADIUS_ARCSEC)
    return dict(
        left=left,
        right=right,
        right_rows=rows + round(EXTRA_FRACTION * rows),
        files_per_sky=parts,
        parquet_bytes=_folder_bytes(left) + _folder_bytes(right),
        generate_s=round(gen_s, 3),
        counterparts_within_radius=within,
    )


def repeats_for(rows: int, args) -> int:
    return args.repeat if args.repeat is not None else (3 if rows <= 1_000_000 else 1)


def measure_size(spark, rows: int, work: Path, args, sampler: Sampler, skip: dict[str, str]) -> dict:
    folder = work / f"rows_{rows}"
    say(f"== {rows:,} rows: generating the two skies (Parquet)")
    sampler.window("size")
    inputs = write_inputs(spark, rows, folder, args.seed)
    say(
        f"   {inputs['right_rows']:,} right rows, {inputs['parquet_bytes'] / 2**20:.0f} MiB of Parquet in "
        f'{inputs["generate_s"]:.1f} s; {inputs["counterparts_within_radius"]:,} counterparts within 1"'
    )
    reps = []
    for rep in range(repeats_for(rows, args)):
        order = list(TOOLS) if rep % 2 == 0 else list(reversed(TOOLS))
        runs: dict = {"order": order}
        outs: dict[str, Path] = {}
        for tool in order:
            out = folder / f"pairs_{tool}_{rep}"
            if tool in skip:
                runs[tool] = {"status": "not run", "reason": skip[tool]}
                continue
            if tool == "lsdb" and not args.lsdb_python:
                runs[tool] = {"status": "not run", "reason": "no --lsdb-python given"}
                continue
            say(f"   run {rep + 1}: {tool}")
            load = loadavg()
            sampler.window("tool")
            if tool == "astrolake":
                r = run_astrolake(spark, inputs["left"], inputs["right"], out)
                r.update(sampler.take("tool"))
                r["peak_rss_mb"] = r["spark_rss_peak_mb"]
            elif tool == "astropy":
                r = run_child(
                    sys.executable,
                    ASTROPY_CHILD,
                    inputs["left"],
                    inputs["right"],
                    out,
                    args.astropy_mem_gb,
                    args.peer_timeout_s,
                )
            else:
                mem = args.lsdb_mem_gb if args.lsdb_mem_gb is not None else args.astropy_mem_gb
                r = run_child(
                    args.lsdb_python, LSDB_CHILD, inputs["left"], inputs["right"], out, mem, args.peer_timeout_s
                )
                r["cores"] = os.cpu_count() or 1  # dask's threads
            r.update(loadavg_before=load, loadavg_after=loadavg())
            say(
                f"   {tool}: {r['status']}"
                + (f", {r['total_s']:.2f} s, {r['pairs']:,} pairs" if r["status"] == "ok" else "")
            )
            runs[tool] = r
            if r["status"] == "ok":
                outs[tool] = out
            elif r["status"] in ("did not fit", "over time"):
                skip[tool] = f"{r['status']} at {rows:,} rows"
        reference = outs.get("astropy")
        for tool, out in outs.items():
            runs[tool].update(pair_checks(spark, out, reference if tool != "astropy" else None))
            add_recall(runs[tool], tool, inputs["counterparts_within_radius"], runs.get("astropy"))
        for out in folder.glob("pairs_*"):
            if out.is_dir():
                shutil.rmtree(out, ignore_errors=True)
            else:
                out.unlink(missing_ok=True)
        reps.append(runs)
    size = dict(
        rows=rows,
        **{k: v for k, v in inputs.items() if k not in ("left", "right")},
        repeat=len(reps),
        runs=reps,
        summary=summarize(reps, rows, inputs["right_rows"]),
    )
    size.update(peak_disk_mb=sampler.take("size")["disk_peak_mb"], loadavg_end=loadavg())
    if not args.keep:
        shutil.rmtree(folder, ignore_errors=True)
    return size


def add_recall(run: dict, tool: str, within: int, astropy: dict | None) -> None:
    """Recall against the oracle (astropy's pairs where it ran, else the construction) and the
    true-pair recall against the construction."""
    run["true_pair_recall"] = round(run["true_pairs"] / within, 6) if within else None
    if tool == "astropy":
        run["recall"], run["oracle"] = 1.0, "astropy (itself)"
    elif "vs_astropy" in run and astropy and astropy.get("status") == "ok" and astropy["pairs"]:
        run["recall"] = round(run["vs_astropy"]["same"] / astropy["pairs"], 6)
        run["oracle"] = "astropy"
    else:
        run["recall"], run["oracle"] = run["true_pair_recall"], "construction"


def summarize(reps: list[dict], rows: int, right_rows: int) -> dict:
    """Per tool: the repetition with the median total time (its read, match and write with it)."""
    out = {}
    for tool in TOOLS:
        ok = [r[tool] for r in reps if r.get(tool, {}).get("status") == "ok"]
        if not ok:
            # what stopped it (did not fit, over time, failed) rather than the "not run" of later repetitions
            first = next((r[tool] for r in reps if r.get(tool, {}).get("status") != "not run"), reps[0].get(tool, {}))
            out[tool] = {
                "status": first.get("status", "not run"),
                "reason": first.get("reason") or first.get("error") or "",
            }
            continue
        mid = sorted(ok, key=lambda r: r["total_s"])[len(ok) // 2]
        keep = ("read_s", "match_s", "write_s", "total_s", "pairs", "recall", "oracle", "true_pair_recall", "cores")
        s = {k: mid.get(k) for k in keep}
        s.update(
            status="ok",
            runs_ok=len(ok),
            total_s_all=[r["total_s"] for r in ok],
            peak_rss_mb=max(r.get("peak_rss_mb") or 0 for r in ok) or None,
            rows_per_s_per_core=round((rows + right_rows) / mid["total_s"] / mid["cores"], 1),
        )
        if tool == "astrolake":
            s["jvm_heap_peak_mb"] = max(r["jvm_heap_used_peak_mb"] for r in ok)
            s["jvm_heap_live_peak_mb"] = max(r["jvm_heap_live_peak_mb"] for r in ok)
            s["jvm_heap_after_gc_mb"] = max(r["driver"]["jvm_heap_after_gc_mb"] for r in ok)
        out[tool] = s
    return out


# --------------------------------------------------------------------------------------------
# cone search
# --------------------------------------------------------------------------------------------
CONE_TABLE = "silver_sky_bench"
CONE_DDL = "objid BIGINT, ra DOUBLE, dec DOUBLE, healpix_29 BIGINT, u DOUBLE, g DOUBLE, r DOUBLE, i DOUBLE, z DOUBLE"


def cone_rows_df(spark, start: int, end: int, parts: int, seed: int):
    """Silver-shaped rows: sky A's positions, their ``healpix_29`` and five magnitudes."""
    from pyspark.sql import functions as F

    from astrolake.sky.healpix import with_healpix

    base = left_sky(spark, start, end, parts, seed)
    r = F.lit(14.0) + 8.0 * _uniform(seed, 20)
    mags = base.select(
        F.col("id").alias("objid"),
        "ra",
        "dec",
        r.alias("r"),
        _uniform(seed, 21).alias("_g"),
        _uniform(seed, 22).alias("_u"),
        _uniform(seed, 23).alias("_i"),
        _uniform(seed, 24).alias("_z"),
    )
    mags = mags.select(
        "objid",
        "ra",
        "dec",
        "r",
        (F.col("r") + 0.2 + 0.8 * F.col("_g")).alias("g"),
        (F.col("r") + 0.7 + 2.3 * F.col("_u")).alias("u"),
        (F.col("r") - 0.1 - 0.4 * F.col("_i")).alias("i"),
        (F.col("r") - 0.15 - 0.6 * F.col("_z")).alias("z"),
    )
    return with_healpix(mags, "ra", "dec", "healpix_29").select(
        "objid", "ra", "dec", "healpix_29", "u", "g", "r", "i", "z"
    )


def scan_files(df) -> tuple[int, int]:
    """Run ``df`` once and count the data files its scans read (as :func:`cone_files` does)."""
    from astrolake.sky.cone import _scan_files, _walk

    execution = df._jdf.queryExecution()
    rows = int(execution.toRdd().count())
    return sum(_scan_files(node) for node in _walk(execution.executedPlan())), rows


def measure_cone(spark, settings, rows: int, work: Path, args, sampler: Sampler) -> dict:
    from pyspark.sql import functions as F

    from astrolake.lake.maintenance import optimize
    from astrolake.lake.tables import Lake
    from astrolake.sky.cone import cone_files, cone_search, separation_deg

    lake = Lake(spark, settings.with_overrides(base_path=str(work / "cone_lake")))
    seed = args.seed + 2
    parts = input_parts(spark, rows)
    say(f"== cone search: {rows:,}-row silver-shaped table, clustered by healpix_29")
    sampler.window("cone")
    lake.create(CONE_TABLE, CONE_DDL, cluster_by=["healpix_29"])
    write_s = timed(lambda: lake.append(cone_rows_df(spark, 0, rows, parts, seed), CONE_TABLE))
    files_before = int(lake.delta(CONE_TABLE).detail().select("numFiles").first()[0])
    conf_key = "spark.databricks.delta.optimize.maxFileSize"
    before = spark.conf.get(conf_key, None)
    spark.conf.set(conf_key, str(int(args.cone_file_mb * 2**20)))
    try:
        optimize_s = timed(lambda: optimize(lake, CONE_TABLE).collect())
    finally:
        if before is None:
            spark.conf.unset(conf_key)
        else:
            spark.conf.set(conf_key, before)
    detail = lake.delta(CONE_TABLE).detail().select("numFiles", "sizeInBytes").first()
    say(
        f"   written in {write_s:.1f} s ({files_before} files), OPTIMIZE {optimize_s:.1f} s: "
        f"{detail[0]} files, {detail[1] / 2**20:.0f} MiB"
    )
    star = cone_rows_df(spark, 0, 1, 1, seed).select("ra", "dec").first()
    cones = [("1 arcsec", float(star["ra"]), float(star["dec"]), 1 / 3600), ("1 deg", *CONE_BIG_CENTRE, 1.0)]
    results = []
    for name, ra, dec, radius in cones:

        def indexed(ra=ra, dec=dec, radius=radius):
            return cone_search(lake.read(CONE_TABLE), ra, dec, radius)

        def full(ra=ra, dec=dec, radius=radius):
            sep = separation_deg(F.lit(ra), F.lit(dec), F.col("ra"), F.col("dec")) * 3600.0
            return lake.read(CONE_TABLE).withColumn("sep_arcsec", sep).where(F.col("sep_arcsec") <= radius * 3600.0)

        times: dict[str, list[float]] = {"healpix": [], "full_scan": []}
        for rep in range(args.cone_repeat):
            for way in ("healpix", "full_scan") if rep % 2 == 0 else ("full_scan", "healpix"):
                make = indexed if way == "healpix" else full
                times[way].append(timed(lambda make=make: make().write.format("noop").mode("overwrite").save()))
        stats = cone_files(lake, CONE_TABLE, ra, dec, radius)
        full_files, full_rows = scan_files(full())
        med = {k: statistics.median(v) for k, v in times.items()}
        results.append(
            dict(
                cone=name,
                ra=ra,
                dec=dec,
                radius_deg=radius,
                healpix=dict(
                    median_s=round(med["healpix"], 3),
                    times_s=[round(t, 3) for t in times["healpix"]],
                    files_read=stats.files_read,
                    files_total=stats.files_total,
                    rows=stats.rows,
                ),
                full_scan=dict(
                    median_s=round(med["full_scan"], 3),
                    times_s=[round(t, 3) for t in times["full_scan"]],
                    files_read=full_files,
                    files_total=stats.files_total,
                    rows=full_rows,
                ),
                speedup=round(med["full_scan"] / med["healpix"], 2) if med["healpix"] > 0 else None,
                same_rows=stats.rows == full_rows,
            )
        )
        say(f"   {name} cone: {stats.line()}, {med['healpix']:.2f} s; full scan {med['full_scan']:.2f} s")
    out = dict(
        rows=rows,
        write_s=round(write_s, 3),
        files_before_optimize=files_before,
        optimize_s=round(optimize_s, 3),
        optimize_max_file_mb=args.cone_file_mb,
        files=int(detail[0]),
        table_bytes=int(detail[1]),
        cones=results,
        peak_disk_mb=sampler.take("cone")["disk_peak_mb"],
        driver=driver_memory(spark, after_gc=True),
    )
    if not args.keep:
        shutil.rmtree(work / "cone_lake", ignore_errors=True)
    return out


# --------------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------------
def extrapolation(sizes: list[dict]) -> list[dict]:
    """Cores each tool would need for ZTF x Gaia in ``TARGET_MINUTES`` at its per-core rate
    measured at the largest size it completed: a linear extrapolation."""
    out = []
    total_rows = ZTF_ROWS + GAIA_ROWS
    for tool in TOOLS:
        done = [s for s in sizes if s["summary"].get(tool, {}).get("status") == "ok"]
        if not done:
            continue
        s = max(done, key=lambda x: x["rows"])
        rate = s["summary"][tool]["rows_per_s_per_core"]
        out.append(
            dict(
                tool=tool,
                measured_at_rows=s["rows"],
                rows_per_s_per_core=rate,
                cores_needed=math.ceil(total_rows / (rate * TARGET_MINUTES * 60)),
                single_core_hours=round(total_rows / rate / 3600, 1),
            )
        )
    return out


def _cell(x, nd: int = 2) -> str:
    return "–" if x is None else f"{x:,.{nd}f}"


def markdown(sizes: list[dict], extra: list[dict], cone: dict | None) -> str:
    lines = [
        "| rows (left / right) | tool | read s | match s | write s | total s | pairs | recall | oracle "
        "| true-pair recall | peak RSS MB | rows/s/core |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    for size in sizes:
        label = f"{size['rows']:,} / {size['right_rows']:,}"
        for tool in TOOLS:
            s = size["summary"][tool]
            if s["status"] != "ok":
                why = f" ({s['reason']})" if s.get("reason") else ""
                lines.append(f"| {label} | {tool} | {s['status']}{why} | | | | | | | | | |")
                continue
            lines.append(
                f"| {label} | {tool} | {_cell(s['read_s'])} | {_cell(s['match_s'])} | {_cell(s['write_s'])} | "
                f"{_cell(s['total_s'])} | {s['pairs']:,} | {_cell(s['recall'], 4)} | {s['oracle']} | "
                f"{_cell(s['true_pair_recall'], 4)} | {_cell(s['peak_rss_mb'], 0)} | "
                f"{_cell(s['rows_per_s_per_core'], 0)} |"
            )
    lines += ["", "astrolake, per size:", ""]
    prev = None
    for size in sizes:
        s = size["summary"]["astrolake"]
        if s["status"] != "ok":
            continue
        parts = [
            f"- {size['rows']:,} rows: JVM heap peak {s['jvm_heap_peak_mb']:,.0f} MB in use, "
            f"{s['jvm_heap_live_peak_mb']:,.0f} MB live after a collection, {s['jvm_heap_after_gc_mb']:,.0f} MB "
            f"after a full GC at the end; peak disk {size['peak_disk_mb']:,.0f} MB"
        ]
        for peer in ("astropy", "lsdb"):
            p = size["summary"][peer]
            if p["status"] == "ok":
                ratio = p["total_s"] / s["total_s"]
                faster = f"{ratio:.2f}x faster" if ratio >= 1 else f"{1 / ratio:.2f}x slower"
                parts.append(f"{faster} than {peer} ({peer} total / astrolake total = {ratio:.2f})")
        if prev is not None:
            growth = (s["total_s"] / size["rows"]) / (prev[1] / prev[0])
            parts.append(f"time per row {growth:.2f}x that at {prev[0]:,} rows")
        prev = (size["rows"], s["total_s"])
        lines.append("; ".join(parts))
    if extra:
        lines += [
            "",
            f"ZTF x Gaia ({ZTF_ROWS:.1e} x {GAIA_ROWS:.1e} rows) in {TARGET_MINUTES} minutes, a linear "
            "extrapolation of each tool's rows/s/core (left + right rows over total time and cores) at the "
            "largest size it completed; density, skew, network shuffles and cluster disks are not modelled:",
            "",
        ]
        for e in extra:
            line = (
                f"- {e['tool']}: {e['rows_per_s_per_core']:,.0f} rows/s/core at {e['measured_at_rows']:,} rows -> "
                f"{e['cores_needed']:,} cores ({e['single_core_hours']:,} core-hours)"
            )
            if e["tool"] == "astropy":
                line += "; astropy uses one core and would have to be split by hand to use more"
            lines.append(line)
    if cone:
        lines += [
            "",
            f"Cone search on {cone['rows']:,} rows ({cone['files']} files, {cone['table_bytes'] / 2**20:,.0f} MiB, "
            f"liquid-clustered by healpix_29; OPTIMIZE {cone['optimize_s']:.1f} s), median of "
            f"{len(cone['cones'][0]['healpix']['times_s'])}:",
            "",
            "| cone | rows | healpix s | files read | full scan s | files read | full / healpix |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for c in cone["cones"]:
            h, f = c["healpix"], c["full_scan"]
            lines.append(
                f"| {c['cone']} | {h['rows']:,} | {h['median_s']:.3f} | {h['files_read']} / {h['files_total']} | "
                f"{f['median_s']:.3f} | {f['files_read']} / {f['files_total']} | {_cell(c['speedup'])}x |"
            )
    return "\n".join(lines)


def environment(spark, settings, args) -> dict:
    from importlib.metadata import PackageNotFoundError, version

    import pyspark

    def ver(name):
        try:
            return version(name)
        except PackageNotFoundError:
            return None

    return dict(
        host=platform.node(),
        cpus=os.cpu_count(),
        memory_gib=memory_gib(),
        python=platform.python_version(),
        spark=pyspark.__version__,
        delta_spark=ver("delta-spark"),
        astropy=ver("astropy"),
        pyarrow=ver("pyarrow"),
        numpy=ver("numpy"),
        cdshealpix=ver("cdshealpix"),
        master=spark.sparkContext.master,
        spark_cores=cores_of(spark),
        driver_memory=settings.driver_memory,
        shuffle_partitions=settings.shuffle_partitions,
        git=git_state(),
        command=" ".join([Path(sys.executable).name, *sys.argv]),
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--rows",
        type=parse_rows,
        default=parse_rows("1e6,1e7"),
        help="left sizes, comma-separated (default: 1e6,1e7); right is 1.2x",
    )
    ap.add_argument(
        "--repeat", type=int, default=None, help="runs per size, order alternated (default: 3 up to 1e6 rows, 1 above)"
    )
    ap.add_argument(
        "--cone-rows",
        type=parse_count,
        default=10_000_000,
        help="rows of the cone-search table (default: 1e7; 0 skips it)",
    )
    ap.add_argument("--cone-repeat", type=int, default=3, help="runs per cone, the median is reported (default: 3)")
    ap.add_argument(
        "--cone-file-mb", type=float, default=32.0, help="OPTIMIZE's largest file for the cone table, MB (default: 32)"
    )
    ap.add_argument(
        "--astropy-mem-gb", type=float, default=20.0, help="address-space cap of the astropy child, GiB (0: none)"
    )
    ap.add_argument(
        "--lsdb-python", default=None, help="python of a separate environment with lsdb (default: LSDB not run)"
    )
    ap.add_argument(
        "--lsdb-mem-gb", type=float, default=None, help="cap of the LSDB child, GiB (default: --astropy-mem-gb)"
    )
    ap.add_argument(
        "--peer-timeout-s", type=float, default=3600.0, help="a peer's child is killed after this (default: 3600)"
    )
    ap.add_argument(
        "--work",
        "--work-dir",
        dest="work",
        type=Path,
        default=None,
        help="work folder (default: a temporary one under /tmp, removed)",
    )
    ap.add_argument("--keep", action="store_true", help="keep the Parquet files, pairs and tables")
    ap.add_argument("--driver-memory", default="8g")
    ap.add_argument("--master", default="local[*]")
    ap.add_argument(
        "--shuffle-partitions", type=int, default=None, help="spark.sql.shuffle.partitions (default: 2 x cores)"
    )
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--no-warmup", action="store_true", help="skip the untimed 10,000-row astrolake warm-up")
    ap.add_argument("--output", type=Path, default=None, help="JSON file (default: benchmarks/results/sky-<date>.json)")
    args = ap.parse_args(argv)
    if args.repeat is not None and args.repeat < 1:
        ap.error("--repeat must be >= 1")
    if args.cone_repeat < 1:
        ap.error("--cone-repeat must be >= 1")
    if args.lsdb_python and not shutil.which(args.lsdb_python):
        ap.error(f"--lsdb-python {args.lsdb_python}: no such program")

    from astrolake.config import Settings
    from astrolake.spark import get_spark

    shuffle = args.shuffle_partitions or 2 * (os.cpu_count() or 2)
    made_work = args.work is None
    work = Path(tempfile.mkdtemp(prefix="astrolake-bench-sky-", dir="/tmp")) if made_work else args.work.absolute()
    work.mkdir(parents=True, exist_ok=True)
    settings = Settings(
        base_path=str(work / "lake"),
        spark_master=args.master,
        driver_memory=args.driver_memory,
        shuffle_partitions=shuffle,
    )
    spark = get_spark(settings, app_name="astrolake-bench-sky")
    started = dt.datetime.now(dt.timezone.utc)
    env = environment(spark, settings, args)
    out_path = args.output or RESULTS / f"sky-{started.date().isoformat()}.json"
    say(
        f"bench_sky: {env['cpus']} CPUs, master {env['master']} ({env['spark_cores']} cores), driver "
        f"{settings.driver_memory}, shuffle partitions {shuffle}, work {work}, load average {loadavg()}"
    )
    sampler = Sampler(spark, work)
    sampler.start()
    run: dict = dict(
        started_at=started.isoformat(timespec="seconds"),
        environment=env,
        options={k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        sky=dict(
            patch=dict(ra=[RA_MIN, RA_MAX], dec=[DEC_MIN, DEC_MAX]),
            cluster=dict(ra=CLUSTER_RA, dec=CLUSTER_DEC, radius_deg=CLUSTER_RADIUS_DEG, fraction=CLUSTER_FRACTION),
            jitter_arcsec=JITTER_ARCSEC,
            extra_fraction=EXTRA_FRACTION,
            radius_arcsec=RADIUS_ARCSEC,
        ),
        goals=GOALS,
        sizes=[],
    )
    sizes: list[dict] = []
    cone = None
    try:
        if not args.no_warmup:  # JIT, Python workers and Parquet paths warm before the first timed size
            say("== warm-up (10,000 rows, astrolake only, not reported)")
            inputs = write_inputs(spark, 10_000, work / "warmup", args.seed)
            run_astrolake(spark, inputs["left"], inputs["right"], work / "warmup" / "pairs")
            shutil.rmtree(work / "warmup", ignore_errors=True)
        skip: dict[str, str] = {}
        for rows in sorted(args.rows):
            sizes.append(measure_size(spark, rows, work, args, sampler, skip))
            run["sizes"] = sizes
            write_json(run, out_path, "sky")  # saved as it goes
        if args.cone_rows:
            cone = measure_cone(spark, settings, args.cone_rows, work, args, sampler)
    finally:
        peaks = sampler.stop()
        if made_work and not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    extra = extrapolation(sizes)
    run.update(
        finished_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        sizes=sizes,
        cone=cone,
        extrapolation=dict(
            ztf_rows=ZTF_ROWS, gaia_rows=GAIA_ROWS, minutes=TARGET_MINUTES, method="linear in rows", tools=extra
        ),
        peaks=peaks,
        loadavg_end=loadavg(),
    )
    write_json(run, out_path, "sky")
    print(markdown(sizes, extra, cone))
    print(f"\nJSON: {out_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
