"""Jobs killed with SIGKILL at fault points between their commits (``astrolake.faults``), then run
again: every table ends key for key as a run without the kill leaves it, with one closing ledger
row per batch.

``make test`` kills each job once (the point is chosen by ``ASTROLAKE_KILL_SEED``, default 0);
``make test-slow`` runs every point of every job."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from astrolake.lake import pipeline
from astrolake.lake.tables import Lake
from astrolake.layout import LEDGER, QUARANTINE
from astrolake.ml import features

from .test_ingest import HEADER, row

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
CATALOG = "sdss_dr14_skyserver"
SILVER, GOLD = f"silver_{CATALOG}", f"gold_{CATALOG}"
SEED = int(os.environ.get("ASTROLAKE_KILL_SEED", "0"))
#: each job and the points it passes, in the order of its commits
JOBS = {
    "refresh": ["batch.bronze", "batch.quarantine", "batch.silver"],
    "revalidate": ["batch.quarantine", "batch.silver"],
    "features": ["gold.written"],
    "features-refresh": ["gold.merged"],
}
#: one point per job in the main tier (chosen by the seed), every other point behind the slow marker
CASES = [
    pytest.param(job, p, id=f"{job}-{p}", marks=[] if i == SEED % len(points) else [pytest.mark.slow])
    for job, points in JOBS.items()
    for i, p in enumerate(points)
]
SILVER_COLUMNS = ["plate", "mjd", "fiberid", "ra", "dec", "u", "class", "_row_hash", "_batch_id", "_first_batch_id"]
GOLD_COLUMNS = ["_key", "split", "u", "u_g", "u0", "ebv_sfd", "class"]


def landing(root):
    """A landing folder with 60 rows in a.csv, and the text of b.csv: 30 of them changed, 30 new, 5 bad."""
    folder = root / "landing"
    folder.mkdir(parents=True)
    first = [row(plate=300, fiber=f) for f in range(1, 61)]
    second = [row(plate=300, fiber=f, u="18.5") for f in range(31, 61)]
    second += [row(plate=301, fiber=f) for f in range(1, 31)] + [row(plate=302, fiber=f, ra="400") for f in range(5)]
    (folder / "a.csv").write_text("\n".join([HEADER, *first]) + "\n")
    return folder, "\n".join([HEADER, *second]) + "\n"


def killed(args: list[str], fault: str, base: str) -> None:
    """``astrolake ARGS`` in a child process that SIGKILLs itself at ``fault``."""
    code = f"import sys\nfrom astrolake.cli import main\nsys.exit(main({[*args, '--base-path', base, '--quiet']!r}))\n"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ASTROLAKE_", "PYSPARK_GATEWAY"))}
    env.update(ASTROLAKE_FAULT=fault, SPARK_LOCAL_IP="127.0.0.1", TF_USE_LEGACY_KERAS="1")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
    assert f"fault point {fault}" in proc.stderr


def state(lake) -> dict:
    """Silver, quarantine, gold (where built) row by row, bronze per batch, and the ledger."""

    def rows(table, columns):
        return sorted(tuple(r) for r in lake.read(table).select(*columns).collect())

    out = {
        "silver": rows(SILVER, SILVER_COLUMNS),
        "quarantine": sorted((r["_key"], tuple(r["_reasons"])) for r in lake.read(QUARANTINE).collect()),
        "bronze": sorted(tuple(r) for r in lake.read(f"bronze_{CATALOG}").groupBy("_batch_id").count().collect()),
        "ledger": sorted(
            (r["batch_id"], r["operation"], r["read"], r["inserted"], r["updated"], r["quarantined"], r["closes"])
            for r in lake.read(LEDGER).collect()
        ),
    }
    if lake.exists(GOLD):
        out["gold"] = rows(GOLD, GOLD_COLUMNS)
    return out


def run(job: str, lake, root, fault: str | None) -> dict:
    """The job on a lake that holds a.csv (and its gold, for a gold refresh), killed at ``fault``
    when given and then run again as a scheduler would; the tables afterwards."""
    folder, second = landing(root)
    base = lake.settings.base_path
    pipeline.refresh(lake, CATALOG, str(folder))
    if job == "features-refresh":
        features.build_gold(lake, CATALOG)
    if job in ("refresh", "features-refresh"):
        (folder / "b.csv").write_text(second)
    if job == "refresh":
        if fault:
            killed(["refresh", CATALOG, "--landing", str(folder)], fault, base)
        pipeline.refresh(lake, CATALOG, str(folder))
    elif job == "revalidate":
        if fault:
            killed(["revalidate", CATALOG], fault, base)
            pipeline.refresh(lake, CATALOG, str(folder))  # any later run finishes the planned re-validation
        else:
            pipeline.revalidate(lake, CATALOG)
    else:
        if job == "features-refresh":
            pipeline.refresh(lake, CATALOG, str(folder))
        if fault:
            killed(["features", CATALOG], fault, base)
        features.build_gold(lake, CATALOG)
    return state(lake)


@pytest.mark.parametrize("job, fault", CASES)
def test_a_killed_job_run_again_leaves_every_table_as_an_unkilled_run(spark, settings, tmp_path, job, fault):
    def lake_in(name):
        return Lake(spark, settings.with_overrides(base_path=str(tmp_path / name / "lake")))

    reference = run(job, lake_in("reference"), tmp_path / "reference", None)
    after = run(job, lake_in("killed"), tmp_path / "killed", fault)
    assert set(after) == set(reference)
    for table in reference:
        assert after[table] == reference[table], f"{table} differs after {job} was killed at {fault}"
    assert all(entry[-1] for entry in after["ledger"]), "a batch's ledger does not close"
