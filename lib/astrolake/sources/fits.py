"""A Spark 4 Python Data Source that reads FITS binary tables.

Register it once per session and read FITS files like any other format::

    from astrolake.sources.fits import register_fits

    register_fits(spark)
    df = (spark.read.format("fits")
          .option("hdu", "GALAXIES")           # optional: HDU index or EXTNAME
          .option("rowsPerPartition", 500_000)  # optional
          .load("/data/survey/*.fits"))

Files are parsed with :mod:`astropy.io.fits` (memory-mapped where the file is not compressed);
this module only maps astropy's columns onto Spark types and Arrow arrays.

Paths
-----
``load(path)`` accepts one file, a comma-separated list, a glob, or a directory (every file
directly inside it named ``*.fits``, ``*.fit`` or ``*.fts``, each also with ``.gz``, ``.bz2`` or
``.xz``; dot-files skipped); ``load([p1, p2])`` accepts a list of such entries (not split on
commas). A ``file:`` prefix is stripped; only local (or locally mounted, e.g. ``/dbfs`` or
``/Volumes``) paths are supported. Paths are expanded on the driver by
:func:`astrolake.sources.files.expand`, the same expansion ``astrolake ingest`` uses, in a
stable order: entries in the given order, the files of a glob or directory sorted by name.
All files must share one column layout (names, TFORMs, dimensions and the resulting Spark
types); otherwise the read fails with an error naming the first file and the mismatching one.

Options
-------
hdu : int or str, optional
    HDU index (0 is the primary HDU) or EXTNAME (case-insensitive). Default: the first binary
    table HDU of each file. Choosing an HDU that is not a binary table (the primary HDU, an
    image, an ASCII table) is an error.
rowsPerPartition : int, default 1,000,000
    Each file is split into row ranges of at most this many rows, one Spark partition each
    (always at least one partition per file, even for an empty table).
rowsPerBatch : int, default 100,000
    Rows per Arrow record batch handed to Spark inside a partition.
provenance : bool, default true
    Append ``_source_file`` (string, the file's absolute path) and ``_row_number`` (long,
    0-based row index within its file) to the schema.

Type mapping
------------
Inferred from the header, per column (``TFORMn``, ``TDIMn``, ``TSCALn``, ``TZEROn``):

======================================  ==========================================
FITS                                    Spark
======================================  ==========================================
``L`` logical                           boolean (a NUL byte, FITS' "undefined", is null)
``X`` bits                              boolean, or array<boolean> for ``nX``, n > 1
``B`` unsigned byte                     short (also with TZERO = -128: signed byte)
``I`` 16-bit integer                    short; int with TZERO = 32768 (unsigned)
``J`` 32-bit integer                    int; long with TZERO = 2**31 (unsigned)
``K`` 64-bit integer                    long; decimal(20,0) with TZERO = 2**63 (exact)
``B/I/J/K`` with other TSCAL/TZERO      double (physical value = TZERO + TSCAL * stored)
``E`` single precision                  float (double when TSCAL/TZERO scale it)
``D`` double precision                  double
``A`` characters                        string (trailing blanks and NUL padding removed)
======================================  ==========================================

A repeat count > 1 (``3E``) gives an array of the element type; a ``TDIM`` with several
dimensions gives nested arrays (outermost = last FITS dimension, i.e. astropy's numpy shape).
Dimensions of length 1 are dropped, so a repeat count of 1 is always a scalar, including the
``TDIM = '(1)'`` quirk of some archives (astropy reads those as ``(N, 1)`` arrays). For ``A``
columns the first ``TDIM`` axis is the string width. Complex (``C``, ``M``) and
variable-length array (``P``, ``Q``) columns are not supported and raise an error.

Nulls
-----
Integer values equal to the column's ``TNULLn`` (compared with the stored, unscaled value, as
the FITS standard defines it) become null, also inside arrays and for scaled columns. Floating
point NaN values are *not* turned into nulls: they stay NaN, exactly as stored (use
``isnan``/``nanvl`` in Spark to handle them).

Integrity
---------
Each file's size is checked against the size its header declares (``NAXIS1 * NAXIS2 + PCOUNT``
bytes after the header) when the schema is inferred, when partitions are planned, and again
when a partition is read: a truncated file raises an error that names the file and gives the
expected and actual byte counts (astropy alone would only warn, or return garbage). For
compressed files (gzip, bzip2, xz) the check decompresses the file once per process to learn
its size; reading such files is also slower because each partition decompresses the file from
its beginning (astropy cannot memory-map them).

Byte order: FITS data are big-endian; values are converted to native byte order before the
Arrow arrays are built.

A user-supplied schema (``spark.read.format("fits").schema(...)``) selects columns by name
(exact, else case-insensitive) and casts each one with Arrow's safe casts.
"""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import os
import re
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pyspark.sql.datasource import DataSource, DataSourceReader, InputPartition
from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    DataType,
    DecimalType,
    DoubleType,
    FloatType,
    IntegerType,
    LongType,
    ShortType,
    StringType,
    StructField,
    StructType,
)

