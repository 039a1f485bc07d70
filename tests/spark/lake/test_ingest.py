"""Bronze -> silver -> quarantine -> ledger on real data and on bad input (real Spark + Delta)."""

from __future__ import annotations

import pytest
from pyspark.sql import functions as F

from astrolake.demo import demo_file, summarise
from astrolake.lake import pipeline
from astrolake.lake.tables import Lake
from astrolake.sources.files import LandingError

HEADER = "objid,ra,dec,u,g,r,i,z,run,rerun,camcol,field,specobjid,class,redshift,plate,mjd,fiberid"


def row(plate=300, mjd=51600, fiber=1, ra="10.5", dec="1.25", u="19.1", cls="GALAXY", z="0.1", **kw):
    vals = dict(
        objid="1237648704577142822",
        ra=ra,
        dec=dec,
        u=u,
        g="18.2",
        r="17.3",
        i="17.0",
        z_band="16.8",
        run="752",
        rerun="301",
        camcol="4",
        field="267",
        specobjid="9468834305966071808",
        cls=cls,
        redshift=z,
        plate=str(plate),
        mjd=str(mjd),
        fiber=str(fiber),
    )
    vals.update(kw)
    return ",".join(
        [
            vals["objid"],
            vals["ra"],
            vals["dec"],
            vals["u"],
            vals["g"],
            vals["r"],
            vals["i"],
            vals["z_band"],
            vals["run"],
            vals["rerun"],
            vals["camcol"],
            vals["field"],
            vals["specobjid"],
            vals["cls"],
            vals["redshift"],
            vals["plate"],
            vals["mjd"],
            vals["fiber"],
        ]
    )


@pytest.fixture
def lake(spark, fresh_settings):
    return Lake(spark, fresh_settings)


def ledger_of(lake, catalog):
    return lake.read(pipeline.LEDGER).where(F.col("catalog") == catalog).orderBy("batch_id").collect()


def test_demo_sample_ingests_with_closing_ledger_and_is_idempotent(lake):
    res = pipeline.ingest(lake, "sdss_dr14_skyserver", [demo_file()])
    (led,) = res.ledgers
    assert (led.read, led.inserted, led.updated, led.duplicates, led.quarantined) == (10000, 10000, 0, 0, 0)
    silver = lake.read("silver_sdss_dr14_skyserver")
    assert silver.select("plate", "mjd", "fiberid").distinct().count() == 10000
    assert silver.where(F.col("healpix_29").isNull()).count() == 0
    # ids kept exactly as text
    assert silver.where(F.col("objid") == "1.23764870457714E+018").count() > 0
    version = lake.version("silver_sdss_dr14_skyserver")
    again = pipeline.ingest(lake, "sdss_dr14_skyserver", [demo_file()])
    assert again.ledgers == [] and again.skipped == [demo_file()]
    assert lake.version("silver_sdss_dr14_skyserver") == version
    assert lake.read("bronze_sdss_dr14_skyserver").count() == 10001  # every line, the header too
    props = lake.sql("DESCRIBE DETAIL {t}", t="silver_sdss_dr14_skyserver").first()
    assert props["clusteringColumns"] == ["healpix_29"]
    assert "Abolfathi" in props["properties"]["astrolake.citation"]
    # the demo's summary: class counts from the sample (GALAXY 4,998, STAR 4,152, QSO 850)
    summary = summarise(lake, "sdss_dr14_skyserver")
    assert {r["class"]: r["rows"] for r in summary["per_class"]} == {"GALAXY": 4998, "STAR": 4152, "QSO": 850}
    assert 0 < summary["healpix3_cells"] <= 768 and summary["quarantine_reasons"] == []


