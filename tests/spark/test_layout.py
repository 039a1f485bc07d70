"""The Spark split column agrees with astrolake.layout.split_of for every bucket."""

from __future__ import annotations

from pyspark.sql import functions as F

from astrolake import layout


def test_split_column_matches_split_of(spark):
    keys = spark.range(3000).select(F.concat(F.lit("obj-"), F.col("id").cast("string")).alias("_key"))
    rows = keys.select(
        layout.bucket_column().alias("bucket"),
        layout.split_column().alias("split"),
        layout.split_column(shipped_test=F.col("_key").endswith("7")).alias("carved"),
        F.col("_key").endswith("7").alias("shipped"),
    ).collect()
    assert {r["bucket"] for r in rows} == set(range(layout.BUCKETS))  # every bucket seen
    for r in rows:
        assert r["split"] == layout.split_of(r["bucket"])
        assert r["carved"] == layout.split_of(r["bucket"], shipped_test=r["shipped"])
    shares = {s: sum(r["split"] == s for r in rows) / len(rows) for s in layout.SPLITS}
    assert abs(shares["train"] - 0.7) < 0.04 and abs(shares["validation"] - 0.1) < 0.03
