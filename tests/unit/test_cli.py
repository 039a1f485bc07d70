"""The ``astrolake`` command line without a JVM: its parser, its dispatch table, and how ``main``
turns each kind of failure into an exit status and one line on stderr.

The failures are real: unknown catalogs, missing files, malformed arguments, a broken bundle,
a locked SQLite store all fail before Spark starts.  Only the bug branch registers a throwaway
handler, since no astrolake command has a bug on purpose.
"""

from __future__ import annotations

import errno
import logging
import shlex
import shutil
import sqlite3

import pytest
import yaml

from astrolake import cli
from astrolake.cli_args import EXAMPLES, build_parser, command_names
from astrolake.demo import demo_file
from astrolake.errors import EnvError, UsageError, UserError, classify
from conftest import ROOT

CATALOG = "sdss_dr14_skyserver"


def run_main(capsys, *argv: str) -> tuple[int, str, list[str]]:
    """``cli.main(argv)`` -> (exit status, stdout, stderr lines); argparse's SystemExit included."""
    try:
        code = cli.main(list(argv))
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err.strip().splitlines()


# ----------------------------------------------------------------------------------- parser
def test_every_command_has_a_handler_and_every_handler_a_command():
    assert sorted(command_names()) == sorted(cli.COMMANDS)
    assert all(callable(h) for h in cli.COMMANDS.values())


def test_every_example_of_the_help_parses():
    text = EXAMPLES.split("exit status:")[0].replace("\\\n", " ")
    examples = [shlex.split(line)[1:] for line in text.splitlines() if line.strip().startswith("astrolake ")]
    assert len(examples) >= 15
    parser = build_parser()
    for argv in examples:
        args = parser.parse_args(argv)
        assert args.command == argv[0] and args.command in cli.COMMANDS


def test_every_job_runs_the_command_it_is_named_after():
    jobs = sorted((ROOT / "jobs").glob("*.py"))
    assert {"cone", "xmatch"} <= {p.stem for p in jobs}
    for path in jobs:
        command = path.stem.replace("_", "-")
        assert command in cli.COMMANDS, path.name
        assert f'main(["{command}", *sys.argv[1:]])' in path.read_text(), path.name


def test_parser_reads_the_common_options():
    args = build_parser().parse_args(["ingest", CATALOG, "a.csv", "b.csv", "--base-path", "/tmp/l", "--verbose"])
    assert (args.catalog, args.paths, args.base_path) == (CATALOG, ["a.csv", "b.csv"], "/tmp/l")
    assert (args.verbose, args.quiet, args.debug) == (True, False, False)
    bundle = build_parser().parse_args(["validate-bundle", "--quiet", "--debug"])
    assert (bundle.quiet, bundle.debug, bundle.path) == (True, True, "deploy/databricks")


