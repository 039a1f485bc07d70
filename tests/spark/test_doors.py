"""The doors: the ``astrolake`` CLI, ``spark-submit jobs/ingest.py`` on a real standalone cluster,
and a ``refresh`` killed with SIGKILL half-way and resumed (real Spark, real Delta, no mocks).

Each CLI subprocess that reaches Spark starts a JVM (about 10 s), so there are few of them; the
error cases that fail before Spark starts are cheap.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pytest
from pyspark.sql import functions as F

from astrolake import cli
from astrolake.demo import demo_file
from astrolake.lake import pipeline
from astrolake.lake.tables import Lake
from astrolake.spark import DELTA_JARS
from conftest import ROOT, SMALL_SESSION, TESTS_DATA

VENV_BIN = ROOT / ".venv" / "bin"
ASTROLAKE = str(VENV_BIN / "astrolake")
PYTHON = str(VENV_BIN / "python")
CATALOG = "sdss_dr14_skyserver"
SILVER = "silver_sdss_dr14_skyserver"
LOCAL = list(SMALL_SESSION)


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ASTROLAKE_", "PYSPARK_GATEWAY"))}
    env.update(
        PYSPARK_PYTHON=PYTHON,
        PYSPARK_DRIVER_PYTHON=PYTHON,
        SPARK_LOCAL_IP="127.0.0.1",
        TF_USE_LEGACY_KERAS="1",
        PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
    )
    env.update(extra)
    return env


def astrolake(*args: str, cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([ASTROLAKE, *args], cwd=cwd, env=child_env(), capture_output=True, text=True, timeout=timeout)


def ledgers_printed(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def lake_at(spark, settings, base: Path) -> Lake:
    return Lake(spark, settings.with_overrides(base_path=str(base)))


# =============================================================================================
# (a) the CLI, end to end
# =============================================================================================
@pytest.fixture(scope="module")
def cli_lake(tmp_path_factory):
    """The first 1,000 rows of the shipped sample ingested by ``astrolake ingest`` into a lake of its own."""
    work = tmp_path_factory.mktemp("cli")
    base, sample = work / "lake", work / "sample.csv"
    sample.write_text("\n".join(open(demo_file()).read().splitlines()[:1001]) + "\n")
    first = astrolake("ingest", CATALOG, str(sample), "--base-path", str(base), *LOCAL, cwd=work)
    return work, base, first


def test_cli_ingest_prints_a_closing_ledger_and_a_rerun_prints_none(cli_lake, spark, settings, capsys):
    work, base, first = cli_lake
    assert first.returncode == 0, first.stderr[-3000:]
    (led,) = ledgers_printed(first.stdout)
    assert (led["catalog"], led["batch_id"], led["operation"]) == (CATALOG, 1, "ingest")
    assert (led["read"], led["inserted"], led["updated"], led["duplicates"], led["quarantined"]) == (
        1_000,
        1_000,
        0,
        0,
        0,
    )
    assert led["closes"] is True and led["files"] == [str(work / "sample.csv")]
    assert "[astrolake]" in first.stderr  # progress goes to stderr, the ledger to stdout

    # the re-run in process (cli.main on the test session; another subprocess would only add a JVM start)
    capsys.readouterr()
    assert cli.main(["ingest", CATALOG, str(work / "sample.csv"), "--base-path", str(base)]) == 0
    again = capsys.readouterr()
    assert ledgers_printed(again.out) == []
    assert "nothing new to ingest" in again.err
    lake = lake_at(spark, settings, base)
    assert lake.read(SILVER).count() == 1_000
    assert [r["batch_id"] for r in lake.read(pipeline.LEDGER).collect()] == [1]


def test_cli_history_and_time_travel(cli_lake, spark, capsys):
    """In process, on the test session (the subprocess door is the ingest test's)."""
    work, base, first = cli_lake
    assert first.returncode == 0, first.stderr[-3000:]
    capsys.readouterr()
    assert cli.main(["history", SILVER, "--base-path", str(base)]) == 0
    hist = capsys.readouterr().out
    assert "CREATE TABLE" in hist and "WRITE" in hist
    assert cli.main(["show", SILVER, "--version", "0", "--base-path", str(base)]) == 0
    header = [line for line in capsys.readouterr().out.splitlines() if line.startswith("|")]
    assert header and "plate" in header[0] and "healpix_29" in header[0]
    assert len(header) == 1  # version 0 is the empty table created before the first write


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["ingest", "no_such_catalog", "{sample}"], 1, "unknown catalog 'no_such_catalog'"),
        (["ingest", CATALOG, "{missing}"], 1, "no such file or folder: {missing}"),
        (["refresh", CATALOG, "--landing", "{missing}"], 1, "landing folder not found: {missing}"),
        (
            ["ingest", CATALOG, "{sample}", "--shuffle-partitions", "two"],
            2,
            "argument --shuffle-partitions: invalid int value: 'two'",
        ),
        (["frobnicate"], 2, "invalid choice: 'frobnicate'"),
    ],
    ids=["unknown-catalog", "missing-file", "missing-landing-folder", "bad-option", "unknown-command"],
)
def test_cli_refuses_bad_input_with_one_clear_line(tmp_path, args, code, message):
    """These fail before Spark starts: one line on stderr (after argparse's usage for exit 2)."""
    fill = dict(sample=demo_file(), missing=str(tmp_path / "nowhere" / "x.csv"))
    args = [a.format(**fill) for a in args]
    t0 = time.monotonic()
    res = astrolake(*args, cwd=tmp_path, timeout=60)
    assert res.returncode == code
    assert res.stdout == ""
    lines = res.stderr.strip().splitlines()
    if code == 2:  # argparse: usage lines, then the error line
        assert lines[0].startswith("usage: astrolake")
    else:
        assert len(lines) == 1, res.stderr
    assert lines[-1].startswith("astrolake") and ": error: " in lines[-1]
    assert message.format(**fill) in lines[-1]
    assert time.monotonic() - t0 < 30  # no JVM was started


