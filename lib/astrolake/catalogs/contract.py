"""Declarative catalog contracts.

A *contract* describes one file format: its columns (silver name, source name, type, unit,
description), which are required, valid ranges, allowed values, the sentinels that mean missing,
the key, and the survey citation.  A *catalog* is a contract applied to one data release and
gets one silver table.  Contracts live as YAML files beside this module; catalogs are listed in
``catalogs.yaml``.

Ranges are written as intervals, e.g. ``"[0, 360)"``: square brackets include the bound, round
brackets exclude it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import yaml

from astrolake import layout
from astrolake.errors import UserError

HERE = Path(__file__).resolve().parent
ROW_NUMBER = "_row_number"
SOURCE_NAME = "_source_name"
SPARK_TYPES = {"string", "double", "float", "int", "long", "date", "decimal(20,0)"}
_INTERVAL = re.compile(r"^\s*([\[(])\s*([^,]*)\s*,\s*([^\])]*)\s*([\])])\s*$")


class ContractError(UserError, ValueError):
    """A contract or catalog definition is invalid, or a name is unknown."""


@dataclass(frozen=True)
class Interval:
    """A closed, open or half-open interval; ``None`` bounds are unbounded."""

    low: float | None
    high: float | None
    low_inclusive: bool = True
    high_inclusive: bool = True

    @classmethod
    def parse(cls, text: str) -> Interval:
        m = _INTERVAL.match(str(text))
        if not m:
            raise ContractError(f"range {text!r} is not an interval such as '[0, 360)'")
        lo, hi = m.group(2).strip(), m.group(3).strip()
        low = None if lo in ("", "-inf") else float(lo)
        high = None if hi in ("", "inf", "+inf") else float(hi)
        return cls(low, high, m.group(1) == "[", m.group(4) == "]")

    def __str__(self) -> str:
        lo = "-inf" if self.low is None else _num(self.low)
        hi = "inf" if self.high is None else _num(self.high)
        return f"{'[' if self.low_inclusive else '('}{lo}, {hi}{']' if self.high_inclusive else ')'}"

    def contains(self, value: float) -> bool:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return False
        if self.low is not None and (value < self.low or (value == self.low and not self.low_inclusive)):
            return False
        if self.high is not None and (value > self.high or (value == self.high and not self.high_inclusive)):
            return False
        return True


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(x)


@dataclass(frozen=True)
class Column:
    name: str
    source: str
    type: str
    description: str
    unit: str | None = None
    required: bool = False
    range: Interval | None = None
    values: tuple[str, ...] | None = None
    sentinels: tuple[float, ...] = ()
    ucd: str | None = None

    def comment(self) -> str:
        """The Delta column comment: description, unit and valid range."""
        parts = [self.description]
        if self.unit:
            parts.append(f"unit: {self.unit}")
        if self.range:
            parts.append(f"valid: {self.range}")
        if self.values:
            parts.append("values: " + ", ".join(self.values))
        return "; ".join(parts)


@dataclass(frozen=True)
class Contract:
    name: str
    title: str
    format: str  # csv | whitespace | fits
    citation: str
    key: tuple[str, ...]
    columns: tuple[Column, ...]
    separator: str = ","
    position: tuple[str, str] | None = None
    key_note: str = ""
    header: str = "first_line"  # first_line | by_position
    hdu: int | str | None = None
    notes: str = ""

    @property
    def needs_row_number(self) -> bool:
        return ROW_NUMBER in self.key

    @property
    def source_columns(self) -> list[str]:
        return [c.source for c in self.columns]

    @property
    def required(self) -> list[Column]:
        return [c for c in self.columns if c.required]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise ContractError(f"contract {self.name} has no column {name!r}")


@dataclass(frozen=True)
class Catalog:
    """A contract applied to one data release: one silver table."""

    name: str
    contract: Contract
    data_release: str
    description: str
    citation: str
    sample: str | None = None  # file name under ../shared/data or tests/data
    rows: int | None = None  # objects in the reference file, when known
    notes: str = field(default="")
    # glob on the landing file name marking the catalog's own test split (e.g. "*test*"); the
    # other files are split into train and validation by key hash (astrolake.ml.features)
    test_files: str | None = None
    origin: str = "built-in"  # or the user folder the catalog was read from

    @property
    def gold_table(self) -> str:
        return layout.gold_table(self.name)

    @property
    def bronze_table(self) -> str:
        return layout.bronze_table(self.name)

    @property
    def silver_table(self) -> str:
        return layout.silver_table(self.name)


def _column(spec: dict, contract_name: str) -> Column:
    unknown = set(spec) - {
        "name",
        "source",
        "type",
        "description",
        "unit",
        "required",
        "range",
        "values",
        "sentinels",
        "ucd",
    }
    if unknown:
        raise ContractError(f"contract {contract_name}: column {spec.get('name')} has unknown fields {sorted(unknown)}")
    from astrolake.names import IdentifierError, check_identifier

    try:  # the silver column name reaches SQL (CREATE TABLE, ALTER TABLE): an identifier only
        check_identifier(spec.get("name"), "column name")
    except IdentifierError as exc:
        raise ContractError(f"contract {contract_name}: {exc}") from None
    if spec["type"] not in SPARK_TYPES:
        raise ContractError(
            f"contract {contract_name}: column {spec['name']} has type {spec['type']!r}; allowed: {sorted(SPARK_TYPES)}"
        )
    return Column(
        name=spec["name"],
        source=str(spec.get("source", spec["name"])),
        type=spec["type"],
        description=spec["description"],
        unit=spec.get("unit"),
        required=bool(spec.get("required", False)),
        range=Interval.parse(spec["range"]) if spec.get("range") is not None else None,
        values=tuple(spec["values"]) if spec.get("values") else None,
        sentinels=tuple(float(s) for s in spec.get("sentinels", ())),
        ucd=spec.get("ucd"),
    )


def _contract_from_dict(d: dict) -> Contract:
    name = d["name"]
    columns = tuple(_column(c, name) for c in d["columns"])
    names = [c.name for c in columns]
    if len(set(names)) != len(names):
        raise ContractError(f"contract {name}: duplicate column names")
    key = tuple(d["key"])
    for k in key:
        if k not in names and k not in (ROW_NUMBER, SOURCE_NAME):
            raise ContractError(f"contract {name}: key column {k!r} is not a column")
    pos = tuple(d["position"]) if d.get("position") else None
    return Contract(
        name=name,
        title=d["title"],
        format=d["format"],
        citation=d["citation"],
        key=key,
        columns=columns,
        separator=d.get("separator", ","),
        position=pos,
        key_note=d.get("key_note", ""),
        header=d.get("header", "first_line"),
        hdu=d.get("hdu"),
        notes=d.get("notes", ""),
    )


# --------------------------------------------------------------------------------------------
# where contracts and catalogs come from: the built-in folder, then the user's folders
# --------------------------------------------------------------------------------------------
CATALOGS_ENV = "ASTROLAKE_CATALOGS"
BUILT_IN = "built-in"
_registered: list[Path] = []


def use_catalog_folders(folders) -> None:
    """Add folders of user contracts and catalogs (``catalogs.yaml`` + ``<contract>.yaml``)
    beside the built-in ones: ``--catalogs DIR``, the ``catalogs_path`` setting
    (``os.pathsep``-separated) and ``$ASTROLAKE_CATALOGS`` all end up here."""
    import os

    if not folders:
        return
    if isinstance(folders, (str, os.PathLike)):
        folders = [p for p in str(folders).split(os.pathsep) if p]
    for f in folders:
        path = Path(f).expanduser().resolve()
        if not path.is_dir():
            raise ContractError(f"catalog folder not found: {f}")
        if path not in _registered:
            _registered.append(path)


def catalog_folders() -> list[Path]:
    """The user folders in use: ``$ASTROLAKE_CATALOGS`` first, then those registered."""
    import os

    env = [Path(p).expanduser().resolve() for p in os.environ.get(CATALOGS_ENV, "").split(os.pathsep) if p]
    for p in env:
        if not p.is_dir():
            raise ContractError(f"catalog folder not found: {p} (from ${CATALOGS_ENV})")
    return list(dict.fromkeys([*env, *_registered]))


def _contract_files(folders: tuple[Path, ...]) -> dict[str, Path]:
    """Contract name -> its YAML file, over the built-in folder and ``folders``; a name defined
    twice is an error."""
    found: dict[str, Path] = {}
    for folder in (HERE, *folders):
        for path in sorted(folder.glob("*.yaml")):
            if path.stem == "catalogs":
                continue
            if path.stem in found:
                raise ContractError(
                    f"contract {path.stem!r} is defined twice: {found[path.stem]} and {path}; rename one"
                )
            found[path.stem] = path
    return found


@cache
def _load_contract(name: str, folders: tuple[Path, ...]) -> Contract:
    files = _contract_files(folders)
    if name not in files:
        raise ContractError(f"unknown contract {name!r}; known: {', '.join(sorted(files))}")
    d = yaml.safe_load(files[name].read_text())
    if not isinstance(d, dict):
        raise ContractError(f"{files[name]}: not a contract (a YAML mapping with name, format, key, columns)")
    try:
        if "extends" in d:
            if d["extends"] not in files:
                raise ContractError(f"contract {name}: extends unknown contract {d['extends']!r}")
            base = yaml.safe_load(files[d["extends"]].read_text())
            renames = d.pop("sources", {})
            merged = {**base, **{k: v for k, v in d.items() if k != "extends"}}
            merged["columns"] = [
                dict(c, source=renames.get(c["name"], c.get("source", c["name"]))) for c in base["columns"]
            ]
            d = merged
        return _contract_from_dict(d)
    except KeyError as exc:
        raise ContractError(f"{files[name]}: missing field {exc.args[0]!r}") from exc


def load_contract(name: str) -> Contract:
    """Load contract ``name`` from ``<name>.yaml`` in the built-in folder or a user folder
    (``extends`` allowed)."""
    return _load_contract(name, tuple(catalog_folders()))


@cache
def _catalogs(folders: tuple[Path, ...]) -> dict[str, Catalog]:
    out: dict[str, Catalog] = {}
    origin: dict[str, str] = {}
    for folder in (HERE, *folders):
        path = folder / "catalogs.yaml"
        if not path.is_file():
            continue
        raw = yaml.safe_load(path.read_text()) or {}
        where = BUILT_IN if folder == HERE else str(folder)
        for name, spec in raw.items():
            if name in out:
                raise ContractError(f"catalog {name!r} is defined twice: in {origin[name]} and in {where}; rename one")
            if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", str(name)):
                raise ContractError(f"{path}: catalog name {name!r} must be letters, digits and _ (it names tables)")
            try:
                contract = _load_contract(spec["contract"], folders)
                out[name] = Catalog(
                    name=name,
                    contract=contract,
                    data_release=str(spec["data_release"]),
                    description=spec["description"],
                    citation=spec.get("citation", contract.citation),
                    sample=spec.get("sample"),
                    rows=spec.get("rows"),
                    notes=spec.get("notes", ""),
                    test_files=spec.get("test_files"),
                    origin=where,
                )
            except KeyError as exc:
                raise ContractError(f"{path}: catalog {name!r} lacks {exc.args[0]!r}") from exc
            origin[name] = where
    return out


def catalogs() -> dict[str, Catalog]:
    """All catalogs known to astrolake, by name: the built-in ones and those of the user's folders."""
    return _catalogs(tuple(catalog_folders()))


def get_catalog(name: str) -> Catalog:
    """The catalog called ``name``, or a :class:`ContractError` listing the known ones."""
    cats = catalogs()
    if name not in cats:
        raise ContractError(f"unknown catalog {name!r}; known catalogs: {', '.join(sorted(cats))}")
    return cats[name]
