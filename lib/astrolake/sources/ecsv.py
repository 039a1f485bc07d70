"""ECSV headers: the ``# %ECSV`` YAML block that names, types and gives units to every column.

ECSV (Enhanced Character Separated Values, astropy APE 6) is the format of Gaia's bulk catalog:
a CSV body after a commented YAML header.  astrolake reads the body like any CSV (the header
block is the file's comment preamble) and checks the YAML header against the contract first,
before any table is written:

* every contract column present in the file must have a compatible ``datatype``
  (a ``double`` column accepts any float or integer type, an ``int`` or ``long`` any integer type
  (a value that does not fit is quarantined, row by row), a ``string`` column anything, since its
  text is kept as is);
* where both the contract and the file give a unit, they must be the same unit as
  ``astropy.units`` understands it (``deg`` equals ``degree``; ``arcsec`` does not equal ``deg``);
* the file's delimiter must be the contract's separator.
"""

from __future__ import annotations

from dataclasses import dataclass

from astrolake.catalogs.contract import Contract

MAGIC = "# %ECSV"

_FLOATS = {"float16", "float32", "float64", "float128"}
_INTS = {"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"}
#: contract type -> the ECSV datatypes whose values it can hold
COMPATIBLE = {
    "double": _FLOATS | _INTS,
    "float": _FLOATS | _INTS,
    "long": _INTS,  # a value that does not fit is quarantined, row by row, like any bad value
    "int": _INTS,
    "boolean": {"bool"},
    "string": None,  # any: the text is kept as it is written
    "date": {"string"},
    "timestamp": {"string"},
}


@dataclass(frozen=True)
class EcsvColumn:
    name: str
    datatype: str
    unit: str | None
    description: str = ""


def is_ecsv(first_line: str) -> bool:
    return first_line.startswith(MAGIC)


def parse_header(lines: list[str]) -> tuple[list[EcsvColumn], str]:
    """(columns, delimiter) from the comment lines of an ECSV file (``# %ECSV ...`` first)."""
    from astropy.io.misc import yaml  # astropy's loader knows the tags astropy writes in 'meta'

    body = []
    for line in lines[1:]:
        if not line.startswith("#"):
            break
        text = line[1:]
        body.append(text[1:] if text.startswith(" ") else text)
    header = yaml.load("\n".join(body)) or {}
    columns = [
        EcsvColumn(str(c["name"]), str(c.get("datatype", "string")), c.get("unit"), str(c.get("description", "")))
        for c in header.get("datatype", [])
    ]
    return columns, header.get("delimiter", " ")


def same_unit(a: str, b: str) -> bool:
    import astropy.units as u

    try:
        return u.Unit(a, parse_strict="raise") == u.Unit(b, parse_strict="raise")
    except (ValueError, TypeError):
        return a.strip() == b.strip()


def check(path: str, columns: list[EcsvColumn], delimiter: str, contract: Contract) -> list[str]:
    """Every way the ECSV header disagrees with the contract (empty when it agrees)."""
    problems = []
    if delimiter != contract.separator:
        problems.append(f"delimiter {delimiter!r}, but contract {contract.name} reads {contract.separator!r}")
    by_source = {c.source: c for c in contract.columns}
    for col in columns:
        want = by_source.get(col.name)
        if want is None:
            continue  # the column check of the header line names unexpected columns
        allowed = COMPATIBLE.get(want.type)
        if allowed is not None and col.datatype not in allowed:
            problems.append(f"{col.name}: datatype {col.datatype} cannot hold contract type {want.type}")
        if col.unit and want.unit and not same_unit(str(col.unit), want.unit):
            problems.append(f"{col.name}: unit {col.unit!r} is not the contract's {want.unit!r}")
    return problems