def test_bad_rows_go_to_quarantine_with_every_reason(lake, tmp_path):
    lines = [
        HEADER,
        row(fiber=1),  # good
        row(fiber=2, ra="361.5"),  # ra above range
        row(fiber=3, dec="-90.0001", u="abc"),  # dec below range + wrong type
        row(fiber=4, u="-9999"),  # sentinel in optional column -> null, kept
        row(fiber=5, cls="UFO"),  # not an allowed class
        row(fiber=6, plate=""),  # required missing
        row(fiber=7, ra="NaN"),  # NaN in required column
        row(fiber=8, z="-0.0100001"),  # just below redshift bound
        row(fiber=9, z="-0.01", ra="0", dec="90"),  # exactly on the bounds: valid
        row(fiber=10, ra="359.9999999", dec="-90"),  # valid
        "1,2,3",  # malformed line
        row(fiber=11, cls="STAR"),  # duplicate key below, last one wins
        row(fiber=11, cls="QSO"),
        row(fiber=12)[:40],
    ]  # truncated last line
    f = tmp_path / "bad.csv"
    f.write_text("\r\n".join(lines) + "\r\n")
    (led,) = pipeline.ingest(lake, "sdss_dr14_skyserver", [str(f)]).ledgers
    assert led.read == 14
    assert (led.inserted, led.updated, led.duplicates, led.quarantined) == (5, 0, 1, 8)
    assert led.closes
    q = {r["_key"]: r["_reasons"] for r in lake.read("quarantine").collect()}
    assert q["300|51600|2"] == ["ra: 361.5 outside [0, 360)"]
    assert sorted(q["300|51600|3"]) == sorted(["u: 'abc' is not a valid double", "dec: -90.0001 outside [-90, 90]"])
    assert q["300|51600|5"] == ["class: 'UFO' not one of GALAXY, STAR, QSO"]
    assert q["|51600|6"] == ["plate: required value missing"]
    assert q["300|51600|7"] == ["ra: required value missing (NaN)"]
    assert q["300|51600|8"] == ["redshift: -0.0100001 outside [-0.01, 8]"]
    malformed = sorted(
        r["_reasons"][0] for r in lake.read("quarantine").collect() if r["_reasons"][0].startswith("malformed")
    )
    assert malformed == ["malformed line: expected 18 fields, found 3", "malformed line: expected 18 fields, found 6"]
    silver = {r["fiberid"]: r for r in lake.read("silver_sdss_dr14_skyserver").collect()}
    assert sorted(silver) == [1, 4, 9, 10, 11]
    assert silver[4]["u"] is None and silver[11]["class"] == "QSO"


@pytest.mark.parametrize(
    "content, message",
    [
        ("", "file is empty"),
        ("# only a comment\r\n\r\n", "file is empty"),
        (HEADER.replace("plate,", "") + "\n", "missing required column(s) plate"),
        ("objid,ra,ra,dec\n", "appear more than once"),
    ],
)
def test_bad_files_are_refused_with_a_clear_message(lake, tmp_path, content, message):
    f = tmp_path / "x.csv"
    f.write_text(content)
    with pytest.raises(LandingError, match=message.replace("(", r"\(").replace(")", r"\)")):
        pipeline.ingest(lake, "sdss_dr14_skyserver", [str(f)])
    assert not lake.exists("silver_sdss_dr14_skyserver") or lake.read("silver_sdss_dr14_skyserver").count() == 0


def test_header_only_file_reads_zero_rows_and_closes(lake, tmp_path):
    f = tmp_path / "h.csv"
    f.write_text(HEADER + "\n")
    (led,) = pipeline.ingest(lake, "sdss_dr14_skyserver", [str(f)]).ledgers
    assert (led.read, led.inserted, led.quarantined, led.closes) == (0, 0, 0, True)


def test_changed_row_updates_and_identical_row_is_an_unchanged_duplicate(lake, tmp_path):
    a = tmp_path / "a.csv"
    a.write_text("\n".join([HEADER, row(fiber=1), row(fiber=2)]) + "\n")
    pipeline.ingest(lake, "sdss_dr14_skyserver", [str(a)])
    b = tmp_path / "b.csv"
    b.write_text("\n".join([HEADER, row(fiber=1), row(fiber=2, u="20.5"), row(fiber=3)]) + "\n")
    (led,) = pipeline.ingest(lake, "sdss_dr14_skyserver", [str(b)]).ledgers
    assert (led.read, led.inserted, led.updated, led.duplicates, led.quarantined) == (3, 1, 1, 1, 0)
    u = {r["fiberid"]: r["u"] for r in lake.read("silver_sdss_dr14_skyserver").collect()}
    assert u == {1: 19.1, 2: 20.5, 3: 19.1}
    # a corrected file re-delivered under the same name is ingested as a new version
    a.write_text("\n".join([HEADER, row(fiber=1, u="21.0")]) + "\n")
    res = pipeline.ingest(lake, "sdss_dr14_skyserver", [str(a)])
    assert res.notices and "re-delivered" in res.notices[0]
    assert res.ledgers[0].updated == 1


def _plan_only(lake, catalog, paths):
    """What a run killed right after planning leaves: the batch in _manifest, nothing else."""
    from astrolake.catalogs.contract import get_catalog
    from astrolake.sources import files as landing

    cat = get_catalog(catalog)
    surveyed = landing.survey_all([str(p) for p in paths], cat.contract)
    pipeline.ensure_tables(lake, cat)
    state = pipeline.CatalogState.read(lake, cat)
    batch, _, _ = pipeline.plan_batch(lake, cat, surveyed, "ingest", state)
    return batch


