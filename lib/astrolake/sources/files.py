"""Landing files: listing, content hashes and header inspection (driver side, cheap).

Paths must be visible to the driver's file system: local folders, or FUSE mounts such as
``/Volumes/...`` and ``/dbfs/...`` on Databricks.
"""

from __future__ import annotations

import csv
import glob
import hashlib
import logging
import os
import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from astrolake.catalogs.contract import Contract
from astrolake.errors import UserError

log = logging.getLogger(__name__)

TEXT_BASE_SUFFIXES = (".csv", ".txt", ".tsv", ".dat", ".ecsv")
TEXT_COMPRESSED_SUFFIXES = (".gz", ".bz2")  # what Spark's text source decompresses (by the name)
TEXT_SUFFIXES = tuple(base + packed for base in TEXT_BASE_SUFFIXES for packed in ("", *TEXT_COMPRESSED_SUFFIXES))
FITS_BASE_SUFFIXES = (".fits", ".fit", ".fts")
COMPRESSED_SUFFIXES = (".gz", ".bz2", ".xz")  # what the fits data source decompresses (by magic bytes)
FITS_SUFFIXES = tuple(base + packed for base in FITS_BASE_SUFFIXES for packed in ("", *COMPRESSED_SUFFIXES))
PARQUET_SUFFIXES = (".parquet", ".parq")
#: what a contract for text files reads: text (plain, gzip, bzip2, ECSV) and Parquet
TABULAR_SUFFIXES = TEXT_SUFFIXES + PARQUET_SUFFIXES
LANDING_SUFFIXES = TABULAR_SUFFIXES + FITS_SUFFIXES
_GLOB_CHARS = re.compile(r"[*?\[]")


class LandingError(UserError, ValueError):
    """A landing file cannot be ingested (missing, empty, wrong columns ...)."""


@dataclass(frozen=True)
class LandingFile:
    path: str  # absolute local path
    size: int
    mtime: float
    sha256: str

    @property
    def name(self) -> str:
        return os.path.basename(self.path)


def strip_scheme(path: str) -> str:
    """``file:///a/b``, ``file://localhost/a/b`` and ``file:/a/b`` -> ``/a/b``; anything else unchanged."""
    if path.startswith("file://"):
        rest = path[len("file://") :]
        if rest.startswith("localhost/"):
            rest = rest[len("localhost") :]
        return rest if rest.startswith("/") else "/" + rest
    if path.startswith("file:"):
        return path[len("file:") :]
    return path


def has_suffix(path: str, suffixes: tuple[str, ...]) -> bool:
    """True for a visible file name (no leading dot) ending in one of ``suffixes`` (any case)."""
    name = os.path.basename(path)
    return not name.startswith(".") and name.lower().endswith(suffixes)


def is_parquet(path: str) -> bool:
    return os.path.basename(path).lower().endswith(PARQUET_SUFFIXES)


def suffixes_for(contract: Contract) -> tuple[str, ...]:
    """The landing file names a contract reads: FITS, or text and Parquet."""
    return FITS_SUFFIXES if contract.format == "fits" else TABULAR_SUFFIXES


def inspect(path: str, contract: Contract) -> Header:
    """The column names a file brings (checked against the contract) and its header's line."""
    if is_fits(path):
        from astrolake.sources.readers import fits_columns

        return Header(fits_columns(path, contract.hdu), -1)
    if is_parquet(path):
        from astrolake.sources import parquet

        return Header(parquet.columns(path, contract), -1)
    return read_header(path, contract)


def is_fits(path: str) -> bool:
    """True for a FITS file name: ``.fits``, ``.fit`` or ``.fts``, plain or ``.gz``/``.bz2``/``.xz``."""
    return os.path.basename(path).lower().endswith(FITS_SUFFIXES)


def _files_in(folder: str, suffixes: tuple[str, ...]) -> list[str]:
    return sorted(
        os.path.join(folder, n)
        for n in os.listdir(folder)
        if has_suffix(n, suffixes) and os.path.isfile(os.path.join(folder, n))
    )


