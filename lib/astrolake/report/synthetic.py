"""Large gold tables for report tests and benchmarks, generated inside Spark.

``write_synthetic_gold(lake, rows)`` writes ``gold_<catalog>`` straight from
:func:`astrolake.sources.synthetic.synthetic_catalog`: the SkyServer columns typed as the
catalog's contract, ``catalog`` / ``data_release``, the order-29 HEALPix index, then the gold
features, key and split (:func:`astrolake.ml.features.gold_rows`).  It skips bronze, validation
and the ledger (the rows are clean), so a 10-million-row table takes minutes, not hours; use
``pipeline.ingest`` when those layers are what is under test.
"""

from __future__ import annotations

from pyspark.sql import functions as F

from astrolake.catalogs.contract import get_catalog
from astrolake.sky.healpix import HEALPIX_COLUMN, with_healpix

SYNTHETIC_CONTRACT = "skyserver_csv"  # the schema synthetic_catalog produces


def synthetic_gold_rows(
    spark, rows: int, catalog: str = "sdss_dr14_skyserver", seed: int = 42, partitions: int | None = None
):
    """Gold rows of ``rows`` synthetic objects for a catalog with the SkyServer contract."""
    from astrolake.ml.features import gold_rows
    from astrolake.sources.synthetic import INJECTED, synthetic_catalog

    cat = get_catalog(catalog)
    if cat.contract.name != SYNTHETIC_CONTRACT:
        raise ValueError(f"synthetic rows follow the {SYNTHETIC_CONTRACT} contract; {catalog} uses {cat.contract.name}")
    assert cat.contract.position is not None  # the synthetic contract has ra and dec
    raw = synthetic_catalog(spark, rows, seed=seed, partitions=partitions).drop(INJECTED)
    typed = raw.select(*[F.col(f"`{c.source}`").cast(c.type).alias(c.name) for c in cat.contract.columns])
    silver = with_healpix(
        typed.select("*", F.lit(cat.name).alias("catalog"), F.lit(cat.data_release).alias("data_release")),
        *cat.contract.position,
        name=HEALPIX_COLUMN,
    )
    return gold_rows(silver, cat)


def write_synthetic_gold(
    lake, rows: int, catalog: str = "sdss_dr14_skyserver", seed: int = 42, partitions: int | None = None
) -> str:
    """Replace ``gold_<catalog>`` with ``rows`` synthetic objects; returns the table name."""
    cat = get_catalog(catalog)
    df = synthetic_gold_rows(lake.spark, rows, catalog, seed, partitions)
    lake.replace(df, cat.gold_table, overwrite_schema=True)
    return cat.gold_table
