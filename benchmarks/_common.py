"""What every benchmark shares: importing this puts ``lib/`` on ``sys.path`` and sets the
environment astrolake runs with (as the Makefile does); then row-count arguments, folder
sizes, load average, memory, the git state that was measured, and the day's results file."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lib"))
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")


def parse_rows(text: str) -> list[int]:
    """``"1e5,1e6"`` -> ``[100000, 1000000]`` (argparse type; positive integers only)."""
    sizes = []
    for part in text.split(","):
        part = part.strip()
        if part:
            try:
                value = float(part)
            except ValueError:
                raise argparse.ArgumentTypeError(f"row count {part!r} is not a number") from None
            if value < 1 or value != int(value):
                raise argparse.ArgumentTypeError(f"row count {part!r} is not a positive integer")
            sizes.append(int(value))
    if not sizes:
        raise argparse.ArgumentTypeError("no row counts given")
    return sizes


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
