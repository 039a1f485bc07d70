"""CSV read by Spark's own parser: quotes (RFC 4180), the header's place, blank, comment,
continuation and repeated-header lines, paths that need escaping, and the ledger migration."""

from __future__ import annotations

import pytest

from astrolake.lake import pipeline
from astrolake.lake.tables import Lake

from .test_ingest import HEADER, row

CAT = "sdss_dr14_skyserver"
SILVER = f"silver_{CAT}"


@pytest.fixture
def lake(spark, fresh_settings):
    return Lake(spark, fresh_settings)


def quarantine(lake) -> dict[str, list[str]]:
    return {r["_raw"]: r["_reasons"] for r in lake.read(pipeline.QUARANTINE).collect()}


def test_quoted_fields_are_read_as_rfc_4180_says(lake, tmp_path):
    lines = [
        HEADER,
        row(fiber=1, objid='"1237,648"'),  # the separator inside quotes
        row(fiber=2, objid='"O""Brien"'),  # a doubled quote is one quote
        row(fiber=3, u='""'),  # an empty quoted field in an optional column: null
        row(fiber=4, cls='"STAR"'),  # a quoted value like any other
        row(fiber=5, objid='O"Brien'),  # a quote inside an unquoted field is a character
    ]
    f = tmp_path / "quotes.csv"
    f.write_text("\n".join(lines) + "\n")
    (led,) = pipeline.ingest(lake, CAT, [str(f)]).ledgers
    assert (led.read, led.inserted, led.quarantined, led.skipped, led.continuation, led.closes) == (
        5,
        5,
        0,
        0,
        0,
        True,
    )
    silver = {r["fiberid"]: r for r in lake.read(SILVER).collect()}
    assert silver[1]["objid"] == "1237,648"
    assert silver[2]["objid"] == 'O"Brien'
    assert silver[3]["u"] is None and silver[3]["g"] == 18.2
    assert silver[4]["class"] == "STAR"
    assert silver[5]["objid"] == 'O"Brien'


def test_header_comments_blank_lines_continuations_and_a_repeated_header(lake, tmp_path):
    lines = [
        "#Table1",  # before the header: neither read nor counted
        "",
        HEADER,
        row(fiber=1),
        "",  # skipped
        "# a comment after the header",  # skipped
        row(fiber=2, objid='"12'),  # a quoted field that spans two lines: one record ...
        '34"',  # ... whose second line is a continuation
        HEADER,  # a second file joined to the first: its header is quarantined, not dropped
        row(fiber=3),
        "   ",  # skipped
        row(fiber=4),
    ]
    f = tmp_path / "joined.csv"
    f.write_text("\r\n".join(lines) + "\r\n")
    (led,) = pipeline.ingest(lake, CAT, [str(f)]).ledgers
    assert led.read == 9  # every line after the header
    assert (led.inserted, led.duplicates, led.quarantined, led.skipped, led.continuation) == (3, 0, 2, 3, 1)
    assert led.closes and "+ skipped 3 + continuation 1" in led.line()
    q = quarantine(lake)
    assert q[HEADER] == ["repeated header line (files joined end to end?): not a data row"]
    (spanning,) = [reasons for raw, reasons in q.items() if raw.startswith('"12')]
    assert spanning[0].startswith("a quoted field runs past the end of this line")
    assert sorted(r["fiberid"] for r in lake.read(SILVER).collect()) == [1, 3, 4]
    # bronze keeps every line of the file, the header and the lines before it included
    bronze = lake.read(f"bronze_{CAT}")
    assert bronze.count() == len(lines)
    assert sorted(r["_raw"] for r in bronze.collect()) == sorted(lines)
    # the ledger row carries the new terms
    (stored,) = lake.read(pipeline.LEDGER).collect()
    assert (stored["skipped"], stored["continuation"], stored["read"]) == (3, 1, 9)


def test_an_unclosed_quote_at_the_end_of_the_file_is_one_quarantined_record(lake, tmp_path):
    f = tmp_path / "open.csv"
    f.write_text("\n".join([HEADER, row(fiber=1), row(fiber=2, objid='"never closed'), row(fiber=3)]) + "\n")
    (led,) = pipeline.ingest(lake, CAT, [str(f)]).ledgers
    assert (led.read, led.inserted, led.quarantined, led.continuation, led.closes) == (3, 1, 1, 1, True)


