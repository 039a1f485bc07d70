"""astrolake.layout: table names and split boundaries, one definition for the lake, learning and reports; no JVM."""

from __future__ import annotations

import ast
import doctest
from pathlib import Path

import pytest

from astrolake import layout

LIB = Path(layout.__file__).resolve().parent


def test_table_names_and_their_catalog():
    for fn, layer in (
        (layout.bronze_table, "bronze"),
        (layout.silver_table, "silver"),
        (layout.gold_table, "gold"),
        (layout.predictions_table, "predictions"),
    ):
        name = fn("sdss_dr17_stellar")
        assert name == f"{layer}_sdss_dr17_stellar"
        assert layout.catalog_of(name) == "sdss_dr17_stellar" and layout.layer_of(name) == layer
    assert (layout.MANIFEST, layout.QUARANTINE, layout.LEDGER) == ("_manifest", "quarantine", "ledger")
    assert layout.layer_of(layout.LEDGER) is None and layout.layer_of("gold_") is None
    assert layout.is_gold("gold_x") and not layout.is_gold("silver_x") and not layout.is_gold("gold_")


def test_catalog_contracts_use_the_same_names():
    from astrolake.catalogs.contract import catalogs, get_catalog

    for name in catalogs():
        cat = get_catalog(name)
        assert (cat.bronze_table, cat.silver_table, cat.gold_table) == (
            layout.bronze_table(name),
            layout.silver_table(name),
            layout.gold_table(name),
        )


def test_rejections():
    with pytest.raises(ValueError, match="not a catalog table"):
        layout.catalog_of("quarantine")
    with pytest.raises(ValueError, match="non-empty string"):
        layout.gold_table("")
    with pytest.raises(ValueError, match=r"outside 0\.\.99"):
        layout.split_of(100)
    with pytest.raises(ValueError, match=r"outside 0\.\.99"):
        layout.split_of(-1)


def test_split_boundaries_train_70_validation_10_holdout_10_test_10():
    splits = [layout.split_of(b) for b in range(layout.BUCKETS)]
    # train and validation keep the buckets they had before the hold-out existed
    assert splits == ["train"] * 70 + ["validation"] * 10 + ["holdout"] * 10 + ["test"] * 10
    assert tuple(dict.fromkeys(splits)) == layout.SPLITS
    ends = [end for _, end in layout.SPLIT_BOUNDS]
    assert ends == sorted(ends) and ends[-1] == layout.BUCKETS
    assert layout.split_rule() == "xxhash64(_key) % 100: <70 train, <80 validation, <90 holdout, else test"


def test_split_with_a_shipped_test_set():
    carved = [layout.split_of(b, shipped_test=False) for b in range(layout.BUCKETS)]
    v, h = layout.CARVED_VALIDATION_END, layout.CARVED_HOLDOUT_END
    assert carved == ["validation"] * v + ["holdout"] * (h - v) + ["train"] * (layout.BUCKETS - h)
    assert h - v >= 10  # the carved hold-out is at least a tenth of the training file
    assert {layout.split_of(b, shipped_test=True) for b in range(layout.BUCKETS)} == {"test"}


def _imports(path: Path) -> set[str]:
    """Modules and names a file imports: 'a.b' for `import a.b`, 'a.b:NAME' for `from a.b import NAME`."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            out |= {f"{node.module}:{a.name}" for a in node.names} | {node.module}
    return out


def test_reports_and_image_splits_take_names_from_layout_only():
    for path in sorted((LIB / "report").glob("*.py")):
        assert "astrolake.lake.pipeline" not in _imports(path), f"{path.name} takes a table name from lake.pipeline"
    images = _imports(LIB / "dl" / "images.py")
    assert not {i for i in images if i.startswith("astrolake.ml.features")}, "dl/images.py imports ml.features"
    assert "astrolake:layout" in images


def test_docstring_examples():
    result = doctest.testmod(layout)
    assert result.attempted >= 4 and result.failed == 0