from astrolake.errors import UserError
from astrolake.sources.files import FITS_SUFFIXES, expand

if TYPE_CHECKING:
    import pyarrow

__all__ = [
    "FORMAT_NAME",
    "SOURCE_FILE_COLUMN",
    "ROW_NUMBER_COLUMN",
    "FitsSourceError",
    "FitsDataSource",
    "FitsDataSourceReader",
    "FitsPartition",
    "register_fits",
    "expand_paths",
]

FORMAT_NAME = "fits"
SOURCE_FILE_COLUMN = "_source_file"
ROW_NUMBER_COLUMN = "_row_number"
DEFAULT_ROWS_PER_PARTITION = 1_000_000
DEFAULT_ROWS_PER_BATCH = 100_000

_REGISTERED_ATTR = "_astrolake_fits_registered"
_UINT16_ZERO = 1 << 15
_UINT32_ZERO = 1 << 31
_UINT64_ZERO = 1 << 63


class FitsSourceError(UserError, ValueError):
    """A FITS input that the ``fits`` data source cannot read (bad path, HDU, layout, file)."""


_SOURCE_ERROR_LINE = re.compile(r"FitsSourceError: (.+?)(?:\s+SQLSTATE: \w+)?\s*$", re.MULTILINE)


def source_error(exc: BaseException) -> FitsSourceError | None:
    """The :class:`FitsSourceError` raised inside Spark that ``exc`` (an ``AnalysisException`` or
    ``PythonException`` wrapping the data source's traceback) carries, or ``None``.

    Spark hands the data source's errors back as ``PYTHON_DATA_SOURCE_ERROR`` with the Python
    traceback in the text; this recovers the one line that tells the user what is wrong.
    """
    if isinstance(exc, FitsSourceError):
        return exc
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        match = _SOURCE_ERROR_LINE.search(str(cur))
        if match:
            err = FitsSourceError(match.group(1).strip())
            err.__cause__ = cur
            return err
        cur = cur.__cause__ or cur.__context__
    return None


# --------------------------------------------------------------------------------------------
# registration
# --------------------------------------------------------------------------------------------


def register_fits(spark) -> None:
    """Register the ``fits`` format with a Spark session.

    Idempotent and cheap: the data source is registered on the first call for a given session
    object, later calls return immediately.

    Parameters
    ----------
    spark : pyspark.sql.SparkSession
        The session (classic or Spark Connect) on which ``spark.read.format("fits")`` should
        work.

    Examples
    --------
    >>> register_fits(spark)  # doctest: +SKIP
    >>> spark.read.format("fits").load("/data/cat.fits").printSchema()  # doctest: +SKIP
    """
    if getattr(spark, _REGISTERED_ATTR, False):
        return
    spark.dataSource.register(FitsDataSource)
    try:
        setattr(spark, _REGISTERED_ATTR, True)
    except (AttributeError, TypeError):  # a session type that refuses attributes: re-register
        pass


# --------------------------------------------------------------------------------------------
# options and paths
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Options:
    """Parsed data source options (plain values, picklable)."""

    paths: tuple[str, ...]
    hdu: int | str | None
    rows_per_partition: int
    rows_per_batch: int
    provenance: bool


def _parse_options(options: Mapping[str, Any]) -> _Options:
    """Validate the reader options (keys are case-insensitive in Spark's mapping)."""
    opts = {str(k).lower(): v for k, v in dict(options).items()}
    entries: list[str] = []
    if opts.get("paths"):
        raw = opts["paths"]
        listed = json.loads(raw) if isinstance(raw, str) else list(raw)
        entries += [str(p) for p in listed]
    if opts.get("path"):
        entries += [p for p in str(opts["path"]).split(",")]
    entries = [e.strip() for e in entries if e and e.strip()]
    if not entries:
        raise FitsSourceError("the fits data source needs a path: spark.read.format('fits').load(path)")

    hdu: int | str | None = None
    if opts.get("hdu") not in (None, ""):
        text = str(opts["hdu"]).strip()
        if re.fullmatch(r"[+-]?\d+", text):
            hdu = int(text)
            if hdu < 0:
                raise FitsSourceError(f"option hdu must be >= 0 (0 is the primary HDU), got {text}")
        else:
            hdu = text
    return _Options(
        paths=tuple(entries),
        hdu=hdu,
        rows_per_partition=_positive_int(opts, "rowsperpartition", "rowsPerPartition", DEFAULT_ROWS_PER_PARTITION),
        rows_per_batch=_positive_int(opts, "rowsperbatch", "rowsPerBatch", DEFAULT_ROWS_PER_BATCH),
        provenance=_bool_option(opts, "provenance", True),
    )


