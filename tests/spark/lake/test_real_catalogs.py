"""Every real survey file of ../shared/data ingested into its catalog (real Spark + Delta).

Every catalog has a real sample (tests/data, or the shipped demo file for DR14), ingested into a lake
of its own (``sampled``): each object of the sample must be accounted for, and the checks of one quirk
each (exact FITS values, twin rows, ids above int64, two files in one catalog) run on them, so they
run in a plain clone and in ``make test``.  The whole files of ../shared/data (``ingested``: up to
100,000 rows each) repeat the object-by-object check at full size behind ``make test-slow`` (skipped
without ../shared/data).  Accounted for means: the distinct keys in silver plus the distinct
quarantined keys not in silver equal the file's object count, and every batch's ledger closes.
Expected values come from the files themselves (astropy, pandas, PROVENANCE.md), never from the code
under test.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import functions as F

from astrolake.catalogs.contract import get_catalog
from astrolake.demo import demo_file
from astrolake.lake import pipeline
from astrolake.lake.tables import Lake
from conftest import TESTS_DATA, shared_file

# catalog -> (files of ../shared/data ingested together, objects in them: PROVENANCE.md)
CASES = {
    "sdss_dr17_stellar": (["sdss_dr17_StellarObjs_99999.csv"], 99_999),
    "sdss_dr17_kaggle": (["sdss_dr17_star_classification_test20k.csv"], 20_000),
    "sdss_dr14_skyserver": (["sdss_dr14_skyserver_10k.csv"], 10_000),
    "sdss_skyserver_2022": (["sdss_skyserver_2022_balanced_30k.csv"], 30_000),
    "sdss_dr7_galaxies": (["sdss_dr7_galaxies_ast32.fits"], 24_496),
    "mlz_sdss_mgs": (["mlz_sdss_mgs_train.txt", "mlz_sdss_mgs_test.txt"], 10_000),
    "sdss_colours": (["ddastro_sdss_galaxy_colors_50k.csv"], 50_000),
}
# catalog -> (samples ingested together, objects in them: tests/data/PROVENANCE.md; DR14: the demo file)
SAMPLES = {
    "sdss_dr17_stellar": (["sdss_dr17_stellar_5k.csv"], 5000),
    "sdss_dr14_skyserver": ([demo_file()], 10_000),
    "sdss_skyserver_2022": (["sdss_skyserver_2022_500.csv"], 500),
    "sdss_dr7_galaxies": (["sdss_dr7_galaxies_1202.fits"], 1202),
    "sdss_colours": (["ddastro_sdss_galaxy_colors_500.csv"], 500),
    "sdss_dr17_kaggle": (["sdss_dr17_star_classification_500.csv"], 500),
    "mlz_sdss_mgs": (["mlz_sdss_mgs_train_1500.txt", "mlz_sdss_mgs_test_1500.txt"], 3000),
}
DR7 = TESTS_DATA / "sdss_dr7_galaxies_1202.fits"
DR17_500 = TESTS_DATA / "sdss_dr17_star_classification_500.csv"
COLOURS = TESTS_DATA / "ddastro_sdss_galaxy_colors_500.csv"
INT64_MAX = 2**63 - 1


@pytest.fixture(scope="module")
def lake(spark, settings, tmp_path_factory):
    """One fresh lake for the module (tables of every catalog side by side)."""
    return Lake(spark, settings.with_overrides(base_path=str(tmp_path_factory.mktemp("real_lake"))))


@pytest.fixture(scope="module")
def ingested(lake):
    """``ingested(catalog)`` -> the IngestResult of its one ingest (run on first use)."""
    done: dict[str, pipeline.IngestResult] = {}

    def _ingest(catalog: str) -> pipeline.IngestResult:
        files = [str(shared_file(name)) for name in CASES[catalog][0]]  # skips when absent
        if catalog not in done:
            done[catalog] = pipeline.ingest(lake, catalog, files)
        return done[catalog]

    return _ingest


@pytest.fixture(scope="module")
def sampled(spark, settings, tmp_path_factory):
    """``sampled(catalog)`` -> (lake, IngestResult) of the tests/data sample's one ingest (on first use)."""
    lake = Lake(spark, settings.with_overrides(base_path=str(tmp_path_factory.mktemp("sample_lake"))))
    done: dict[str, pipeline.IngestResult] = {}

    def _ingest(catalog: str) -> tuple[Lake, pipeline.IngestResult]:
        names, objects = SAMPLES[catalog]
        if catalog not in done:
            done[catalog] = pipeline.ingest(lake, catalog, [str(TESTS_DATA / n) for n in names])
            (led,) = done[catalog].ledgers
            # read counts every line after a header: MLZ's '#zs u g ...' line is read and skipped
            assert led.closes and led.read - led.skipped == objects and led.continuation == 0, led.line()
        return lake, done[catalog]

    return _ingest