@pytest.mark.parametrize(
    "argv, message",
    [
        (["ingest", CATALOG], "the following arguments are required: paths"),
        (["ingest", CATALOG, "x.csv", "--shuffle-partitions", "two"], "invalid int value: 'two'"),
        (["catalogs", "--quiet", "--verbose"], "argument --verbose: not allowed with argument --quiet"),
        (["train", CATALOG, "--task", "regression"], "argument --task: invalid choice: 'regression'"),
        (["report", "--table", "t", "--model", "models:/m/1"], "not allowed with argument --table"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        ([], "the following arguments are required: COMMAND"),
    ],
    ids=[
        "missing-argument",
        "bad-int",
        "quiet-and-verbose",
        "bad-choice",
        "table-and-model",
        "no-such-command",
        "none",
    ],
)
def test_parser_rejects_bad_arguments_with_exit_2(capsys, argv, message):
    code, out, err = run_main(capsys, *argv)
    assert code == 2 and out == ""
    assert err[0].startswith("usage: astrolake")
    assert err[-1].startswith("astrolake") and ": error: " in err[-1] and message in err[-1]


# ---------------------------------------------------------------------- sky: cone and xmatch
def test_cone_and_xmatch_parse_their_arguments():
    cone = build_parser().parse_args(
        ["cone", "--table", "silver_x", "--ra", "10.5", "--dec", "-30", "--radius", "2.5arcmin", "--out", "near"]
    )
    assert (cone.table, cone.ra, cone.dec, cone.radius, cone.limit, cone.out) == (
        "silver_x",
        10.5,
        -30.0,
        "2.5arcmin",
        20,
        "near",
    )
    xm = build_parser().parse_args(
        ["xmatch", "--left", "a", "--right", "b", "--radius", "1arcsec", "--out", "ab", "--left-cols", "g,r"]
    )
    assert (xm.left, xm.right, xm.radius, xm.mode, xm.n, xm.min_radius, xm.self_match) == (
        "a",
        "b",
        "1arcsec",
        "all",
        None,
        None,
        False,
    )
    assert (xm.left_key, xm.right_key, xm.left_cols, xm.right_cols, xm.out) == (None, None, "g,r", None, "ab")
    own = build_parser().parse_args(["xmatch", "--left", "a", "--self", "--radius", "3", "--mode", "best", "--out=o"])
    assert (own.self_match, own.right, own.mode) == (True, None, "best")


def test_xmatch_modes_are_the_library_modes():
    from astrolake.cli_args import XMATCH_MODES
    from astrolake.sky.xmatch import MODES

    assert XMATCH_MODES == MODES


@pytest.mark.parametrize(
    "text, unit, value",
    [
        ("1arcsec", "deg", 1 / 3600),
        ("2.5arcmin", "arcsec", 150.0),
        ("0.1deg", "arcsec", 360.0),
        ("0.1 deg", "deg", 0.1),
        ("0.5", "deg", 0.5),  # a bare number is in the command's unit
        ("0.5", "arcsec", 0.5),
        ("10mas", "arcsec", 0.01),
    ],
)
def test_angles_take_astropy_units_and_bare_numbers_in_the_commands_unit(text, unit, value):
    assert cli._angle(text, "--radius", unit) == pytest.approx(value, rel=1e-12)


CONE = ["cone", "--table", "stars", "--ra", "10", "--dec", "20", "--radius", "1arcsec"]
XMATCH = ["xmatch", "--left", "seen", "--right", "stars", "--radius", "1arcsec", "--out", "pairs"]
KEYS = ["--left-key", "id", "--right-key", "id"]
HATS = ["export-hats", "--table", "stars", "--out", "hats"]


@pytest.mark.parametrize(
    "argv, message",
    [
        ([*CONE, "--radius", "1kg"], "--radius '1kg' is not an angle (unit kg)"),
        ([*CONE, "--radius", "wide"], "--radius 'wide' is not an angle: give a number and a unit"),
        ([*CONE, "--radius=-1arcsec"], "--radius must be a positive angle, got '-1arcsec'"),
        ([*CONE, "--radius", "0deg"], "--radius must be a positive angle, got '0deg'"),
        ([*CONE, "--radius", "nan"], "--radius must be a positive angle, got 'nan'"),
        ([*CONE, "--radius", "11deg"], "cone radius must be > 0 and <= 10 degrees, not 11"),
        ([*CONE, "--ra", "400"], "cone ra must be within [0, 360] degrees, not 400"),
        ([*CONE, "--dec", "-91"], "cone dec must be within [-90, 90] degrees, not -91"),
        ([*CONE, "--limit", "0"], "--limit must be at least 1, got 0"),
        ([*CONE, "--out", "stars"], "--out 'stars' is a table the command reads"),
        ([*XMATCH, *KEYS, "--radius", "1 %"], "--radius '1 %' is not an angle (unit %)"),
        ([*XMATCH, *KEYS, "--radius=-2"], "--radius must be a positive angle, got '-2'"),
        ([*XMATCH, *KEYS, "--radius", "20deg"], "--radius must be at most 14.66 deg, got '20deg'"),
        ([*XMATCH, *KEYS, "--min-radius", "1arcsec"], "--min-radius (1arcsec) must be below --radius (1arcsec)"),
        ([*XMATCH, *KEYS, "--min-radius=-1arcsec"], "--min-radius must be a non-negative angle, got '-1arcsec'"),
        ([*XMATCH, *KEYS, "--mode", "n_nearest", "--n", "0"], "--n must be at least 1, got 0"),
        ([*XMATCH, *KEYS, "--mode", "n_nearest", "--n", "two"], "--n must be a whole number or 'all', got 'two'"),
        ([*XMATCH, *KEYS, "--mode", "n_nearest", "--n", "all"], "--n all applies to --mode left"),
        ([*XMATCH, *KEYS, "--n", "3"], "--n applies to --mode n_nearest or left, not all"),
        ([*XMATCH, *KEYS, "--out", "stars"], "--out 'stars' is a table the command reads"),
        ([*XMATCH, "--left-key", "id"], "give --right-key: 'stars' is not the silver table of a known catalog"),
        (
            [*XMATCH, "--left-key", "id", "--right", "silver_sdss_dr14_skyserver"],
            "give --right-key: the key of silver_sdss_dr14_skyserver is (plate, mjd, fiberid), several columns",
        ),
        ([*XMATCH, "--right", "silver_sdss_dr7_galaxies"], "give --left-key: 'seen' is not the silver table"),
        ([*HATS, "--margin", "5kg"], "--margin '5kg' is not an angle (unit kg)"),
        ([*HATS, "--margin=-1arcsec"], "--margin must be a non-negative angle, got '-1arcsec'"),
        ([*HATS, "--max-rows", "0"], "--max-rows must be at least 1, got 0"),
        ([*HATS, "--max-order", "30"], "--max-order must be in [0, 29], got 30"),
    ],
    ids=[
        "cone-not-an-angle-unit",
        "cone-not-a-quantity",
        "cone-negative-radius",
        "cone-zero-radius",
        "cone-nan-radius",
        "cone-radius-too-large",
        "cone-ra-out-of-range",
        "cone-dec-out-of-range",
        "cone-limit-zero",
        "cone-out-is-the-table",
        "xmatch-not-an-angle-unit",
        "xmatch-negative-radius",
        "xmatch-radius-too-large",
        "xmatch-min-radius-not-below",
        "xmatch-negative-min-radius",
        "xmatch-n-zero",
        "xmatch-n-not-a-number",
        "xmatch-n-all-needs-left",
        "xmatch-n-without-its-mode",
        "xmatch-out-is-an-input",
        "xmatch-no-default-key",
        "xmatch-composite-key",
        "xmatch-left-has-no-key",
        "export-hats-margin-not-an-angle",
        "export-hats-negative-margin",
        "export-hats-max-rows-zero",
        "export-hats-max-order-too-fine",
    ],
)
def test_sky_commands_refuse_bad_arguments_with_exit_2_before_spark(capsys, monkeypatch, tmp_path, argv, message):
    """Each of these fails in the command's own checks, before a Spark session is asked for."""

    def no_spark(args):
        raise AssertionError("the command reached for Spark")

    monkeypatch.setattr(cli, "_lake", no_spark)
    code, out, err = run_main(capsys, *argv, "--base-path", str(tmp_path))
    assert code == 2, err
    assert out == ""
    assert len(err) == 1, err
    assert err[0].startswith(f"astrolake {argv[0]}: error: ")
    assert message in err[0]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["cone", "--table", "t", "--ra", "1", "--dec", "2"], "the following arguments are required: --radius"),
        (["cone", "--table", "t", "--ra", "1", "--dec", "2", "--radius", "-1arcsec"], "expected one argument"),
        (["cone", "--table", "t", "--ra", "east", "--dec", "2", "--radius", "1"], "invalid float value: 'east'"),
        (["xmatch", "--left", "a", "--right", "b", "--radius", "1", "--out=o", "--mode", "closest"], "invalid choice"),
        (["xmatch", "--left", "a", "--right", "b", "--radius", "1"], "the following arguments are required: --out"),
    ],
    ids=["cone-no-radius", "cone-radius-looks-like-an-option", "cone-bad-ra", "xmatch-unknown-mode", "xmatch-no-out"],
)
def test_sky_commands_parser_errors_exit_2(capsys, argv, message):
    code, out, err = run_main(capsys, *argv)
    assert code == 2 and out == ""
    assert err[-1].startswith(f"astrolake {argv[0]}: error: ") and message in err[-1]