def expand(
    paths: list[str] | str, suffixes: tuple[str, ...] = LANDING_SUFFIXES, error: type[Exception] | None = None
) -> list[str]:
    """Expand files, globs and folders into absolute local file paths (the one expansion of
    landing paths, used by ingest and by the ``fits`` data source alike).

    Entries keep their given order; a folder gives the files directly inside it whose name ends
    in one of ``suffixes`` (dot-files skipped), sorted by name; a glob gives its matches sorted
    by name, folders among them expanded like folders and files kept when their name has one of
    ``suffixes``; a file named explicitly is kept whatever its name (its format is checked later).
    ``file:`` prefixes and ``~`` are resolved; duplicates are dropped.

    Raises ``error`` (default :class:`LandingError`) for a path that does not exist, a remote
    URI, or a glob that matches no file with one of ``suffixes``.  An existing folder without
    such files expands to nothing (an empty landing folder is not an error).
    """
    error = error or LandingError
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    out: list[str] = []
    for entry in paths:
        p = os.path.expanduser(strip_scheme(str(entry).strip()))
        if "://" in p:
            raise error(f"only local paths (or mounts such as /Volumes, /dbfs) are supported, got {entry!r}")
        if _GLOB_CHARS.search(p):
            matches = sorted(glob.glob(p))
            found: list[str] = []
            for m in matches:
                if os.path.isdir(m):
                    found += _files_in(m, suffixes)
                elif os.path.isfile(m) and has_suffix(m, suffixes):
                    found.append(m)
            if not found:
                raise error(
                    f"no file matches {entry!r}"
                    + (f" (of {len(matches)} match(es), none ends in {', '.join(suffixes)})" if matches else "")
                )
            out += found
        elif os.path.isdir(p):
            out += _files_in(p, suffixes)
        elif os.path.isfile(p):
            out.append(p)
        else:
            raise error(f"no such file or folder: {p}")
    return [os.path.abspath(f) for f in dict.fromkeys(out)]


_MAGIC = {b"\x1f\x8b": "gzip", b"BZh": "bzip2", b"\xfd7zXZ\x00": "xz"}
_CODEC_SUFFIX = {"gzip": ".gz", "bzip2": ".bz2"}


def compression(path: str) -> str | None:
    """``gzip``, ``bzip2`` or ``xz`` from the file's first bytes; None for a plain file."""
    with open(path, "rb") as fh:
        head = fh.read(6)
    return next((name for magic, name in _MAGIC.items() if head.startswith(magic)), None)


def _decompressor(codec: str | None):
    import bz2
    import zlib

    if codec == "gzip":
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if codec == "bzip2":
        return bz2.BZ2Decompressor()
    return None


def sha256_of(path: str, chunk: int = 1 << 22, codec: str | None = None) -> str:
    """SHA-256 of the file's bytes; with ``codec`` (gzip, bzip2) the stream is decompressed in the
    same pass, so that a truncated or corrupt file is refused here, by name, not half-way through
    a Spark job."""
    h = hashlib.sha256()
    d = _decompressor(codec)
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
            while d is not None and block:
                try:
                    d.decompress(block)
                except (OSError, ValueError, EOFError) as exc:
                    raise LandingError(f"{path}: is not a valid {codec} file ({exc})") from exc
                block = d.unused_data if d.eof else b""  # the next member of a multi-member file
                if d.eof and block:
                    d = _decompressor(codec)
    if d is not None and not d.eof:
        raise LandingError(f"{path}: is truncated: its {codec} stream ends before the end of the compressed data")
    return h.hexdigest()


def describe(path: str) -> LandingFile:
    st = os.stat(path)
    codec = compression(path) if has_suffix(path, TEXT_SUFFIXES) else None
    return LandingFile(path=path, size=st.st_size, mtime=st.st_mtime, sha256=sha256_of(path, codec=codec))


def open_text(path: str):
    """The file as text (gzip and bzip2 decompressed), lines split on \\n, \\r\\n and \\r alike."""
    import bz2
    import gzip

    codec = compression(path)
    if codec == "gzip":
        return gzip.open(path, "rt", encoding="utf-8", errors="replace", newline="")
    if codec == "bzip2":
        return bz2.open(path, "rt", encoding="utf-8", errors="replace", newline="")
    return open(path, encoding="utf-8", errors="replace", newline="")


def split_fields(line: str, contract: Contract) -> list[str]:
    """The fields of one line as the validation step parses them (RFC 4180 quoting for CSV)."""
    line = line.rstrip("\r\n")
    if contract.format == "whitespace":
        return line.split()
    return [f.strip() for f in next(csv.reader([line], delimiter=contract.separator, quotechar='"'))]


def header_lines(path: str) -> tuple[str, int, list[str]]:
    """(the header line, its 0-based line number, the lines before it) of a text file: the header
    is the first line that is neither blank nor a ``#`` comment."""
    first, number, preamble = None, -1, []
    try:
        with open_text(path) as fh:
            for i, raw in enumerate(fh):
                line = raw.strip()
                if not line or line.startswith("#"):
                    preamble.append(raw.rstrip("\r\n"))
                    continue
                first, number = raw, i
                break
    except (OSError, EOFError) as exc:
        raise LandingError(f"{path}: cannot be read as text ({exc})") from exc
    if first is None:
        raise LandingError(f"{path}: file is empty (no header and no data line)")
    return first, number, preamble


