"""``astrolake contract draft FILE``: a contract to complete, from what a file says about itself.

* a CSV header (plain, gzip or bzip2): names, and types guessed from the first rows; numeric
  columns that hold a usual missing-value code (-999, -9999, -99) get it as a sentinel;
* an ECSV header: names, ``datatype``, ``unit`` and ``description``;
* a FITS binary table: names, types from TFORM, units from TUNIT, sentinels from TNULL;
* a Parquet schema: names and types (a field's ``unit`` and ``description`` metadata, where the
  writer left them).

The draft is a loadable contract (``astrolake`` reads it as it is), but only the file's author
knows the key, the valid ranges and which columns are required: the draft marks them ``TODO``.
"""

from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass, field
from itertools import islice

import yaml

from astrolake.errors import UserError
from astrolake.sources import ecsv
from astrolake.sources import files as landing

SENTINEL_CANDIDATES = (-999.0, -9999.0, -99.0)
_ID = re.compile(r"^(obj_?id|source_?id|object_?id|id)$", re.I)
_RA = re.compile(r"^(ra|raj2000|ra_?mean|ramean|ra_icrs|alpha|right_ascension\w*)$", re.I)
_DEC = re.compile(r"^(dec|dej2000|decj2000|dec_?mean|decmean|de_icrs|delta|declination\w*)$", re.I)


@dataclass
class DraftColumn:
    source: str
    type: str = "string"
    unit: str | None = None
    description: str = ""
    sentinels: list[float] = field(default_factory=list)


def _silver_name(source: str) -> str:
    name = re.sub(r"[^0-9A-Za-z_]+", "_", source).strip("_").lower() or "column"
    return name if name[0].isalpha() else f"c_{name}"


def _guess(values: list[str]) -> str:
    seen = [v.strip() for v in values if v is not None and v.strip() != ""]
    if not seen:
        return "string"
    try:
        ints = [int(v) for v in seen]
        return (
            "int"
            if all(-(2**31) <= i < 2**31 for i in ints)
            else ("long" if all(abs(i) < 2**63 for i in ints) else "string")
        )
    except ValueError:
        pass
    try:
        [float(v) for v in seen]
        return "double"
    except ValueError:
        return "string"


def _from_text(path: str, sample_rows: int) -> tuple[list[DraftColumn], str]:
    first, number, preamble = landing.header_lines(path)
    with landing.open_text(path) as fh:
        lines = list(islice(fh, number + 1 + sample_rows))
    body = [x for x in lines[number + 1 :] if x.strip() and not x.lstrip().startswith("#")]
    rows = list(csv.reader(body))
    names = [n.strip() for n in next(csv.reader([first.rstrip("\r\n")]))]
    columns = []
    for i, name in enumerate(names):
        values = [r[i] for r in rows if i < len(r)]
        col = DraftColumn(name, _guess(values))
        if col.type in ("int", "long", "double"):
            present = {float(v) for v in values if v.strip() and _guess([v]) != "string"}
            col.sentinels = [s for s in SENTINEL_CANDIDATES if s in present]
        columns.append(col)
    if preamble and ecsv.is_ecsv(preamble[0]):
        described, _ = ecsv.parse_header(preamble)
        meta = {c.name: c for c in described}
        for col in columns:
            m = meta.get(col.source)
            if m is not None:
                col.type = _ECSV_TYPES.get(m.datatype, "string")
                col.unit = str(m.unit) if m.unit else None
                col.description = m.description
    return columns, "csv"


_ECSV_TYPES = {
    **{t: "double" for t in ("float16", "float32", "float64", "float128")},
    **{t: "int" for t in ("int8", "int16", "int32", "uint8", "uint16")},
    **{t: "long" for t in ("int64", "uint32")},
    "uint64": "decimal(20,0)",
    "string": "string",
    "bool": "string",
}


def _from_fits(path: str) -> tuple[list[DraftColumn], str]:
    from astropy.io import fits

    with fits.open(path, memmap=True) as hdul:
        tables = [h for h in hdul if isinstance(h, fits.BinTableHDU)]
        if not tables:
            raise UserError(f"{path}: no binary table HDU to draft a contract from")
        columns = []
        for col in tables[0].columns:
            kind, size = col.dtype.kind, col.dtype.itemsize
            typ = {
                "f": "double",
                "i": "int" if size <= 4 else "long",
                "u": "int" if size <= 2 else ("long" if size <= 4 else "decimal(20,0)"),
            }.get(kind, "string")
            dc = DraftColumn(col.name, typ, str(col.unit) if col.unit else None)
            if col.null is not None and typ in ("int", "long", "double"):
                dc.sentinels = [float(col.null)]
            columns.append(dc)
    return columns, "fits"


