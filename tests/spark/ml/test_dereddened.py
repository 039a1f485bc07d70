"""The ``dereddened`` feature set: SFD E(B-V) and extinction-corrected magnitudes in gold.

Real Spark and Delta on the 5,000-row DR17 sample and 20 rows of the colours sample.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
from pyspark.sql import functions as F

from conftest import TESTS_DATA

COLOURS = TESTS_DATA / "ddastro_sdss_galaxy_colors_500.csv"
CAT = "sdss_dr17_stellar"
GOLD = "gold_sdss_dr17_stellar"
R = {"u": 4.239, "g": 3.303, "r": 2.285, "i": 1.698, "z": 1.263}  # Schlafly & Finkbeiner 2011, R_V 3.1
NEW = ["ebv_sfd", "u0", "g0", "r0", "i0", "z0", "u0_g0", "u0_r0", "u0_i0", "u0_z0", "g0_r0", "g0_i0", "g0_z0"]
NEW += ["r0_i0", "r0_z0", "i0_z0"]


@pytest.fixture(scope="module")
def dr17(lake, stellar_lake):
    """The 5,000-row DR17 sample ingested and featurised."""
    stellar_lake(lake.settings.base_path)


def test_gold_has_sfd_ebv_and_dereddened_magnitudes(lake, dr17):
    from astrolake.ml.extinction import ebv_sfd

    gold = lake.read(GOLD)
    assert set(NEW) <= set(gold.columns)
    assert "gal_l" not in gold.columns and "gal_b" not in gold.columns
    pdf = gold.select("ra", "dec", *"ugriz", *NEW).toPandas()
    assert len(pdf) == 5000 and pdf["ebv_sfd"].notna().all()
    np.testing.assert_allclose(pdf["ebv_sfd"], ebv_sfd(pdf["ra"].to_numpy(), pdf["dec"].to_numpy()), rtol=1e-12)
    assert 0 < pdf["ebv_sfd"].min() and pdf["ebv_sfd"].median() < 0.2  # SDSS looks away from the plane
    for band, coeff in R.items():
        np.testing.assert_allclose(pdf[f"{band}0"], pdf[band] - coeff * pdf["ebv_sfd"], rtol=1e-12)
    np.testing.assert_allclose(pdf["u0_g0"], pdf["u0"] - pdf["g0"], rtol=1e-12)
    np.testing.assert_allclose(pdf["i0_z0"], pdf["i0"] - pdf["z0"], rtol=1e-12)


def test_dereddened_feature_set_and_its_allow_list(lake, dr17):
    from astrolake.ml.features import FeatureError, training_data

    photometry = training_data(lake, CAT).features
    dered = training_data(lake, CAT, feature_set="dereddened")
    assert dered.features[: len(photometry)] == photometry
    assert {"u0", "g0", "r0", "i0", "z0", "u0_g0", "g0_r0", "i0_z0"} <= set(dered.features)
    assert not {"ebv_sfd", "ra", "dec", "healpix_29", "redshift", "date"} & set(dered.features)
    assert "u0" not in photometry
    for feature_set in ("dereddened", "photometry", "full"):
        with pytest.raises(FeatureError, match="ebv_sfd"):
            training_data(lake, CAT, feature_set=feature_set, features=["ebv_sfd"])
    with pytest.raises(FeatureError, match="ra"):
        training_data(lake, CAT, feature_set="dereddened", features=["u0_g0", "ra"])
    with pytest.raises(FeatureError, match="u0"):
        training_data(lake, CAT, features=["u0"])  # dereddened magnitudes are not in 'photometry'
    assert training_data(lake, CAT, feature_set="dereddened", features=["u0_g0", "g0_r0"]).features == [
        "u0_g0",
        "g0_r0",
    ]


def test_a_gold_table_from_before_the_new_columns_is_rebuilt_then_refreshed_incrementally(lake, dr17, caplog):
    from astrolake.ml import features
    from astrolake.ml.extinction import ebv_sfd

    # the gold table as an older astrolake wrote it: same rows, no E(B-V) or dereddened columns.
    # A MERGE (UPDATE SET * / INSERT *, schema auto-merge off) would keep them out for good.
    lake.replace(lake.read(GOLD).drop(*NEW), GOLD, overwrite_schema=True)
    assert features._silver_version_seen(lake, GOLD) == lake.version("silver_" + CAT)  # nothing new in silver
    with pytest.raises(features.FeatureError, match="refresh it"):
        features.training_data(lake, CAT, feature_set="dereddened")
    with caplog.at_level(logging.WARNING, logger="astrolake.ml.features"):
        result = features.build_gold(lake, CAT)
    assert "lacks the column(s) ebv_sfd, u0" in caplog.text
    assert result.mode == "full" and result.rows == 5000
    assert set(NEW) <= set(lake.read(GOLD).columns)

    # then the change-feed MERGE recomputes the new columns of changed rows (a silver update is
    # cheaper than a second ingest and goes through the same feed)
    lake.delta("silver_" + CAT).update(condition=F.col("ra") < 40, set={"u": F.col("u") + 1.0})
    result = features.build_gold(lake, CAT)
    assert result.mode == "incremental" and result.upserted > 100 and result.rows == 5000
    pdf = lake.read(GOLD).select("ra", "dec", "u", "ebv_sfd", "u0", "u0_g0", "g0").toPandas()
    np.testing.assert_allclose(pdf["ebv_sfd"], ebv_sfd(pdf["ra"].to_numpy(), pdf["dec"].to_numpy()), rtol=1e-12)
    np.testing.assert_allclose(pdf["u0"], pdf["u"] - 4.239 * pdf["ebv_sfd"], rtol=1e-12)
    np.testing.assert_allclose(pdf["u0_g0"], pdf["u0"] - pdf["g0"], rtol=1e-12)


def test_catalogs_without_positions_have_no_dereddened_features(lake, spark):
    """The colours and MLZ catalogs have no ra/dec: gold gets no E(B-V), and the set is refused.

    Gold rows from 20 rows of the shipped colours sample, as silver would hold them (an ingest
    would only add time: the columns gold makes depend on the silver schema alone)."""
    import pandas as pd

    from astrolake.ml.features import FeatureError, feature_columns, get_catalog, gold_rows, training_data

    rows = pd.read_csv(COLOURS, nrows=20).rename(columns={"spec_class": "class"})
    rows["_source_name"], rows["_row_number"] = COLOURS.name, range(1, 21)
    gold = gold_rows(spark.createDataFrame(rows), get_catalog("sdss_colours"))
    assert "u_g" in gold.columns and not {"ebv_sfd", "u0", "u0_g0"} & set(gold.columns)
    lake.replace(gold, "gold_sdss_colours", overwrite_schema=True)
    assert "u_g" in training_data(lake, "sdss_colours").features
    with pytest.raises(FeatureError, match=r"no sky position \(ra, dec\).*use 'photometry'"):
        training_data(lake, "sdss_colours", feature_set="dereddened")

    mlz = get_catalog("mlz_sdss_mgs")
    mlz_cols = [c.name for c in mlz.contract.columns] + ["_source_name", "_row_number"]
    mlz_gold = gold_rows(spark.createDataFrame([tuple([1.0] * (len(mlz_cols) - 2) + ["x", 1])], mlz_cols), mlz)
    assert "ebv_sfd" not in mlz_gold.columns
    with pytest.raises(FeatureError, match="no sky position"):
        feature_columns(mlz_gold.columns, "dereddened")