def _positive_int(opts: Mapping[str, Any], key: str, label: str, default: int) -> int:
    """Read an integer option that must be >= 1 (``default`` when absent)."""
    if opts.get(key) in (None, ""):
        return default
    try:
        value = int(str(opts[key]).strip().replace("_", ""))
    except ValueError:
        raise FitsSourceError(f"option {label} must be a positive integer, got {opts[key]!r}") from None
    if value < 1:
        raise FitsSourceError(f"option {label} must be a positive integer, got {value}")
    return value


def _bool_option(opts: Mapping[str, Any], key: str, default: bool) -> bool:
    """Read a boolean option (true/false, 1/0, yes/no; ``default`` when absent)."""
    if opts.get(key) in (None, ""):
        return default
    text = str(opts[key]).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    raise FitsSourceError(f"option {key} must be true or false, got {opts[key]!r}")


def expand_paths(entries: Sequence[str]) -> list[str]:
    """Expand path entries into a list of FITS files (absolute, local, de-duplicated), with
    :func:`astrolake.sources.files.expand` and its FITS suffixes.

    Parameters
    ----------
    entries : sequence of str
        Each a file, a glob pattern or a directory; an optional ``file:`` prefix is removed.

    Returns
    -------
    list of str
        Absolute file paths: entries in their given order, matches of a glob or directory
        sorted by name, duplicates dropped.

    Raises
    ------
    FitsSourceError
        When an entry does not exist, a glob matches nothing, or a directory holds no FITS
        file.
    """
    files: list[str] = []
    for entry in entries:
        found = expand([entry], FITS_SUFFIXES, error=FitsSourceError)
        if not found:  # an existing folder without FITS files: nothing to read a schema from
            raise FitsSourceError(f"directory {entry} holds no FITS file ({', '.join('*' + s for s in FITS_SUFFIXES)})")
        files += found
    return list(dict.fromkeys(files))


# --------------------------------------------------------------------------------------------
# header inspection
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _ColumnSpec:
    """How one FITS column maps to Spark: derived from the header alone."""

    index: int  # 0-based column number in the table
    name: str  # Spark column name (TTYPEn, or colN when TTYPEn is missing)
    tform: str  # the TFORMn value, for messages and layout comparison
    code: str  # FITS type letter (L X B I J K E D A)
    repeat: int  # TFORM repeat count
    shape: tuple[int, ...]  # per-row element shape with length-1 axes dropped; () = scalar
    width: int  # characters per string element (A columns), else 0
    kind: str  # bool | bits | int | uint | scaled | float | string | empty
    bscale: float | None
    bzero: float | int | None
    tnull: int | None
    spark_type: DataType

    def layout_key(self) -> tuple:
        """What must be equal for two files' columns to be read together."""
        return (self.name, self.code, self.repeat, self.shape, self.width, self.kind, self.spark_type.simpleString())

    def describe(self) -> str:
        """``'mag' (3E -> array<float>)`` for messages."""
        return f"'{self.name}' ({self.tform} -> {self.spark_type.simpleString()})"


@dataclass(frozen=True)
class _TableInfo:
    """One file's chosen binary-table HDU: location, size and columns."""

    path: str
    hdu_index: int
    nrows: int
    row_bytes: int
    data_offset: int
    data_bytes: int
    columns: tuple[_ColumnSpec, ...]

    def layout_key(self) -> tuple:
        """The layout keys of all columns, in order."""
        return tuple(c.layout_key() for c in self.columns)


def _article(word: str) -> str:
    """``"a"`` or ``"an"`` for an English noun (by its first letter)."""
    return "an" if word[:1].upper() in "AEIOU" else "a"


def _hdu_label(index: int, hdu) -> str:
    """``"2 IMG (ImageHDU)"``: index, EXTNAME and astropy class of an HDU."""
    name = hdu.name or ""
    return f"{index} {name} ({type(hdu).__name__})".replace("  ", " ")


def _is_bintable(hdu) -> bool:
    """True for a binary table HDU (not a tile-compressed image stored as one)."""
    from astropy.io import fits

    return isinstance(hdu, fits.BinTableHDU) and not isinstance(hdu, fits.CompImageHDU)


def _list_hdus(hdul) -> str:
    """All HDUs of an open file as labels, for error messages."""
    labels = []
    i = 0
    while True:
        try:
            hdu = hdul[i]
        except (IndexError, OSError):
            break
        labels.append(_hdu_label(i, hdu))
        i += 1
    return ", ".join(labels) if labels else "none"


