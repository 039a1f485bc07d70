"""Broken surroundings, for real: a lake on a small tmpfs that fills during the write, one
remounted read-only, and a tracking server that is not there.  Each is one line naming the
cause, exit 4, and leaves no partial table: the
batch is planned but nothing of it is committed, and once space is back the next run finishes it
exactly once.  Mounting needs root (or CAP_SYS_ADMIN); where it is refused the tests skip."""

from __future__ import annotations

import os
import subprocess
import uuid

import pytest
from pyspark.sql import functions as F

from astrolake import cli
from astrolake.demo import demo_file
from astrolake.lake.tables import Lake
from astrolake.layout import LEDGER

CATALOG = "sdss_dr14_skyserver"


@pytest.fixture
def small_disk(tmp_path):
    """A 1 MiB tmpfs: room for the tables' logs, not for the demo file's bronze rows."""
    where = tmp_path / f"disk-{uuid.uuid4().hex[:6]}"
    where.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(where)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    yield where
    subprocess.run(["umount", "-l", str(where)], check=False)


def remount(where, options: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{options}", str(where)], check=True)


def test_a_disk_that_fills_is_one_line_exit_4_and_the_batch_finishes_once_space_is_back(
    spark, settings, small_disk, capsys
):
    base = str(small_disk / "lake")
    args = ["ingest", CATALOG, demo_file(), "--base-path", base, "--quiet"]
    assert cli.main(args) == 4
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "astrolake ingest: error: no space left on device while writing: free disk space or choose another --base-path"
    ]
    lake = Lake(spark, settings.with_overrides(base_path=base))
    assert lake.read(f"bronze_{CATALOG}").count() == 0, "a partial bronze write was committed"
    assert lake.read(f"silver_{CATALOG}").count() == 0
    assert lake.read(LEDGER).count() == 0

    remount(small_disk, "size=256m")
    assert cli.main(args) == 0
    capsys.readouterr()
    (led,) = lake.read(LEDGER).collect()
    assert (led["batch_id"], led["read"], led["inserted"], led["closes"]) == (1, 10000, 10000, True)
    assert lake.read(f"bronze_{CATALOG}").where(F.col("_batch_id") == 1).count() == 10001  # the header too
    assert lake.read(f"silver_{CATALOG}").count() == 10000


def test_a_read_only_lake_is_one_line_exit_4(spark, settings, small_disk, capsys, tmp_path):
    remount(small_disk, "size=64m")
    base = str(small_disk / "lake")
    part = tmp_path / "part.csv"
    part.write_text("\n".join(open(demo_file()).read().splitlines()[:51]) + "\n")
    assert cli.main(["ingest", CATALOG, str(part), "--base-path", base, "--quiet"]) == 0
    remount(small_disk, "ro")
    before = sorted(os.listdir(os.path.join(base, f"silver_{CATALOG}", "_delta_log")))
    more = tmp_path / "more.csv"
    more.write_text("\n".join([part.read_text().splitlines()[0], *open(demo_file()).read().splitlines()[51:61]]) + "\n")
    capsys.readouterr()
    assert cli.main(["ingest", CATALOG, str(more), "--base-path", base, "--quiet"]) == 4
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["astrolake ingest: error: the output folder is on a read-only file system"]
    assert sorted(os.listdir(os.path.join(base, f"silver_{CATALOG}", "_delta_log"))) == before


def test_an_unreachable_tracking_server_is_one_line_exit_4(spark, fresh_settings, capsys, monkeypatch):
    """Nothing listens at the tracking URI (a port just closed): promote stops at its first MLflow
    call with one line naming the store, exit 4 (MLflow's retries off to keep the test short)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("ASTROLAKE_TRACKING_URI", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    assert cli.main(["promote", "any_model", "--base-path", fresh_settings.base_path, "--quiet"]) == 4
    assert capsys.readouterr().err.strip().splitlines() == [
        "astrolake promote: error: the MLflow tracking server is unreachable: check MLFLOW_TRACKING_URI"
    ]
