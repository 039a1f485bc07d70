"""``cone_search`` in Spark against a brute-force astropy oracle, set for set.

The sky: a few thousand positions, most of them crowded around the hard places (both poles, the
RA 0 / 360 seam, a corner where four base cells meet), plus the corners of the covering cells
(exactly on cell borders) and points a hair inside and outside each cone's edge.  Each cone's
answer must be exactly the rows that ``SkyCoord.separation`` puts within the radius.
"""

from __future__ import annotations

import math

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from cdshealpix import nested
from pyspark.sql import functions as F

from astrolake.errors import UsageError
from astrolake.lake.tables import Lake
from astrolake.sky.cone import cone_files, cone_order, cone_search
from astrolake.sky.healpix import healpix_index, with_healpix

CONES = [
    (0.0, 0.0, 0.5),  # on the seam
    (359.95, 10.0, 1 / 60),
    (360.0, -30.0, 0.2),
    (12.0, 90.0, 1.0),  # the poles
    (200.0, -90.0, 0.3),
    (100.0, 89.9, 0.25),
    (45.0, math.degrees(math.asin(2 / 3)), 0.1),  # a base-cell corner
    (150.0, 20.0, 10.0),  # the largest radius
    (150.0, 20.0, 0.5 / 3600),  # half an arcsecond
]


def _sky() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1729)
    ra = [rng.uniform(0, 360, 800)]
    dec = [np.degrees(np.arcsin(rng.uniform(-1, 1, 800)))]
    for c_ra, c_dec, radius in CONES:
        centre = SkyCoord(c_ra * u.deg, c_dec * u.deg)
        # a crowd within two radii, and points a hair inside and outside the edge
        sep = np.r_[2 * radius * np.sqrt(rng.uniform(0, 1, 300)), radius * (1 - 1e-7), radius * (1 + 1e-7)] * u.deg
        moved = centre.directional_offset_by(rng.uniform(0, 360, sep.size) * u.deg, sep)
        # the corners of the covering cells near the centre: on cell borders
        order = cone_order(radius)
        cells = nested.cone_search(centre.ra, centre.dec, radius * u.deg, order, flat=True)[0][:40]
        lon, lat = nested.vertices(cells, order)
        ra += [moved.ra.deg, lon.to_value(u.deg).ravel()]
        dec += [moved.dec.deg, lat.to_value(u.deg).ravel()]
    ra_all, dec_all = np.concatenate(ra) % 360.0, np.clip(np.concatenate(dec), -90, 90)
    ra_all[:2], dec_all[:2] = 0.0, [90.0, -90.0]  # the poles themselves
    return ra_all, dec_all


@pytest.fixture(scope="module")
def sky(spark):
    ra, dec = _sky()
    rows = [(i, float(a), float(d)) for i, (a, d) in enumerate(zip(ra, dec, strict=True))]
    rows += [(len(rows), None, 10.0), (len(rows) + 1, 10.0, None)]  # missing positions
    df = spark.createDataFrame(rows, "id LONG, ra DOUBLE, dec DOUBLE")
    return ra, dec, with_healpix(df).cache()


def _oracle(ra, dec, c_ra, c_dec, radius) -> tuple[set[int], set[int]]:
    """(ids within the radius, ids too close to the edge to call: rounding decides them)."""
    sep = SkyCoord(ra * u.deg, dec * u.deg).separation(SkyCoord(c_ra * u.deg, c_dec * u.deg)).deg
    edge = np.abs(sep - radius) <= 1e-9 * radius + 1e-13
    return set(np.flatnonzero((sep <= radius) & ~edge).tolist()), set(np.flatnonzero(edge).tolist())


@pytest.mark.parametrize(("c_ra", "c_dec", "radius"), CONES)
def test_cone_equals_the_oracle(sky, c_ra, c_dec, radius):
    ra, dec, df = sky
    want, undecided = _oracle(ra, dec, c_ra, c_dec, radius)
    assert len(undecided) < 3 and len(want) >= 5  # the sky really crowds this cone
    rows = cone_search(df, c_ra, c_dec, radius).select("id", "sep_arcsec").collect()
    got = {r["id"] for r in rows}
    assert got - undecided == want, f"missing {sorted(want - got)[:5]}, extra {sorted(got - want - undecided)[:5]}"
    assert len(rows) == len(got)
    seps = SkyCoord(ra[[r["id"] for r in rows]] * u.deg, dec[[r["id"] for r in rows]] * u.deg).separation(
        SkyCoord(c_ra * u.deg, c_dec * u.deg)
    )
    np.testing.assert_allclose([r["sep_arcsec"] for r in rows], seps.arcsec, rtol=1e-9, atol=1e-9)


