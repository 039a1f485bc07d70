"""Positional cross-match of two catalogs in Spark, on HEALPix cells.

The method, in four steps (see ``docs/sky.md`` for the reasoning):

1. **Cells.**  An order ``k`` is chosen from the radius: the finest whose cells are at least 16
   radii wide (:func:`crossmatch_order`); an explicit ``order`` must keep cells at least 4
   radii wide, or the call is refused (:func:`max_radius_arcsec`).
2. **Left rows** go to the one cell at order ``k`` that holds their position: a bit shift of
   their ``healpix_29`` (silver tables have it; otherwise it is computed in Spark's arithmetic,
   :func:`astrolake.sky.healpix.with_healpix`, which agrees with cdshealpix cell for cell).
3. **Right rows** go to every cell that the disc of the radius around them touches: their own
   cell and, when they lie within one radius of a border, the one to three neighbours across it
   (never all eight blindly).  The cells come from cdshealpix's cone coverage, run per row in a
   pandas UDF; it never misses a touched cell, and the disc is padded by a few
   microarcseconds so that rounding cannot drop a cell either.
4. **Join** on the cell (an equi-join: Spark picks sort-merge or, for a small side, broadcast;
   nothing is forced), keep the pairs whose exact great-circle separation (haversine) is within
   the radius.  A crowded cell makes one large join partition: Spark's adaptive execution splits
   such skewed partitions (``spark.sql.adaptive.skewJoin.enabled``, on by default), and a finer
   ``order`` (up to the limit) shrinks the candidates per cell; cells are not split further.

A pair (l, r) with separation <= radius has l inside r's disc, so r was copied into l's cell:
the join sees every such pair, and each exactly once (l sits in one cell only).

Modes (``mode=``): ``all`` every pair; ``nearest`` the closest right row of each left row;
``n_nearest`` the ``n`` closest; ``left`` the ``n`` closest (every partner with ``n=None``) and
the left rows without a partner, once, with nulls; ``anti`` the left rows without a partner;
``best`` one-to-one pairs: a pair is kept when each row is the other's nearest (mutual nearest
neighbours).  Ties in separation go to the smaller key, so every mode is deterministic.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd  # at module level: the pandas UDF's type hints name it

from astrolake.errors import UsageError
from astrolake.sky.cone import cell_size_deg, disc_cells, padded, separation_deg
from astrolake.sky.healpix import HEALPIX_COLUMN, HEALPIX_ORDER

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

MODES = ("all", "nearest", "n_nearest", "left", "anti", "best")

#: the order chosen for a radius has cells at least this many radii wide
AUTO_CELL_RADII = 16
#: an order whose cells are less than this many radii wide is refused
MIN_CELL_RADII = 4

#: milliarcseconds per degree (proper motions are in mas/yr)
_MAS_PER_DEG = 3.6e6


def crossmatch_order(radius_arcsec: float) -> int:
    """The HEALPix order :func:`crossmatch` uses for ``radius_arcsec`` when none is given: the
    finest whose cells are at least ``AUTO_CELL_RADII`` (16) radii wide, at least 0.

    >>> crossmatch_order(1.0), crossmatch_order(5.0), crossmatch_order(3600.0)
    (13, 11, 1)
    """
    r_deg = float(radius_arcsec) / 3600.0
    order = math.floor(math.log2(cell_size_deg(0) / (AUTO_CELL_RADII * r_deg)))
    return max(0, min(HEALPIX_ORDER, order))


def max_radius_arcsec(order: int) -> float:
    """The largest radius :func:`crossmatch` accepts at ``order``: a quarter of the cell width.

    >>> round(max_radius_arcsec(13), 2), round(max_radius_arcsec(0) / 3600, 2)
    (6.44, 14.66)
    """
    return cell_size_deg(order) * 3600.0 / MIN_CELL_RADII


def right_cells(ra_deg, dec_deg, radius_arcsec: float, order: int) -> list[np.ndarray]:
    """For each right position (degrees), the nested indices at ``order`` of the cells its disc of
    ``radius_arcsec`` touches (padded as the cross-match pads it); an empty array where the
    position is missing or out of range.  What the cross-match's pandas UDF computes.

    >>> [c.tolist() for c in right_cells([10.0, float("nan")], [0.0, 0.0], 1.0, 5)]
    [[4517], []]
    """
    radius_deg = padded(float(radius_arcsec) / 3600.0)
    ra = np.asarray(ra_deg, dtype="float64")
    dec = np.asarray(dec_deg, dtype="float64")
    empty = np.empty(0, dtype="int64")
    out = []
    for a, d in zip(ra.tolist(), dec.tolist(), strict=True):
        ok = math.isfinite(a) and math.isfinite(d) and -90.0 <= d <= 90.0
        out.append(disc_cells(a, d, radius_deg, order) if ok else empty)
    return out


def _cells_udf(radius_arcsec: float, order: int):
    from pyspark.sql.functions import pandas_udf

    @pandas_udf("array<long>")  # type: ignore[call-overload]
    def cells(ra: pd.Series, dec: pd.Series) -> pd.Series:
        values = right_cells(
            ra.to_numpy("float64", na_value=np.nan), dec.to_numpy("float64", na_value=np.nan), radius_arcsec, order
        )
        return pd.Series(values, index=ra.index)

    return cells


def propagate(ra: Column, dec: Column, pmra: Column, pmdec: Column, years: Column) -> tuple[Column, Column]:
    """Positions (degrees) moved by their proper motion (mas/yr; ``pmra`` includes cos dec) over
    ``years``: along the great circle of the motion's direction, by the motion times the time.
    Linear motion on the sphere, right for the decades that separate survey epochs; parallax and
    radial velocity are ignored.  A missing motion or time counts as zero."""
    from pyspark.sql import functions as F

    t = F.coalesce(years.cast("double"), F.lit(0.0))
    xi = F.radians(F.coalesce(pmra.cast("double"), F.lit(0.0)) * t / _MAS_PER_DEG)  # east
    eta = F.radians(F.coalesce(pmdec.cast("double"), F.lit(0.0)) * t / _MAS_PER_DEG)  # north
    rho = F.sqrt(xi * xi + eta * eta)
    theta = F.atan2(xi, eta)  # position angle of the motion, east of north
    d = F.radians(dec.cast("double"))
    sin_d2 = F.sin(d) * F.cos(rho) + F.cos(d) * F.sin(rho) * F.cos(theta)
    d2 = F.asin(F.greatest(F.lit(-1.0), F.least(F.lit(1.0), sin_d2)))
    dra = F.atan2(F.sin(theta) * F.sin(rho) * F.cos(d), F.cos(rho) - F.sin(d) * sin_d2)
    ra2 = F.pmod(ra.cast("double") + F.degrees(dra), F.lit(360.0))
    return ra2, F.degrees(d2)


def _check(
    left: DataFrame,
    right: DataFrame,
    radius_arcsec: float,
    mode: str,
    n: int | None,
    min_radius_arcsec: float,
    order: int | None,
) -> int:
    for name, value in (("radius_arcsec", radius_arcsec), ("min_radius_arcsec", min_radius_arcsec)):
        if isinstance(value, bool) or not isinstance(value, int | float | np.number) or not math.isfinite(value):
            raise UsageError(f"cross-match {name} must be a finite number of arcseconds, not {value!r}")
    if not radius_arcsec > 0:
        raise UsageError(f"cross-match radius must be > 0 arcsec, not {radius_arcsec:g}")
    if not 0 <= min_radius_arcsec < radius_arcsec:
        raise UsageError(
            f"cross-match min_radius_arcsec must be >= 0 and below the radius ({radius_arcsec:g}), "
            f"not {min_radius_arcsec:g}"
        )
    if mode not in MODES:
        raise UsageError(f"cross-match mode must be one of {', '.join(MODES)}, not {mode!r}")
    if mode == "n_nearest" and not (isinstance(n, int) and n >= 1):
        raise UsageError(f"cross-match mode n_nearest needs n >= 1, not {n!r}")
    if mode == "left" and n is not None and not (isinstance(n, int) and n >= 1):
        raise UsageError(f"cross-match mode left needs n >= 1 (or None for every partner), not {n!r}")
    if order is None:
        order = crossmatch_order(radius_arcsec)
    elif isinstance(order, bool) or not isinstance(order, int) or not 0 <= order <= HEALPIX_ORDER:
        raise UsageError(f"cross-match HEALPix order must be within 0..{HEALPIX_ORDER}, not {order!r}")
    limit = max_radius_arcsec(order)
    if radius_arcsec > limit:
        coarsest = max_radius_arcsec(0)
        if radius_arcsec > coarsest:
            raise UsageError(
                f"cross-match radius {radius_arcsec:g} arcsec is too large: at most {coarsest:.0f} arcsec "
                f"({coarsest / 3600:.2f} deg)"
            )
        finest_ok = max(k for k in range(HEALPIX_ORDER + 1) if max_radius_arcsec(k) >= radius_arcsec)
        raise UsageError(
            f"cross-match radius {radius_arcsec:g} arcsec is too large for HEALPix order {order} "
            f"(cells {cell_size_deg(order) * 3600:.3g} arcsec wide, radius at most {limit:.3g} arcsec): "
            f"use order <= {finest_ok} or leave order unset"
        )
    return order


def _need(df: DataFrame, side: str, names: Sequence[str]) -> None:
    have = set(df.columns)
    missing = [c for c in names if c not in have]
    if missing:
        raise UsageError(
            f"cross-match: the {side} table has no column {', '.join(missing)} (it has {', '.join(df.columns)})"
        )


def crossmatch(
    left: DataFrame,
    right: DataFrame,
    radius_arcsec: float,
    mode: str = "all",
    *,
    left_key: str,
    right_key: str,
    n: int | None = 1,
    min_radius_arcsec: float = 0.0,
    left_cols: Sequence[str] | None = None,
    right_cols: Sequence[str] | None = None,
    left_ra: str = "ra",
    left_dec: str = "dec",
    right_ra: str = "ra",
    right_dec: str = "dec",
    suffixes: tuple[str, str] = ("_l", "_r"),
    self_match: bool = False,
    order: int | None = None,
    left_index: str | None = HEALPIX_COLUMN,
    epoch_col: str | float | None = None,
    pmra_col: str | None = None,
    pmdec_col: str | None = None,
    target_epoch: float | None = None,
) -> DataFrame:
    """Cross-match ``left`` with ``right`` by position within ``radius_arcsec``.

    Parameters
    ----------
    left, right
        DataFrames with positions in degrees (``left_ra``/``left_dec``, ``right_ra``/``right_dec``)
        and a unique, non-null key each (``left_key``, ``right_key``).  Rows with a missing
        position match nothing (``left``/``anti`` modes still return such left rows).
    radius_arcsec
        Largest separation of a pair, in arcseconds (> 0; the limit depends on ``order``).
    mode
        ``all`` (every pair), ``nearest`` (the closest right row per left row), ``n_nearest``
        (the ``n`` closest), ``left`` (the ``n`` closest, or every partner with ``n=None``, plus
        left rows without a partner, once, with null right columns), ``anti`` (left rows without
        a partner: left columns only), ``best`` (one-to-one: pairs whose two rows are each
        other's nearest within the radius).
    n
        How many partners per left row for ``n_nearest`` and ``left``.
    min_radius_arcsec
        Pairs closer than this are ignored (by every mode, and by ``n_matches``).
    left_cols, right_cols
        Columns to carry besides the key; default the position columns.
    suffixes
        Appended to every left and to every right output column name.
    self_match
        ``left`` and ``right`` are the same catalog: pairs of a row with itself (equal keys) are
        left out.
    order
        HEALPix order of the join cells; default :func:`crossmatch_order`.  Its cells must be at
        least 4 radii wide, or :class:`UsageError`.
    left_index
        A column of ``left`` with the nested order-29 HEALPix index of its positions (silver's
        ``healpix_29``): when present (and no proper motion moves the rows) the left cells are a
        bit shift of it; otherwise they are computed from the positions.
    epoch_col, pmra_col, pmdec_col, target_epoch
        Proper motion of the left rows: the epoch of their positions (a column of years, or one
        number for every row), their motion in mas/yr (``pmra`` includes cos dec); the left
        positions are moved to ``target_epoch`` (the right catalog's epoch) before matching.
        Output positions stay as given.

    Returns
    -------
    DataFrame
        ``<left_key><sl>``, the left columns ``<name><sl>``, ``<right_key><sr>``, the right columns
        ``<name><sr>`` (``sl``, ``sr`` = ``suffixes``), then ``sep_arcsec`` (separation of the
        pair), ``match_rank`` (1 for the nearest partner of the left row, 2 for the next ...) and
        ``n_matches`` (how many right rows lie within the radius of that left row).  ``anti``
        returns the left columns only.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    from astrolake.sky.healpix import with_healpix

    order = _check(left, right, radius_arcsec, mode, n, min_radius_arcsec, order)
    lcols = _unique([left_key, *(left_cols if left_cols is not None else (left_ra, left_dec))])
    rcols = _unique([right_key, *(right_cols if right_cols is not None else (right_ra, right_dec))])
    moving = any(v is not None for v in (epoch_col, pmra_col, pmdec_col, target_epoch))
    motion_cols: list[str] = []
    if moving:
        if epoch_col is None or pmra_col is None or pmdec_col is None or target_epoch is None:
            raise UsageError("cross-match proper motion needs epoch_col, pmra_col, pmdec_col and target_epoch together")
        motion_cols = [pmra_col, pmdec_col, *([epoch_col] if isinstance(epoch_col, str) else [])]
    _need(left, "left", [*lcols, left_ra, left_dec, *motion_cols])
    _need(right, "right", [*rcols, right_ra, right_dec])
    sl, sr = suffixes
    out_left = [c + sl for c in lcols]
    out_right = [c + sr for c in rcols]
    names = [*out_left, *([] if mode == "anti" else [*out_right, "sep_arcsec", "match_rank", "n_matches"])]
    lowered = [x.lower() for x in names]
    clash = sorted({x for x in names if lowered.count(x.lower()) > 1})
    if clash:
        raise UsageError(f"cross-match output columns clash: {', '.join(clash)} (choose other suffixes)")

    # left rows: key, carried columns, (moved) position, cell (-1 when none)
    index_name = left_index if left_index is not None and left_index in left.columns and not moving else None
    lra, ldec = F.col(left_ra).cast("double"), F.col(left_dec).cast("double")
    if moving:
        epoch = F.col(epoch_col) if isinstance(epoch_col, str) else F.lit(float(epoch_col))  # type: ignore[arg-type]
        years = F.lit(float(target_epoch)) - epoch.cast("double")  # type: ignore[arg-type]
        lra, ldec = propagate(lra, ldec, F.col(str(pmra_col)), F.col(str(pmdec_col)), years)
    lsel = [F.col(c).alias(f"__l{i}") for i, c in enumerate(lcols)]
    if index_name is None:  # the index in Spark arithmetic, staged (see with_healpix)
        index_name = "__hpx"
        lhs = with_healpix(left.select(*lsel, lra.alias("__lra"), ldec.alias("__ldec")), "__lra", "__ldec", index_name)
    else:
        lhs = left.select(*lsel, lra.alias("__lra"), ldec.alias("__ldec"), F.col(index_name))
    # -1 (no cell) where the position is missing: a cell that is never null leaves the optimizer no
    # "cell is not null" filter to infer and push below the projections, where it would inline the
    # whole index expression into one generated method, too large to compile
    shifted = F.shiftright(F.col(index_name).cast("long"), 2 * (HEALPIX_ORDER - order))
    lhs = lhs.select(*lhs.columns[:-1], F.coalesce(shifted, F.lit(-1).cast("long")).alias("__cell"))

    # right rows: key, carried columns, position, one row per cell its disc touches
    rsel = [F.col(c).alias(f"__r{i}") for i, c in enumerate(rcols)]
    rhs = right.select(
        *rsel, F.col(right_ra).cast("double").alias("__rra"), F.col(right_dec).cast("double").alias("__rdec")
    )
    rhs = rhs.withColumn("__rcell", F.explode(_cells_udf(float(radius_arcsec), order)("__rra", "__rdec")))

    sep = separation_deg(F.col("__lra"), F.col("__ldec"), F.col("__rra"), F.col("__rdec")) * 3600.0
    cond = (F.col("__cell") == F.col("__rcell")) & (sep <= float(radius_arcsec))
    if min_radius_arcsec > 0:
        cond = cond & (sep >= float(min_radius_arcsec))
    if self_match:
        cond = cond & ~F.col("__l0").eqNullSafe(F.col("__r0"))
    left_out = [F.col(f"__l{i}").alias(name) for i, name in enumerate(out_left)]
    if mode == "anti":
        return lhs.join(rhs, cond, "left_anti").select(*left_out)

    pairs = lhs.join(rhs, cond, "left" if mode == "left" else "inner").withColumn("sep_arcsec", sep)
    by_left = Window.partitionBy("__l0")
    pairs = pairs.withColumn("n_matches", F.count("__r0").over(by_left)).withColumn(
        "match_rank", F.row_number().over(by_left.orderBy(F.col("sep_arcsec").asc_nulls_last(), "__r0"))
    )
    if mode == "nearest":
        pairs = pairs.where(F.col("match_rank") == 1)
    elif mode == "n_nearest" or (mode == "left" and n is not None):
        pairs = pairs.where(F.col("match_rank") <= int(n))  # type: ignore[arg-type]
    elif mode == "best":
        # both ranks over every pair within the radius, then the pairs that both sides rank first
        by_right = Window.partitionBy("__r0").orderBy("sep_arcsec", "__l0")
        pairs = pairs.withColumn("__rrank", F.row_number().over(by_right))
        pairs = pairs.where((F.col("match_rank") == 1) & (F.col("__rrank") == 1))
    matched = F.col("__r0").isNotNull()
    right_out = [F.col(f"__r{i}").alias(name) for i, name in enumerate(out_right)]
    return pairs.select(
        *left_out,
        *right_out,
        F.col("sep_arcsec"),
        F.when(matched, F.col("match_rank")).cast("int").alias("match_rank"),
        F.col("n_matches").cast("int").alias("n_matches"),
    )


def _unique(names: Sequence[str]) -> list[str]:
    seen: list[str] = []
    for name in names:
        if name not in seen:
            seen.append(name)
    return seen