@dataclass(frozen=True)
class Header:
    names: list[str]  # source column names
    line: int  # 0-based line number of the header line; -1 when columns are taken by position


def read_header(path: str, contract: Contract) -> Header:
    """The source column names of a text file and where its header line is, checked against the
    contract.

    The header is the first line that is neither blank nor a ``#`` comment.  ``by_position``
    contracts ignore the file's header and use the contract's order.  Raises
    :class:`LandingError` for an empty file, a missing required column or a repeated column name.
    A column the contract does not know is schema drift that loses nothing: it stays in bronze's
    raw line and silver ignores it (the batch says so, see ``pipeline.drift_notes``).
    """
    from astrolake.sources import ecsv

    first, number, preamble = header_lines(path)
    if preamble and ecsv.is_ecsv(preamble[0]):
        try:
            columns, delimiter = ecsv.parse_header(preamble)
        except Exception as exc:
            raise LandingError(f"{path}: the ECSV header cannot be read ({exc})") from exc
        problems = ecsv.check(path, columns, delimiter, contract)
        if problems:
            raise LandingError(
                f"{path}: the ECSV header disagrees with contract {contract.name}: " + "; ".join(problems)
            )
    if contract.header == "by_position":
        return Header(contract.source_columns, -1)
    names = split_fields(first, contract)
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise LandingError(f"{path}: column(s) {', '.join(dupes)} appear more than once in the header")
    expected = contract.source_columns
    missing = [c.source for c in contract.required if c.source not in names]
    if missing:
        raise LandingError(
            f"{path}: missing required column(s) {', '.join(missing)} "
            f"(contract {contract.name} expects: {', '.join(expected)})"
        )
    return Header(names, number)


def check_format(path: str, contract: Contract) -> None:
    if os.path.getsize(path) == 0:
        raise LandingError(f"{path}: file is empty (0 bytes)")
    fits = is_fits(path)
    if contract.format == "fits" and not fits:
        raise LandingError(
            f"{path}: contract {contract.name} reads FITS files ({', '.join(FITS_SUFFIXES)}), not this file"
        )
    if contract.format != "fits" and fits:
        raise LandingError(f"{path}: is a FITS file but contract {contract.name} reads {contract.format} text")
    if contract.format == "whitespace" and is_parquet(path):
        raise LandingError(f"{path}: contract {contract.name} reads whitespace-separated text, not Parquet")
    if not fits and not is_parquet(path):  # Spark's text source picks its codec by the name: name and bytes agree
        codec = compression(path)
        named = next((c for c, sfx in _CODEC_SUFFIX.items() if path.lower().endswith(sfx)), None)
        if codec == "xz":
            raise LandingError(f"{path}: xz-compressed text is not supported; compress it with gzip or bzip2")
        if codec != named:
            what = f"{codec}-compressed" if codec else "not compressed"
            fix = f"name it {os.path.basename(path)}{_CODEC_SUFFIX[codec]}" if codec else "remove the suffix"
            raise LandingError(f"{path}: is {what} but its name says otherwise; {fix}")


@dataclass(frozen=True)
class Surveyed:
    """What planning needs of one landing file: its identity (size, time, SHA-256) and its header."""

    file: LandingFile
    header: Header


def survey(path: str, contract: Contract) -> Surveyed:
    """Check one landing file against the contract and describe it: format, header (checked),
    size and SHA-256 (a compressed file is decompressed as it is hashed, so damage shows here)."""
    check_format(path, contract)
    header = inspect(path, contract)
    return Surveyed(describe(path), header)


def survey_all(paths: list[str], contract: Contract, workers: int | None = None) -> list[Surveyed]:
    """:func:`survey` every file, several at a time (hashing and decompression release the GIL,
    and small files are bound by the file system's latency); results keep the order of ``paths``.
    The first file that fails, in that order, raises its :class:`LandingError`."""
    if not paths:
        return []
    workers = workers or min(16, max(4, 2 * (os.cpu_count() or 1)), len(paths))
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="astrolake-survey") as pool:
        futures = [pool.submit(survey, p, contract) for p in paths]
        out = [f.result() for f in futures]
    total = sum(s.file.size for s in out)
    log.info(
        f"checked and hashed {len(out):,} file(s), {total / 1e6:,.1f} MB, in {time.perf_counter() - started:.1f} s"
    )
    return out
