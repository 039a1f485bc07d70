"""HATS catalogs (HEALPix-partitioned Parquet, the format LSDB reads and writes), in Spark.

A HATS *catalog* is a folder::

    hats.properties                      key=value lines: row count, ra/dec columns, orders ...
    partition_info.csv                   Norder,Npix of every partition
    dataset/Norder=K/Dir=D/Npix=N.parquet  the rows of the HEALPix cell N at order K (D = N // 10000 * 10000)
    dataset/_common_metadata             the Parquet schema
    dataset/_metadata                    the schema and the row groups of every partition file

Partitions are nested HEALPix cells of different orders that never overlap: dense sky is cut
finer.  Every row carries ``_healpix_29``, its nested index at order 29: the same number as
astrolake's ``healpix_29`` (:mod:`astrolake.sky.healpix`).  A *margin* catalog holds, for each
partition, copies of the rows of the other partitions that lie within a threshold of its border,
so that a cross-match of one partition plus its margin is complete at the partition's edges.  A
*collection* folder ties a catalog and its margins together (``collection.properties``).

:func:`read_hats` reads a catalog (or a collection's primary catalog) into a DataFrame with
``healpix_29``; :func:`export_hats` writes a DataFrame as a HATS collection with a margin.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd  # at module level: the pandas UDFs' type hints name it

from astrolake.errors import UsageError
from astrolake.sky.healpix import HEALPIX_COLUMN, HEALPIX_ORDER

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)

#: the order-29 index column of HATS files (``hats_col_healpix``)
HATS_HEALPIX_COLUMN = "_healpix_29"
HATS_VERSION = "v1.0"
PROPERTIES_FILE = "hats.properties"
COLLECTION_FILE = "collection.properties"
PARTITION_INFO_FILE = "partition_info.csv"
#: partitions per ``Dir=`` folder
DIR_SIZE = 10_000
#: the columns :func:`read_hats` adds with ``provenance=True``
PROVENANCE_COLUMNS = ("Norder", "Npix")

_PARTITION_ID = "__hats_partition"
_MARGIN_IDS = "__hats_margins"


# ---------------------------------------------------------------------------------------------
# properties


def parse_properties(text: str) -> dict[str, str]:
    """``key=value`` lines as a dict (Java properties as HATS writes them): blank lines and lines
    starting with ``#`` or ``!`` are skipped, ``:`` also separates, spaces around both are dropped.

    >>> parse_properties("#HATS catalog\\nhats_nrows = 10\\n\\nhats_col_ra=ra\\n")
    {'hats_nrows': '10', 'hats_col_ra': 'ra'}
    """
    out: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#!":
            continue
        m = re.match(r"([^=:\s]+)\s*[=:]?\s*(.*)$", line)
        if m:
            out[m.group(1)] = m.group(2).strip()
    return out


def format_properties(props: Mapping[str, Any], title: str = "HATS catalog") -> str:
    """``props`` as properties text (a ``#title`` line, then ``key=value`` lines in order).

    >>> print(format_properties({"hats_nrows": 10, "hats_col_ra": "ra"}), end="")
    #HATS catalog
    hats_nrows=10
    hats_col_ra=ra
    """
    lines = [f"#{title}"]
    for key, value in props.items():
        if value is None:
            continue
        text = str(value)
        if "\n" in text or "\n" in key or "=" in key:
            raise UsageError(f"property {key!r}: keys without '=' and values on one line only")
        lines.append(f"{key}={text}")
    return "\n".join(lines) + "\n"


def _read_properties(path: Path) -> dict[str, str]:
    return parse_properties(path.read_text(encoding="utf-8"))


def catalog_path(path: str | os.PathLike[str]) -> Path:
    """The catalog folder of ``path``: itself, or for a collection its primary catalog
    (``hats_primary_table_url`` of ``collection.properties``)."""
    root = Path(path)
    collection = root / COLLECTION_FILE
    if collection.is_file():
        primary = _read_properties(collection).get("hats_primary_table_url")
        if not primary:
            raise UsageError(f"{collection}: no hats_primary_table_url")
        root = root / primary
    if not (root / PROPERTIES_FILE).is_file() and not (root / "properties").is_file():
        raise UsageError(f"{path}: not a HATS catalog or collection (no {PROPERTIES_FILE} or {COLLECTION_FILE})")
    return root


def hats_properties(path: str | os.PathLike[str]) -> dict[str, str]:
    """The ``hats.properties`` of a catalog folder, or of a collection folder's primary catalog
    (older catalogs name the file ``properties``)."""
    root = catalog_path(path)
    file = root / PROPERTIES_FILE
    return _read_properties(file if file.is_file() else root / "properties")


def partition_file(norder: int, npix: int, suffix: str = ".parquet") -> str:
    """The path of a partition file within ``dataset/``.

    >>> partition_file(3, 12345)
    'Norder=3/Dir=10000/Npix=12345.parquet'
    """
    return f"Norder={norder}/Dir={npix // DIR_SIZE * DIR_SIZE}/Npix={npix}{suffix}"


# ---------------------------------------------------------------------------------------------
# reading


def read_hats(
    spark: SparkSession,
    path: str | os.PathLike[str],
    *,
    provenance: bool = False,
    check_rows: int = 1000,
    engine: str = "auto",
) -> DataFrame:
    """The rows of a HATS catalog (or of a collection's primary catalog) as a DataFrame.

    Every Parquet file under ``dataset/`` is read (``Npix=N.parquet`` files, or the files of
    ``Npix=N/`` folders); Spark's partition discovery is off, so no ``Norder``/``Dir`` columns
    appear.  The catalog's HEALPix column (``hats_col_healpix``, ``_healpix_29``) becomes
    astrolake's ``healpix_29``; a catalog without one, or with one at another order than 29,
    gets ``healpix_29`` computed from its ra/dec columns (``hats_col_ra``/``hats_col_dec``).

    ``provenance=True`` adds ``Norder`` and ``Npix`` (ints): the partition each row was read from.

    ``engine``: ``spark`` reads with Spark's Parquet reader (column pruning, filter pushdown);
    ``arrow`` reads each file with pyarrow in a Spark task (whole files per task), for files
    Spark cannot decode: LSDB writes floating-point columns with the ``BYTE_STREAM_SPLIT``
    encoding, which Spark's vectorized reader refuses.  ``auto`` (the default) looks at the
    encodings in ``dataset/_metadata`` (or in the first file's footer) and picks ``arrow`` when
    such an encoding is there, ``spark`` otherwise.
    ``check_rows`` rows (0: none) are checked on the driver: their ``healpix_29`` must equal
    cdshealpix's nested order-29 index of their position, or :class:`UsageError` is raised.
    """
    from pyspark.sql import functions as F

    root = catalog_path(path)
    props = hats_properties(root)
    ra, dec = props.get("hats_col_ra", "ra"), props.get("hats_col_dec", "dec")
    dataset = root / "dataset"
    if not dataset.is_dir():
        raise UsageError(f"{root}: no dataset/ folder")
    files = sorted(str(f.resolve()) for f in dataset.rglob("*.parquet") if not f.name.startswith(("_", ".")))
    if not files:
        raise UsageError(f"{dataset}: no Parquet files")
    if engine not in ("auto", "spark", "arrow"):
        raise UsageError(f"read_hats: engine must be auto, spark or arrow, not {engine!r}")
    if engine == "auto":
        engine = "arrow" if _spark_unreadable(dataset, files[0]) else "spark"
    if engine == "arrow":
        df = _read_with_arrow(spark, files, provenance)
    else:
        df = (
            spark.read.option("recursiveFileLookup", "true")
            .option("pathGlobFilter", "*.parquet")
            .parquet(str(dataset.resolve()))
        )
        if provenance:
            file_path = F.col("_metadata.file_path")
            df = df.select(
                "*",
                F.regexp_extract(file_path, r"Norder=(\d+)", 1).cast("int").alias("Norder"),
                F.regexp_extract(file_path, r"Npix=(\d+)", 1).cast("int").alias("Npix"),
            )
    for name in (ra, dec):
        if name not in df.columns:
            raise UsageError(f"{root}: the position column {name!r} (hats.properties) is not in the files")
    hpx = props.get("hats_col_healpix", HATS_HEALPIX_COLUMN)
    hpx_order = int(props.get("hats_col_healpix_order", HEALPIX_ORDER))
    if HEALPIX_COLUMN in df.columns and hpx != HEALPIX_COLUMN:
        raise UsageError(f"{root}: the files already have a column {HEALPIX_COLUMN!r}")
    if hpx in df.columns and hpx_order == HEALPIX_ORDER:
        df = df.withColumnRenamed(hpx, HEALPIX_COLUMN)
    else:
        from astrolake.sky.healpix import with_healpix

        log.info("%s: no order-29 HEALPix column %r; computing %s from %s/%s", root, hpx, HEALPIX_COLUMN, ra, dec)
        df = with_healpix(df, ra, dec)
    if check_rows > 0:
        _check_index(df.select(ra, dec, HEALPIX_COLUMN).limit(check_rows).toArrow(), ra, dec, root)
    return df


#: Parquet encodings that Spark's vectorized reader cannot decode
_SPARK_UNREADABLE = frozenset({"BYTE_STREAM_SPLIT"})


def _spark_unreadable(dataset: Path, first_file: str) -> bool:
    """Whether the catalog's footers (``_metadata``, else the first file's) name an encoding that
    Spark's Parquet reader refuses."""
    import pyarrow.parquet as pq

    meta = dataset / "_metadata"
    md = pq.read_metadata(meta if meta.is_file() else first_file)
    for i in range(md.num_row_groups):
        rg = md.row_group(i)
        for j in range(rg.num_columns):
            if _SPARK_UNREADABLE.intersection(rg.column(j).encodings):
                return True
    return False


def _read_with_arrow(spark: SparkSession, files: list[str], provenance: bool) -> DataFrame:
    """The rows of ``files`` read by pyarrow in Spark tasks (mapInArrow), in one schema: that of
    ``_common_metadata`` if the files agree with it, else the first file's."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from pyspark.sql.pandas.types import from_arrow_schema, to_arrow_schema
    from pyspark.sql.types import IntegerType, StructField, StructType

    spark_schema = from_arrow_schema(pq.read_schema(files[0]))
    if provenance:
        spark_schema = StructType(
            list(spark_schema.fields) + [StructField("Norder", IntegerType()), StructField("Npix", IntegerType())]
        )
    target = to_arrow_schema(spark_schema)

    def read(batches):
        for batch in batches:
            for path in batch.column(0).to_pylist():
                norder = int(re.search(r"Norder=(\d+)", path).group(1)) if provenance else None  # type: ignore[union-attr]
                npix = int(re.search(r"Npix=(\d+)", path).group(1)) if provenance else None  # type: ignore[union-attr]
                for part in pq.ParquetFile(path).iter_batches(batch_size=65_536):
                    columns = [part.column(f.name) if f.name in part.schema.names else None for f in target]
                    if provenance:
                        columns[-2] = pa.array([norder] * part.num_rows, pa.int32())
                        columns[-1] = pa.array([npix] * part.num_rows, pa.int32())
                    arrays = [
                        pa.nulls(part.num_rows, f.type) if c is None else c.cast(f.type)
                        for c, f in zip(columns, target, strict=True)
                    ]
                    yield pa.RecordBatch.from_arrays(arrays, schema=target)

    paths = spark.createDataFrame([(f,) for f in files], "path string")
    tasks = min(len(files), 4 * spark.sparkContext.defaultParallelism)  # a task reads whole files
    return paths.repartition(tasks).mapInArrow(read, spark_schema)


def _check_index(sample, ra: str, dec: str, where: Path) -> None:
    """``sample`` (an Arrow table) must have the nested order-29 index of its positions."""
    import pyarrow.compute as pc

    from astrolake.sky.healpix import healpix_index

    def floats(name: str) -> np.ndarray:
        return pc.fill_null(sample.column(name).cast("float64"), float("nan")).to_numpy()

    expected = healpix_index(floats(ra), floats(dec))
    got = pc.fill_null(sample.column(HEALPIX_COLUMN).cast("int64"), -1).to_numpy()
    bad = int((expected != got).sum())
    if bad:
        raise UsageError(
            f"{where}: {bad} of {sample.num_rows} rows have a HEALPix index that is not the nested order-29 index "
            "of their position"
        )


# ---------------------------------------------------------------------------------------------
# partitioning


def plan_partitions(cells, counts, max_rows: int, order: int, min_order: int = 0) -> np.ndarray:
    """The partitions of a sky histogram: rows of (Norder, Npix, rows), sorted by their range of
    order-29 indices.

    ``cells`` are nested indices at ``order`` (the finest allowed) and ``counts`` their rows.  Each
    cell at ``min_order`` holding rows is a partition if it holds at most ``max_rows``; otherwise
    its four children are considered in turn, down to ``order``, where a cell is a partition
    whatever its count.  Cells without rows get no partition.

    >>> plan_partitions([0, 1, 2, 3, 20], [5, 5, 5, 5, 3], max_rows=10, order=1).tolist()
    [[1, 0, 5], [1, 1, 5], [1, 2, 5], [1, 3, 5], [0, 5, 3]]
    """
    cells = np.asarray(cells, dtype="int64")
    counts = np.asarray(counts, dtype="int64")
    if not 0 <= min_order <= order <= HEALPIX_ORDER:
        raise UsageError(f"orders must satisfy 0 <= min_order <= order <= 29, not {min_order}, {order}")
    if max_rows < 1:
        raise UsageError(f"max_rows must be at least 1, not {max_rows}")
    left = np.ones(cells.shape, dtype=bool)
    parts: list[np.ndarray] = []
    for k in range(min_order, order + 1):
        parents = cells[left] >> (2 * (order - k))
        pix, inverse = np.unique(parents, return_inverse=True)
        total = np.bincount(inverse, weights=counts[left]).astype("int64")
        done = total <= max_rows if k < order else np.ones(pix.shape, dtype=bool)
        if done.any():
            parts.append(np.stack([np.full(int(done.sum()), k), pix[done], total[done]], axis=1))
            idx = np.flatnonzero(left)
            left[idx[done[inverse]]] = False
        if not left.any():
            break
    if not parts:
        return np.empty((0, 3), dtype="int64")
    plan = np.concatenate(parts).astype("int64")
    starts = plan[:, 1] << (2 * (HEALPIX_ORDER - plan[:, 0]))
    return plan[np.argsort(starts, kind="stable")]


def partition_ranges(plan: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Half-open ranges [start, end) of order-29 indices of the partitions of a plan."""
    shift = 2 * (HEALPIX_ORDER - plan[:, 0])
    return plan[:, 1] << shift, (plan[:, 1] + 1) << shift


def partition_of(index29, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """The position in the plan of the partition holding each order-29 index; -1 for none."""
    h = np.asarray(index29, dtype="int64")
    at = np.searchsorted(starts, h, side="right") - 1
    ok = (at >= 0) & (h >= 0)
    ok[ok] = h[ok] < ends[at[ok]]
    return np.where(ok, at, -1)


def margin_order(margin_arcsec: float, order: int) -> int:
    """The order of the cells on which rows are tested against partition borders: at least the
    finest partition order, and fine enough that cells are at most about half the margin wider
    than four margins (cdshealpix's cone coverage may add cells that a disc only nearly touches;
    finer cells keep that slack small).

    >>> margin_order(10.0, 3), margin_order(3600.0, 5)
    (12, 5)
    """
    from astrolake.sky.xmatch import crossmatch_order

    return max(order, min(HEALPIX_ORDER, crossmatch_order(margin_arcsec) + 2))


def margin_partitions(ra, dec, own, margin_arcsec: float, order: int, starts, ends) -> list[np.ndarray]:
    """For each position (degrees) in partition ``own`` (positions in the plan), the partitions
    other than ``own`` that its disc of ``margin_arcsec`` touches, from the cells at ``order``
    (see :func:`margin_order`) that the disc touches (cdshealpix's cone coverage, padded)."""
    from astrolake.sky.xmatch import right_cells

    cells = right_cells(ra, dec, margin_arcsec, order)
    sizes = np.fromiter((len(c) for c in cells), dtype="int64", count=len(cells))
    flat = np.concatenate(cells) if len(cells) else np.empty(0, dtype="int64")
    parts = partition_of(flat.astype("int64") << (2 * (HEALPIX_ORDER - order)), starts, ends)
    own = np.asarray(own, dtype="int64")
    out = []
    for p, o in zip(np.split(parts, np.cumsum(sizes)[:-1]), own.tolist(), strict=True):
        p = np.unique(p)
        out.append(p[(p >= 0) & (p != o)])
    return out


# ---------------------------------------------------------------------------------------------
# writing


@dataclass(frozen=True)
class HatsExport:
    """What :func:`export_hats` wrote."""

    collection: Path
    catalog: Path
    margin: Path | None
    #: (Norder, Npix, rows) of every partition, sorted by sky position
    partitions: list[tuple[int, int, int]]
    rows: int
    margin_rows: int
    #: rows left out: no position
    dropped_rows: int
    #: the finest partition order (``hats_order``)
    order: int
    #: the order of the cells the margin was computed on
    margin_order: int | None = None
    margin_partitions: list[tuple[int, int, int]] = field(default_factory=list)


def _version() -> str:
    from astrolake import __version__

    return __version__


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%MUTC")


def export_hats(
    df: DataFrame,
    out_dir: str | os.PathLike[str],
    name: str,
    ra_col: str = "ra",
    dec_col: str = "dec",
    max_rows: int = 1_000_000,
    margin_arcsec: float | None = 10.0,
    *,
    min_order: int = 0,
    max_order: int = 10,
    overwrite: bool = False,
) -> HatsExport:
    """Write ``df`` as a HATS collection in ``out_dir``: the catalog ``<name>/`` and, unless
    ``margin_arcsec`` is None or 0, its margin catalog ``<name>_<margin>arcs/``.

    Partitions are nested HEALPix cells: a cell at ``min_order`` holding more than ``max_rows``
    rows is split into its four children, down to ``max_order`` (a cell there is a partition
    whatever its count).  Row counts come from one Spark aggregation of ``healpix_29`` (computed
    from ``ra_col``/``dec_col`` when ``df`` lacks it) at ``max_order``; the histogram of
    occupied cells goes to the driver, the rows do not.  Each partition is written by one Spark
    task (pyarrow, sorted by ``_healpix_29``), so a partition must fit in a task's memory: that
    is what ``max_rows`` bounds.  ``healpix_29`` is written as ``_healpix_29`` (the last column).
    Rows without a valid position are left out (counted in ``dropped_rows``).

    The margin of a partition holds the rows of the other partitions whose disc of
    ``margin_arcsec`` touches it: a cross-match of radius up to ``margin_arcsec`` of the
    partition's rows against the partition plus its margin finds every pair.

    ``out_dir`` must be a path that the driver and every executor see (local mode, or a shared
    file system).  ``df`` is scanned three times (histogram, catalog, margin): persist it first
    when it is costly to compute.  Refuses an existing ``<name>/`` unless ``overwrite``.
    """
    import shutil

    from pyspark.sql import functions as F

    from astrolake.sky.healpix import with_healpix

    for col in (ra_col, dec_col):
        if col not in df.columns:
            raise UsageError(f"export_hats: no column {col!r}")
    if HATS_HEALPIX_COLUMN in df.columns:
        raise UsageError(f"export_hats: the column {HATS_HEALPIX_COLUMN!r} is written by export_hats; drop it first")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
        raise UsageError(f"export_hats: catalog name {name!r}: letters, digits, '_', '.', '-' only")
    if margin_arcsec is not None and (not math.isfinite(margin_arcsec) or margin_arcsec < 0):
        raise UsageError(f"export_hats: margin_arcsec must be >= 0, not {margin_arcsec}")
    if not 0 <= min_order <= max_order <= HEALPIX_ORDER:
        raise UsageError(f"export_hats: need 0 <= min_order <= max_order <= 29, not {min_order}, {max_order}")
    with_margin = bool(margin_arcsec)
    collection = Path(out_dir).resolve()
    catalog = collection / name
    margin_name = f"{name}_{margin_arcsec:g}arcs" if with_margin else None
    margin_dir = collection / margin_name if margin_name else None
    for folder in (catalog, margin_dir):
        if folder is not None and folder.exists():
            if not overwrite:
                raise UsageError(f"export_hats: {folder} exists (overwrite=True replaces it)")
            shutil.rmtree(folder)

    rows = df if HEALPIX_COLUMN in df.columns else with_healpix(df, ra_col, dec_col)
    rows = rows.withColumn(HATS_HEALPIX_COLUMN, F.col(HEALPIX_COLUMN).cast("long")).drop(HEALPIX_COLUMN)

    shift = 2 * (HEALPIX_ORDER - max_order)
    import pyarrow.compute as pc

    hist = rows.groupBy(F.shiftright(F.col(HATS_HEALPIX_COLUMN), shift).alias("cell")).count().toArrow()
    known = pc.is_valid(hist.column("cell"))
    dropped = int(pc.sum(pc.filter(hist.column("count"), pc.invert(known))).as_py() or 0)
    if dropped:
        log.warning("export_hats: %d rows without a valid position left out", dropped)
    hist = hist.filter(known)
    if hist.num_rows == 0:
        raise UsageError("export_hats: no rows with a position to write")
    cells = hist.column("cell").cast("int64").to_numpy()
    plan = plan_partitions(cells, hist.column("count").cast("int64").to_numpy(), max_rows, max_order, min_order)
    starts, ends = partition_ranges(plan)
    order = int(plan[:, 0].max())
    log.info(
        "export_hats: %d rows in %d partitions at orders %d-%d", plan[:, 2].sum(), len(plan), plan[:, 0].min(), order
    )

    rows = rows.where(F.col(HATS_HEALPIX_COLUMN).isNotNull())
    data_cols = [c for c in rows.columns if c != HATS_HEALPIX_COLUMN] + [HATS_HEALPIX_COLUMN]
    rows = rows.select(*data_cols)
    from pyspark.sql.pandas.types import to_arrow_schema

    arrow_schema = to_arrow_schema(rows.schema)
    tagged = rows.withColumn(_PARTITION_ID, _partition_udf(starts, ends)(F.col(HATS_HEALPIX_COLUMN)))

    written = _write_partitions(tagged, catalog / "dataset", plan, arrow_schema)
    nrows = int(sum(n for _, n in written.values()))
    _finish_catalog(
        catalog,
        plan,
        written,
        arrow_schema,
        {
            "obs_collection": name,
            "dataproduct_type": "object",
            "hats_nrows": nrows,
            "hats_col_ra": ra_col,
            "hats_col_dec": dec_col,
            "hats_col_healpix": HATS_HEALPIX_COLUMN,
            "hats_col_healpix_order": HEALPIX_ORDER,
            "hats_npix_suffix": ".parquet",
            "hats_max_rows": max_rows,
        },
        order,
    )

    margin_plan = np.empty((0, 3), dtype="int64")
    m_order = None
    if with_margin and margin_dir is not None and margin_arcsec:
        m_order = margin_order(margin_arcsec, order)
        margins = tagged.withColumn(
            _MARGIN_IDS,
            _margin_udf(starts, ends, float(margin_arcsec), m_order)(
                F.col(ra_col).cast("double"), F.col(dec_col).cast("double"), F.col(_PARTITION_ID)
            ),
        )
        margins = margins.where(F.size(_MARGIN_IDS) > 0).select(*data_cols, F.explode(_MARGIN_IDS).alias(_PARTITION_ID))
        m_written = _write_partitions(margins, margin_dir / "dataset", plan, arrow_schema)
        keep = sorted(m_written)
        margin_plan = np.array([[plan[p, 0], plan[p, 1], m_written[p][1]] for p in keep], dtype="int64").reshape(-1, 3)
        _finish_catalog(
            margin_dir,
            margin_plan,
            {i: m_written[p] for i, p in enumerate(keep)},
            arrow_schema,
            {
                "obs_collection": margin_name,
                "dataproduct_type": "margin",
                "hats_nrows": int(margin_plan[:, 2].sum()),
                "hats_col_ra": ra_col,
                "hats_col_dec": dec_col,
                "hats_col_healpix": HATS_HEALPIX_COLUMN,
                "hats_col_healpix_order": HEALPIX_ORDER,
                "hats_primary_table_url": name,
                "hats_margin_threshold": float(margin_arcsec),
                "hats_npix_suffix": ".parquet",
                "hats_max_rows": int(margin_plan[:, 2].max()) if len(margin_plan) else 0,
            },
            order,
        )

    coll: dict[str, Any] = {"obs_collection": name, "hats_primary_table_url": name}
    if margin_name:
        coll.update(all_margins=margin_name, default_margin=margin_name)
    coll.update(hats_builder=f"astrolake {_version()}", hats_creation_date=_now(), hats_version=HATS_VERSION)
    (collection / COLLECTION_FILE).write_text(format_properties(coll, "HATS Collection"), encoding="utf-8")

    return HatsExport(
        collection=collection,
        catalog=catalog,
        margin=margin_dir,
        partitions=[tuple(int(v) for v in r) for r in plan],  # type: ignore[misc]
        rows=nrows,
        margin_rows=int(margin_plan[:, 2].sum()),
        dropped_rows=dropped,
        order=order,
        margin_order=m_order,
        margin_partitions=[tuple(int(v) for v in r) for r in margin_plan],  # type: ignore[misc]
    )


def _partition_udf(starts: np.ndarray, ends: np.ndarray):
    from pyspark.sql.functions import pandas_udf

    def partition(h: pd.Series) -> pd.Series:
        return pd.Series(partition_of(h.to_numpy("int64"), starts, ends), index=h.index)

    return pandas_udf(partition, "long")  # type: ignore[call-overload]


def _margin_udf(starts: np.ndarray, ends: np.ndarray, margin_arcsec: float, order: int):
    from pyspark.sql.functions import pandas_udf

    def margins(ra: pd.Series, dec: pd.Series, own: pd.Series) -> pd.Series:
        values = margin_partitions(
            ra.to_numpy("float64", na_value=np.nan),
            dec.to_numpy("float64", na_value=np.nan),
            own.to_numpy("int64"),
            margin_arcsec,
            order,
            starts,
            ends,
        )
        return pd.Series(values, index=ra.index)

    return pandas_udf(margins, "array<long>")  # type: ignore[call-overload]


def _write_partitions(tagged: DataFrame, dataset: Path, plan: np.ndarray, arrow_schema) -> dict[int, tuple[str, int]]:
    """Write the rows of each partition (``_PARTITION_ID``: its position in the plan) to its file
    under ``dataset``, one Spark task per partition; {position: (relative path, rows)}."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    norders = plan[:, 0].tolist()
    npixes = plan[:, 1].tolist()
    base = str(dataset)

    def write(table: pa.Table) -> pa.Table:
        pid = int(table.column(_PARTITION_ID)[0].as_py())
        rel = partition_file(norders[pid], npixes[pid])
        data = table.drop_columns([_PARTITION_ID]).sort_by(HATS_HEALPIX_COLUMN).select(arrow_schema.names)
        data = data.cast(arrow_schema)
        target = os.path.join(base, rel)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        tmp = f"{target}.tmp-{os.getpid()}"
        pq.write_table(data, tmp)
        os.replace(tmp, target)  # a retried task replaces the file whole
        return pa.table({"pid": [pid], "path": [rel], "rows": [data.num_rows]})

    dataset.mkdir(parents=True, exist_ok=True)
    out = tagged.groupBy(_PARTITION_ID).applyInArrow(write, "pid long, path string, rows long").collect()
    return {int(r["pid"]): (r["path"], int(r["rows"])) for r in out}


def _finish_catalog(
    root: Path,
    plan: np.ndarray,
    written: Mapping[int, tuple[str, int]],
    arrow_schema,
    props: dict[str, Any],
    order: int,
) -> None:
    """partition_info.csv, dataset/_common_metadata, dataset/_metadata and hats.properties of a
    catalog whose partition files are written (``written``: plan position -> (path, rows))."""
    import pyarrow.parquet as pq

    dataset = root / "dataset"
    dataset.mkdir(parents=True, exist_ok=True)
    lines = ["Norder,Npix"] + [f"{int(k)},{int(n)}" for k, n, _ in plan]
    (root / PARTITION_INFO_FILE).write_text("\n".join(lines) + "\n", encoding="utf-8")
    pq.write_metadata(arrow_schema, dataset / "_common_metadata")
    merged = None
    size = 0
    for pid in sorted(written):
        rel, _ = written[pid]
        md = pq.read_metadata(dataset / rel)
        size += (dataset / rel).stat().st_size
        md.set_file_path(rel)
        if merged is None:
            merged = md
        else:
            merged.append_row_groups(md)
    if merged is None:
        pq.write_metadata(arrow_schema, dataset / "_metadata")
    else:
        merged.write_metadata_file(dataset / "_metadata")
    props = dict(props)
    props.update(
        hats_order=order,
        hats_estsize=math.ceil(size / 1024),
        hats_builder=f"astrolake {_version()}",
        hats_creation_date=_now(),
        hats_version=HATS_VERSION,
    )
    (root / PROPERTIES_FILE).write_text(format_properties(props), encoding="utf-8")
