"""HATS properties files and partition planning, without Spark."""

from __future__ import annotations

import numpy as np
import pytest

from astrolake.errors import UsageError
from astrolake.sky.hats import (
    catalog_path,
    format_properties,
    hats_properties,
    parse_properties,
    partition_file,
    partition_of,
    partition_ranges,
    plan_partitions,
)
from conftest import SHARED_DATA

REAL = SHARED_DATA / "hats_sdss_dr14_10k"


def test_parse_skips_comments_and_blank_lines_and_trims():
    text = "#HATS catalog\n! also a comment\n\nhats_nrows = 10\nhats_col_ra=ra\nkey: value with spaces \nempty=\n"
    assert parse_properties(text) == {
        "hats_nrows": "10",
        "hats_col_ra": "ra",
        "key": "value with spaces",
        "empty": "",
    }


def test_round_trip():
    props = {
        "obs_collection": "cat",
        "dataproduct_type": "object",
        "hats_nrows": 12,
        "hats_margin_threshold": 10.0,
        "hats_creation_date": "2026-01-02T03:04UTC",
        "hats_builder": "astrolake 0.1.0",
        "skipped": None,
    }
    text = format_properties(props)
    assert text.startswith("#HATS catalog\n") and text.endswith("\n")
    assert parse_properties(text) == {k: str(v) for k, v in props.items() if v is not None}
    assert list(parse_properties(text)) == [k for k, v in props.items() if v is not None]  # order kept


def test_format_refuses_multiline_values():
    with pytest.raises(UsageError, match="one line"):
        format_properties({"a": "x\ny"})


def test_files_round_trip(tmp_path):
    (tmp_path / "cat").mkdir()
    (tmp_path / "cat" / "hats.properties").write_text(format_properties({"hats_nrows": 3}), encoding="utf-8")
    (tmp_path / "collection.properties").write_text(
        format_properties({"hats_primary_table_url": "cat"}, "HATS Collection"), encoding="utf-8"
    )
    assert catalog_path(tmp_path) == tmp_path / "cat"
    assert hats_properties(tmp_path) == hats_properties(tmp_path / "cat") == {"hats_nrows": "3"}
    with pytest.raises(UsageError, match="not a HATS"):
        hats_properties(tmp_path / "cat" / "nowhere")


def test_real_lsdb_properties():
    if not REAL.exists():
        pytest.skip("../shared/data/hats_sdss_dr14_10k not present")
    props = hats_properties(REAL)  # the collection: its primary catalog
    assert props["dataproduct_type"] == "object" and props["hats_nrows"] == "10000"
    assert props["hats_col_healpix"] == "_healpix_29" and props["hats_col_healpix_order"] == "29"
    margin = hats_properties(REAL / "sdss_dr14_10k_10arcs")
    assert margin["dataproduct_type"] == "margin" and float(margin["hats_margin_threshold"]) == 10.0
    assert margin["hats_primary_table_url"] == "sdss_dr14_10k"


def test_partition_file():
    assert partition_file(2, 25) == "Norder=2/Dir=0/Npix=25.parquet"
    assert partition_file(7, 123_456) == "Norder=7/Dir=120000/Npix=123456.parquet"


def test_plan_splits_crowded_cells_only():
    rng = np.random.default_rng(1)
    order = 6
    # a crowd in one order-6 cell of base cell 4, a few rows spread elsewhere
    crowd = np.full(500, (4 << 12) + 77)
    spread = rng.integers(0, 12 << 12, 40)
    cells, counts = np.unique(np.r_[crowd, spread], return_counts=True)
    plan = plan_partitions(cells, counts, max_rows=100, order=order)
    assert plan[:, 2].sum() == counts.sum()
    starts, ends = partition_ranges(plan)
    assert (starts[1:] >= ends[:-1]).all()  # sorted, disjoint
    # every row's cell lies in exactly one partition
    h29 = cells << (2 * (29 - order))
    at = partition_of(h29, starts, ends)
    assert (at >= 0).all()
    np.testing.assert_array_equal(np.bincount(at, weights=counts, minlength=len(plan)), plan[:, 2])
    # the crowded cell is split down to the finest order; no partition holds more than max_rows
    # unless it is at the finest order; every partition's parent (if any) holds more than max_rows
    assert plan[(plan[:, 2] > 100)][:, 0].tolist() == [order]
    for k, pix, _ in plan:
        if k > 0:
            parent = (cells >> (2 * (order - k + 1))) == (pix >> 2)
            assert counts[parent].sum() > 100


def test_plan_min_order_and_bad_arguments():
    plan = plan_partitions([0, 5, 300], [1, 1, 1], max_rows=10, order=4, min_order=2)
    assert plan.tolist() == [[2, 0, 2], [2, 300 >> 4, 1]]
    with pytest.raises(UsageError):
        plan_partitions([0], [1], max_rows=0, order=3)
    with pytest.raises(UsageError):
        plan_partitions([0], [1], max_rows=5, order=3, min_order=4)


def test_partition_of_outside_every_partition():
    plan = np.array([[1, 5, 3]])
    starts, ends = partition_ranges(plan)
    assert partition_of([-1, starts[0] - 1, starts[0], ends[0] - 1, ends[0]], starts, ends).tolist() == [
        -1,
        -1,
        0,
        0,
        -1,
    ]
