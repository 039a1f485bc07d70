"""A batch whose ledger does not close raises LedgerError (exit 3) and is recorded as not closing.

No fault is injected into the code: another writer leaves a quarantine row stamped with the id the
next batch will get (a stray or replayed append from outside astrolake).  The ledger counts that
batch's quarantine rows from the table, so it finds one row more than the batch read, which is
exactly the "counted twice" case the ledger exists to catch.
"""

from __future__ import annotations

import datetime as dt

import pytest
from pyspark.sql import functions as F

from astrolake.errors import IntegrityError
from astrolake.lake import pipeline
from astrolake.lake.tables import Lake
from spark.lake.test_ingest import HEADER, row

CATALOG = "sdss_dr14_skyserver"


def test_a_ledger_that_does_not_close_raises_and_is_recorded(spark, fresh_settings, tmp_path):
    lake = Lake(spark, fresh_settings)
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    first.write_text("\n".join([HEADER, *(row(plate=300, fiber=f) for f in range(1, 6))]) + "\n")
    second.write_text("\n".join([HEADER, *(row(plate=301, fiber=f) for f in range(1, 4))]) + "\n")
    (led,) = pipeline.ingest(lake, CATALOG, [str(first)]).ledgers
    assert (led.batch_id, led.read, led.inserted, led.closes) == (1, 5, 5, True)

    stray = {
        "catalog": CATALOG,
        "_batch_id": 2,  # the id the next batch gets
        "_key": "301|51600|99",
        "_reasons": ["written by another job"],
        "_raw": None,
        "_fields": None,
        "_source_file": "elsewhere.csv",
        "_row_number": 1,
        "_quarantined_at": dt.datetime(2026, 1, 1),
    }
    lake.append(spark.createDataFrame([stray], schema=lake.read(pipeline.QUARANTINE).schema), pipeline.QUARANTINE)

    with pytest.raises(pipeline.LedgerError) as err:
        pipeline.ingest(lake, CATALOG, [str(second)])
    assert isinstance(err.value, IntegrityError) and err.value.exit_code == 3
    assert str(err.value) == (
        f"ledger {CATALOG} batch 2 (ingest): read 3 = inserted 3 + updated 0 + duplicates 0 + quarantined 1"
        "  [DOES NOT CLOSE]"
    )
    # the ledger row is written before the error: the batch is on record as not closing
    rows = lake.read(pipeline.LEDGER).where(F.col("catalog") == CATALOG).orderBy("batch_id").collect()
    assert [(r["batch_id"], r["read"], r["inserted"], r["quarantined"], r["closes"]) for r in rows] == [
        (1, 5, 5, 0, True),
        (2, 3, 3, 1, False),
    ]
    assert lake.read(f"silver_{CATALOG}").count() == 8  # the rows themselves were written