def test_xmatch_without_right_or_self_is_refused():
    args = build_parser().parse_args(["xmatch", "--left", "a", "--radius", "1arcsec", "--out", "o"])
    with pytest.raises(UsageError, match=r"give --right, or --self"):
        cli.run(args)


# ----------------------------------------------------------------- user errors: exit 1 and 2
@pytest.mark.parametrize(
    "argv, code, message",
    [
        (["ingest", "no_such_catalog", "{sample}"], 1, "unknown catalog 'no_such_catalog'"),
        (["ingest", CATALOG, "{missing}"], 1, "no such file or folder: {missing}"),
        (["refresh", CATALOG, "--landing", "{missing}"], 1, "landing folder not found: {missing}"),
        (["revalidate", "no_such_catalog"], 1, "unknown catalog 'no_such_catalog'"),
        (["ingest", CATALOG, "{sample}", "--config", "{missing}"], 1, "settings file not found: {missing}"),
        (["train", CATALOG, "--family", "nope"], 1, "unknown classification family 'nope'"),
        (["search", CATALOG, "--task", "photoz", "--family", "svc"], 1, "unknown photoz family 'svc'"),
        (["train", CATALOG, "--param", "maxDepth"], 2, "--param 'maxDepth' must look like NAME=VALUE"),
        (["train-dnn", CATALOG, "--param", "=3"], 2, "--param '=3' must look like NAME=VALUE"),
        (["train-dnn", CATALOG, "--num-proc", "0"], 2, "--num-proc must be at least 1, got 0"),
        (["check-quarantine", CATALOG, "--max-rate", "1.5"], 2, "--max-rate must be between 0 and 1, got 1.5"),
        (["search", CATALOG, "--budget-minutes", "0"], 2, "--budget-minutes must be positive"),
        (["search", CATALOG, "--stack", "1"], 2, "--stack combines at least 2 classifiers"),
        (["train", CATALOG, "--split-by", "sky"], 2, "--split-by sky trains a model for evaluation only"),
        (["search", CATALOG, "--family", "dnn", "--family", "rf"], 2, "--family dnn searches network architectures"),
        (["history", "silver_x", "--limit", "0"], 2, "--limit must be at least 1, got 0"),
        (["report", "--model", "models:/m@champion", "--version", "3"], 2, "--version applies to --table"),
        (["validate-bundle", "--path", "{nowhere}"], 1, "no bundle at {nowhere}: it has no databricks.yml"),
    ],
    ids=[
        "unknown-catalog",
        "missing-file",
        "missing-landing-folder",
        "revalidate-unknown-catalog",
        "missing-settings-file",
        "unknown-family",
        "unknown-search-family",
        "param-without-value",
        "param-without-name",
        "num-proc-zero",
        "max-rate-out-of-range",
        "budget-zero",
        "stack-of-one",
        "sky-split-registered",
        "dnn-with-others",
        "limit-zero",
        "model-report-with-version",
        "no-bundle",
    ],
)
def test_user_errors_give_one_line_and_their_exit_status(capsys, tmp_path, argv, code, message):
    fill = dict(sample=demo_file(), missing=str(tmp_path / "nowhere" / "x.csv"), nowhere=str(tmp_path))
    argv = [a.format(**fill) for a in argv]
    got, out, err = run_main(capsys, *argv)
    assert got == code, err
    assert out == ""
    assert len(err) == 1, err
    assert err[0].startswith(f"astrolake {argv[0]}: error: ")
    assert message.format(**fill) in err[0]


