"""The synthetic SDSS catalog generator (astrolake.sources.synthetic), run in real Spark."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from astrolake.sources.synthetic import (
    CLASSES,
    INJECTED,
    INJECTED_KINDS,
    SCHEMA_COLUMNS,
    synthetic_catalog,
    write_synthetic_csv,
)
from conftest import shared_file

DR17 = "sdss_dr17_star_classification_test20k.csv"  # in ../shared/data

# Tolerances of the statistical test (1e5 synthetic rows vs the 20k-row DR17 file)
FRACTION_TOL = 0.02  # class fraction, absolute
COLOUR_TOL = 0.10  # median u-g, g-r, r-i, i-z per class, mag
R_TOL = 0.15  # median r per class, mag
COLOURS = (("u", "g"), ("g", "r"), ("r", "i"), ("i", "z"))


def _numeric(pdf: pd.DataFrame) -> pd.DataFrame:
    out = pdf.copy()
    for c in ("ra", "dec", "u", "g", "r", "i", "z", "redshift"):
        out[c] = pd.to_numeric(out[c], errors="coerce")
    for c in ("plate", "mjd", "fiberid", "run", "camcol", "field"):
        out[c] = pd.to_numeric(out[c], errors="coerce").astype("Int64")
    return out


@pytest.fixture(scope="module")
def cat100k(spark) -> pd.DataFrame:
    """1e5 clean rows, collected once (strings, as generated)."""
    return synthetic_catalog(spark, 100_000, seed=42).toPandas()


@pytest.mark.shared_data
def test_matches_dr17_per_class_statistics(cat100k):
    ref = pd.read_csv(shared_file(DR17), dtype={"obj_ID": str, "spec_obj_ID": str})
    ref = ref[ref[["u", "g", "r", "i", "z"]].gt(0).all(axis=1)]
    syn = _numeric(cat100k)
    assert len(syn) == 100_000
    assert set(syn["class"]) == set(CLASSES)
    ref_frac = ref["class"].value_counts(normalize=True)
    syn_frac = syn["class"].value_counts(normalize=True)
    for cls in CLASSES:
        assert abs(syn_frac[cls] - ref_frac[cls]) < FRACTION_TOL, (cls, syn_frac[cls], ref_frac[cls])
        a, b = ref[ref["class"] == cls], syn[syn["class"] == cls]
        assert abs(b["r"].median() - a["r"].median()) < R_TOL, (cls, "r")
        for m1, m2 in COLOURS:
            ref_med = (a[m1] - a[m2]).median()
            syn_med = (b[m1] - b[m2]).median()
            assert abs(syn_med - ref_med) < COLOUR_TOL, (cls, f"{m1}-{m2}", syn_med, ref_med)
        # spread of r too, not only its centre: interquartile points within R_TOL
        for q in (0.25, 0.75):
            assert abs(b["r"].quantile(q) - a["r"].quantile(q)) < R_TOL, (cls, "r", q)
    # redshift per class: stars around 0, galaxies mostly < 1, QSOs out to high z
    z = {cls: syn.loc[syn["class"] == cls, "redshift"] for cls in CLASSES}
    zr = {cls: ref.loc[ref["class"] == cls, "redshift"] for cls in CLASSES}
    assert abs(z["STAR"].median()) < 1e-3 and (z["STAR"] < 0).any() and z["STAR"].abs().max() < 0.01
    assert abs(z["GALAXY"].median() - zr["GALAXY"].median()) < 0.05 and (z["GALAXY"] < 1).mean() > 0.95
    assert abs(z["QSO"].median() - zr["QSO"].median()) < 0.15 and z["QSO"].max() > 4


def test_schema_keys_and_ranges(cat100k):
    assert list(cat100k.columns) == list(SCHEMA_COLUMNS) + [INJECTED]
    assert cat100k[INJECTED].isna().all()
    syn = _numeric(cat100k)
    numeric = ["ra", "dec", "u", "g", "r", "i", "z", "redshift", "plate", "mjd", "fiberid"]
    assert not syn[numeric].isna().any().any()
    assert not syn.duplicated(["plate", "mjd", "fiberid"]).any()
    assert syn["ra"].between(0, 360, inclusive="left").all()
    assert syn["dec"].between(-90, 90).all()
    assert (syn["redshift"] >= -0.01).all()
    assert syn["mjd"].between(51000, 59000).all() and syn["fiberid"].between(1, 1000).all()
    assert syn["camcol"].between(1, 6).all()
    for col in ("objid", "specobjid"):
        assert cat100k[col].str.fullmatch(r"[1-9]\d{18}").all(), col
    # magnitudes are consistent with colours; strings carry at most 5 decimals
    assert cat100k["u"].str.fullmatch(r"\d+(\.\d{1,5})?").all()
    assert ((syn["u"] - syn["g"]).abs() < 15).all() and syn["r"].between(5, 35).all()


def test_deterministic_for_a_seed(spark):
    a = synthetic_catalog(spark, 12_345, seed=7, partitions=2).toPandas()
    b = synthetic_catalog(spark, 12_345, seed=7, partitions=3).toPandas()
    c = synthetic_catalog(spark, 12_345, seed=8, partitions=2).toPandas()
    assert len(a) == 12_345
    pd.testing.assert_frame_equal(a, b)  # same seed: identical rows, whatever the partitioning
    # a different seed changes the generated values (the key columns derive from the row id)
    for col in ("ra", "r", "redshift", "class"):
        assert (a[col] != c[col]).mean() > 0.3, col
    pd.testing.assert_frame_equal(a[["plate", "mjd", "fiberid"]], c[["plate", "mjd", "fiberid"]])


def test_injected_errors(spark):
    rows, frac = 20_000, 0.05
    bad = synthetic_catalog(spark, rows, seed=42, bad_fraction=frac).toPandas()
    again = synthetic_catalog(spark, rows, seed=42, bad_fraction=frac, partitions=1).toPandas()
    clean = synthetic_catalog(spark, rows, seed=42).toPandas()
    pd.testing.assert_frame_equal(bad, again)
    injected = bad[INJECTED].notna()
    n_bad = int(injected.sum())
    assert n_bad == int(again[INJECTED].notna().sum())
    assert abs(n_bad / rows - frac) < 0.01, n_bad  # binomial sd is 0.0015
    counts = bad.loc[injected, INJECTED].value_counts()
    assert set(counts.index) == set(INJECTED_KINDS), counts
    assert counts.min() > 50
    # good rows are exactly the clean catalog's rows
    pd.testing.assert_frame_equal(bad[~injected].reset_index(drop=True), clean[~injected].reset_index(drop=True))

    def rows_of(kind):
        return bad[bad[INJECTED] == kind]

    mags = rows_of("sentinel_magnitude")[["u", "g", "r", "i", "z"]]
    assert (mags == "-9999").sum(axis=1).eq(1).all()
    ra = pd.to_numeric(rows_of("ra_out_of_range")["ra"])
    assert ((ra < 0) | (ra >= 360)).all()
    assert (pd.to_numeric(rows_of("dec_out_of_range")["dec"]).abs() > 90).all()
    numeric = rows_of("non_numeric")[["ra", "dec", "plate", "mjd", "fiberid"]]
    assert (numeric == "abc").sum(axis=1).eq(1).all()
    assert (rows_of("empty_plate")["plate"] == "").all()
    assert (rows_of("unknown_class")["class"] == "UFO").all()
    assert (rows_of("negative_redshift")["redshift"] == "-0.5").all()


def test_write_single_csv_file(spark, tmp_path):
    path = tmp_path / "synthetic.csv"
    out = write_synthetic_csv(spark, 2_500, path, seed=3, bad_fraction=0.1, single_file=True)
    assert Path(out) == path and path.is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["synthetic.csv"]  # temp folder removed
    lines = path.read_text().splitlines()
    assert lines[0] == ",".join(SCHEMA_COLUMNS) and len(lines) == 2_501
    back = pd.read_csv(path, dtype=str, keep_default_na=False)
    expected = synthetic_catalog(spark, 2_500, seed=3, bad_fraction=0.1).toPandas().drop(columns=INJECTED)
    pd.testing.assert_frame_equal(back, expected)