def _select_hdu(hdul, path: str, choice: int | str | None) -> tuple[int, Any]:
    """Pick the HDU named by the ``hdu`` option (index, EXTNAME or first binary table)."""
    if choice is None:
        i = 0
        while True:
            try:
                hdu = hdul[i]
            except IndexError:
                break
            if _is_bintable(hdu):
                return i, hdu
            i += 1
        raise FitsSourceError(f"{path} has no binary table HDU (HDUs: {_list_hdus(hdul)})")
    if isinstance(choice, int):
        try:
            hdu = hdul[choice]
        except IndexError:
            raise FitsSourceError(f"HDU {choice} of {path} does not exist (HDUs: {_list_hdus(hdul)})") from None
        index = choice
    else:
        try:
            index = hdul.index_of(choice)
        except (KeyError, IndexError):
            raise FitsSourceError(f"{path} has no HDU with EXTNAME {choice!r} (HDUs: {_list_hdus(hdul)})") from None
        hdu = hdul[index]
    if not _is_bintable(hdu):
        kind = type(hdu).__name__
        extra = " (an ASCII table)" if kind == "TableHDU" else ""
        label = f"HDU {index}" if isinstance(choice, int) else f"HDU {index} ({choice!r})"
        raise FitsSourceError(f"{label} of {path} is {_article(kind)} {kind}{extra}, not a binary table")
    return index, hdu


_COMPRESSED_MAGIC = ((b"\x1f\x8b", gzip.open), (b"BZh", bz2.open), (b"\xfd7zXZ\x00", lzma.open))
_PAYLOAD_SIZE_CACHE: dict[tuple[str, int, int], int] = {}


def _compressor(path: str):
    """The opener (gzip/bz2/lzma ``open``) for a compressed file, by magic bytes; else None."""
    with open(path, "rb") as fh:
        head = fh.read(6)
    for magic, opener in _COMPRESSED_MAGIC:
        if head.startswith(magic):
            return opener
    return None


def _payload_size(path: str) -> int:
    """Bytes of FITS data in ``path``: its size, or its decompressed size if compressed."""
    st = os.stat(path)
    opener = _compressor(path)
    if opener is None:
        return st.st_size
    key = (path, st.st_mtime_ns, st.st_size)
    if key not in _PAYLOAD_SIZE_CACHE:
        total = 0
        try:
            with opener(path, "rb") as fh:
                while True:
                    block = fh.read(1 << 24)
                    if not block:
                        break
                    total += len(block)
        except (EOFError, OSError, lzma.LZMAError) as exc:
            raise FitsSourceError(
                f"{path} is truncated or corrupt: its compressed stream cannot be read to the end ({exc})"
            ) from None
        _PAYLOAD_SIZE_CACHE[key] = total
    return _PAYLOAD_SIZE_CACHE[key]


def _check_size(path: str, hdu_index: int, nrows: int, row_bytes: int, data_offset: int, data_bytes: int) -> None:
    """Raise when the file ends before the end of the HDU's data as declared by its header."""
    expected = data_offset + data_bytes
    actual = _payload_size(path)
    if actual < expected:
        have = max(actual - data_offset, 0)
        raise FitsSourceError(
            f"{path} is truncated: HDU {hdu_index} declares {data_bytes} data bytes "
            f"({nrows} rows x {row_bytes} bytes per row"
            + (f" + {data_bytes - nrows * row_bytes} heap bytes" if data_bytes > nrows * row_bytes else "")
            + f") starting at byte {data_offset}, so the file needs at least {expected} bytes, "
            f"but it has {actual} ({have} data bytes, {have // row_bytes if row_bytes else 0} "
            "complete rows)"
        )


def _parse_tdim(tdim: str | None) -> tuple[int, ...] | None:
    """``"(3,2)"`` -> ``(3, 2)`` (FITS order); None when absent or malformed."""
    if not tdim:
        return None
    text = str(tdim).strip()
    if not (text.startswith("(") and text.endswith(")")):
        return None
    try:
        dims = tuple(int(p) for p in text[1:-1].split(",") if p.strip())
    except ValueError:
        return None
    return dims or None


def _prod(values: Sequence[int]) -> int:
    """Product of integers (1 for an empty sequence)."""
    out = 1
    for v in values:
        out *= v
    return out


def _is_default_scale(bscale, bzero) -> bool:
    """True when TSCAL/TZERO are absent or 1/0 (no scaling)."""
    return (bscale is None or float(bscale) == 1.0) and (bzero is None or float(bzero) == 0.0)


