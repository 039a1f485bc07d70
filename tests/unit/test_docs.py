"""docs/data-dictionary.md is generated from the contracts and must stay true to them."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
import yaml

from astrolake.catalogs.contract import HERE as CONTRACT_DIR
from astrolake.catalogs.contract import catalogs, load_contract

ROOT = Path(__file__).resolve().parents[2]
DICTIONARY = ROOT / "docs" / "data-dictionary.md"


@pytest.fixture(scope="module")
def dd():
    spec = importlib.util.spec_from_file_location("data_dictionary", ROOT / "scripts" / "data_dictionary.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def rendered(dd) -> str:
    return dd.render()


def _section(text: str, contract: str) -> str:
    """The part of the dictionary about one contract (from its heading to the next heading)."""
    m = re.search(rf"^### `{re.escape(contract)}`\n(.*?)(?=^##)", text, re.S | re.M)
    assert m, f"no section for contract {contract}"
    return m.group(1)


def _row(section: str, column: str) -> list[str]:
    rows = [line for line in section.splitlines() if line.startswith(f"| `{column}` |")]
    assert len(rows) == 1, f"column {column}: expected one table row, found {len(rows)}"
    return [c.strip() for c in rows[0].strip("|").split(" | ")]


def test_committed_dictionary_is_up_to_date(rendered):
    assert DICTIONARY.is_file(), "docs/data-dictionary.md missing: run `make docs`"
    assert DICTIONARY.read_text(encoding="utf-8") == rendered, (
        "docs/data-dictionary.md is out of date with the contracts: run `make docs`"
    )


def test_rendering_is_deterministic(dd, rendered):
    assert dd.render() == rendered


def test_every_contract_and_column_is_documented(dd, rendered):
    names = dd.contract_names()
    assert set(names) == {p.stem for p in CONTRACT_DIR.glob("*.yaml")} - {"catalogs"}
    for name in names:
        c = load_contract(name)
        section = _section(rendered, name)
        assert c.title in section and c.citation in section
        assert " ".join(c.key_note.split()) in section
        if c.notes:
            assert " ".join(c.notes.split()) in section
        for col in c.columns:
            cells = _row(section, col.name)
            assert cells[1] == f"`{col.source}`" and cells[2] == f"`{col.type}`"
            assert cells[3] == (col.unit or dd.EMPTY)
            assert cells[4] == ("yes" if col.required else "no")
            assert cells[5] == (f"`{col.range}`" if col.range else dd.EMPTY)
            if col.values:
                assert cells[6] == ", ".join(col.values)
            assert cells[-1] == col.description


def test_ranges_appear_as_written_in_the_yaml(rendered):
    """The interval text in the YAML (not a reformatted one) is what the reader sees."""
    for path in sorted(CONTRACT_DIR.glob("*.yaml")):
        raw = yaml.safe_load(path.read_text())
        if path.stem == "catalogs" or "columns" not in raw:
            continue  # catalogs.yaml; contracts that extend another reuse its columns
        section = _section(rendered, raw["name"])
        for spec in raw["columns"]:
            if spec.get("range") is not None:
                assert _row(section, spec["name"])[5] == f"`{spec['range']}`", (path.name, spec["name"])


def test_every_catalog_is_listed(rendered):
    listing = rendered.split("## Catalogs", 1)[1]
    for cat in catalogs().values():
        line = next(row for row in listing.splitlines() if row.startswith(f"| `{cat.name}` |"))
        for text in (cat.contract.name, cat.data_release, cat.description, cat.citation):
            assert text in line, (cat.name, text)


def test_magnitude_bounds_section_matches_the_contracts(rendered):
    """The section justifies [0, 40] mag; every band magnitude must really use it."""
    assert "## Magnitude bounds" in rendered
    for name in (p.stem for p in CONTRACT_DIR.glob("*.yaml") if p.stem != "catalogs"):
        for col in load_contract(name).columns:
            if col.unit == "mag" and col.name in ("u", "g", "r", "i", "z"):
                assert str(col.range) == "[0, 40]" and {-9999.0, -999.0} <= set(col.sentinels), (name, col.name)
