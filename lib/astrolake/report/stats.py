"""Binned statistics in Spark: only the bins reach the driver, whatever the table's size.

Every function here is one (or, where noted, two) Spark aggregation(s) whose result is bounded
by the number of bins, classes, columns or HEALPix cells -- never by the number of rows.  The
report (:mod:`astrolake.report.build`) runs them on tables of any size under
``spark.driver.maxResultSize=8m``.

Binning follows ``numpy.histogram(x, bins=edges)``: bin ``i`` holds ``edges[i] <= x <
edges[i+1]``, the last bin also holds ``x == edges[-1]``, values outside (and null / NaN) are
left out.  Equal-width edges use a floor and one correction against the edges themselves (the
same arithmetic as numpy's fast path), other edges a comparison per inner edge; either way the
counts equal numpy's exactly.
"""

from __future__ import annotations

import itertools
from functools import reduce
from operator import add

import numpy as np
import pandas as pd
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.window import Window

from astrolake.ml.features import complete_rows
from astrolake.sky.healpix import HEALPIX_COLUMN, HEALPIX_ORDER

BANDS = ("u", "g", "r", "i", "z")
COLOURS = ("u_g", "g_r", "r_i", "i_z")
NULL_KEY = "(null)"
_MAX_BINS = (1 << 20) - 1
_X, _H, _G = 1 << 20, 1 << 40, 1 << 52  # histogram code = group * _G + h * _H + x bin * _X + y bin
_MAX_GROUPS = 2000


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------
def _c(col) -> Column:
    return col if isinstance(col, Column) else F.col(f"`{col}`")


def _key(v) -> str:
    return NULL_KEY if v is None else str(v)


def _is_uniform(edges: np.ndarray) -> bool:
    d = np.diff(edges)
    return bool(len(d) and np.all(d > 0) and np.allclose(d, d[0], rtol=1e-9, atol=0.0))


def _first_guess(x: Column, e: np.ndarray) -> Column:
    """floor((x - lo) * n / (hi - lo)), clipped to 0..n-1 (numpy's first guess for equal bins)."""
    lo, hi, n = float(e[0]), float(e[-1]), len(e) - 1
    return F.least(F.greatest(F.floor((x - lo) * (n / (hi - lo))), F.lit(0)), F.lit(n - 1)).cast("int")


def _bin_index(x: Column, guess: Column | None, e: np.ndarray) -> Column:
    """The bin of double ``x`` in ``e`` (null outside), from ``_first_guess`` when the edges are equal."""
    lo, hi, n = float(e[0]), float(e[-1]), len(e) - 1
    inside = x.isNotNull() & ~F.isnan(x) & (x >= lo) & (x <= hi)
    if guess is None:  # irregular edges: count the inner edges at or below x
        return F.when(inside, reduce(add, [(x >= float(v)).cast("int") for v in e[1:-1]], F.lit(0)))
    if np.array_equal(e, np.linspace(lo, hi, n + 1)):
        step = (hi - lo) / n  # numpy.linspace: edge k = k * step + lo, edge n = hi
        lower = guess.cast("double") * F.lit(step) + F.lit(lo)
        upper = F.when(guess == n - 1, F.lit(hi)).otherwise((guess + 1).cast("double") * F.lit(step) + F.lit(lo))
    else:
        arr = F.array(*[F.lit(float(v)) for v in e])  # folded into one literal
        lower, upper = F.element_at(arr, guess + 1), F.element_at(arr, guess + 2)
    return F.when(inside, guess - (x < lower).cast("int") + ((x >= upper) & (guess != n - 1)).cast("int"))


# --------------------------------------------------------------------------------------------
# columns
# --------------------------------------------------------------------------------------------
def with_colours(df: DataFrame) -> DataFrame:
    """``df`` with the adjacent colours u_g, g_r, r_i, i_z added where both bands exist and the
    colour does not (a silver table has magnitudes only; gold has the colours already)."""
    cols = set(df.columns)
    derived = {
        f"{a}_{b}": F.col(a) - F.col(b)
        for a, b in itertools.pairwise(BANDS)
        if a in cols and b in cols and f"{a}_{b}" not in cols
    }
    return df.withColumns(derived) if derived else df