def _column_spec(path: str, index: int, col) -> _ColumnSpec:
    """Map one astropy ``Column`` (from the header) to a :class:`_ColumnSpec`."""
    fmt = col.format
    code = str(fmt.format).upper()
    repeat = int(fmt.repeat if fmt.repeat is not None else 1)
    name = col.name if col.name else f"col{index + 1}"
    tform = str(fmt)
    bscale, bzero, tnull = col.bscale, col.bzero, col.null
    if code in ("P", "Q") or str(fmt).upper().lstrip("0123456789").startswith(("P", "Q")):
        raise FitsSourceError(
            f"column {name!r} of {path} is a variable-length array ({tform}), "
            "which the fits data source does not support"
        )
    if code in ("C", "M"):
        raise FitsSourceError(
            f"column {name!r} of {path} is complex ({tform}), which the fits data source does not support"
        )

    dims = _parse_tdim(col.dim)
    width = 0
    if code == "A":
        if dims and len(dims) >= 1 and _prod(dims) == repeat:
            width, outer = dims[0], tuple(reversed(dims[1:]))
        else:
            width, outer = repeat, ()
        shape = tuple(d for d in outer if d != 1)
    else:
        if dims and _prod(dims) == repeat:
            numpy_shape = tuple(reversed(dims))
        else:
            numpy_shape = (repeat,)
        shape = tuple(d for d in numpy_shape if d != 1)

    scaled = not _is_default_scale(bscale, bzero)
    unit_scale = bscale is None or float(bscale) == 1.0
    zero = None if bzero is None else float(bzero)

    element: DataType
    if repeat == 0:
        kind, element = "empty", (StringType() if code == "A" else DoubleType())
        shape = (0,)
    elif code == "L":
        kind, element = "bool", BooleanType()
    elif code == "X":
        kind, element = "bits", BooleanType()
    elif code == "A":
        kind, element = "string", StringType()
    elif code in ("B", "I", "J", "K"):
        unsigned_zero = {"I": _UINT16_ZERO, "J": _UINT32_ZERO, "K": _UINT64_ZERO}.get(code)
        if not scaled:
            kind = "int"
            element = {"B": ShortType(), "I": ShortType(), "J": IntegerType(), "K": LongType()}[code]
        elif unit_scale and code == "B" and zero == -128.0:
            kind, element = "int", ShortType()  # signed-byte convention, -128..127
        elif (
            unit_scale
            and unsigned_zero is not None
            and zero == float(unsigned_zero)
            and (code != "K" or int(bzero) == _UINT64_ZERO)
        ):
            kind = "uint"
            element = {"I": IntegerType(), "J": LongType(), "K": DecimalType(20, 0)}[code]
        else:
            kind, element = "scaled", DoubleType()
    elif code == "E":
        kind, element = "float", (DoubleType() if scaled else FloatType())
    elif code == "D":
        kind, element = "float", DoubleType()
    else:
        raise FitsSourceError(f"column {name!r} of {path} has an unsupported format {tform!r}")

    spark_type: DataType = element
    for _ in shape:
        spark_type = ArrayType(spark_type, containsNull=True)
    return _ColumnSpec(
        index=index,
        name=name,
        tform=tform,
        code=code,
        repeat=repeat,
        shape=shape,
        width=width,
        kind=kind,
        bscale=bscale,
        bzero=bzero,
        tnull=None if tnull is None or code not in "BIJK" else int(tnull),
        spark_type=spark_type,
    )


def _open(path: str):
    """Open a FITS file read-only, memory-mapped and lazily (astropy truncation warnings muted:
    truncation is checked explicitly)."""
    from astropy.io import fits

    try:
        return fits.open(path, mode="readonly", memmap=True, lazy_load_hdus=True)
    except FitsSourceError:
        raise
    except Exception as exc:  # astropy raises OSError/ValueError/TypeError for broken headers
        raise FitsSourceError(f"cannot open {path} as a FITS file: {exc}") from None


def _inspect_hdu(path: str, index: int, hdu) -> _TableInfo:
    """Size check and column specs of an already selected binary-table HDU."""
    header = hdu.header
    nrows = int(header.get("NAXIS2", 0))
    row_bytes = int(header.get("NAXIS1", 0))
    pcount = int(header.get("PCOUNT", 0))
    data_offset = int(hdu.fileinfo()["datLoc"])
    data_bytes = nrows * row_bytes + pcount
    _check_size(path, index, nrows, row_bytes, data_offset, data_bytes)
    columns = tuple(_column_spec(path, i, c) for i, c in enumerate(hdu.columns))
    widths = int(hdu.columns.dtype.itemsize)
    if widths != row_bytes:  # the standard: a row is its fields, back to back
        raise FitsSourceError(
            f"{path}: HDU {index} declares {row_bytes} bytes per row (NAXIS1) but its columns (TFORMn) take "
            f"{widths}: the header is damaged, and every row would be read shifted"
        )
    return _TableInfo(
        path=path,
        hdu_index=index,
        nrows=nrows,
        row_bytes=row_bytes,
        data_offset=data_offset,
        data_bytes=data_bytes,
        columns=columns,
    )


