"""A batch whose ledger does not close raises LedgerError (exit 3), is rolled back by its
``_batch_id`` and is replayed by the next run.

The fault is a lost row: the step that keeps the last occurrence of each key is wrapped so that
it drops one valid row (what a bug in deduplication would do).  Silver's commit then holds one
row fewer than the batch read, the ledger (counted from the commits, then recounted from the
tables before it gives up) does not close, and the batch is rolled back.  Without the fault, the
next run replays the batch and gets exactly the expected rows.
"""

from __future__ import annotations

import pytest
from pyspark.sql import functions as F

from astrolake.errors import IntegrityError
from astrolake.lake import pipeline
from astrolake.lake.tables import Lake
from spark.lake.test_ingest import HEADER, row

CATALOG = "sdss_dr14_skyserver"


def test_a_ledger_that_does_not_close_is_rolled_back_and_replayed(spark, fresh_settings, tmp_path, monkeypatch):
    lake = Lake(spark, fresh_settings)
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    first.write_text("\n".join([HEADER, *(row(plate=300, fiber=f) for f in range(1, 6))]) + "\n")
    # batch 2 inserts three rows and changes one of batch 1's
    second.write_text(
        "\n".join([HEADER, *(row(plate=301, fiber=f) for f in range(1, 4)), row(plate=300, fiber=1, u="18.5")]) + "\n"
    )
    (led,) = pipeline.ingest(lake, CATALOG, [str(first)]).ledgers
    assert (led.batch_id, led.read, led.inserted, led.closes) == (1, 5, 5, True)
    after_first = silver_state(lake)
    assert after_first[(300, 1)] == (19.1, 1)

    keep_last = pipeline.last_occurrences

    def lossy(valid, key):
        winners, superseded = keep_last(valid, key)
        return winners.where(~((F.col("plate") == 301) & (F.col("fiberid") == 2))), superseded

    monkeypatch.setattr(pipeline, "last_occurrences", lossy)
    with pytest.raises(pipeline.LedgerError) as err:
        pipeline.ingest(lake, CATALOG, [str(second)])
    assert isinstance(err.value, IntegrityError) and err.value.exit_code == 3
    assert str(err.value).startswith(
        f"ledger {CATALOG} batch 2 (ingest): read 4 = inserted 2 + updated 1 + duplicates 0 + quarantined 0"
        "  [DOES NOT CLOSE]: the batch's rows were taken out of bronze, silver and quarantine"
    )
    # on record as not closing, and taken out of every table it wrote: silver is as batch 1 left it
    rows = lake.read(pipeline.LEDGER).where(F.col("catalog") == CATALOG).orderBy("batch_id").collect()
    assert [(r["batch_id"], r["read"], r["closes"]) for r in rows] == [(1, 5, True), (2, 4, False)]
    assert silver_state(lake) == after_first
    assert lake.read(f"bronze_{CATALOG}").where(F.col("_batch_id") == 2).count() == 0
    assert lake.read(pipeline.QUARANTINE).where(F.col("_batch_id") == 2).count() == 0

    # the fault is gone: the next run replays batch 2 with exactly its planned file, and now it closes
    monkeypatch.undo()
    (again,) = pipeline.ingest(lake, CATALOG, [str(second)]).ledgers
    assert (again.batch_id, again.read, again.inserted, again.updated, again.quarantined, again.closes) == (
        2,
        4,
        3,
        1,
        0,
        True,
    )
    state = silver_state(lake)
    assert len(state) == 8 and state[(300, 1)] == (18.5, 2) and state[(301, 1)][1] == 2
    assert {k: v for k, v in state.items() if k[0] == 300 and k[1] > 1} == {
        k: v for k, v in after_first.items() if k[1] > 1
    }
    assert lake.read(f"bronze_{CATALOG}").where(F.col("_batch_id") == 2).count() == 5  # header + 4 lines, once


def silver_state(lake) -> dict:
    """(plate, fiberid) -> (u, _batch_id) of every silver row."""
    return {(r["plate"], r["fiberid"]): (r["u"], r["_batch_id"]) for r in lake.read(f"silver_{CATALOG}").collect()}