# --------------------------------------------------------------------------------------------
# counts
# --------------------------------------------------------------------------------------------
def class_balance(df: DataFrame, label: str = "class") -> pd.Series:
    rows = df.groupBy(label).count().collect()  # one row per class
    return pd.Series({_key(r[0]): r[1] for r in rows}, name="rows").sort_index()


def edges_for(df: DataFrame, col: str, bins: int, quantiles=(0.005, 0.995)) -> np.ndarray:
    """Equal-width edges over the central 99 % of ``col`` (approximate quantiles in Spark)."""
    return quantile_edges(df, [col], bins, quantiles)[col]


def quantile_edges(
    df: DataFrame,
    cols: list[str],
    bins: int = 60,
    quantiles=(0.005, 0.995),
    relative_error: float = 0.001,
    rows: int | None = None,
    sample_rows: int | None = None,
    seed: int = 42,
) -> dict[str, np.ndarray]:
    """Equal-width edges between two approximate quantiles of each column, all in one pass.

    ``percentile_approx`` (Greenwald-Khanna, rank error at most ``relative_error * n``) over the
    values that are not null or NaN; ``relative_error=0`` gives exact quantiles (slow on large
    tables).  With ``rows`` (the frame's row count) above ``sample_rows``, the quantiles are
    those of a seeded sample of about ``sample_rows`` rows: plenty for a histogram's range, and
    the pass costs the same at any size.  A column without values, or with equal quantiles,
    gets [q, q + 1].
    """
    if not cols:
        return {}
    if rows and sample_rows and rows > sample_rows:
        df = df.sample(fraction=sample_rows / rows, seed=seed)
    qs = [float(q) for q in quantiles]
    if relative_error <= 0:
        found = df.approxQuantile(list(cols), qs, 0.0)
    else:
        accuracy = max(1, int(round(1.0 / relative_error)))
        clean = [F.when(~F.isnan(_c(c).cast("double")), _c(c).cast("double")) for c in cols]
        row = df.agg(*[F.percentile_approx(c, qs, accuracy).alias(f"q{i}") for i, c in enumerate(clean)]).collect()[0]
        found = [row[f"q{i}"] or [] for i in range(len(cols))]
    out = {}
    for c, q in zip(cols, found, strict=True):
        lo, hi = (q[0], q[-1]) if q else (None, None)
        if lo is None or hi is None or not np.isfinite([lo, hi]).all() or hi <= lo:
            lo = 0.0 if lo is None or not np.isfinite(lo) else float(lo)
            hi = lo + 1.0
        out[c] = np.linspace(float(lo), float(hi), bins + 1)
    return out


def hist1d(df: DataFrame, col: str, edges: np.ndarray, by: str | None = None) -> dict[str, np.ndarray]:
    """Counts of ``col`` in ``edges`` per value of ``by`` (``{"all": counts}`` without ``by``)."""
    return histograms(df, {"h": (col, edges)}, by=by)["h"]


def hist2d(
    df: DataFrame, x: str, y: str, x_edges: np.ndarray, y_edges: np.ndarray, by: str | None = None
) -> dict[str, np.ndarray]:
    """2-D counts (x bins along axis 0) per value of ``by``."""
    return histograms(df, {"h": ((x, y), (x_edges, y_edges))}, by=by)["h"]


