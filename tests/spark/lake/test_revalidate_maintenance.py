"""Re-validation after a contract change, and table maintenance (OPTIMIZE, VACUUM guard, history,
time travel) on one small real lake."""

from __future__ import annotations

import dataclasses

import pytest
from pyspark.sql import functions as F

from astrolake.catalogs import contract as contracts
from astrolake.lake import maintenance, pipeline
from astrolake.lake.tables import Lake
from spark.lake.test_ingest import HEADER, row


def test_revalidate_releases_rows_that_pass_a_changed_contract_and_maintenance(
    spark, fresh_settings, tmp_path, monkeypatch
):
    lake = Lake(spark, fresh_settings)
    f = tmp_path / "a.csv"
    f.write_text("\n".join([HEADER, row(fiber=1), row(fiber=2, cls="UFO"), row(fiber=3, ra="400")]) + "\n")
    (first,) = pipeline.ingest(lake, "sdss_dr14_skyserver", [str(f)]).ledgers
    assert (first.inserted, first.quarantined) == (1, 2)
    v_after_ingest = lake.version("silver_sdss_dr14_skyserver")

    # the contract changes: 'UFO' becomes an allowed class
    cat = contracts.get_catalog("sdss_dr14_skyserver")
    cols = tuple(
        dataclasses.replace(c, values=c.values + ("UFO",)) if c.name == "class" else c for c in cat.contract.columns
    )
    changed = dataclasses.replace(cat, contract=dataclasses.replace(cat.contract, columns=cols))
    monkeypatch.setitem(contracts.catalogs(), "sdss_dr14_skyserver", changed)

    # (a re-validation killed between its writes is tests/spark/lake/test_kills.py's)
    led = pipeline.revalidate(lake, "sdss_dr14_skyserver")
    assert led.operation == "revalidate" and led.batch_id == first.batch_id + 1
    assert (led.read, led.inserted, led.updated, led.duplicates, led.quarantined) == (3, 2, 0, 0, 1)
    assert led.closes
    silver = {r["fiberid"]: r["class"] for r in lake.read("silver_sdss_dr14_skyserver").collect()}
    assert silver == {1: "GALAXY", 2: "UFO"}
    (q,) = lake.read("quarantine").where(F.col("catalog") == "sdss_dr14_skyserver").collect()
    assert q["_reasons"] == ["ra: 400.0 outside [0, 360)"] and q["_batch_id"] == led.batch_id
    ops = [r["operation"] for r in lake.read("ledger").orderBy("batch_id").collect()]
    assert ops == ["ingest", "revalidate"]

    # maintenance: OPTIMIZE, history, time travel, VACUUM guard; a second batch gives silver a
    # second file, so that OPTIMIZE has files to cluster together
    g = tmp_path / "b.csv"
    g.write_text("\n".join([HEADER, row(fiber=4)]) + "\n")
    pipeline.ingest(lake, "sdss_dr14_skyserver", [str(g)])
    maintenance.optimize(lake, "silver_sdss_dr14_skyserver").collect()
    hist = maintenance.history(lake, "silver_sdss_dr14_skyserver").collect()
    assert {"OPTIMIZE", "WRITE", "MERGE"} & {h["operation"] for h in hist} >= {"OPTIMIZE", "WRITE"}
    old = lake.read("silver_sdss_dr14_skyserver", version=v_after_ingest)
    assert [r["fiberid"] for r in old.collect()] == [1]
    with pytest.raises(maintenance.RetentionError, match="time-travel window"):
        maintenance.vacuum(lake, "silver_sdss_dr14_skyserver", retain_hours=1)
    maintenance.vacuum(lake, "silver_sdss_dr14_skyserver")  # default keeps 7 days
    assert lake.read("silver_sdss_dr14_skyserver", version=v_after_ingest).count() == 1


def test_revalidate_after_the_contract_learns_a_drifted_column_fills_it_from_bronze(
    spark, fresh_settings, tmp_path, monkeypatch
):
    """A file brought a column the contract did not know (kept in bronze); the contract then adds it:
    re-validation fills it in silver from bronze, null for the rows of files without it."""
    lake = Lake(spark, fresh_settings)
    cat_name = "sdss_dr14_skyserver"
    old = tmp_path / "old.csv"
    old.write_text("\n".join([HEADER, row(fiber=1)]) + "\n")
    new = tmp_path / "new.csv"
    new.write_text("\n".join([HEADER + ",flux_w1", row(fiber=2) + ",123.5", row(fiber=3) + ",abc"]) + "\n")
    pipeline.ingest(lake, cat_name, [str(old)])
    res = pipeline.ingest(lake, cat_name, [str(new)])
    assert res.ledgers[0].inserted == 2 and "flux_w1" not in lake.read("silver_" + cat_name).columns

    cat = contracts.get_catalog(cat_name)
    w1 = contracts.Column(name="flux_w1", source="flux_w1", type="double", description="WISE W1 flux", unit="nmgy")
    changed = dataclasses.replace(cat, contract=dataclasses.replace(cat.contract, columns=(*cat.contract.columns, w1)))
    monkeypatch.setitem(contracts.catalogs(), cat_name, changed)
    led = pipeline.revalidate(lake, cat_name)
    assert led.closes and (led.read, led.inserted + led.updated, led.quarantined) == (3, 2, 1)
    silver = {r["fiberid"]: r["flux_w1"] for r in lake.read("silver_" + cat_name).collect()}
    assert silver == {1: None, 2: 123.5}  # fiber 3's 'abc' is now a typed value that does not parse
    (q,) = lake.read("quarantine").where(F.col("_batch_id") == led.batch_id).collect()
    assert any("flux_w1" in r for r in q["_reasons"])
    # a contract that retypes a silver column is refused before anything is planned or written
    run_text = tuple(dataclasses.replace(c, type="string") if c.name == "run" else c for c in changed.contract.columns)
    retyped = dataclasses.replace(changed, contract=dataclasses.replace(changed.contract, columns=run_text))
    monkeypatch.setitem(contracts.catalogs(), cat_name, retyped)
    version, planned = lake.version("silver_" + cat_name), lake.read(pipeline.MANIFEST).count()
    with pytest.raises(contracts.ContractError, match=r"retypes column\(s\) run \(int in silver, string"):
        pipeline.revalidate(lake, cat_name)
    assert lake.version("silver_" + cat_name) == version and lake.read(pipeline.MANIFEST).count() == planned
