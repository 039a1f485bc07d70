"""The HEALPix index computed in the JVM (``healpix_column``) against cdshealpix, row for row.

Silver's ``healpix_29`` used to come from cdshealpix through a pandas UDF; it now comes from
Spark's own arithmetic.  Both must give the same cell for every position, or a cone search and a
cross-match would disagree with LSDB and with rows indexed before.
"""

from __future__ import annotations

import numpy as np
import pytest
from pyspark.sql import functions as F

from astrolake.sky.healpix import HEALPIX_ORDER, healpix_column, healpix_index, with_healpix


def _positions() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(2029)
    n = 60_000
    ra = rng.uniform(0, 360, n)
    dec = np.degrees(np.arcsin(rng.uniform(-1, 1, n)))
    # near both poles (the polar branch), at the |z| = 2/3 transition, on the RA seam and on the
    # base-cell borders (multiples of 45 degrees), and exact grid points
    polar = 90 - rng.uniform(0, 1e-3, 2000)
    transition = np.degrees(np.arcsin(2 / 3)) + rng.uniform(-1e-9, 1e-9, 2000)
    seam = rng.choice([0.0, 359.999999999, 360.0, 90.0, 180.0, 270.0, 45.0, 135.0], 2000)
    ra = np.r_[ra, rng.uniform(0, 360, 6000), seam, 0.0, 0.0, 10.0, 123.4]
    dec = np.r_[dec, polar, -polar, transition, rng.uniform(-89, 89, 2000), 90.0, -90.0, 0.0, 41.8103148958]
    return ra, dec


@pytest.mark.parametrize("order", [0, 3, 12, HEALPIX_ORDER])
def test_jvm_index_equals_cdshealpix(spark, order):
    ra, dec = _positions()
    df = spark.createDataFrame(
        [(i, float(a), float(d)) for i, (a, d) in enumerate(zip(ra, dec, strict=True))], "i INT, ra DOUBLE, dec DOUBLE"
    )
    got = np.array(
        [r[0] for r in df.orderBy("i").select(healpix_column("ra", "dec", order=order)).collect()], dtype="int64"
    )
    want = healpix_index(ra, dec, order=order)
    bad = np.flatnonzero(got != want)
    assert bad.size == 0, f"{bad.size} of {ra.size} differ, e.g. ra={ra[bad[:3]]} dec={dec[bad[:3]]}"


def test_jvm_index_of_unknown_positions_is_null(spark):
    df = spark.createDataFrame(
        [
            (1, None, 10.0),
            (2, 10.0, None),
            (3, float("nan"), 0.0),
            (4, 10.0, 90.5),
            (5, float("inf"), 0.0),
            (6, -10.0, 0.0),
        ],
        "i INT, ra DOUBLE, dec DOUBLE",
    )
    got = {r["i"]: r["h"] for r in df.select("i", healpix_column().alias("h")).collect()}
    assert [got[i] for i in range(1, 6)] == [None] * 5
    assert got[6] == int(healpix_index([350.0], [0.0])[0])  # RA wraps


def test_order_out_of_range_is_refused():
    with pytest.raises(ValueError, match="order"):
        healpix_column(order=30)


def test_index_is_compiled_not_a_python_udf(spark):
    df = spark.range(3).select(F.col("id").cast("double").alias("ra"), F.lit(1.0).alias("dec"))
    plan = df.select(healpix_column())._jdf.queryExecution().executedPlan().toString()
    assert "ArrowEvalPython" not in plan and "BatchEvalPython" not in plan


def test_with_healpix_on_wide_rows_equals_the_column(spark):
    """The staged form (for wide rows) gives the same index as the single column."""
    ra, dec = _positions()
    rows = [(i, float(a), float(d), "x" * 5, 1.5) for i, (a, d) in enumerate(zip(ra[:5000], dec[:5000], strict=True))]
    df = spark.createDataFrame(rows, "i INT, ra DOUBLE, dec DOUBLE, s STRING, v DOUBLE")
    got = with_healpix(df).orderBy("i")
    assert got.columns == [*df.columns, "healpix_29"]
    assert [r["healpix_29"] for r in got.collect()] == healpix_index(ra[:5000], dec[:5000]).tolist()