def key_text(catalog: str):
    """The contract key of a silver row as one string, the way quarantine's ``_key`` writes it."""
    return F.concat_ws("|", *[F.col(f"`{k}`").cast("string") for k in get_catalog(catalog).contract.key])


def assert_every_object_accounted_for(lake, catalog: str, result, files: list[str], objects: int) -> None:
    """One batch read every object of ``files``; each is in silver (once) or only in quarantine."""
    (led,) = result.ledgers  # one batch, all files of the case together
    assert led.closes and led.read - led.skipped == objects and led.continuation == 0, led.line()
    stored = lake.read(pipeline.LEDGER).where(F.col("catalog") == catalog).collect()
    assert [(r["batch_id"], r["read"] - r["skipped"], r["closes"]) for r in stored] == [(led.batch_id, objects, True)]
    assert sorted(r.split("/")[-1] for r in stored[0]["files"]) == sorted(Path(f).name for f in files)

    # one pass over both tables: every key once, tagged by where it lives
    silver = lake.read(get_catalog(catalog).silver_table).select(key_text(catalog).alias("k"), F.lit(1).alias("s"))
    quarantined = (
        lake.read(pipeline.QUARANTINE)
        .where(F.col("catalog") == catalog)
        .select(F.col("_key").alias("k"), F.lit(0).alias("s"))
    )
    per_key = (
        silver.unionByName(quarantined).groupBy("k").agg(F.sum("s").alias("in_silver"), F.count("*").alias("rows"))
    )
    c = per_key.agg(
        F.count_if(F.col("in_silver") > 0).alias("silver_keys"),
        F.count_if(F.col("in_silver") == 0).alias("only_quarantined"),
        F.max("in_silver").alias("max_silver_rows"),
    ).first()
    assert c["silver_keys"] + c["only_quarantined"] == objects, c
    assert c["max_silver_rows"] == 1  # the silver key is unique
    assert c["silver_keys"] == led.inserted + led.updated  # silver holds what the ledger says


@pytest.mark.parametrize("catalog", list(CASES))
def test_every_object_of_the_sample_is_in_silver_or_quarantine(sampled, catalog):
    assert set(SAMPLES) == set(CASES)  # every catalog with a real file has a real sample
    lake, result = sampled(catalog)
    names, objects = SAMPLES[catalog]
    assert_every_object_accounted_for(lake, catalog, result, names, objects)


@pytest.mark.slow
@pytest.mark.shared_data
@pytest.mark.parametrize("catalog", list(CASES))
def test_every_object_of_the_whole_file_is_in_silver_or_quarantine(lake, ingested, catalog):
    files, objects = CASES[catalog]
    assert_every_object_accounted_for(lake, catalog, ingested(catalog), files, objects)


def test_mlz_train_and_test_share_one_catalog_keyed_by_file_and_row(sampled):
    lake, _ = sampled("mlz_sdss_mgs")
    keys = (
        lake.read("silver_mlz_sdss_mgs")
        .groupBy("_source_name")
        .agg(F.count("*").alias("n"), F.min("_row_number").alias("lo"), F.max("_row_number").alias("hi"))
        .collect()
    )
    assert sorted(tuple(r) for r in keys) == [
        ("mlz_sdss_mgs_test_1500.txt", 1500, 1, 1500),
        ("mlz_sdss_mgs_train_1500.txt", 1500, 1, 1500),
    ]


def _native(column) -> np.ndarray:
    """A FITS column as a flat native-endian array (the file's columns are (N, 1), big-endian)."""
    a = np.asarray(column).ravel()
    return a.astype(a.dtype.newbyteorder("="))