def test_a_planned_file_changed_or_deleted_before_the_replay_is_refused(lake, tmp_path):
    cat = "sdss_dr14_skyserver"
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    original = "\n".join([HEADER, row(fiber=1), row(fiber=2)]) + "\n"
    a.write_text(original)
    b.write_text("\n".join([HEADER, row(fiber=3)]) + "\n")
    assert _plan_only(lake, cat, [a, b]) == 1
    a.write_text(original + row(fiber=9) + "\n")  # changed after the plan: a replay would take fiber 9
    other = tmp_path / "c.csv"
    other.write_text("\n".join([HEADER, row(fiber=4)]) + "\n")
    with pytest.raises(LandingError, match=r"a\.csv: changed since it was planned for unfinished batch 1") as err:
        pipeline.ingest(lake, cat, [str(other)])
    assert "DELETE FROM" in str(err.value)
    assert lake.read(pipeline.LEDGER).count() == 0 and lake.read("bronze_" + cat).count() == 0
    a.write_text(original)  # restored: the replay goes on with exactly the planned content
    res = pipeline.ingest(lake, cat, [str(other)])
    assert [(led.batch_id, led.read, led.inserted) for led in res.ledgers] == [(1, 3, 3), (2, 1, 1)]
    assert sorted(r["fiberid"] for r in lake.read("silver_" + cat).collect()) == [1, 2, 3, 4]

    # deleted after the plan: refused, until the user gives the batch up with the statement offered
    d = tmp_path / "d.csv"
    d.write_text("\n".join([HEADER, row(fiber=5)]) + "\n")
    assert _plan_only(lake, cat, [d]) == 3
    d.unlink()
    with pytest.raises(LandingError, match=r"d\.csv: planned for unfinished batch 3 .* deleted since") as err:
        pipeline.ingest(lake, cat, [str(other)])
    lake.spark.sql(str(err.value).split("give up the batch: ", 1)[1])
    assert pipeline.ingest(lake, cat, [str(other)]).ledgers == []  # c.csv was ingested; nothing pending
    assert sorted(r["fiberid"] for r in lake.read("silver_" + cat).collect()) == [1, 2, 3, 4]


def test_schema_drift_extra_absent_renamed_and_retyped_columns(lake, tmp_path):
    """A later file of the catalog with other columns: what is kept, what is refused, what is quarantined."""
    cat = "sdss_dr14_skyserver"
    pipeline.ingest(lake, cat, [_write(tmp_path / "a.csv", HEADER, [row(fiber=1)])])
    # a new column: ingested; its values stay in bronze's raw line, silver has no such column
    res = pipeline.ingest(lake, cat, [_write(tmp_path / "b.csv", HEADER + ",flux_w1", [row(fiber=2) + ",123.5"])])
    assert any("flux_w1 not in contract" in n and "kept in bronze" in n for n in res.notices)
    assert (res.ledgers[0].inserted, res.ledgers[0].closes) == (1, True)
    assert "flux_w1" not in lake.read("silver_" + cat).columns
    raw = [r["_raw"] for r in lake.read("bronze_" + cat).where(F.col("_batch_id") == 2).collect()]
    assert any(line.endswith(",123.5") for line in raw)
    # an optional column renamed (redshift -> z_spec): the old name is absent (null), the new one kept in bronze
    renamed = HEADER.replace(",redshift,", ",z_spec,")
    res = pipeline.ingest(lake, cat, [_write(tmp_path / "c.csv", renamed, [row(fiber=3, z="0.25")])])
    assert any("optional column(s) redshift absent" in n for n in res.notices)
    assert any("z_spec not in contract" in n for n in res.notices)
    silver = {r["fiberid"]: r for r in lake.read("silver_" + cat).collect()}
    assert silver[3]["redshift"] is None and silver[1]["redshift"] == 0.1
    # a required column renamed (plate -> plateid): the file is refused whole, nothing written
    version = lake.version("silver_" + cat)
    with pytest.raises(LandingError, match=r"missing required column\(s\) plate"):
        pipeline.ingest(lake, cat, [_write(tmp_path / "d.csv", HEADER.replace(",plate,", ",plateid,"), [row(fiber=4)])])
    assert lake.version("silver_" + cat) == version
    # a retyped column (ra as text): each value that is not a number is quarantined with its reason
    res = pipeline.ingest(lake, cat, [_write(tmp_path / "e.csv", HEADER, [row(fiber=5, ra="10h30m"), row(fiber=6)])])
    led = res.ledgers[0]
    assert (led.read, led.inserted, led.quarantined, led.closes) == (2, 1, 1, True)
    reasons = [r["_reasons"] for r in lake.read("quarantine").where(F.col("_batch_id") == led.batch_id).collect()]
    assert len(reasons) == 1 and any("ra" in x for x in reasons[0])


def _write(path, header, rows) -> str:
    path.write_text("\n".join([header, *rows]) + "\n")
    return str(path)
