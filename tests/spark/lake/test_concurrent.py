"""Two writers at once on one catalog (two threads of one Spark application, each a real Delta
writer with its own transactions and its own open lock file): the second waits on the catalog's
lock for the first to finish, and the final state is exact: every key once in silver, each batch
once in bronze, one closing ledger row per batch."""

from __future__ import annotations

import threading

from pyspark.sql import functions as F

from astrolake.lake import pipeline
from astrolake.lake.tables import Lake
from astrolake.layout import LEDGER

from .test_ingest import HEADER, row

CATALOG = "sdss_dr14_skyserver"
SILVER, BRONZE = "silver_sdss_dr14_skyserver", "bronze_sdss_dr14_skyserver"


def at_once(*runs):
    """Start every run in a thread of its own at the same moment; their results (or errors)."""
    results: list = [None] * len(runs)
    start = threading.Barrier(len(runs))

    def go(i, run):
        start.wait()
        try:
            results[i] = run()
        except Exception as exc:  # reported by the assertions, with the error
            results[i] = exc

    threads = [threading.Thread(target=go, args=(i, run)) for i, run in enumerate(runs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def landing_with(tmp_path, plates):
    folder = tmp_path / "landing"
    folder.mkdir(exist_ok=True)
    for p in plates:
        lines = [HEADER, *(row(plate=p, fiber=f, u=f"{18 + f / 100:.2f}") for f in range(1, 41))]
        (folder / f"plate{p}.csv").write_text("\n".join(lines) + "\n")
    return str(folder)


def assert_exact(lake, plates):
    silver = lake.read(SILVER)
    keys = sorted((r["plate"], r["fiberid"]) for r in silver.select("plate", "fiberid").collect())
    assert keys == sorted((p, f) for p in plates for f in range(1, 41))
    ledger = lake.read(LEDGER).where(F.col("catalog") == CATALOG).collect()
    batches = [r["batch_id"] for r in ledger if r["closes"]]
    assert len(batches) == len(set(batches)), f"a batch has two closing ledger rows: {sorted(batches)}"
    per_batch = {r["_batch_id"]: r["count"] for r in lake.read(BRONZE).groupBy("_batch_id").count().collect()}
    for r in ledger:
        if r["operation"] in ("ingest", "refresh"):
            assert per_batch[r["batch_id"]] == r["read"] + len(r["files"]), f"batch {r['batch_id']} twice in bronze"
    assert sum(r["inserted"] for r in ledger if r["operation"] != "revalidate") == len(keys)


def test_two_refreshes_at_once_take_each_file_once(spark, fresh_settings, tmp_path):
    lake = Lake(spark, fresh_settings)
    pipeline.ingest(lake, CATALOG, [landing_with(tmp_path, [300]) + "/plate300.csv"])
    landing = landing_with(tmp_path, [301, 302])
    results = at_once(*[lambda: pipeline.refresh(lake, CATALOG, landing)] * 2)
    assert not [r for r in results if isinstance(r, Exception)], results
    assert sum(len(r.ledgers) for r in results) == 1, "both refreshes ran the new batch"
    assert_exact(lake, [300, 301, 302])


def test_a_refresh_and_a_revalidate_at_once(spark, fresh_settings, tmp_path):
    lake = Lake(spark, fresh_settings)
    pipeline.ingest(lake, CATALOG, [landing_with(tmp_path, [300]) + "/plate300.csv"])
    landing = landing_with(tmp_path, [301])
    results = at_once(lambda: pipeline.refresh(lake, CATALOG, landing), lambda: pipeline.revalidate(lake, CATALOG))
    assert not [r for r in results if isinstance(r, Exception)], results
    assert_exact(lake, [300, 301])
    # and the revalidate, whichever went first, left silver as a revalidate now would
    assert pipeline.revalidate(lake, CATALOG).inserted == 80
    assert_exact(lake, [300, 301])
