"""Retractions: a list of withdrawn objects soft-deletes them in silver, gold and the predictions,
with the reason and the batch that retracted them; its ledger closes; nothing is lost."""

from __future__ import annotations

import json

import pytest
from pyspark.sql import functions as F

from astrolake import cli
from astrolake.lake import pipeline
from astrolake.lake.preview import preview
from astrolake.lake.retract import NOT_IN_SILVER, retract
from astrolake.lake.tables import Lake
from astrolake.layout import QUARANTINE
from astrolake.ml import features
from astrolake.sources.files import LandingError

from .test_ingest import HEADER, row

CATALOG = "sdss_dr14_skyserver"
SILVER, GOLD = "silver_sdss_dr14_skyserver", "gold_sdss_dr14_skyserver"


def write(path, *lines, header=HEADER):
    path.write_text("\n".join([header, *lines]) + "\n")
    return str(path)


def retracted(lake, table=SILVER):
    """fiber -> (retracting batch, reason) of the retracted rows (plate 300)."""
    rows = lake.read(table).where(F.col("_retracted_batch").isNotNull()).collect()
    return {r["fiberid"]: (r["_retracted_batch"], r["_retraction_reason"]) for r in rows}


def test_a_retraction_list_soft_deletes_rows_down_to_gold_and_its_ledger_closes(spark, fresh_settings, tmp_path):
    lake = Lake(spark, fresh_settings)
    landing = tmp_path / "landing"
    landing.mkdir()
    write(landing / "a.csv", *[row(fiber=f) for f in range(1, 7)])
    pipeline.refresh(lake, CATALOG, str(landing))
    features.build_gold(lake, CATALOG)

    first = write(
        tmp_path / "dr15.retract.csv",
        "300,51600,2,superseded by DR15 spectrum",
        "300,51600,3,",  # no reason of its own: the command's
        "300,51600,2,listed twice",  # a duplicate in the list
        "300,51600,99,not ingested",  # no such key: quarantined
        "300,51600,x,not a number",  # not a fiber id: quarantined
        header="plate,mjd,fiberid,reason",
    )
    (led,) = retract(lake, CATALOG, first, reason="bad sky subtraction").ledgers
    assert (led.operation, led.read, led.retracted, led.duplicates, led.quarantined, led.closes) == (
        "retract",
        5,
        2,
        1,
        2,
        True,
    )
    assert retracted(lake) == {
        2: (led.batch_id, "superseded by DR15 spectrum"),
        3: (led.batch_id, "bad sky subtraction"),
    }
    assert lake.read(SILVER).count() == 6, "a retraction deletes nothing"
    reasons = {
        r["_key"]: r["_reasons"] for r in lake.read(QUARANTINE).where(F.col("_batch_id") == led.batch_id).collect()
    }
    assert reasons == {"300|51600|99": [NOT_IN_SILVER], "300|51600|x": ["retraction: fiberid is not a valid int"]}
    assert retract(lake, CATALOG, first).ledgers == []  # the same list again: skipped by its content

    # a second list, through the landing folder: key 2 is already retracted, 4 is new
    dr16 = write(landing / "dr16.retract.csv", "300,51600,2", "300,51600,4", header="plate,mjd,fiberid")
    dry = preview(lake, CATALOG, [str(landing)])
    assert (dry.lists, dry.listed, dry.retract, dry.retract_duplicates, dry.retract_quarantine) == ([dr16], 2, 1, 1, 0)
    assert dry.lines()[-1] == f"{CATALOG} (dry run): no new data file; nothing written"
    (led2,) = pipeline.refresh(lake, CATALOG, str(landing)).ledgers
    assert (led2.read, led2.retracted, led2.duplicates, led2.quarantined, led2.closes) == (2, 1, 1, 0, True)
    assert retracted(lake)[4] == (led2.batch_id, "retracted by dr16.retract.csv")

    # gold follows from the change feed; learning reads live rows only
    assert features.build_gold(lake, CATALOG).mode == "incremental"
    assert retracted(lake, GOLD) == retracted(lake)
    live_keys = {r["_key"] for r in features.training_data(lake, CATALOG, features=["u_g"]).frame.collect()}
    assert live_keys == {f"300|51600|{f}" for f in (1, 5, 6)}

    # a re-validation rebuilds silver from bronze and keeps the retractions
    before = retracted(lake)
    pipeline.revalidate(lake, CATALOG)
    assert retracted(lake) == before

    # a data file that delivers key 3 again revives it; 5 unchanged stays a duplicate
    write(landing / "b.csv", row(fiber=3), row(fiber=5))
    (led3,) = pipeline.refresh(lake, CATALOG, str(landing)).ledgers
    assert (led3.inserted, led3.updated, led3.duplicates) == (0, 1, 1)
    assert set(retracted(lake)) == {2, 4}