def _describe_file(path: str, choice: int | str | None) -> _TableInfo:
    """Header-only inspection of one file: chosen HDU, size check, column specs."""
    from astropy.utils.exceptions import AstropyUserWarning

    # A compressed stream that ends early is named as such first: astropy would read the part that
    # decompresses and report a missing HDU or a corrupt header instead.
    _payload_size(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AstropyUserWarning)
        hdul = _open(path)
        try:
            index, hdu = _select_hdu(hdul, path, choice)
            return _inspect_hdu(path, index, hdu)
        except FitsSourceError:
            raise
        except Exception as exc:
            raise FitsSourceError(f"cannot read the header of {path}: {exc}") from None
        finally:
            hdul.close()


def _layout_difference(a: _TableInfo, b: _TableInfo) -> str:
    """Describe the first layout difference between two files, naming both."""
    if len(a.columns) != len(b.columns):
        return (
            f"{a.path} has {len(a.columns)} columns but {b.path} has {len(b.columns)} "
            f"(first: {[c.name for c in a.columns]}, other: {[c.name for c in b.columns]})"
        )
    for ca, cb in zip(a.columns, b.columns, strict=True):  # same length checked above
        if ca.layout_key() != cb.layout_key():
            return f"column {ca.index + 1} is {ca.describe()} in {a.path} but {cb.describe()} in {b.path}"
    return f"{a.path} and {b.path} differ"  # pragma: no cover - keys differ somewhere above


def _scan(options: _Options) -> list[_TableInfo]:
    """Expand the paths and inspect every file; all must share the first file's layout."""
    files = expand_paths(options.paths)
    tables: list[_TableInfo] = []
    for path in files:
        info = _describe_file(path, options.hdu)
        if tables and info.layout_key() != tables[0].layout_key():
            raise FitsSourceError(
                "FITS files have different column layouts and cannot be read "
                "together: " + _layout_difference(tables[0], info)
            )
        tables.append(info)
    return tables


def _build_schema(info: _TableInfo, provenance: bool) -> StructType:
    """Spark schema of a table: its columns, then the provenance columns if wanted."""
    fields = [StructField(c.name, c.spark_type, nullable=True) for c in info.columns]
    if provenance:
        names = {c.name.lower() for c in info.columns}
        for reserved in (SOURCE_FILE_COLUMN, ROW_NUMBER_COLUMN):
            if reserved.lower() in names:
                raise FitsSourceError(
                    f"{info.path} has a column named {reserved!r}, which clashes "
                    "with the provenance column; use option provenance=false"
                )
        fields += [
            StructField(SOURCE_FILE_COLUMN, StringType(), nullable=False),
            StructField(ROW_NUMBER_COLUMN, LongType(), nullable=False),
        ]
    return StructType(fields)


# --------------------------------------------------------------------------------------------
# data source
# --------------------------------------------------------------------------------------------


class FitsDataSource(DataSource):
    """Spark Python data source for FITS binary tables; format name ``"fits"``.

    See the module docstring for paths, options, the type mapping and null handling.

    Parameters
    ----------
    options : dict
        Reader options given by Spark (``path``/``paths``, ``hdu``, ``rowsPerPartition``,
        ``rowsPerBatch``, ``provenance``).
    """

    @classmethod
    def name(cls) -> str:
        """Return the format name, ``"fits"``."""
        return FORMAT_NAME

    def schema(self) -> StructType:
        """Infer the schema from the first file's header (checking all files' layouts).

        Returns
        -------
        StructType
            One field per FITS column, plus ``_source_file`` and ``_row_number`` unless
            ``provenance`` is false.
        """
        options = _parse_options(self.options)
        tables = _scan(options)
        return _build_schema(tables[0], options.provenance)

    def reader(self, schema: StructType) -> FitsDataSourceReader:
        """Return the batch reader for ``schema`` (inferred, or given by the user).

        Parameters
        ----------
        schema : StructType
            The output schema.

        Returns
        -------
        FitsDataSourceReader
        """
        return FitsDataSourceReader(_parse_options(self.options), schema)


class FitsPartition(InputPartition):
    """A row range ``[start, stop)`` of one file's binary table.

    Parameters
    ----------
    path : str
        Absolute local path of the file.
    hdu_index : int
        Index of the binary-table HDU in that file.
    start, stop : int
        0-based row range.
    layout : tuple
        The file's column layout at planning time (to detect files changed since).
    """

    def __init__(self, path: str, hdu_index: int, start: int, stop: int, layout: tuple) -> None:
        super().__init__((path, hdu_index, start, stop))
        self.path = path
        self.hdu_index = hdu_index
        self.start = start
        self.stop = stop
        self.layout = layout

    def __repr__(self) -> str:
        return f"FitsPartition({self.path!r}, hdu={self.hdu_index}, rows=[{self.start}, {self.stop}))"