def histograms(
    df: DataFrame, specs: dict, by: str | None = None, groups: list | None = None
) -> dict[str, dict[str, np.ndarray]]:
    """Several 1-D and 2-D histograms per value of ``by`` in **one** pass over ``df``.

    ``specs`` maps a name to ``(column, edges)`` (1-D) or ``((x, y), (x_edges, y_edges))`` (2-D;
    x along axis 0).  Columns may be names or Spark columns.  Returns
    ``{name: {group: counts}}`` (group ``"all"`` without ``by``); a group with no row inside a
    histogram's range is absent from it.  What reaches the driver is one row per non-empty
    (group, histogram, bin): bounded by the bins, not the rows.  ``groups`` (the values of ``by``,
    e.g. from :func:`class_balance`) lets the group be folded into the same long code, which is
    faster to aggregate than a string; values outside it are counted under ``"(other)"``.
    """
    keys = [_c(by).alias("_g")] if by else []
    values: dict = {}  # column (name or Column) -> its double alias
    axes: list = []  # (value alias, edges) per histogram axis

    def axis(col, edges) -> int:
        tag = col if isinstance(col, str) else id(col)
        if tag not in values:
            values[tag] = (f"_v{len(values)}", _c(col).cast("double"))
        axes.append((values[tag][0], np.asarray(edges, dtype=float)))
        return len(axes) - 1

    shapes: dict[str, tuple[int, ...]] = {}
    layout: list[tuple[int, int | None]] = []
    for name, (cols, edges) in specs.items():
        if isinstance(cols, (tuple, list)):
            (x, y), (ex, ey) = cols, edges
            layout.append((axis(x, ex), axis(y, ey)))
            shapes[name] = (len(ex) - 1, len(ey) - 1)
        else:
            layout.append((axis(cols, edges), None))
            shapes[name] = (len(edges) - 1,)
        if max(shapes[name]) > _MAX_BINS:
            raise ValueError(f"histogram {name!r}: at most {_MAX_BINS} bins per axis")
    if len(specs) >= _G // _H:
        raise ValueError(f"at most {_G // _H - 1} histograms in one pass")
    group = ["_g"] if by else []
    labels = None
    if by and groups is not None:
        labels = [_key(g) for g in groups] + ["(other)"]
        if len(labels) > _MAX_GROUPS:
            raise ValueError(f"at most {_MAX_GROUPS - 1} groups can be folded into the histogram code")
        known = [g for g in groups if g is not None]
        index = (
            F.create_map(*[F.lit(v) for i, g in enumerate(groups) if g is not None for v in (g, i)]) if known else None
        )
        null_index = groups.index(None) if None in groups else len(groups)
        other = F.lit(len(groups))
        found = F.coalesce(F.element_at(index, F.col("_g")), other) if index is not None else other
        gi = F.when(F.col("_g").isNull(), F.lit(null_index)).otherwise(found)
    # three projections -- values, first guesses, bins -- so that no step is recomputed in the next
    staged = df.select(*keys, *[c.alias(a) for a, c in values.values()])
    staged = staged.select(
        *group,
        *[a for a, _ in values.values()],
        *[_first_guess(F.col(a), e).alias(f"_f{k}") for k, (a, e) in enumerate(axes) if _is_uniform(e)],
    )
    staged = staged.select(
        *([gi.alias("_gi")] if labels is not None else group),
        *[
            _bin_index(F.col(a), F.col(f"_f{k}") if _is_uniform(e) else None, e).alias(f"_b{k}")
            for k, (a, e) in enumerate(axes)
        ],
    )
    # one long per (histogram, x bin, y bin): cheaper to explode and group than a struct
    codes = [
        F.lit(i).cast("long") * _H
        + F.col(f"_b{bx}").cast("long") * _X
        + (F.col(f"_b{by_}").cast("long") if by_ is not None else F.lit(0).cast("long"))
        for i, (bx, by_) in enumerate(layout)
    ]
    if labels is not None:
        codes = [F.col("_gi").cast("long") * _G + c for c in codes]
        group = []
    present = F.filter(F.array(*codes), lambda c: c.isNotNull())
    rows = staged.select(*group, F.explode(present).alias("_k")).groupBy(*group, "_k").count().collect()
    names = list(specs)
    out: dict[str, dict[str, np.ndarray]] = {n: {} for n in names}
    for r in rows:
        code = int(r["_k"])
        name, bx, by_ = names[(code % _G) // _H], (code % _H) // _X, code % _X
        g = (labels[code // _G] if labels is not None else _key(r["_g"])) if by else "all"
        h = out[name].setdefault(g, np.zeros(shapes[name], dtype=np.int64))
        if len(shapes[name]) == 1:
            h[bx] = r["count"]
        else:
            h[bx, by_] = r["count"]
    return {n: dict(sorted(v.items())) for n, v in out.items()}


def healpix_counts(df: DataFrame, order: int = 5, column: str = HEALPIX_COLUMN) -> pd.Series:
    """Objects per nested HEALPix cell at ``order`` (from the order-29 index of silver/gold).

    At most 12 * 4**order rows reach the driver (12,288 at order 5).
    """
    if not 0 <= order <= HEALPIX_ORDER:
        raise ValueError(f"HEALPix order must be in [0, {HEALPIX_ORDER}], got {order}")
    shift = 2 * (HEALPIX_ORDER - order)
    rows = (
        df.select(F.shiftright(F.col(column), shift).alias("cell"))
        .where("cell IS NOT NULL")
        .groupBy("cell")
        .count()
        .collect()
    )
    return pd.Series({int(r[0]): r[1] for r in rows}, name="count", dtype="int64").sort_index()


def missing_values(df: DataFrame, columns: list[str] | None = None, counts: bool = False) -> pd.Series:
    """Fraction (or, with ``counts=True``, number) of missing values per column, in one pass.

    Missing is null, and also NaN for float/double columns.  ``columns`` defaults to every column
    not starting with ``_``.  The Series' ``attrs["rows"]`` holds the row count.
    """
    from pyspark.sql.types import DoubleType, FloatType

    types = {f.name: f.dataType for f in df.schema.fields}
    cols = columns or [c for c in df.columns if not c.startswith("_")]

    def missing(c):
        m = _c(c).isNull()
        if isinstance(types.get(c), (DoubleType, FloatType)):
            m = m | F.isnan(_c(c))
        return F.sum(m.cast("long"))

    aggs = [missing(c).alias(f"m{i}") for i, c in enumerate(cols)]
    row = df.select(*aggs, F.count(F.lit(1)).alias("_n")).collect()[0]  # aggregates: one row
    n = int(row["_n"])
    values: dict[str, float] = {c: int(row[f"m{i}"] or 0) for i, c in enumerate(cols)}
    if not counts:
        values = {c: v / max(n, 1) for c, v in values.items()}
    s = pd.Series(values, name="missing" if counts else "missing_fraction")
    s.attrs["rows"] = n
    return s


def correlation(df: DataFrame, columns: list[str], center: dict | None = None) -> pd.DataFrame:
    """Pearson correlation matrix of numeric columns in one Spark aggregation.

    Over the rows where every column has a value (not null, not NaN), like MLlib's
    ``Correlation.corr`` after ``VectorAssembler(handleInvalid="skip")``: the count, the sums and
    the sums of products (k + k(k+1)/2 plain sums; much cheaper than a ``corr`` aggregate per
    pair).  ``center`` (column -> a typical value, e.g. a median) is subtracted first, which keeps
    the sums well conditioned.  NaN where a column is constant or there are no rows.
    """
    k = len(columns)
    shift = {c: float((center or {}).get(c, 0.0)) for c in columns}
    x = [(_c(c).cast("double") - F.lit(shift[c])) for c in columns]
    pairs = [(i, j) for i in range(k) for j in range(i, k)]
    shifted = df.select(*[v.alias(f"c{i}") for i, v in enumerate(x)])
    row = (
        complete_rows(shifted, [f"c{i}" for i in range(k)])
        .agg(
            F.count(F.lit(1)).alias("n"),
            *[F.sum(f"c{i}").alias(f"s{i}") for i in range(k)],
            *[F.sum(F.col(f"c{i}") * F.col(f"c{j}")).alias(f"p{i}_{j}") for i, j in pairs],
        )
        .collect()[0]
    )
    n = int(row["n"] or 0)
    m = np.full((k, k), np.nan)
    if n > 1:
        mean = np.array([row[f"s{i}"] / n for i in range(k)])
        cov = np.empty((k, k))
        for i, j in pairs:
            cov[i, j] = cov[j, i] = row[f"p{i}_{j}"] / n - mean[i] * mean[j]
        sd = np.sqrt(np.clip(np.diag(cov), 0, None))
        with np.errstate(divide="ignore", invalid="ignore"):
            m = np.where(np.outer(sd, sd) > 0, cov / np.outer(sd, sd), np.nan)
        np.fill_diagonal(m, np.where(sd > 0, 1.0, np.nan))
        m = np.clip(m, -1.0, 1.0)
    return pd.DataFrame(m, index=list(columns), columns=list(columns))


# --------------------------------------------------------------------------------------------
# the lake around a catalog: layers, ledger, quarantine
# --------------------------------------------------------------------------------------------
def layer_counts(lake, catalog) -> pd.DataFrame:
    """Rows and current version of bronze, silver, gold and the catalog's quarantine rows.

    Counts come from Delta (file statistics where it can); a missing table shows as absent.
    """
    from astrolake.layout import QUARANTINE

    out = []
    for layer, table in (
        ("bronze", catalog.bronze_table),
        ("silver", catalog.silver_table),
        ("gold", catalog.gold_table),
        ("quarantine", QUARANTINE),
    ):
        if not lake.exists(table):
            out.append({"layer": layer, "table": table, "rows": None, "version": None})
            continue
        df = lake.read(table)
        if layer == "quarantine":
            df = df.where(F.col("catalog") == catalog.name)
        out.append({"layer": layer, "table": table, "rows": int(df.count()), "version": lake.version(table)})
    return pd.DataFrame(out).set_index("layer")


LEDGER_COLUMNS = [
    "batch_id",
    "operation",
    "started_at",
    "finished_at",
    "read",
    "inserted",
    "updated",
    "duplicates",
    "quarantined",
    "closes",
    "silver_version",
]


def ledger_history(lake, catalog_name: str, limit: int = 1000) -> pd.DataFrame:
    """The catalog's ledger rows (one per batch, the newest ``limit``), oldest first."""
    from astrolake.layout import LEDGER

    if not lake.exists(LEDGER):
        return pd.DataFrame(columns=LEDGER_COLUMNS)
    rows = (
        lake.read(LEDGER)
        .where(F.col("catalog") == catalog_name)
        .select(*LEDGER_COLUMNS)
        .orderBy(F.desc("batch_id"))
        .limit(int(limit))
        .collect()
    )
    df = pd.DataFrame([r.asDict() for r in rows], columns=LEDGER_COLUMNS)
    return df.sort_values("batch_id").reset_index(drop=True)


_RULES = [  # reason text -> the rule it broke (values taken out), see astrolake.lake.validate
    (r"^([^:]+): '.*' is not a valid (.+)$", r"$1: not a valid $2"),
    (r"^([^:]+): .* outside (.+)$", r"$1: outside $2"),
    (r"^([^:]+): '.*' not one of (.+)$", r"$1: not one of $2"),
    (r"\(sentinel [^)]*\)", "(sentinel)"),
]


def reason_rule(reason) -> Column:
    """A quarantine reason with its values taken out: ``ra: 361.5 outside [0, 360)`` ->
    ``ra: outside [0, 360)``; ``plate: 'abc' is not a valid int`` -> ``plate: not a valid int``."""
    c = _c(reason)
    for pattern, repl in _RULES:
        c = F.regexp_replace(c, pattern, repl)
    return c


def quarantine_reasons(lake, catalog_name: str, top: int = 10, examples: int = 3) -> tuple[pd.Series, pd.DataFrame]:
    """The ``top`` rules most often broken by the catalog's quarantined rows, and ``examples``
    rows for each (reason as written, key, file, row number, raw text cut to 160 characters).

    Two aggregations; the driver gets ``top`` counts and ``top * examples`` example rows.
    """
    from astrolake.layout import QUARANTINE

    empty = (
        pd.Series(dtype="int64", name="rows"),
        pd.DataFrame(columns=["rule", "reason", "_key", "_source_file", "_row_number", "_raw"]),
    )
    if not lake.exists(QUARANTINE):
        return empty
    q = lake.read(QUARANTINE).where(F.col("catalog") == catalog_name)
    exploded = q.select(
        F.explode("_reasons").alias("reason"), "_key", "_source_file", "_row_number", "_raw", "_batch_id"
    ).withColumn("rule", reason_rule("reason"))
    counts = exploded.groupBy("rule").count().orderBy(F.desc("count"), "rule").limit(int(top)).collect()
    if not counts:
        return empty
    rules = pd.Series({r["rule"]: int(r["count"]) for r in counts}, name="rows")
    order = Window.partitionBy("rule").orderBy(
        F.desc("_batch_id"), F.col("_row_number").asc_nulls_last(), "_source_file"
    )
    ex = (
        exploded.where(F.col("rule").isin(list(rules.index)))
        .withColumn("_n", F.row_number().over(order))
        .where(F.col("_n") <= int(examples))
        .select("rule", "reason", "_key", "_source_file", "_row_number", F.substring("_raw", 1, 160).alias("_raw"))
        .collect()
    )
    rank = {r: i for i, r in enumerate(rules.index)}
    ex = sorted(ex, key=lambda r: (rank[r["rule"]], r["_row_number"] is None, r["_row_number"] or 0))
    frame = pd.DataFrame(
        [r.asDict() for r in ex], columns=["rule", "reason", "_key", "_source_file", "_row_number", "_raw"]
    )
    return rules, frame
