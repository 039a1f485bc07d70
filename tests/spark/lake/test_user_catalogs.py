"""A user's catalogs folder (examples/catalogs) ingests the SDSS and Pan-STARRS field files."""

from __future__ import annotations

import pytest
from pyspark.sql import functions as F

from astrolake.catalogs import contract
from astrolake.lake import pipeline
from astrolake.lake.tables import Lake
from conftest import ROOT, shared_file

EXAMPLES = ROOT / "examples" / "catalogs"


@pytest.fixture
def user_lake(spark, fresh_settings):
    saved = list(contract._registered)
    yield Lake(spark, fresh_settings.with_overrides(catalogs_path=str(EXAMPLES)))
    contract._registered[:] = saved  # the folder was registered for this test only


@pytest.mark.shared_data
def test_sdss_and_ps1_field_files_ingest_through_the_example_catalogs(user_lake):
    lake = user_lake
    sdss = shared_file("xmatch_sdss_panstarrs/sdss_308.csv")
    ps1 = shared_file("xmatch_sdss_panstarrs/panstarrs_308.csv")
    # the '#Table1' line comes before the header: neither read nor counted
    (a,) = pipeline.ingest(lake, "sdss_dr14_fields", [str(sdss)]).ledgers
    assert (a.read, a.inserted, a.duplicates, a.quarantined, a.skipped, a.closes) == (367, 367, 0, 0, 0, True)
    stars = lake.read("silver_sdss_dr14_fields").where(F.col("type") == 6).count()
    assert stars == 359  # the README's type counts
    # the last line has no line break; -999 means a missing error: null, and the row is kept
    (b,) = pipeline.ingest(lake, "ps1_dr1_fields", [str(ps1)]).ledgers
    assert (b.read, b.inserted, b.duplicates, b.quarantined, b.closes) == (2122, 2122, 0, 0, True)
    silver = lake.read("silver_ps1_dr1_fields")
    errs = ["err_g", "err_r", "err_i", "err_z"]
    assert silver.where(F.greatest(*[F.col(e).isNull().cast("int") for e in errs]) == 1).count() == 509
    assert silver.where(F.least(*[F.col(e).isNull().cast("int") for e in errs]) == 1).count() == 206
    assert silver.where(F.col("healpix_29").isNull()).count() == 0