def test_cone_without_the_index_column_gives_the_same_rows(sky):
    ra, dec, df = sky
    for c_ra, c_dec, radius in CONES[:5]:
        with_index = {r["id"] for r in cone_search(df, c_ra, c_dec, radius).select("id").collect()}
        plain = cone_search(df.drop("healpix_29"), c_ra, c_dec, radius)
        assert "healpix_29" not in plain.columns
        assert {r["id"] for r in plain.select("id").collect()} == with_index


def test_cone_filters_on_the_index_ranges(sky):
    """The covering ranges reach the plan as BETWEEN-style bounds on healpix_29 (what Delta's data
    skipping reads); a wrong index column would lose rows."""
    _, _, df = sky
    plan = cone_search(df, 12.0, 90.0, 1.0)._jdf.queryExecution().optimizedPlan().toString()
    assert "healpix_29" in plan and ">=" in plan and "<=" in plan
    scrambled = df.withColumn("healpix_29", F.col("healpix_29") + F.lit(1 << 50))
    assert cone_search(scrambled, 12.0, 90.0, 1.0).count() < cone_search(df, 12.0, 90.0, 1.0).count()


def test_cone_on_other_column_names(spark):
    ra, dec = np.array([10.0, 10.001, 11.0]), np.array([-5.0, -5.0, -5.0])
    df = spark.createDataFrame(
        [(i, float(a), float(d)) for i, (a, d) in enumerate(zip(ra, dec, strict=True))],
        "i INT, raMean DOUBLE, decMean DOUBLE",
    )
    got = cone_search(df, 10.0, -5.0, 0.01, ra_col="raMean", dec_col="decMean", index_col="idx")
    assert sorted(r["i"] for r in got.collect()) == [0, 1]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((10.0, 0.0, 0.0), "radius must be > 0 and <= 10 degrees, not 0"),
        ((10.0, 0.0, 11.0), "not 11"),
        ((-1.0, 0.0, 1.0), "ra must be within"),
        ((10.0, 95.0, 1.0), "dec must be within"),
    ],
)
def test_bad_cones_are_refused(sky, args, message):
    with pytest.raises(UsageError, match=message):
        cone_search(sky[2], *args)


def test_missing_position_column_is_refused(sky):
    with pytest.raises(UsageError, match="no column RA"):
        cone_search(sky[2], 10.0, 0.0, 1.0, ra_col="RA")


def test_cone_on_a_clustered_delta_table_reads_few_files(spark, fresh_settings):
    """On a Delta table whose files each hold one stretch of healpix_29, a small cone reads one or
    two files of sixteen, and returns what the oracle returns."""
    lake = Lake(spark, fresh_settings)
    rng = np.random.default_rng(5)
    ra, dec = rng.uniform(0, 360, 3000), np.degrees(np.arcsin(rng.uniform(-1, 1, 3000)))
    index = healpix_index(ra, dec)
    rows = sorted(zip(range(ra.size), ra.tolist(), dec.tolist(), index.tolist(), strict=True), key=lambda r: r[3])
    # sorted rows in 16 slices: 16 files, each one stretch of healpix_29 (as clustering leaves them)
    df = spark.createDataFrame(
        spark.sparkContext.parallelize(rows, 16), "id LONG, ra DOUBLE, dec DOUBLE, healpix_29 LONG"
    )
    df.write.format("delta").save(lake.location("silver_cone_test"))
    c_ra, c_dec, radius = float(ra[7]), float(dec[7]), 3.0
    stats = cone_files(lake, "silver_cone_test", c_ra, c_dec, radius)
    want, _ = _oracle(ra, dec, c_ra, c_dec, radius)
    assert stats.files_total == 16
    assert 1 <= stats.files_read <= 3, stats
    assert stats.rows == len(want) and stats.rows > 0
    assert "of 16 files" in stats.line()
    got = {r["id"] for r in cone_search(lake.read("silver_cone_test"), c_ra, c_dec, radius).select("id").collect()}
    assert got == want