def test_malformed_lines_count_quoted_separators_once(lake, tmp_path):
    f = tmp_path / "short.csv"
    f.write_text("\n".join([HEADER, '"a,b",c', row(fiber=1)]) + "\n")
    (led,) = pipeline.ingest(lake, CAT, [str(f)]).ledgers
    assert (led.read, led.inserted, led.quarantined) == (2, 1, 1)
    assert quarantine(lake)['"a,b",c'] == ["malformed line: expected 18 fields, found 2"]


FOLDERS = ["with space", "with,comma", "with%percent", "with+plus"]


def test_paths_that_need_escaping_keep_exact_provenance(lake, tmp_path):
    """One batch of files whose folders need escaping in a URI: each row keeps its exact path."""
    files = []
    for i, folder in enumerate(FOLDERS):
        d = tmp_path / folder
        d.mkdir()
        f = d / "x y.csv"
        f.write_text("\n".join([HEADER, row(plate=300 + i, fiber=1), row(plate=300 + i, fiber=2, ra="400")]) + "\n")
        files.append(str(f))
    (led,) = pipeline.ingest(lake, CAT, [str(tmp_path / folder) for folder in FOLDERS]).ledgers
    assert (led.read, led.inserted, led.quarantined, led.closes) == (8, 4, 4, True)
    expected = {300 + i: f for i, f in enumerate(files)}
    assert {r["plate"]: r["_source_file"] for r in lake.read(SILVER).collect()} == expected
    assert sorted(r["_source_file"] for r in lake.read(pipeline.QUARANTINE).collect()) == sorted(files)
    bronze = lake.read(f"bronze_{CAT}").groupBy("_source_file").count().collect()
    assert {r["_source_file"]: r["count"] for r in bronze} == {f: 3 for f in files}


OLD_LEDGER_DDL = """catalog STRING, batch_id BIGINT, operation STRING, files ARRAY<STRING>,
started_at TIMESTAMP, finished_at TIMESTAMP, read BIGINT, inserted BIGINT, updated BIGINT,
duplicates BIGINT, quarantined BIGINT, closes BOOLEAN, silver_version BIGINT"""
OLD_MANIFEST_DDL = """catalog STRING, batch_id BIGINT, operation STRING, path STRING, name STRING,
sha256 STRING, size BIGINT, header ARRAY<STRING>, planned_at TIMESTAMP"""


def test_a_lake_from_before_the_new_ledger_terms_is_migrated(lake, tmp_path):
    import datetime as dt

    lake.create(pipeline.LEDGER, OLD_LEDGER_DDL)
    lake.create(pipeline.MANIFEST, OLD_MANIFEST_DDL)
    t = dt.datetime(2026, 1, 1)
    old = [("other_catalog", 1, "ingest", ["/old.csv"], t, t, 5, 5, 0, 0, 0, True, 1)]
    lake.append(lake.spark.createDataFrame(old, " ".join(OLD_LEDGER_DDL.split())), pipeline.LEDGER)
    f = tmp_path / "new.csv"
    f.write_text("\n".join([HEADER, row(fiber=1), "# note", row(fiber=2)]) + "\n")
    (led,) = pipeline.ingest(lake, CAT, [str(f)]).ledgers
    assert (led.read, led.inserted, led.skipped, led.closes) == (3, 2, 1, True)
    ledger = {r["catalog"]: r for r in lake.read(pipeline.LEDGER).collect()}
    assert ledger["other_catalog"]["read"] == 5 and ledger["other_catalog"]["skipped"] is None  # kept as it was
    assert ledger[CAT]["skipped"] == 1 and ledger[CAT]["continuation"] == 0
    (planned,) = lake.read(pipeline.MANIFEST).collect()
    assert planned["header_line"] == 0
    assert pipeline.migrate(lake) == []  # once is enough
    history = lake.delta(pipeline.LEDGER).history().select("operation").collect()
    assert [r[0] for r in history].count("ADD COLUMNS") == 1