def _from_parquet(path: str) -> tuple[list[DraftColumn], str]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(path)
    except Exception as exc:  # a damaged footer
        raise UserError(f"{path}: not a readable Parquet file ({exc})") from exc
    columns = []
    for f in schema:
        t = f.type
        if pa.types.is_floating(t) or pa.types.is_decimal(t):
            typ = "double"
        elif pa.types.is_integer(t):
            typ = "int" if t.bit_width <= 16 or (t.bit_width == 32 and pa.types.is_signed_integer(t)) else "long"
            if pa.types.is_uint64(t):
                typ = "decimal(20,0)"
        elif pa.types.is_date(t):
            typ = "date"
        else:
            typ = "string"
        meta = {k.decode(): v.decode() for k, v in (f.metadata or {}).items()}
        columns.append(DraftColumn(f.name, typ, meta.get("unit"), meta.get("description", "")))
    return columns, "csv"  # Parquet files are read by any tabular contract


def draft(path: str, name: str | None = None, sample_rows: int = 1000) -> str:
    """The YAML text of a contract drafted from ``path`` (see the module's doc)."""
    if not os.path.isfile(path):
        raise UserError(f"no such file: {path}")
    base = re.sub(r"(\.(gz|bz2|xz))?$", "", os.path.basename(path), flags=re.I)
    stem = os.path.splitext(base)[0]
    name = name or _silver_name(stem) + "_contract"
    if landing.is_fits(path):
        columns, fmt = _from_fits(path)
    elif landing.is_parquet(path):
        columns, fmt = _from_parquet(path)
    else:
        landing.sha256_of(path, codec=landing.compression(path))  # a damaged file is refused by name
        columns, fmt = _from_text(path, sample_rows)
    ra = next((c.source for c in columns if _RA.match(c.source)), None)
    dec = next((c.source for c in columns if _DEC.match(c.source)), None)
    ident = next((c.source for c in columns if _ID.match(c.source) and c.type in ("int", "long", "string")), None)
    silver = {c.source: _silver_name(c.source) for c in columns}
    if ident:
        key, used = [silver[ident]], "the id column"
    elif ra and dec:
        key, used = [silver[ra], silver[dec]], "the position"
    else:
        key, used = ["_source_name", "_row_number"], "the file name and row number"
    doc: dict = {
        "name": name,
        "title": f"TODO: what {os.path.basename(path)} holds",
        "format": fmt,
        "citation": "TODO: who to cite for these data",
        "key": key,
        "key_note": f"TODO: check that the key identifies one object (the draft uses {used}); "
        "rows that repeat a key update the earlier ones",
    }
    if ra and dec:
        doc["position"] = [silver[ra], silver[dec]]
    doc["columns"] = []
    for c in columns:
        spec: dict = {"name": silver[c.source]}
        if silver[c.source] != c.source:
            spec["source"] = c.source
        spec["type"] = c.type
        spec["description"] = c.description or f"TODO: describe {c.source}"
        if c.unit:
            spec["unit"] = c.unit
        if c.source == ident:
            spec["required"] = True
        if c.source in (ra, dec):
            spec["required"] = True
            spec["range"] = "[0, 360)" if c.source == ra else "[-90, 90]"
        if c.sentinels:
            spec["sentinels"] = [int(s) if float(s).is_integer() else s for s in c.sentinels]
        doc["columns"].append(spec)
    text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100)
    catalog = _silver_name(stem)
    return (
        f"# Contract drafted by `astrolake contract draft {os.path.basename(path)}`: complete the TODOs\n"
        "# (key, ranges, required columns), save it as <name>.yaml in a catalogs folder, and add the\n"
        "# catalog to that folder's catalogs.yaml, for example:\n"
        f"#   {catalog}:\n#     contract: {name}\n#     data_release: TODO\n#     description: TODO\n" + text
    )
