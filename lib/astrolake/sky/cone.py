"""Cone search on catalogs indexed by ``healpix_29``.

A cone (centre, radius) is first covered by HEALPix cells at an order chosen from the radius
(cells about half the radius wide: a few dozen cells, close to the cone).  The cells become
half-open ranges of order-29 indices, and the ranges become ``healpix_29 BETWEEN lo AND hi - 1``
predicates: on a table clustered by ``healpix_29`` Delta skips every file whose index range misses
them all.  The rows that survive are then tested with the exact great-circle separation.

The covering comes from cdshealpix's cone coverage, which never misses a cell that the cone
touches (it may add a few neighbours that it only nearly touches); the radius used for the
covering is padded by a few microarcseconds so that points on the cone's edge or on a cell
border are covered whatever the rounding.  The covering is therefore a superset, and the exact
test decides.

>>> ranges = cone_ranges(10.0, 20.0, 1 / 60)  # one arcminute
>>> all(lo < hi for lo, hi in ranges) and ranges == sorted(ranges)
True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import reduce
from typing import TYPE_CHECKING, Any

import numpy as np

from astrolake.errors import UsageError
from astrolake.layout import live
from astrolake.sky.healpix import HEALPIX_COLUMN, HEALPIX_ORDER

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

    from astrolake.lake.tables import Lake

#: the largest cone :func:`cone_search` accepts, in degrees
MAX_CONE_RADIUS_DEG = 10.0

#: nominal width of an order-0 HEALPix cell in degrees (the square root of its area);
#: a cell of order k is ``CELL0_DEG / 2**k`` wide
CELL0_DEG = math.degrees(math.sqrt(4 * math.pi / 12))

# The covering radius is the radius times (1 + _PAD_REL) plus _PAD_DEG: a point exactly on the
# cone's edge, or on a cell border, is covered whatever the rounding of either side.
_PAD_REL = 1e-9
_PAD_DEG = 1e-9  # 3.6 microarcseconds, 100 times finer than an order-29 cell


def padded(radius_deg: float) -> float:
    """The covering radius of ``radius_deg`` (see ``_PAD_REL`` and ``_PAD_DEG``)."""
    return radius_deg * (1 + _PAD_REL) + _PAD_DEG


def cell_size_deg(order: int) -> float:
    """Nominal width of a HEALPix cell at ``order`` (square root of its area), in degrees.

    >>> round(cell_size_deg(0), 2), round(cell_size_deg(13) * 3600, 1)
    (58.63, 25.8)
    """
    return CELL0_DEG / (1 << order)


def cone_order(radius_deg: float) -> int:
    """The HEALPix order at which :func:`cone_ranges` covers a cone of ``radius_deg``: the
    finest whose cells are at least half the radius wide, within 0..29.

    >>> cone_order(10.0), cone_order(1 / 60), cone_order(0.1 / 3600)
    (3, 12, 22)
    """
    if not radius_deg > 0:
        return HEALPIX_ORDER
    order = math.floor(math.log2(2 * CELL0_DEG / radius_deg))
    return max(0, min(HEALPIX_ORDER, order))


def check_cone(ra: float, dec: float, radius_deg: float, max_radius_deg: float = MAX_CONE_RADIUS_DEG) -> None:
    """Refuse a cone whose centre or radius is out of range, with a :class:`UsageError`."""
    for name, value in (("ra", ra), ("dec", dec), ("radius", radius_deg)):
        if isinstance(value, bool) or not isinstance(value, int | float | np.number) or not math.isfinite(value):
            raise UsageError(f"cone {name} must be a finite number of degrees, not {value!r}")
    if not 0.0 <= ra <= 360.0:
        raise UsageError(f"cone ra must be within [0, 360] degrees, not {ra}")
    if not -90.0 <= dec <= 90.0:
        raise UsageError(f"cone dec must be within [-90, 90] degrees, not {dec}")
    if not 0.0 < radius_deg <= max_radius_deg:
        raise UsageError(f"cone radius must be > 0 and <= {max_radius_deg:g} degrees, not {radius_deg:g}")


def disc_cells(ra_deg: float, dec_deg: float, radius_deg: float, order: int) -> np.ndarray:
    """Nested indices (int64, sorted) at ``order`` of every cell that the disc of ``radius_deg``
    around (``ra_deg``, ``dec_deg``) touches: cdshealpix's cone coverage, a superset (it may add
    cells that the disc only nearly touches).  No padding here: callers pad the radius.

    >>> disc_cells(0.0, 90.0, 1.0, 0).tolist()  # the north pole touches the four northern base cells
    [0, 1, 2, 3]
    """
    lon = math.radians(float(ra_deg) % 360.0)
    lat = math.radians(float(dec_deg))
    ipix = _cone_coverage(lon, lat, math.radians(float(radius_deg)), int(order))
    return np.unique(np.asarray(ipix, dtype="int64"))


def _cone_coverage_public(lon: float, lat: float, radius: float, order: int) -> np.ndarray:
    import astropy.units as u
    from astropy.coordinates import Latitude, Longitude
    from cdshealpix.nested import cone_search as cds_cone_search

    ipix, _, _ = cds_cone_search(
        Longitude(lon, unit=u.rad), Latitude(lat, unit=u.rad), radius * u.rad, order, flat=True
    )
    return ipix


def _cone_coverage(lon: float, lat: float, radius: float, order: int) -> np.ndarray:
    """cdshealpix's cone coverage (flat, at ``order``) of a cone in radians (``lon`` in [0, 2 pi)).

    Calls the compiled function behind ``cdshealpix.nested.cone_search`` directly when it is
    there: the same computation without building astropy quantities, 20 times faster per cone,
    which matters when a cross-match covers one small disc per catalog row.  The tests check
    both give the same cells.
    """
    fast = _compiled_cone_search()
    if fast is None:
        return _cone_coverage_public(lon, lat, radius, order)
    ipix, _, _ = fast(np.uint8(order), np.uint8(2), np.float64(lon), np.float64(lat), np.float64(radius), True)
    return ipix


def _compiled_cone_search() -> Any:
    try:
        from cdshealpix import cdshealpix as compiled
    except ImportError:  # pragma: no cover - the layout of cdshealpix 0.7-0.9
        return None
    return getattr(compiled, "cone_search", None)


def cone_ranges(ra: float, dec: float, radius_deg: float, order: int | None = None) -> list[tuple[int, int]]:
    """Half-open ranges ``[lo, hi)`` of order-29 nested indices that together hold every point
    within ``radius_deg`` of (``ra``, ``dec``), sorted and merged.

    The cone is covered at ``order`` (default :func:`cone_order`: cells about half the radius
    wide) and each covering cell ``c`` becomes ``[c << 2*(29-order), (c+1) << 2*(29-order))``.
    A superset: the covering may also hold points a little outside the cone.

    >>> cone_ranges(0.0, 90.0, 1.0, order=0)  # the four northern base cells: one range
    [(0, 1152921504606846976)]
    """
    check_cone(ra, dec, radius_deg)
    if order is None:
        order = cone_order(radius_deg)
    if not 0 <= order <= HEALPIX_ORDER:
        raise UsageError(f"HEALPix order must be within 0..{HEALPIX_ORDER}, not {order}")
    cells = disc_cells(ra, dec, padded(radius_deg), order)
    shift = 2 * (HEALPIX_ORDER - order)
    ranges: list[tuple[int, int]] = []
    for cell in cells.tolist():
        lo, hi = cell << shift, (cell + 1) << shift
        if ranges and ranges[-1][1] == lo:
            ranges[-1] = (ranges[-1][0], hi)
        else:
            ranges.append((lo, hi))
    return ranges


def ranges_predicate(column: str | Column, ranges: Sequence[tuple[int, int]]) -> Column:
    """A Spark predicate true where ``column`` lies in one of the half-open ``ranges``: an OR of
    ``BETWEEN lo AND hi - 1``, which Delta's data skipping evaluates against each file's
    minimum and maximum."""
    from pyspark.sql import functions as F

    if not ranges:
        return F.lit(False)
    col = F.col(column) if isinstance(column, str) else column
    return reduce(lambda a, b: a | b, [col.between(F.lit(lo), F.lit(hi - 1)) for lo, hi in ranges])


def separation_deg(ra1: Column, dec1: Column, ra2: Column, dec2: Column) -> Column:
    """Great-circle separation in degrees between two positions in degrees (Spark columns).

    The haversine formula: exact to rounding for small angles (where the cosine formula loses
    all its digits below about an arcsecond); fine up to a few tens of degrees, which is all a
    cone search or a cross-match needs.
    """
    from pyspark.sql import functions as F

    d1, d2 = F.radians(dec1.cast("double")), F.radians(dec2.cast("double"))
    dra = F.radians(ra2.cast("double") - ra1.cast("double"))
    sin_ddec = F.sin((d2 - d1) / 2)
    sin_dra = F.sin(dra / 2)
    h = sin_ddec * sin_ddec + F.cos(d1) * F.cos(d2) * sin_dra * sin_dra
    # not F.least, which skips nulls: a missing position must give a null separation
    return F.degrees(F.asin(F.sqrt(F.when(h > 1.0, F.lit(1.0)).otherwise(h))) * 2)


def cone_search(
    df: DataFrame,
    ra: float,
    dec: float,
    radius_deg: float,
    ra_col: str = "ra",
    dec_col: str = "dec",
    index_col: str = HEALPIX_COLUMN,
) -> DataFrame:
    """The rows of ``df`` within ``radius_deg`` degrees of (``ra``, ``dec``), with their
    separation from the centre as ``sep_arcsec``.

    ``df`` holds positions in degrees in ``ra_col`` and ``dec_col``.  When it has ``index_col``
    (the nested order-29 HEALPix index, ``healpix_29`` of silver tables) the cone's covering
    ranges filter that column first, so that a Delta table clustered by it reads only the files
    that can hold an answer.  Without it (a DataFrame that is not a silver table) the rows are
    tested on their positions alone: same answer, nothing to skip.  Rows with a missing position
    are never returned.

    Raises :class:`UsageError` for a centre outside ra [0, 360], dec [-90, 90] or a radius
    outside (0, 10] degrees, and for columns that ``df`` lacks.
    """
    from pyspark.sql import functions as F

    check_cone(ra, dec, radius_deg)
    missing = [c for c in (ra_col, dec_col) if c not in df.columns]
    if missing:
        raise UsageError(f"cone search: no column {', '.join(missing)} among {', '.join(df.columns)}")
    pad = padded(radius_deg)
    # the separation is never less than the difference in dec: a cheap extra filter (and one more
    # chance of skipping files, where Delta keeps statistics of the dec column)
    keep = (F.col(dec_col) >= dec - pad) & (F.col(dec_col) <= dec + pad)
    if index_col in df.columns:
        keep = ranges_predicate(index_col, cone_ranges(ra, dec, radius_deg)) & keep
    # without the index, its ranges could skip no file, and computing the index costs more than
    # the exact separation that follows: the dec band and the separation decide alone
    sep = separation_deg(F.lit(float(ra)), F.lit(float(dec)), F.col(ra_col), F.col(dec_col))
    return (
        df.where(keep).withColumn("sep_arcsec", sep * 3600.0).where(F.col("sep_arcsec") <= float(radius_deg) * 3600.0)
    )


@dataclass(frozen=True)
class ConeFiles:
    """What a cone search on a Delta table read: ``files_read`` of the table's ``files_total``
    data files (after Delta's data skipping), and the ``rows`` it returned."""

    files_read: int
    files_total: int
    rows: int

    def line(self) -> str:
        return f"{self.rows} rows from {self.files_read} of {self.files_total} files"


def cone_files(
    lake: Lake,
    table: str,
    ra: float,
    dec: float,
    radius_deg: float,
    ra_col: str = "ra",
    dec_col: str = "dec",
    index_col: str = HEALPIX_COLUMN,
) -> ConeFiles:
    """Run :func:`cone_search` on the Delta table ``table`` and count the files it read.

    ``files_total`` is the table's number of data files (``DESCRIBE DETAIL``); ``files_read`` is
    the ``number of files read`` metric of the query's file scans once it has run (Delta's data
    skipping decides which files the scan lists).  Both count data files of the current version.
    """
    rows = live(lake.read(table))
    found = cone_search(rows, ra, dec, radius_deg, ra_col=ra_col, dec_col=dec_col, index_col=index_col)
    total = int(lake.delta(table).detail().select("numFiles").collect()[0][0])
    execution = found._jdf.queryExecution()
    rows = int(execution.toRdd().count())  # runs the query once, filling the scans' metrics
    files = sum(_scan_files(node) for node in _walk(execution.executedPlan()))
    return ConeFiles(files_read=files, files_total=total, rows=rows)


def _walk(plan):
    """Every node of a physical plan, through adaptive plans and query stages."""
    todo = [plan]
    while todo:
        node = todo.pop()
        yield node
        name = node.getClass().getSimpleName()
        if name == "AdaptiveSparkPlanExec":
            todo.append(node.executedPlan())
        elif name.endswith("QueryStageExec"):
            todo.append(node.plan())
        children = node.children()
        todo.extend(children.apply(i) for i in range(children.size()))


def _scan_files(node) -> int:
    """The ``number of files read`` of a file scan node (0 for any other node)."""
    if "FileSourceScan" not in node.getClass().getSimpleName():
        return 0
    metric = node.metrics().get("numFiles")
    return int(metric.get().value()) if metric.isDefined() else 0