def test_validate_bundle_on_a_broken_copy_lists_the_problems_and_exits_1(capsys, tmp_path):
    shutil.copytree(ROOT / "deploy", tmp_path / "deploy")
    shutil.copytree(ROOT / "notebooks", tmp_path / "notebooks")
    bundle = tmp_path / "deploy" / "databricks"
    assert run_main(capsys, "validate-bundle", "--path", str(bundle))[0] == 0
    top = yaml.safe_load((bundle / "databricks.yml").read_text())
    top["variables"]["refresh_cron"]["default"] = "0 61 3 * * ?"  # minute 61
    (bundle / "databricks.yml").write_text(yaml.safe_dump(top, sort_keys=False))
    code, out, err = run_main(capsys, "validate-bundle", "--path", str(bundle))
    assert code == 1
    assert "jobs.catalog_refresh.schedule" in out
    assert err == [f"astrolake validate-bundle: error: {len(out.splitlines())} problem(s) in the bundle at {bundle}"]


def test_debug_shows_the_traceback_of_a_user_error(capsys):
    code, out, err = run_main(capsys, "ingest", "no_such_catalog", demo_file(), "--debug")
    assert code == 1
    assert err[0] == "Traceback (most recent call last):"
    assert any("ContractError: unknown catalog 'no_such_catalog'" in line for line in err)
    assert err[-1].startswith("astrolake ingest: error: unknown catalog 'no_such_catalog'")


