"""Jobs killed with SIGKILL at fault points between their commits (``astrolake.faults``), then run
again: every table ends key for key as a run without the kill leaves it, with one closing ledger
row per batch.

``make test`` kills one lake job at one point (``ASTROLAKE_KILL_SEED`` picks another, and the
rows) and a score run; ``make test-slow`` runs every point of every job."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from collections import Counter

import pytest

from astrolake import layout
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
    "ingest": ["batch.bronze", "batch.quarantine", "batch.silver"],
    "refresh": ["batch.bronze", "batch.quarantine", "batch.silver"],
    "revalidate": ["batch.quarantine", "batch.silver"],
    "features": ["gold.written"],
    "features-refresh": ["gold.merged"],
}
#: every (job, point); ``make test`` kills one of them (refresh between its silver write and its
#: ledger row, or the one ``ASTROLAKE_KILL_SEED`` picks), ``make test-slow`` every other one
POINTS = [(job, p) for job, points in JOBS.items() for p in points]
MAIN = POINTS[SEED % len(POINTS)] if "ASTROLAKE_KILL_SEED" in os.environ else ("refresh", "batch.silver")
CASES = [
    pytest.param(job, p, id=f"{job}-{p}", marks=[] if (job, p) == MAIN else [pytest.mark.slow]) for job, p in POINTS
]
SILVER_COLUMNS = ["plate", "mjd", "fiberid", "ra", "dec", "u", "class", "_row_hash", "_batch_id", "_first_batch_id"]
GOLD_COLUMNS = ["_key", "split", "u", "u_g", "u0", "ebv_sfd", "class"]


def landing(root, seed: int):
    """A landing folder with a.csv (40-80 rows), and the text of b.csv: some of them changed, 10-40
    new, 1-8 bad; the seed chooses."""
    rng = random.Random(seed)
    folder = root / "landing"
    folder.mkdir(parents=True)
    n = rng.randint(40, 80)
    first = [row(plate=300, fiber=f, u=f"{rng.uniform(15, 22):.3f}") for f in range(1, n + 1)]
    second = [row(plate=300, fiber=f, u="18.5") for f in sorted(rng.sample(range(1, n + 1), rng.randint(5, n // 2)))]
    second += [row(plate=301, fiber=f) for f in range(1, rng.randint(11, 41))]
    second += [row(plate=302, fiber=f, ra="400") for f in range(rng.randint(1, 8))]
    (folder / "a.csv").write_text("\n".join([HEADER, *first]) + "\n")
    return folder, "\n".join([HEADER, *second]) + "\n"


def killed(args: list[str], fault: str, base: str, **more_env: str) -> str:
    """``astrolake ARGS`` in a child process that SIGKILLs itself at ``fault``; its stderr."""
    code = f"import sys\nfrom astrolake.cli import main\nsys.exit(main({[*args, '--base-path', base, '--quiet']!r}))\n"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ASTROLAKE_", "PYSPARK_GATEWAY"))}
    env.update(ASTROLAKE_FAULT=fault, SPARK_LOCAL_IP="127.0.0.1", TF_USE_LEGACY_KERAS="1", **more_env)
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
    assert f"fault point {fault}" in proc.stderr
    return proc.stderr


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


def run(job: str, lake, root, fault: str | None, seed: int = SEED) -> tuple[dict, str]:
    """The job on a lake that holds a.csv (and its gold, for a gold refresh), killed at ``fault``
    when given and then run again as a scheduler would; the tables afterwards and the killed
    process's stderr."""
    folder, second = landing(root, seed)
    base, err = lake.settings.base_path, ""
    if job == "ingest":
        if fault:
            err = killed(["ingest", CATALOG, str(folder / "a.csv")], fault, base)
        pipeline.ingest(lake, CATALOG, [str(folder / "a.csv")])
        return state(lake), err
    pipeline.refresh(lake, CATALOG, str(folder))
    if job == "features-refresh":
        features.build_gold(lake, CATALOG)
    if job in ("refresh", "features-refresh"):
        (folder / "b.csv").write_text(second)
    if job == "refresh":
        if fault:
            err = killed(["refresh", CATALOG, "--landing", str(folder)], fault, base)
        pipeline.refresh(lake, CATALOG, str(folder))
    elif job == "revalidate":
        if fault:
            err = killed(["revalidate", CATALOG], fault, base)
            pipeline.refresh(lake, CATALOG, str(folder))  # any later run finishes the planned re-validation
        else:
            pipeline.revalidate(lake, CATALOG)
    else:
        if job == "features-refresh":
            pipeline.refresh(lake, CATALOG, str(folder))
        if fault:
            err = killed(["features", CATALOG], fault, base)
        features.build_gold(lake, CATALOG)
    return state(lake), err


def compare(reference: dict, after: dict) -> dict[str, int]:
    """Rows checked, lost (in the unkilled run, not after the kill) and extra (after the kill only,
    or there more often), over every table."""
    counts = {"rows_checked": 0, "rows_lost": 0, "rows_extra": 0}
    for table in reference.keys() | after.keys():
        want, got = Counter(reference.get(table, [])), Counter(after.get(table, []))
        counts["rows_checked"] += sum(want.values())
        counts["rows_lost"] += sum((want - got).values())
        counts["rows_extra"] += sum((got - want).values())
    return counts