class FitsDataSourceReader(DataSourceReader):
    """Plans row-range partitions on the driver and reads them (anywhere) as Arrow batches.

    Everything the executors need is in the pickled reader (options, schema) and the
    partitions (file, HDU index, row range); files are re-opened with astropy on the executor.

    Parameters
    ----------
    options : _Options
        Parsed options.
    schema : StructType
        Output schema.
    """

    def __init__(self, options: _Options, schema: StructType) -> None:
        self.options = options
        self.schema = schema

    def partitions(self) -> list[FitsPartition]:
        """Split every file into ranges of at most ``rowsPerPartition`` rows.

        Returns
        -------
        list of FitsPartition
            Files in path order, ranges in row order; at least one partition per file.
        """
        tables = _scan(self.options)
        step = self.options.rows_per_partition
        parts: list[FitsPartition] = []
        for info in tables:
            layout = info.layout_key()
            if info.nrows == 0:
                parts.append(FitsPartition(info.path, info.hdu_index, 0, 0, layout))
                continue
            for start in range(0, info.nrows, step):
                parts.append(FitsPartition(info.path, info.hdu_index, start, min(start + step, info.nrows), layout))
        return parts

    def read(self, partition: InputPartition) -> Iterator[pyarrow.RecordBatch]:
        """Read one partition's rows as Arrow record batches of the output schema.

        Parameters
        ----------
        partition : FitsPartition
            The file and row range to read (one of :meth:`partitions`).

        Yields
        ------
        pyarrow.RecordBatch
            At most ``rowsPerBatch`` rows each, columns in schema order.
        """
        import numpy as np
        import pyarrow as pa
        from astropy.utils.exceptions import AstropyUserWarning

        assert isinstance(partition, FitsPartition)  # partitions() makes only these
        pa_schema = _arrow_schema(self.schema)
        path = partition.path
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", AstropyUserWarning)
            hdul = _open(path)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", AstropyUserWarning)
                try:
                    hdu = hdul[partition.hdu_index]
                except IndexError:
                    raise FitsSourceError(
                        f"HDU {partition.hdu_index} of {path} no longer exists "
                        "(file changed since the query was planned)"
                    ) from None
                if not _is_bintable(hdu):
                    raise FitsSourceError(
                        f"HDU {partition.hdu_index} of {path} is no longer a "
                        "binary table (file changed since the query was planned)"
                    )
                info = _inspect_hdu(path, partition.hdu_index, hdu)
            if info.layout_key() != partition.layout or info.nrows < partition.stop:
                raise FitsSourceError(f"{path} changed since the query was planned (different columns or fewer rows)")
            plan = _output_plan(self.schema, info, path)
            if partition.stop <= partition.start:
                return
            data = hdu.data
            step = self.options.rows_per_batch
            for lo in range(partition.start, partition.stop, step):
                hi = min(lo + step, partition.stop)
                rows = data[lo:hi]
                raw = rows.view(np.ndarray)
                arrays = []
                for field, source in zip(pa_schema, plan, strict=True):
                    if source == SOURCE_FILE_COLUMN:
                        arr = pa.repeat(pa.scalar(path, pa.string()), hi - lo)
                    elif source == ROW_NUMBER_COLUMN:
                        arr = pa.array(np.arange(lo, hi, dtype=np.int64))
                    else:
                        arr = _column_to_arrow(source, rows, raw, hi - lo, path)
                    arrays.append(_cast(arr, field, path, source))
                yield pa.RecordBatch.from_arrays(arrays, schema=pa_schema)
                del rows, raw, arrays
            del data
        finally:
            hdul.close()


# --------------------------------------------------------------------------------------------
# conversion to Arrow
# --------------------------------------------------------------------------------------------


def _arrow_schema(schema: StructType):
    """The Arrow schema Spark expects for ``schema`` (same call as Spark's own worker)."""
    from pyspark.sql.pandas.types import to_arrow_schema

    try:
        return to_arrow_schema(schema, timezone="UTC")
    except TypeError:  # older signature
        return to_arrow_schema(schema)


def _output_plan(schema: StructType, info: _TableInfo, path: str) -> list:
    """For each output field: the provenance column name or the FITS column spec feeding it."""
    exact = {c.name: c for c in info.columns}
    folded: dict[str, _ColumnSpec] = {}
    for c in info.columns:
        folded.setdefault(c.name.lower(), c)
    plan: list = []
    for field in schema.fields:
        if field.name in exact:
            plan.append(exact[field.name])
        elif field.name in (SOURCE_FILE_COLUMN, ROW_NUMBER_COLUMN):
            plan.append(field.name)
        elif field.name.lower() in folded:
            plan.append(folded[field.name.lower()])
        else:
            raise FitsSourceError(
                f"column {field.name!r} of the requested schema is not in {path} "
                f"(columns: {[c.name for c in info.columns]})"
            )
    return plan


