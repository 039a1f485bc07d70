"""What every benchmark shares: importing this puts ``lib/`` on ``sys.path`` and sets the
environment astrolake runs with (as the Makefile does); then where real data lives, row-count
arguments, progress lines, timers, Markdown tables, folder sizes, load average, memory, the
machine and the git state that was measured, and the day's results file."""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# real catalogs, found the way the tests find them: ../shared/data beside the repository
SHARED_DATA = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(ROOT / "lib"))
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")


def parse_count(text: str, minimum: int = 0) -> int:
    """``"1e7"`` -> ``10000000``: a whole row count of at least ``minimum`` (argparse type)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"row count {text!r} is not a number") from None
    if value < minimum or value != int(value):
        kind = "a positive integer" if minimum == 1 else f"a whole number >= {minimum}"
        raise argparse.ArgumentTypeError(f"row count {text!r} is not {kind}")
    return int(value)


def parse_rows(text: str) -> list[int]:
    """``"1e5,1e6"`` -> ``[100000, 1000000]`` (argparse type; positive integers only)."""
    sizes = [parse_count(part.strip(), minimum=1) for part in text.split(",") if part.strip()]
    if not sizes:
        raise argparse.ArgumentTypeError("no row counts given")
    return sizes


def data_folder(path: Path, files: list[str]) -> Path:
    """``path`` if it holds every one of ``files``; else exit with one line saying what is missing."""
    path = Path(path)
    missing = [f for f in files if not (path / f).is_file()]
    if missing:
        sys.exit(
            f"error: {path} lacks {', '.join(missing)}; give the folder that holds them with --data "
            f"(default: ../shared/data beside the repository)"
        )
    return path


def say(msg: str) -> None:
    """A timestamped progress line on stderr."""
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class Timed:
    """``with Timed() as t: ...``; then ``t.s`` holds the wall seconds."""

    def __enter__(self):
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.s = time.perf_counter() - self.t0
        return False


def r4(x, nd: int = 5):
    """``x`` rounded for the JSON (None for None / NaN)."""
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else round(float(x), nd)


def fmt(x, nd=4) -> str:
    """``x`` for a Markdown cell: – for None, strings as they are, numbers with ``nd`` decimals."""
    if x is None:
        return "–"
    if isinstance(x, str):
        return x
    return f"{x:.{nd}f}"


def table(header: list[str], rows: list[list]) -> str:
    """A Markdown table."""
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def machine() -> dict:
    """Host, CPUs and their model, memory, Python and platform."""
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


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def git_state() -> dict:
    """The commit measured, and a digest of what under ``lib/`` differed from it (uncommitted
    changes and files git does not track yet), since the numbers measure the working tree."""

    def run(*args):  # read-only git commands (no index refresh)
        try:
            return subprocess.run(
                ["git", "--no-optional-locks", *args], cwd=ROOT, capture_output=True, text=True, check=True
            ).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return None

    status = run("status", "--porcelain")
    diff = run("diff", "HEAD", "--", "lib") or ""
    changed = (run("diff", "HEAD", "--name-only", "--", "lib") or "").splitlines()
    new = (run("ls-files", "--others", "--exclude-standard", "--", "lib") or "").splitlines()
    digest = hashlib.sha256(diff.encode())
    for name in sorted(new):
        digest.update(name.encode() + b"\0" + (ROOT / name).read_bytes())
    return {
        "commit": run("rev-parse", "HEAD"),
        "dirty": bool(status) if status is not None else None,
        "lib_changed_files": changed,
        "lib_new_files": new,
        "lib_diff_sha256": digest.hexdigest() if changed or new else None,
    }


def write_json(run: dict, path: Path, benchmark: str) -> Path:
    """Append this run to the day's results file (replacing an earlier copy with the same
    ``started_at``, so a long run can save as it goes); written atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"benchmark": benchmark, "runs": []}
    if path.is_file():
        try:
            doc = json.loads(path.read_text())
        except json.JSONDecodeError:
            pass
    runs = [r for r in doc.setdefault("runs", []) if r.get("started_at") != run.get("started_at")]
    doc["runs"] = runs + [run]
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2, default=str) + "\n")
    os.replace(tmp, path)
    return path


def memory_gib() -> float | None:
    """Physical memory of the machine (``MemTotal``), GiB."""
    try:
        with open("/proc/meminfo") as fh:
            return round(int(fh.readline().split()[1]) / 2**20, 1)
    except OSError:
        return None


def timed(fn) -> float:
    """Seconds ``fn()`` takes."""
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def driver_memory(spark, after_gc: bool = False) -> dict:
    """JVM heap in use on the driver (and, with ``after_gc``, after a collection) and the Python
    process's peak RSS, in MB."""
    import resource

    jvm = spark.sparkContext._jvm
    rt = jvm.java.lang.Runtime.getRuntime()
    out = dict(jvm_heap_used_mb=round((rt.totalMemory() - rt.freeMemory()) / 2**20, 1))
    if after_gc:
        jvm.java.lang.System.gc()
        out["jvm_heap_after_gc_mb"] = round((rt.totalMemory() - rt.freeMemory()) / 2**20, 1)
    out["jvm_heap_max_mb"] = round(rt.maxMemory() / 2**20, 1)
    out["python_peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return out