def kill_case(spark, settings, root, job: str, fault: str, seed: int = SEED) -> dict:
    """One job killed at one point and run again, beside the same job never killed: the two states
    and their comparison (also what benchmarks/bench_reliability.py counts)."""

    def lake_in(name):
        return Lake(spark, settings.with_overrides(base_path=str(root / name / "lake")))

    reference, _ = run(job, lake_in("reference"), root / "reference", None, seed)
    after, err = run(job, lake_in("killed"), root / "killed", fault, seed)
    return {"reference": reference, "after": after, "stderr": err, **compare(reference, after)}


@pytest.mark.parametrize("job, fault", CASES)
def test_a_killed_job_run_again_leaves_every_table_as_an_unkilled_run(spark, settings, tmp_path, job, fault):
    case = kill_case(spark, settings, tmp_path, job, fault)
    reference, after = case["reference"], case["after"]
    assert set(after) == set(reference)
    for table in reference:
        assert after[table] == reference[table], f"{table} differs after {job} was killed at {fault}"
    assert all(entry[-1] for entry in after["ledger"]), "a batch's ledger does not close"
    assert (case["rows_lost"], case["rows_extra"]) == (0, 0) and case["rows_checked"] >= 40
    assert "Traceback" not in case["stderr"]


def score_case(spark, settings, root, seed: int = SEED) -> dict:
    """Score runs while gold refreshes (both finish, the next score takes what it missed); then three
    objects are retracted and 40 land, and the next score run dies between soft-deleting the retracted
    predictions and appending the new ones, and runs again. Every live gold key must then have exactly
    one live prediction and each retracted key exactly one retracted one: the counts of rows checked,
    lost and extra, the concurrent runs' results, and the killed process's stderr."""
    from astrolake.demo import demo_file
    from astrolake.lake.retract import retract
    from astrolake.ml import scoring, train

    from .test_concurrent import at_once

    root.mkdir(parents=True, exist_ok=True)
    uri = f"sqlite:///{root}/mlflow.db"
    lake = Lake(spark, settings.with_overrides(base_path=str(root / "lake"), tracking_uri=uri, experiment="k"))
    header, *lines = open(demo_file()).read().splitlines()
    lines = lines[seed * 380 : (seed + 1) * 380]

    def land(name, part):
        (root / name).write_text("\n".join([header, *part]) + "\n")
        pipeline.ingest(lake, CATALOG, [str(root / name)])

    land("a.csv", lines[:300])
    features.build_gold(lake, CATALOG)
    model = train.train(lake, CATALOG, family="logreg", features=["u_g", "g_r"], name="t_kill_score")
    model_uri = f"models:/t_kill_score/{model.version}"
    land("b.csv", lines[300:340])
    gold_run, first = at_once(
        lambda: features.build_gold(lake, CATALOG), lambda: scoring.score(lake, model_uri, GOLD, "predictions_k")
    )
    assert not isinstance(gold_run, Exception) and not isinstance(first, Exception), (gold_run, first)
    second = scoring.score(lake, model_uri, GOLD, "predictions_k")

    chosen = sorted(lake.read(GOLD).collect(), key=lambda r: r["_key"])[:3]
    listed = [f"{r['plate']},{r['mjd']},{r['fiberid']}" for r in chosen]
    (root / "w.retract.csv").write_text("\n".join(["plate,mjd,fiberid", *listed]) + "\n")
    (led,) = retract(lake, CATALOG, str(root / "w.retract.csv")).ledgers
    land("c.csv", lines[340:380])
    features.build_gold(lake, CATALOG)
    args = ["score", "--model", model_uri, "--table", GOLD, "--out", "predictions_k"]
    err = killed(args, "score.retracted", lake.settings.base_path, ASTROLAKE_TRACKING_URI=uri, ASTROLAKE_EXPERIMENT="k")
    again = scoring.score(lake, model_uri, GOLD, "predictions_k")

    preds = lake.read("predictions_k").select("_key", "_retracted_batch").collect()
    want = Counter({(r["_key"], None) for r in layout.live(lake.read(GOLD)).collect()})
    want.update((r["_key"], led.batch_id) for r in chosen)
    got = Counter((r["_key"], r["_retracted_batch"]) for r in preds)
    return {
        "scored": (first.scored, second.scored, again.scored),
        "retracted": again.retracted,
        "stderr": err,
        "rows_checked": sum(want.values()),
        "rows_lost": sum((want - got).values()),
        "rows_extra": sum((got - want).values()),
    }


def test_score_beside_a_gold_refresh_then_killed_after_it_retracted_predictions(spark, settings, tmp_path):
    case = score_case(spark, settings, tmp_path)
    first, second, again = case["scored"]
    assert first in (300, 340) and first + second == 340  # the gold it read: before or after the refresh
    assert (again, case["retracted"]) == (40, 0)  # the killed run's retractions stand
    assert (case["rows_checked"], case["rows_lost"], case["rows_extra"]) == (380, 0, 0)
    assert "Traceback" not in case["stderr"]