def _cast(arr, field, path: str, source):
    """Cast ``arr`` to the Arrow type of the output ``field`` (safe casts only)."""
    if arr.type.equals(field.type):
        return arr
    try:
        return arr.cast(field.type, safe=True)
    except Exception as exc:
        what = source.describe() if isinstance(source, _ColumnSpec) else repr(source)
        raise FitsSourceError(f"column {what} of {path} cannot be converted to {field.type}: {exc}") from None


def _native(values):
    """Return a C-contiguous numpy array in native byte order."""
    import numpy as np

    values = np.asarray(values)
    if values.dtype.byteorder not in ("=", "|"):
        values = values.astype(values.dtype.newbyteorder("="))
    return np.ascontiguousarray(values)


def _strings_to_arrow(raw):
    """FITS ``A`` values (numpy bytes array) -> Arrow strings: cut at NUL, strip trailing
    blanks, decode UTF-8 (invalid bytes replaced)."""
    import numpy as np
    import pyarrow as pa

    flat = np.ascontiguousarray(raw).reshape(-1)
    if flat.dtype.itemsize == 0:
        return pa.array([""] * len(flat), type=pa.string())
    if len(flat) and bool((np.char.find(flat, b"\x00") >= 0).any()):
        flat = np.array([v.split(b"\x00", 1)[0] for v in flat.tolist()], dtype=flat.dtype)
    flat = np.char.rstrip(flat, b" ")
    binary = pa.array(flat, type=pa.binary())
    try:
        return binary.cast(pa.string())
    except pa.ArrowInvalid:
        return pa.array([v.decode("utf-8", errors="replace") for v in flat.tolist()], type=pa.string())


def _nest(leaf, shape: tuple[int, ...]):
    """Wrap a flat Arrow array of ``nrows * prod(shape)`` values into nested fixed-size lists
    (innermost list = last axis of ``shape``)."""
    import numpy as np
    import pyarrow as pa

    arr = leaf
    for size in reversed(shape):
        offsets = pa.array(np.arange(len(arr) // size + 1, dtype=np.int32) * size)
        arr = pa.ListArray.from_arrays(offsets, arr)
    return arr


def _column_to_arrow(spec: _ColumnSpec, rows, raw, nrows: int, path: str):
    """Convert one column of a row slice to an Arrow array (nested lists for vectors).

    Parameters
    ----------
    spec : _ColumnSpec
        The column.
    rows : astropy.io.fits.FITS_rec
        The row slice; ``rows.field(i)`` gives physical (scaled, unsigned-converted) values.
    raw : numpy.ndarray
        The same rows as stored (big-endian, unscaled): used for TNULL and logical nulls.
    nrows : int
        Number of rows in the slice.
    path : str
        File name for error messages.
    """
    import numpy as np
    import pyarrow as pa

    count = nrows * _prod(spec.shape)
    if spec.kind == "empty":
        leaf = pa.array([], type=pa.string() if spec.code == "A" else pa.float64())
        offsets = pa.array(np.zeros(nrows + 1, dtype=np.int32))
        return pa.ListArray.from_arrays(offsets, leaf)

    stored = raw[raw.dtype.names[spec.index]]
    if spec.kind == "string":
        leaf = _strings_to_arrow(stored)
    else:
        values = rows.field(spec.index)
        mask = None
        if spec.kind == "bool":
            mask = np.asarray(stored).reshape(-1) == 0  # NUL byte: undefined logical
            values = np.asarray(values, dtype=bool)
        elif spec.kind == "bits":
            values = np.asarray(values, dtype=bool)
        else:
            if spec.tnull is not None:
                mask = _native(stored).reshape(-1) == spec.tnull
            if spec.kind == "uint" and spec.code == "K" and np.asarray(values).dtype != np.uint64:
                # astropy did not apply the unsigned convention: flip the sign bit ourselves
                values = _native(stored).astype(np.int64).view(np.uint64) ^ np.uint64(_UINT64_ZERO)
        values = _native(values).reshape(-1)
        if values.size != count:
            raise FitsSourceError(
                f"column {spec.describe()} of {path}: astropy returned "
                f"{values.size} values for {nrows} rows, expected {count}"
            )
        if mask is not None and not mask.any():
            mask = None
        leaf = pa.array(values, mask=mask)
        if spec.kind == "uint" and spec.code == "K":
            leaf = leaf.cast(pa.decimal128(20, 0))
    if spec.shape:
        return _nest(leaf, spec.shape)
    return leaf
