"""Security guards on real Spark and Delta: names that try to break out of SQL are refused before
any statement runs, a table folder holding a backtick still works (its identifier is quoted), the
quoted Unity Catalog names reach ``forName`` / ``saveAsTable`` / SQL intact, and no secret of the
environment or of a settings file ends up in the output, the logs or the Delta log of an ingest.

The checks that need no JVM are in tests/unit/test_identifiers.py.  Cost: one ingest of the shipped
sample in process (on the shared session), a few one-row tables.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from astrolake import cli
from astrolake.demo import demo_file
from astrolake.lake.tables import Lake
from astrolake.names import IdentifierError

CATALOG = "sdss_dr14_skyserver"
SILVER = "silver_sdss_dr14_skyserver"
INJECTIONS = [
    "victim; DROP TABLE victim",
    "victim`; DROP TABLE victim; --",
    "victim` UNION SELECT 1 --",
    "victim'",
    "../victim",
    "victim/../../x",
    "",
    "vict\u0456m",  # Cyrillic i
]
SECRETS = {
    "DATABRICKS_TOKEN": "dapi-FAKE-5ec2e7000000000000000000000000aa",
    "MLFLOW_TRACKING_TOKEN": "FAKE-MLFLOW-TOKEN-5ec2e7bb",
    "AWS_SECRET_ACCESS_KEY": "FAKE-AWS-SECRET-5ec2e7cc",
}
CONF_SECRET = "FAKE-S3-SECRET-IN-SETTINGS-5ec2e7dd"
RUNTIME_SECRET = "FAKE-RUNTIME-CONF-SECRET-5ec2e7ee"


def files_holding(root: Path, needles: list[str]) -> list[str]:
    """``path: needle`` for every file under ``root`` whose bytes hold one of ``needles``."""
    found = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        found += [f"{path}: {n}" for n in needles if n.encode() in data]
    return found


def test_ingest_into_a_folder_with_a_backtick_leaks_no_secret(spark, tmp_path, monkeypatch, capfd):
    work = tmp_path / "work"
    base = work / "we`ird" / "lake"
    config = tmp_path / "private" / "settings.yaml"  # the one file that holds a secret on purpose
    config.parent.mkdir()
    config.write_text(
        yaml.safe_dump(
            {
                "extra_spark_conf": {"spark.hadoop.fs.s3a.secret.key": CONF_SECRET},
                "tracking_uri": f"sqlite:///{work / 'mlflow.db'}",
            }
        )
    )
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    work.mkdir()
    monkeypatch.chdir(work)  # whatever lands in the working folder is searched too
    spark.conf.set("spark.astrolake.test.secret", RUNTIME_SECRET)  # a secret in the live session's conf
    try:
        common = ["--config", str(config), "--base-path", str(base), "--verbose"]
        assert cli.main(["ingest", CATALOG, demo_file(), *common]) == 0
        assert cli.main(["history", SILVER, *common]) == 0
        # a name that tries to leave its identifier: one line, exit 1, no statement run
        assert cli.main(["optimize", f"{SILVER}`; DROP TABLE {SILVER}; --", *common]) == 1
    finally:
        spark.conf.unset("spark.astrolake.test.secret")
    out, err = capfd.readouterr()
    (ledger,) = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert ledger["read"] == ledger["inserted"] == 10_000 and ledger["closes"]
    assert "CREATE TABLE" in out  # the history, read through the folder with a backtick
    assert err.strip().splitlines()[-1].startswith("astrolake optimize: error: table name ")

    lake = Lake(spark, _settings(base))
    assert (base / SILVER / "_delta_log").is_dir() and not (work / "we").exists()
    assert lake.read(SILVER).count() == 10_000  # still there
    props = {r["key"]: r["value"] for r in lake.sql("SHOW TBLPROPERTIES {t}", t=SILVER).collect()}
    assert props["astrolake.catalog"] == CATALOG

    needles = [*SECRETS.values(), CONF_SECRET, RUNTIME_SECRET]
    assert not [n for n in needles if n in out or n in err], "a secret was printed"
    assert list(base.rglob("_delta_log/*.json")), "no Delta log to search"
    assert files_holding(work, needles) == []  # Delta logs, data files, checkpoints, anything written


def _settings(base: Path):
    from astrolake.config import Settings

    return Settings(base_path=str(base), shuffle_partitions=2)


def test_names_cannot_break_out_of_sql_and_a_backtick_folder_is_quoted(spark, tmp_path):
    base = tmp_path / "lake`,delta.`evil"
    lake = Lake(spark, _settings(base))
    assert lake.sql_ident("victim") == "delta.`" + str(base / "victim").replace("`", "``") + "`"
    lake.create("victim", "id INT, name STRING", cluster_by=["id"], properties={"note": "it's `here`"})
    lake.append(spark.createDataFrame([(1, "a")], "id INT, name STRING"), "victim")
    assert lake.sql("SELECT count(*) AS n FROM {t}", t="victim").first()["n"] == 1
    assert (base / "victim" / "_delta_log").is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == [base.name]  # no folder outside the base

    row = spark.createDataFrame([(2, "b")], "id INT, name STRING")
    attempts = (
        lambda name: lake.sql("SELECT * FROM {t}", t=name),
        lambda name: lake.sql("DROP TABLE {t}", t=name),
        lake.read,
        lambda name: lake.append(row, name),
        lambda name: lake.create(name, "id INT"),
        lake.exists,
        lake.delta,
    )
    for name in INJECTIONS:
        for attempt in attempts:
            with pytest.raises(IdentifierError, match="refused"):
                attempt(name)
    assert lake.read("victim").count() == 1 and lake.version("victim") == 1
    assert sorted(p.name for p in base.iterdir()) == ["victim"]


def test_quoted_unity_catalog_names_work_with_every_table_operation(spark, settings):
    """The Unity Catalog branch of :class:`Lake`, on the session catalog: three quoted parts."""
    schema = "astrolake_security_test"
    spark.sql(f"CREATE DATABASE IF NOT EXISTS {schema}")
    try:
        lake = Lake(spark, settings.with_overrides(uc_catalog="spark_catalog", uc_schema=schema))
        assert lake.sql_ident("t") == f"`spark_catalog`.`{schema}`.`t`"
        assert not lake.exists("t")
        lake.create("t", "id INT", cluster_by=["id"], comment="quoted")
        lake.append(spark.createDataFrame([(1,)], "id INT"), "t")
        lake.replace(spark.createDataFrame([(2,)], "id INT"), "t")
        assert lake.exists("t") and [r.id for r in lake.read("t").collect()] == [2]
        assert lake.version("t") == 2  # DeltaTable.forName with the quoted name
        assert lake.sql("SELECT max(id) AS m FROM {t}", t="t").first()["m"] == 2
        with pytest.raises(IdentifierError):
            lake.sql("SELECT * FROM {t}", t="t`; DROP TABLE t")
    finally:
        spark.sql(f"DROP DATABASE IF EXISTS {schema} CASCADE")