# ------------------------------------------------------------ environment errors and bugs
def test_a_locked_sqlite_store_is_an_environment_error_exit_4(capsys, monkeypatch, tmp_path):
    """A real lock: another connection holds the database's write lock while the command writes."""
    db = tmp_path / "store.db"
    holder = sqlite3.connect(db)
    holder.execute("create table t (x)")
    holder.commit()
    holder.execute("begin exclusive")

    def write(args) -> int:
        other = sqlite3.connect(db, timeout=0)
        other.execute("insert into t values (1)")
        return 0

    monkeypatch.setitem(cli.COMMANDS, "catalogs", write)
    try:
        code, out, err = run_main(capsys, "catalogs")
    finally:
        holder.rollback()
        holder.close()
    assert code == 4
    assert err == [
        "astrolake catalogs: error: the MLflow tracking store is locked by another process: "
        "retry, or set MLFLOW_TRACKING_URI"
    ]


def test_a_full_disk_is_an_environment_error_exit_4(capsys, monkeypatch, tmp_path):
    def write(args) -> int:
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "part-0.parquet"))

    monkeypatch.setitem(cli.COMMANDS, "catalogs", write)
    code, out, err = run_main(capsys, "catalogs")
    assert code == 4
    assert err == [f"astrolake catalogs: error: No space left on device: {tmp_path / 'part-0.parquet'}"]


@pytest.mark.parametrize(
    "jvm_text, line",
    [
        (
            "Job aborted.\n\tat org.apache.spark.sql.delta.files.DeltaFileFormatWriter$.write\n"
            "Caused by: java.io.FileNotFoundException: /lake/_manifest/part-0.parquet (Read-only file system)",
            "the output folder is on a read-only file system",
        ),
        (
            "Job aborted.\n\tat org.apache.spark.sql.delta.DeltaLog.withNewTransaction\n"
            "Caused by: java.io.IOException: No space left on device",
            "no space left on device while writing: free disk space or choose another --base-path",
        ),
        ("java.lang.ClassNotFoundException: org.apache.spark.sql.delta.catalog.DeltaCatalog", "Delta Lake jars"),
        ("java.lang.ClassNotFoundException: io.delta.sql.DeltaSparkSessionExtension", "Delta Lake jars"),
    ],
)
def test_a_delta_stack_trace_is_classified_by_its_cause_not_by_its_class_names(jvm_text, line):
    """Every Delta error's trace names org.apache.spark.sql.delta classes: only a missing class
    means missing jars; a full or read-only disk inside a Delta write is that cause."""
    found = classify(RuntimeError(jvm_text))
    assert isinstance(found, EnvError) and line in str(found)
    assert classify(RuntimeError("\tat org.apache.spark.sql.delta.commands.MergeIntoCommand.run")) is None


def test_env_error_with_debug_shows_its_chain(capsys, monkeypatch):
    def missing_jars(args) -> int:
        raise EnvError("Delta jars not found")

    monkeypatch.setitem(cli.COMMANDS, "catalogs", missing_jars)
    code, out, err = run_main(capsys, "catalogs", "--debug")
    assert code == 4
    assert err[0] == "Traceback (most recent call last):"
    assert err[-1] == "astrolake catalogs: error: Delta jars not found"


def test_a_bug_keeps_its_traceback_and_exits_3(capsys, monkeypatch):
    def broken(args) -> int:
        return {"a": 1}["b"]

    monkeypatch.setitem(cli.COMMANDS, "catalogs", broken)
    code, out, err = run_main(capsys, "catalogs")
    assert code == 3
    assert err[0] == "Traceback (most recent call last):"
    assert any(line.strip() == 'return {"a": 1}["b"]' for line in err)
    assert err[-2] == "KeyError: 'b'"
    assert err[-1].startswith("astrolake catalogs: internal error (a bug in astrolake")
    assert err[-1].endswith(": 'b'")


def test_run_raises_astrolake_errors_not_plain_ones(tmp_path):
    parser = build_parser()
    with pytest.raises(UsageError):
        cli.run(parser.parse_args(["check-quarantine", CATALOG, "--max-rate", "-0.1"]))
    with pytest.raises(UserError) as err:
        cli.run(parser.parse_args(["refresh", CATALOG, "--landing", str(tmp_path / "none")]))
    assert type(err.value) is UserError


# --------------------------------------------------------------------------- log verbosity
@pytest.mark.parametrize(
    "flag, level", [("--quiet", logging.WARNING), (None, logging.INFO), ("--verbose", logging.DEBUG)]
)
def test_quiet_and_verbose_set_the_log_level(capsys, flag, level):
    code, out, _ = run_main(capsys, "catalogs", *([flag] if flag else []))
    assert code == 0 and CATALOG in out
    assert logging.getLogger("astrolake").level == level