def test_gzip_bzip2_and_ecsv_files_take_the_same_path(lake, tmp_path):
    import bz2
    import gzip

    from astropy.table import Table

    landing = tmp_path / "landing"
    landing.mkdir()
    with gzip.open(landing / "a.csv.gz", "wt") as fh:
        fh.write("\n".join([HEADER, row(fiber=1), row(fiber=2, ra="400")]) + "\n")
    with bz2.open(landing / "b.csv.bz2", "wt") as fh:
        fh.write("\n".join([HEADER, row(fiber=3), "", row(fiber=4)]) + "\n")
    t = Table.read("\n".join([HEADER, row(fiber=5), row(fiber=6, u="21.5")]), format="ascii.csv")
    t["ra"].unit, t["dec"].unit, t["u"].unit = "degree", "deg", "mag"
    t.write(landing / "c.ecsv", format="ascii.ecsv", delimiter=",")
    (led,) = pipeline.ingest(lake, CAT, [str(landing)]).ledgers
    assert (led.read, led.inserted, led.quarantined, led.skipped, led.closes) == (7, 5, 1, 1, True)
    silver = {r["fiberid"]: r for r in lake.read(SILVER).collect()}
    assert sorted(silver) == [1, 3, 4, 5, 6] and silver[6]["u"] == 21.5
    assert silver[1]["_source_file"] == str(landing / "a.csv.gz")
    assert silver[5]["_source_file"] == str(landing / "c.ecsv")
    (bad,) = lake.read(pipeline.QUARANTINE).collect()
    assert bad["_reasons"] == ["ra: 400.0 outside [0, 360)"] and bad["_source_file"] == str(landing / "a.csv.gz")


def test_an_ecsv_unit_that_disagrees_writes_no_table(lake, tmp_path):
    from astropy.table import Table

    from astrolake.sources.files import LandingError

    t = Table.read("\n".join([HEADER, row(fiber=1)]), format="ascii.csv")
    t["ra"].unit = "arcsec"
    t.write(tmp_path / "x.ecsv", format="ascii.ecsv", delimiter=",")
    with pytest.raises(LandingError, match="ra: unit 'arcsec' is not the contract's 'deg'"):
        pipeline.ingest(lake, CAT, [str(tmp_path / "x.ecsv")])
    assert not lake.exists(SILVER) and not lake.exists(pipeline.LEDGER)


def test_parquet_files_take_the_same_path_with_their_row_index(lake, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from astrolake.catalogs.contract import get_catalog

    cols = get_catalog(CAT).contract.columns
    rows = [row(fiber=1), row(fiber=2, ra="400"), row(fiber=3, u="")]
    values = list(zip(*[r.split(",") for r in rows], strict=True))

    def typed(c, texts):
        if c.type in ("int", "long"):
            return pa.array([int(t) for t in texts], pa.int64())
        if c.type == "double":
            return pa.array([float(t) if t else None for t in texts], pa.float64())
        return pa.array(list(texts), pa.string())

    table = pa.table({c.source: typed(c, v) for c, v in zip(cols, values, strict=True)})
    landing = tmp_path / "landing"
    landing.mkdir()
    pq.write_table(table, landing / "part-0.parquet")
    (landing / "more.csv").write_text("\n".join([HEADER, row(fiber=4)]) + "\n")
    (led,) = pipeline.ingest(lake, CAT, [str(landing)]).ledgers
    assert (led.read, led.inserted, led.quarantined, led.skipped, led.closes) == (4, 3, 1, 0, True)
    silver = {r["fiberid"]: r for r in lake.read(SILVER).collect()}
    assert sorted(silver) == [1, 3, 4] and silver[3]["u"] is None and silver[1]["ra"] == 10.5
    assert silver[1]["_source_file"] == str(landing / "part-0.parquet")
    (bad,) = lake.read(pipeline.QUARANTINE).collect()
    assert bad["_reasons"] == ["ra: 400.0 outside [0, 360)"] and bad["_row_number"] == 2
    assert '"ra":400.0' in bad["_raw"]  # bronze keeps the row as JSON
