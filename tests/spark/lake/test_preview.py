"""``--dry-run`` of ingest and refresh: the preview's counts are the ledger's of the real run that
follows, and the preview writes nothing (no table, no manifest entry, no folder)."""

from __future__ import annotations

import os

from pyspark.sql import functions as F

from astrolake import cli
from astrolake.lake import pipeline
from astrolake.lake.preview import preview
from astrolake.lake.tables import Lake
from astrolake.layout import MANIFEST

from .test_ingest import HEADER, row

CATALOG = "sdss_dr14_skyserver"
SILVER = "silver_sdss_dr14_skyserver"


def write(path, *rows):
    path.write_text("\n".join([HEADER, *rows]) + "\n")
    return str(path)


def assert_ledger_matches(led, p):
    assert (led.read, led.inserted, led.updated, led.duplicates, led.quarantined) == (
        p.read,
        p.add,
        p.change,
        p.unchanged + p.superseded,
        p.quarantine,
    )


def test_preview_counts_are_the_next_runs_ledger_and_nothing_is_written(spark, fresh_settings, tmp_path):
    lake = Lake(spark, fresh_settings)
    landing = tmp_path / "landing"
    landing.mkdir()
    a = write(
        landing / "a.csv",
        *[row(fiber=f) for f in range(1, 6)],
        row(fiber=5, u="19.9"),  # the same key again: the earlier fiber 5 is superseded
        row(fiber=7, u="abc"),  # not a number: quarantined
    )
    first = preview(lake, CATALOG, [a])
    assert (first.read, first.add, first.change, first.unchanged, first.superseded, first.quarantine) == (
        7,
        5,
        0,
        0,
        1,
        1,
    )
    assert first.files == [a] and first.already == []
    assert not os.path.exists(fresh_settings.base_path), "a dry run on an empty lake created the lake"

    (led,) = pipeline.ingest(lake, CATALOG, [a]).ledgers
    assert_ledger_matches(led, first)

    b = write(
        landing / "b.csv",
        row(fiber=1),  # as in silver: unchanged
        row(fiber=2, u="18.5"),  # new values for a key in silver: changed
        row(fiber=6),  # new key
        row(fiber=8, ra="999"),  # out of range: quarantined
    )
    versions = {t: lake.version(t) for t in (SILVER, MANIFEST)}
    second = preview(lake, CATALOG, [str(landing)])
    assert second.files == [b] and second.already == [a]
    assert (second.read, second.add, second.change, second.unchanged, second.superseded, second.quarantine) == (
        4,
        1,
        1,
        1,
        0,
        1,
    )
    assert {t: lake.version(t) for t in versions} == versions, "the dry run committed to a table"
    assert lake.read(SILVER).where(F.col("fiberid") == 6).count() == 0

    (led,) = pipeline.refresh(lake, CATALOG, str(landing)).ledgers
    assert_ledger_matches(led, second)
    assert preview(lake, CATALOG, [str(landing)]).files == []


def test_cli_refresh_dry_run_lists_files_and_counts(spark, fresh_settings, tmp_path, capsys):
    landing = tmp_path / "landing"
    landing.mkdir()
    a = write(landing / "a.csv", row(fiber=1), row(fiber=2), row(fiber=3, dec="-95"))
    args = ["refresh", CATALOG, "--landing", str(landing), "--base-path", fresh_settings.base_path, "--quiet"]
    assert cli.main([*args, "--dry-run"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [
        f"would read {a}",
        f"{CATALOG} (dry run): read 3 = add 2 + change 0 + unchanged 0 + superseded 0 + quarantine 1; nothing written",
    ]
    assert not os.path.exists(fresh_settings.base_path)
    assert cli.main(args) == 0
    capsys.readouterr()
    assert cli.main([*args, "--dry-run"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"would skip {a}: already ingested",
        f"{CATALOG} (dry run): nothing new; nothing written",
    ]
