"""Landing files: listing, content hashes and header inspection (driver side, cheap).

Paths must be visible to the driver's file system: local folders, or FUSE mounts such as
``/Volumes/...`` and ``/dbfs/...`` on Databricks.
"""

from __future__ import annotations

import glob
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from astrolake.catalogs.contract import Contract, ContractError
from astrolake.errors import UserError

TEXT_SUFFIXES = (".csv", ".txt", ".tsv", ".dat")
FITS_SUFFIXES = (".fits", ".fit", ".fits.gz", ".fts")


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
    return path[len("file:") :].lstrip("/").join(("/", "")) if path.startswith("file:") else path


def expand(paths: list[str] | str, suffixes: tuple[str, ...]) -> list[str]:
    """Expand files, globs and folders into a sorted list of absolute file paths."""
    if isinstance(paths, str):
        paths = [paths]
    out: list[str] = []
    for p in paths:
        p = strip_scheme(str(p))
        if os.path.isdir(p):
            found = sorted(
                str(Path(p, f))
                for f in os.listdir(p)
                if f.lower().endswith(suffixes) and os.path.isfile(os.path.join(p, f))
            )
            out += found
        elif any(ch in p for ch in "*?["):
            out += sorted(glob.glob(p))
        elif os.path.isfile(p):
            out.append(p)
        else:
            raise LandingError(f"no such file or folder: {p}")
    return [str(Path(p).absolute()) for p in dict.fromkeys(out)]


def sha256_of(path: str, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def describe(path: str) -> LandingFile:
    st = os.stat(path)
    return LandingFile(path=path, size=st.st_size, mtime=st.st_mtime, sha256=sha256_of(path))


def split_fields(line: str, contract: Contract) -> list[str]:
    line = line.rstrip("\r\n")
    if contract.format == "whitespace":
        return line.split()
    return [f.strip().strip('"') for f in line.split(contract.separator)]


def read_header(path: str, contract: Contract) -> list[str]:
    """The source column names of a text file, checked against the contract.

    ``by_position`` contracts ignore the file's header and use the contract's order.  Raises
    :class:`LandingError` for an empty file, a missing required column, an unexpected column or a
    repeated column name.
    """
    first = None
    with open(path, "r", encoding="utf-8", errors="replace", newline="") as fh:
        for raw in fh:
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            first = raw
            break
    if first is None:
        raise LandingError(f"{path}: file is empty (no header and no data line)")
    if contract.header == "by_position":
        return contract.source_columns
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
    extra = [n for n in names if n not in expected]
    if extra:
        raise LandingError(
            f"{path}: unexpected column(s) {', '.join(extra)} not in contract {contract.name} "
            f"(expected: {', '.join(expected)}); fix the file or the contract"
        )
    return names


def check_format(path: str, contract: Contract) -> None:
    is_fits = path.lower().endswith(FITS_SUFFIXES)
    if contract.format == "fits" and not is_fits:
        raise LandingError(f"{path}: contract {contract.name} reads FITS files (.fits), not this file")
    if contract.format != "fits" and is_fits:
        raise LandingError(f"{path}: is a FITS file but contract {contract.name} reads {contract.format} text")
    if os.path.getsize(path) == 0:
        raise LandingError(f"{path}: file is empty (0 bytes)")