def test_cli_vacuum_refuses_to_cut_into_the_time_travel_window(cli_lake, spark, capsys):
    """In process (the CLI's own ``main``, on the test session, which ``get_spark`` returns because
    it is active): the refusal happens after Spark has started, so a subprocess would cost another
    JVM start for the same code path."""
    work, base, first = cli_lake
    assert first.returncode == 0, first.stderr[-3000:]
    rc = cli.main(["vacuum", SILVER, "--retain-hours", "1", "--base-path", str(base), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1
    assert len(err) == 1, err
    assert err[0].startswith(
        "astrolake vacuum: error: refusing VACUUM of silver_sdss_dr14_skyserver "
        "with 1 h retention: the time-travel window is protected for 168 h"
    )


def test_cli_truncated_fits_is_the_data_source_line(spark, fresh_settings, tmp_path, capsys):
    """The ``fits`` data source fails inside Spark (PYTHON_DATA_SOURCE_ERROR with a Python
    traceback in the text); the user sees its own message as one line, exit 1.  In process, on the
    test session (a subprocess would cost a JVM start for the same path)."""
    import numpy as np
    from astropy.io import fits

    from astrolake.catalogs.contract import get_catalog

    contract = get_catalog("sdss_dr7_galaxies").contract
    cols = [fits.Column(name=c.source, format="D", array=np.arange(4.0)) for c in contract.columns]
    full = tmp_path / "full.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(cols)]).writeto(full)
    with fits.open(full) as hdul:
        start, row = hdul[1].fileinfo()["datLoc"], hdul[1].columns.dtype.itemsize
    cut = tmp_path / "cut.fits"
    cut.write_bytes(full.read_bytes()[: start + row + 5])  # the headers, one row and 5 bytes
    rc = cli.main(["ingest", "sdss_dr7_galaxies", str(cut), "--base-path", fresh_settings.base_path, "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1
    astropy_warning = "WARNING: File may have been truncated"  # astropy's own, from the driver's header read
    assert [line for line in err if not line.startswith(astropy_warning)] == [
        f"astrolake ingest: error: {cut} is truncated: HDU 1 declares {4 * row} data bytes (4 rows x {row} bytes "
        f"per row) starting at byte {start}, so the file needs at least {start + 4 * row} bytes, but it has "
        f"{start + row + 5} ({row + 5} data bytes, 1 complete rows)"
    ]  # every contract column is in the file, so no drift warning precedes the error


# =============================================================================================
# (b) spark-submit on a real standalone cluster: one master, one 1-core worker
# =============================================================================================
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def master_state(webui: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{webui}/json/", timeout=5) as r:
        return json.loads(r.read())


@pytest.fixture
def standalone_cluster(tmp_path, request):
    """A Spark standalone master and one 1-core worker on 127.0.0.1, stopped by their ids (each JVM of
    the cluster, and the executor the worker launches, costs seconds of the suite's two cores)."""
    import pyspark

    spark_home = Path(pyspark.__file__).parent
    spark_class = str(spark_home / "bin" / "spark-class")
    env = child_env(SPARK_HOME=str(spark_home), SPARK_NO_DAEMONIZE="1")
    procs: list[subprocess.Popen] = []

    def stop():
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(timeout=20)

    request.addfinalizer(stop)

    def start(name: str, *args: str) -> None:
        log = open(tmp_path / f"{name}.log", "wb")
        procs.append(
            subprocess.Popen(
                [spark_class, *args], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        )
        log.close()

    port, webui = free_port(), free_port()
    start(
        "master",
        "org.apache.spark.deploy.master.Master",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--webui-port",
        str(webui),
    )
    work_dirs = []
    for i in (1,):
        work_dirs.append(tmp_path / f"worker{i}")
        start(
            f"worker{i}",
            "org.apache.spark.deploy.worker.Worker",
            "--host",
            "127.0.0.1",
            "--port",
            str(free_port()),
            "--webui-port",
            str(free_port()),
            "--cores",
            "1",
            "--memory",
            "2g",
            "--work-dir",
            str(work_dirs[-1]),
            f"spark://127.0.0.1:{port}",
        )
    deadline, state = time.monotonic() + 180, {}
    while time.monotonic() < deadline:
        assert all(p.poll() is None for p in procs), "a cluster process exited: see " + str(tmp_path)
        try:
            state = master_state(webui)
            if state.get("aliveworkers") == len(work_dirs):
                break
        except (OSError, ValueError):  # not listening yet, or an empty page while the master starts
            pass
        time.sleep(1)
    else:
        pytest.fail(f"standalone cluster not up in 180 s (master state: {state}); logs in {tmp_path}")
    return dict(url=f"spark://127.0.0.1:{port}", webui=webui, work_dirs=work_dirs)


def test_spark_submit_ingest_on_a_standalone_cluster(standalone_cluster, tmp_path, spark, settings):
    # a real DR7 FITS file (tests/data): the FITS data source and the HEALPix pandas UDF run on the executors
    catalog, source, rows = "sdss_dr7_galaxies", str(TESTS_DATA / "sdss_dr7_galaxies_1202.fits"), 1202
    base = tmp_path / "lake"
    cmd = [  # scripts/submit adds the Delta jars, the SQL extension and the Delta catalog
        str(ROOT / "scripts" / "submit"),
        "--master",
        standalone_cluster["url"],
        "--conf",
        "spark.executor.memory=1g",
        "--conf",
        "spark.executor.cores=1",
        "--conf",
        "spark.sql.shuffle.partitions=2",
        "--driver-memory",
        "1g",
        str(ROOT / "jobs" / "ingest.py"),
        catalog,
        source,
        "--base-path",
        str(base),
    ]
    res = subprocess.run(cmd, cwd=tmp_path, env=child_env(), capture_output=True, text=True, timeout=540)
    assert res.returncode == 0, res.stderr[-5000:]
    (led,) = ledgers_printed(res.stdout)
    assert (led["read"], led["inserted"], led["quarantined"], led["closes"]) == (rows, rows, 0, True)

    # it really ran on the cluster: the master saw the application finish, and the worker launched
    # an executor for it that ran tasks (a builder that replaced --master with local[*] would leave
    # the worker's folder empty)
    apps = master_state(standalone_cluster["webui"])["completedapps"]
    assert len(apps) == 1, apps
    app_id = apps[0]["id"]
    executor_logs = {w.name: sorted((w / app_id).glob("*/stderr")) for w in standalone_cluster["work_dirs"]}
    assert all(executor_logs.values()), executor_logs
    executor_logs = [p for logs in executor_logs.values() for p in logs]
    assert sum(p.read_text(errors="replace").count("Running task") for p in executor_logs) > 0

    lake = lake_at(spark, settings, base)
    assert lake.read(f"silver_{catalog}").count() == rows
    assert lake.read(f"silver_{catalog}").where(F.col("healpix_29").isNull()).count() == 0
    assert [(r["read"], r["closes"]) for r in lake.read(pipeline.LEDGER).collect()] == [(rows, True)]


def test_spark_submit_without_the_delta_jars_is_one_line_naming_the_fix(tmp_path):
    """Plain ``spark-submit jobs/ingest.py`` without --jars: the job stops before any SQL (and
    before Spark prints a Java stack trace for each missing class), exit 4, one line naming
    --jars and scripts/submit.  Only the JVM starts: no session, no data read."""
    cmd = [str(VENV_BIN / "spark-submit"), "--master", "local[1]", str(ROOT / "jobs" / "ingest.py")]
    cmd += [CATALOG, demo_file(), "--base-path", str(tmp_path / "lake")]
    # spark-submit passes the Python driver's stderr on through its own stdout: read them together
    res = subprocess.run(
        cmd, cwd=tmp_path, env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300
    )
    output = res.stdout.splitlines()
    assert res.returncode == 4, res.stdout[-3000:]
    errors = [line for line in output if "error" in line.lower() or "exception" in line.lower()]
    assert len(errors) == 1, res.stdout[-3000:]
    assert errors[0].startswith("astrolake ingest: error: the Delta Lake classes are not on Spark's classpath")
    assert f"--jars .jars/{DELTA_JARS[0]},.jars/{DELTA_JARS[1]}" in errors[0] and "scripts/submit" in errors[0]
    assert "--packages io.delta:delta-spark_4.2_2.13:4.4.0" in errors[0]
    assert not any(line.lstrip().startswith("at ") for line in output)  # no Java stack trace
    assert not (tmp_path / "lake").exists()


# =============================================================================================
# (c) refresh killed with SIGKILL between its first and its last commit, then resumed
# =============================================================================================
KILL_AT = f"{CATALOG} batch 1: [2/4] validate"  # the step line logged once quarantine is committed


def write_parts(landing: Path, parts: dict[str, range]) -> None:
    with open(demo_file(), newline="") as fh:  # keep the sample's CRLF line ends
        lines = fh.read().splitlines(keepends=True)
    for name, rows in parts.items():
        (landing / name).write_text(lines[0] + "".join(lines[1 + i] for i in rows), newline="")


def expected_keys(landing: Path) -> dict[tuple[int, int, int], str]:
    """(plate, mjd, fiberid) -> objid text of every row of the landing files, read by pandas."""
    out = {}
    for f in sorted(landing.glob("*.csv")):
        pdf = pd.read_csv(f, dtype=str, keep_default_na=False)
        out.update(
            {
                (int(p), int(m), int(fb)): o
                for p, m, fb, o in zip(pdf["plate"], pdf["mjd"], pdf["fiberid"], pdf["objid"], strict=True)
            }
        )
    return out


def silver_keys(lake: Lake) -> dict[tuple[int, int, int], str]:
    rows = lake.read(SILVER).select("plate", "mjd", "fiberid", "objid").collect()
    out = {(r["plate"], r["mjd"], r["fiberid"]): r["objid"] for r in rows}
    assert len(out) == len(rows)  # no key twice
    return out


def refresh_killed_at(line: str, landing: Path, base: Path, cwd: Path, timeout: float = 400) -> list[str]:
    """Run ``astrolake refresh`` and SIGKILL its whole process group (the Python driver, its JVM
    and Python workers) as soon as it prints ``line`` on stderr; return the stderr lines seen."""
    proc = subprocess.Popen(
        [ASTROLAKE, "refresh", CATALOG, "--landing", str(landing), "--base-path", str(base), *LOCAL],
        cwd=cwd,
        env=child_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    seen: list[str] = []
    hit: queue.Queue = queue.Queue()

    def read():
        for text in proc.stderr:
            seen.append(text.rstrip("\n"))
            if line in text:
                hit.put(True)
        hit.put(False)  # EOF

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        got = hit.get(timeout=timeout)
    except queue.Empty:
        got = None
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    reader.join(timeout=60)
    assert got, f"never saw {line!r} (exit {proc.returncode}); stderr tail:\n" + "\n".join(seen[-30:])
    assert proc.returncode == -signal.SIGKILL
    return seen


@pytest.mark.slow  # make test kills a refresh at a fault point instead (tests/spark/lake/test_kills.py)
def test_refresh_killed_mid_batch_resumes_exactly_once(spark, fresh_settings, tmp_path):
    landing = tmp_path / "landing"
    landing.mkdir()
    write_parts(landing, {"part1.csv": range(0, 300), "part2.csv": range(300, 600), "part3.csv": range(600, 900)})
    base = Path(fresh_settings.base_path)

    # Kill point: right after the step line "batch 1: [2/4] validate ... quarantine".  By then the
    # batch is planned (_manifest) and its bronze and quarantine appends are committed; silver is
    # about to be written and the ledger (the batch's commit mark) is not.  So the resumed run must
    # skip the committed appends by their txn ids, write silver, and count every row once.
    seen = refresh_killed_at(KILL_AT, landing, base, cwd=tmp_path)
    assert any("batch 1: [1/4] bronze <- 3 file(s)" in s for s in seen)
    lake = Lake(spark, fresh_settings)
    manifest = lake.read(pipeline.MANIFEST).collect()
    assert sorted((r["batch_id"], r["name"]) for r in manifest) == [
        (1, "part1.csv"),
        (1, "part2.csv"),
        (1, "part3.csv"),
    ]
    assert lake.read(pipeline.LEDGER).count() == 0  # killed before the last commit
    assert lake.read("bronze_sdss_dr14_skyserver").count() == 903  # ... and after the first (lines + 3 headers)

    res = pipeline.refresh(lake, CATALOG, str(landing))
    (led,) = res.ledgers
    assert (
        led.batch_id,
        led.operation,
        led.read,
        led.inserted,
        led.updated,
        led.duplicates,
        led.quarantined,
        led.closes,
    ) == (1, "refresh", 900, 900, 0, 0, 0, True)
    assert sorted(Path(p).name for p in res.skipped) == ["part1.csv", "part2.csv", "part3.csv"]
    assert silver_keys(lake) == expected_keys(landing)
    bronze = lake.read("bronze_sdss_dr14_skyserver")
    per_batch = {r["_batch_id"]: r["count"] for r in bronze.groupBy("_batch_id").count().collect()}
    assert per_batch == {1: 903}  # every line of the three files, their headers included
    assert bronze.select("_raw").distinct().count() == 901  # each row exactly once, and the header
    assert [(r["batch_id"], r["read"], r["closes"]) for r in lake.read(pipeline.LEDGER).collect()] == [(1, 900, True)]

    version = lake.version(SILVER)
    again = pipeline.refresh(lake, CATALOG, str(landing))
    assert again.ledgers == [] and len(again.skipped) == 3
    assert lake.version(SILVER) == version

    # a fourth file lands: the next refresh takes exactly its rows
    write_parts(landing, {"part4.csv": range(900, 1200)})
    (led4,) = pipeline.refresh(lake, CATALOG, str(landing)).ledgers
    assert (
        led4.batch_id,
        led4.files,
        led4.read,
        led4.inserted,
        led4.updated,
        led4.duplicates,
        led4.quarantined,
        led4.closes,
    ) == (2, [str(landing / "part4.csv")], 300, 300, 0, 0, 0, True)
    assert silver_keys(lake) == expected_keys(landing)
    assert len(expected_keys(landing)) == 1200
    per_batch = {
        r["_batch_id"]: r["count"]
        for r in lake.read("bronze_sdss_dr14_skyserver").groupBy("_batch_id").count().collect()
    }
    assert per_batch == {1: 903, 2: 301}
    ledger = lake.read(pipeline.LEDGER).orderBy("batch_id").collect()
    assert [(r["batch_id"], r["read"], r["closes"]) for r in ledger] == [(1, 900, True), (2, 300, True)]
