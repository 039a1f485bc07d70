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


@cache
def load_contract(name: str) -> Contract:
    """Load contract ``name`` from ``<name>.yaml`` beside this module (``extends`` allowed)."""
    path = HERE / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in HERE.glob("*.yaml") if p.stem != "catalogs")
        raise ContractError(f"unknown contract {name!r}; known: {', '.join(known)}")
    d = yaml.safe_load(path.read_text())
    if "extends" in d:
        base = yaml.safe_load((HERE / f"{d['extends']}.yaml").read_text())
        renames = d.pop("sources", {})
        merged = {**base, **{k: v for k, v in d.items() if k != "extends"}}
        merged["columns"] = [
            dict(c, source=renames.get(c["name"], c.get("source", c["name"]))) for c in base["columns"]
        ]
        d = merged
    return _contract_from_dict(d)


@cache
def catalogs() -> dict[str, Catalog]:
    """All catalogs known to astrolake, by name."""
    raw = yaml.safe_load((HERE / "catalogs.yaml").read_text())
    out = {}
    for name, spec in raw.items():
        contract = load_contract(spec["contract"])
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
        )
    return out


def get_catalog(name: str) -> Catalog:
    """The catalog called ``name``, or a :class:`ContractError` listing the known ones."""
    cats = catalogs()
    if name not in cats:
        raise ContractError(f"unknown catalog {name!r}; known catalogs: {', '.join(sorted(cats))}")
    return cats[name]