def test_a_retraction_list_must_name_the_key(spark, fresh_settings, tmp_path):
    lake = Lake(spark, fresh_settings)
    data = write(tmp_path / "a.csv", row(fiber=1))
    with pytest.raises(LandingError, match="nothing to retract"):
        retract(lake, CATALOG, write(tmp_path / "x.retract.csv", "300,51600,1", header="plate,mjd,fiberid"))
    pipeline.ingest(lake, CATALOG, [data])
    with pytest.raises(LandingError, match="missing fiberid"):
        retract(lake, CATALOG, write(tmp_path / "y.retract.csv", "300,51600", header="plate,mjd"))
    with pytest.raises(LandingError, match="unknown why"):
        retract(lake, CATALOG, write(tmp_path / "z.retract.csv", "300,51600,1,?", header="plate,mjd,fiberid,why"))
    assert lake.read(SILVER).where(F.col("_retracted_batch").isNotNull()).count() == 0


def test_cli_retract(spark, fresh_settings, tmp_path, capsys):
    common = ["--base-path", fresh_settings.base_path, "--quiet"]
    assert cli.main(["ingest", CATALOG, write(tmp_path / "a.csv", row(fiber=1), row(fiber=2)), *common]) == 0
    listed = write(tmp_path / "w.retract.csv", "300,51600,2", header="plate,mjd,fiberid")
    capsys.readouterr()
    assert cli.main(["retract", CATALOG, listed, "--reason", "withdrawn", *common]) == 0
    led = json.loads(capsys.readouterr().out)
    assert (led["operation"], led["read"], led["retracted"], led["closes"]) == ("retract", 1, 1, True)
    assert cli.main(["retract", CATALOG, str(tmp_path / "none.retract.csv"), *common]) == 1
    assert (
        capsys.readouterr().err.strip()
        == f"astrolake retract: error: no such file or folder: {tmp_path}/none.retract.csv"
    )
    assert cli.main(["retract", "no_such_catalog", listed, *common]) == 1
    assert "unknown catalog" in capsys.readouterr().err


def test_retractions_reach_the_predictions_and_are_not_scored(spark, fresh_settings, tmp_path):
    """A model scores gold; a retraction list then withdraws three objects: the next score run
    soft-deletes their predictions (every model's) with the list's batch and reason, scores no new
    row for them, and a re-run changes nothing."""
    from astrolake.demo import demo_file
    from astrolake.ml import scoring, train

    settings = fresh_settings.with_overrides(tracking_uri=f"sqlite:///{tmp_path}/mlflow.db", experiment="retract")
    lake = Lake(spark, settings)
    lines = open(demo_file()).read().splitlines()
    pipeline.ingest(lake, CATALOG, [write(tmp_path / "part.csv", *lines[1:801], header=lines[0])])
    features.build_gold(lake, CATALOG)
    model = train.train(lake, CATALOG, family="logreg", features=["u_g", "g_r"], name="t_retract")
    uri = f"models:/t_retract/{model.version}"
    first = scoring.score(lake, uri, GOLD, "predictions_r")
    gold = lake.read(GOLD).collect()
    assert first.scored == 800 and len(gold) == 800
    gone = sorted(gold, key=lambda r: r["_key"])[:3]
    listed = [f"{r['plate']},{r['mjd']},{r['fiberid']}" for r in gone]
    (led,) = retract(lake, CATALOG, write(tmp_path / "w.retract.csv", *listed, header="plate,mjd,fiberid")).ledgers
    assert led.retracted == 3
    features.build_gold(lake, CATALOG)
    again = scoring.score(lake, uri, GOLD, "predictions_r")
    assert (again.scored, again.retracted) == (0, 3)
    preds = lake.read("predictions_r")
    marked = {
        r["_key"]: (r["_retracted_batch"], r["_retraction_reason"])
        for r in preds.where("_retracted_batch IS NOT NULL").collect()
    }
    assert marked == {r["_key"]: (led.batch_id, "retracted by w.retract.csv") for r in gone}
    assert preds.count() == 800
    assert scoring.score(lake, uri, GOLD, "predictions_r").retracted == 0  # nothing left to carry