def test_dr7_fits_silver_equals_astropy(sampled):
    from astropy.io import fits

    lake, _ = sampled("sdss_dr7_galaxies")
    with fits.open(DR7) as hdul:
        data = hdul[1].data
        ref = pd.DataFrame({name: _native(data[name]) for name in ("objid", "ra", "dec", "u", "g", "r", "z")})
    silver = lake.read("silver_sdss_dr7_galaxies")
    assert "z" not in silver.columns  # the FITS z is the redshift, not a z band
    got = silver.select("objid", "ra", "dec", "u", "g", "r", "redshift").toPandas()
    assert len(got) == len(ref) == 1202
    ref = ref.sort_values("objid", kind="stable").reset_index(drop=True)
    got = got.sort_values("objid", kind="stable").reset_index(drop=True)
    assert np.array_equal(got["objid"].to_numpy(np.int64), ref["objid"].to_numpy(np.int64))
    for col, src in (("ra", "ra"), ("dec", "dec"), ("u", "u"), ("g", "g"), ("r", "r"), ("redshift", "z")):
        expected = ref[src].to_numpy(np.float64)
        expected = np.where(expected == -9999, np.nan, expected)  # the sentinel becomes null
        actual = got[col].to_numpy(np.float64, na_value=np.nan)
        assert np.array_equal(actual, expected, equal_nan=True), col  # exact, bit for bit

    # the two rows with -9999 in u or g are kept, with that magnitude null and the other one set
    sentinel = ref[(ref["u"] == -9999) | (ref["g"] == -9999)]
    assert len(sentinel) == 2
    rows = {
        r["objid"]: r
        for r in silver.where(F.col("objid").isin(*[int(i) for i in sentinel["objid"]]))
        .select("objid", "u", "g", "r", "redshift")
        .collect()
    }
    assert len(rows) == 2
    for s in sentinel.itertuples(index=False):  # (itertuples keeps objid an exact int64)
        r = rows[int(s.objid)]
        for band in ("u", "g"):
            assert (r[band] is None) == (getattr(s, band) == -9999)
            if getattr(s, band) != -9999:
                assert r[band] == getattr(s, band)
        assert (r["r"], r["redshift"]) == (s.r, s.z)


def test_colours_keeps_both_rows_with_identical_ugriz(sampled):
    lake, _ = sampled("sdss_colours")
    pdf = pd.read_csv(COLOURS)
    twins = pdf[pdf.duplicated(subset=list("ugriz"), keep=False)]
    assert len(twins) == 2 and twins["redshift"].nunique() == 2  # PROVENANCE.md: two spectra, one object
    row_numbers = [int(i) + 1 for i in twins.index]  # header is line 1, no comment lines
    got = (
        lake.read("silver_sdss_colours")
        .where(F.col("_row_number").isin(*row_numbers))
        .select("_source_name", "_row_number", *"ugriz", "redshift")
        .orderBy("_row_number")
        .collect()
    )
    assert [r["_row_number"] for r in got] == row_numbers
    assert {r["_source_name"] for r in got} == {COLOURS.name}
    assert [r["redshift"] for r in got] == twins["redshift"].tolist()
    assert [tuple(r[b] for b in "ugriz") for r in got] == [
        tuple(t) for t in twins[list("ugriz")].itertuples(index=False)
    ]


def test_dr17_spec_obj_ids_above_int64_are_kept_exactly_as_text(sampled):
    lake, _ = sampled("sdss_dr17_kaggle")
    pdf = pd.read_csv(DR17_500, dtype=str, keep_default_na=False)
    expected = {
        (int(p), int(m), int(f)): s
        for p, m, f, s in zip(pdf["plate"], pdf["MJD"], pdf["fiber_ID"], pdf["spec_obj_ID"], strict=True)
    }
    big = {k: s for k, s in expected.items() if Decimal(s) > INT64_MAX}
    assert len(big) == 97  # tests/data/PROVENANCE.md
    got = {
        (r["plate"], r["mjd"], r["fiberid"]): r["specobjid"]
        for r in lake.read("silver_sdss_dr17_kaggle").select("plate", "mjd", "fiberid", "specobjid").collect()
    }
    assert {k: got.get(k) for k in big} == big
    assert got == expected  # every id, exponent forms included, as written in the file
