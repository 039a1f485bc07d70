"""Binned statistics in Spark: only the bins reach the driver, whatever the table's size."""

from __future__ import annotations

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from astrolake.sky.healpix import HEALPIX_COLUMN, HEALPIX_ORDER


def class_balance(df: DataFrame, label: str = "class") -> pd.Series:
    rows = df.groupBy(label).count().collect()
    return pd.Series({r[0]: r[1] for r in rows}, name="rows").sort_index()


def edges_for(df: DataFrame, col: str, bins: int, quantiles=(0.005, 0.995)) -> np.ndarray:
    """Equal-width edges over the central 99 % of ``col`` (approximate quantiles in Spark)."""
    lo, hi = df.approxQuantile(col, list(quantiles), 0.001)
    if lo is None or hi is None or hi <= lo:
        hi = (lo or 0.0) + 1.0
    return np.linspace(lo, hi, bins + 1)


def _bin(col: str, edges: np.ndarray) -> F.Column:
    lo, hi, n = float(edges[0]), float(edges[-1]), len(edges) - 1
    idx = F.floor((F.col(col) - lo) / ((hi - lo) / n)).cast("int")
    return F.when((F.col(col) >= lo) & (F.col(col) <= hi), F.least(idx, F.lit(n - 1)))


def hist1d(df: DataFrame, col: str, edges: np.ndarray, by: str | None = None) -> dict[str, np.ndarray]:
    """Counts of ``col`` in ``edges`` per value of ``by`` (``{"all": counts}`` without ``by``)."""
    keys = [by] if by else []
    rows = (df.select(*keys, _bin(col, edges).alias("b")).where("b IS NOT NULL")
            .groupBy(*keys, "b").count().collect())
    out: dict[str, np.ndarray] = {}
    for r in rows:
        k = str(r[by]) if by else "all"
        out.setdefault(k, np.zeros(len(edges) - 1, dtype=np.int64))[r["b"]] = r["count"]
    return dict(sorted(out.items()))


def hist2d(df: DataFrame, x: str, y: str, x_edges: np.ndarray, y_edges: np.ndarray,
           by: str | None = None) -> dict[str, np.ndarray]:
    """2-D counts (x bins along axis 0) per value of ``by``."""
    keys = [by] if by else []
    rows = (df.select(*keys, _bin(x, x_edges).alias("bx"), _bin(y, y_edges).alias("by_"))
            .where("bx IS NOT NULL AND by_ IS NOT NULL").groupBy(*keys, "bx", "by_").count().collect())
    shape = (len(x_edges) - 1, len(y_edges) - 1)
    out: dict[str, np.ndarray] = {}
    for r in rows:
        k = str(r[by]) if by else "all"
        out.setdefault(k, np.zeros(shape, dtype=np.int64))[r["bx"], r["by_"]] = r["count"]
    return dict(sorted(out.items()))


def healpix_counts(df: DataFrame, order: int = 5) -> pd.Series:
    """Objects per nested HEALPix cell at ``order`` (from the order-29 index of silver/gold)."""
    shift = 2 * (HEALPIX_ORDER - order)
    rows = df.select(F.shiftright(HEALPIX_COLUMN, shift).alias("cell")).where("cell IS NOT NULL") \
        .groupBy("cell").count().collect()
    return pd.Series({int(r[0]): r[1] for r in rows}, name="count").sort_index()


def missing_values(df: DataFrame, columns: list[str] | None = None) -> pd.Series:
    cols = columns or [f.name for f in df.schema.fields if not f.name.startswith("_")]
    row = df.select(*[F.sum(F.col(c).isNull().cast("long")).alias(c) for c in cols],
                    F.count(F.lit(1)).alias("_n")).first()
    return pd.Series({c: row[c] / max(row["_n"], 1) for c in cols}, name="missing_fraction")


def correlation(df: DataFrame, columns: list[str]) -> pd.DataFrame:
    """Pearson correlation matrix of numeric columns (one Spark aggregation of sums)."""
    from pyspark.ml.feature import VectorAssembler
    from pyspark.ml.stat import Correlation

    vec = VectorAssembler(inputCols=columns, outputCol="_v", handleInvalid="skip").transform(df.select(*columns))
    m = Correlation.corr(vec, "_v").first()[0].toArray()
    return pd.DataFrame(m, index=columns, columns=columns)
