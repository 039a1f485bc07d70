"""Names that reach SQL text (tables, catalogs, Unity Catalog parts) are identifiers or refused,
and settings files refuse unknown options without echoing their values.  No JVM: the refusals
happen before Spark starts, and :class:`Lake` builds its SQL identifiers without a session."""

from __future__ import annotations

import os

import pytest
import yaml

from astrolake import cli, layout
from astrolake.config import Settings, SettingsError
from astrolake.errors import UserError
from astrolake.lake.tables import Lake
from astrolake.names import (
    IdentifierError,
    check_delta_path,
    check_identifier,
    is_delta_path,
    quote_identifier,
)

#: (value, what the one-line refusal says about it)
BAD_NAMES = [
    ("x; DROP TABLE y", "holds ';'"),
    ("silver_x`; DROP TABLE y; --", "holds '`'"),
    ("a`b", "holds '`'"),
    ("o'brien", 'holds "\'"'),
    ('say"hi', "holds '\"'"),
    ("..", "holds '.'"),
    ("../etc", "holds '.'"),
    ("a/b", "holds '/'"),
    ("main.astro.t", "holds '.'"),
    ("", "it is empty"),
    ("a b", "holds ' '"),
    ("x\ny", "holds '\\n'"),
    ("silver_\u0430", "U+0430, not ASCII"),  # Cyrillic a, looks like Latin a
    ("ｓilver", "U+FF53, not ASCII"),  # fullwidth s
    ("1st_table", "starts with a digit"),
    ("t" * 256, "256 characters long"),
]
BAD_IDS = [
    "sql",
    "backtick-breakout",
    "backtick",
    "single-quote",
    "double-quote",
    "dotdot",
    "dotdot-path",
    "slash",
    "dotted",
    "empty",
    "blank",
    "newline",
    "cyrillic",
    "fullwidth",
    "digit-first",
    "too-long",
]
GOOD_NAMES = ["silver_sdss_dr14_skyserver", "_manifest", "quarantine", "T1", "a" * 255, "gold_mlz_sdss_mgs"]


@pytest.fixture
def env(monkeypatch):
    for name in list(os.environ):
        if name.startswith("ASTROLAKE_"):
            monkeypatch.delenv(name)
    return monkeypatch


def run_main(capsys, *argv: str) -> tuple[int, str, list[str]]:
    try:
        code = cli.main(list(argv))
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err.strip().splitlines()


# ------------------------------------------------------------------------------- the module
@pytest.mark.parametrize("name", GOOD_NAMES)
def test_identifiers_pass_unchanged(name):
    assert check_identifier(name, "table name") == name


@pytest.mark.parametrize("value, why", BAD_NAMES, ids=BAD_IDS)
def test_bad_names_are_refused_in_one_line_naming_what_and_why(value, why):
    with pytest.raises(IdentifierError) as info:
        check_identifier(value, "table name")
    message = str(info.value)
    assert "\n" not in message and len(message) < 250
    assert message.startswith("table name ") and " refused: " in message and why in message
    assert isinstance(info.value, UserError) and isinstance(info.value, ValueError)
    assert info.value.exit_code == 1


def test_non_strings_are_refused():
    for value in (None, 3, ["a"]):
        with pytest.raises(IdentifierError, match="not a string"):
            check_identifier(value, "catalog name")


def test_quote_identifier_doubles_backticks():
    assert quote_identifier("main") == "`main`"
    assert quote_identifier("a`b") == "`a``b`"
    assert quote_identifier("`; DROP TABLE y; --") == "```; DROP TABLE y; --`"
    for bad in ("", "a\x00b"):
        with pytest.raises(IdentifierError):
            quote_identifier(bad)


def test_delta_paths_are_absolute_without_dotdot_or_control_characters():
    assert is_delta_path("/data/lake/t") and not is_delta_path("a/b") and not is_delta_path("t")
    assert check_delta_path("/data/we`ird/t") == "/data/we`ird/t"
    for bad, why in [("a/b", "not an absolute path"), ("/a/../b", "'..' segment"), ("/a/b\n", "control character")]:
        with pytest.raises(IdentifierError, match=why):
            check_delta_path(bad, "--table")


# ------------------------------------------------------------------------------- the library
@pytest.mark.parametrize("value, why", BAD_NAMES, ids=BAD_IDS)
def test_settings_table_refuses_bad_names_locally_and_on_unity_catalog(value, why):
    for settings in (Settings(base_path="/data/lake"), Settings(uc_catalog="main", uc_schema="astro")):
        with pytest.raises(IdentifierError, match="table name"):
            settings.table(value)


def test_settings_table_keeps_names_under_base_path_and_accepts_absolute_delta_folders():
    local = Settings(base_path="/data/lake")
    assert local.table("silver_x") == "/data/lake/silver_x"
    assert local.table("/elsewhere/t/") == "/elsewhere/t"  # an explicit folder: the user's choice
    with pytest.raises(IdentifierError, match="'..' segment"):
        local.table("/data/lake/../../etc")
    with pytest.raises(IdentifierError, match="holds '/'"):  # Unity Catalog tables are names only
        Settings(uc_catalog="main", uc_schema="astro").table("/elsewhere/t")


@pytest.mark.parametrize("option", ["uc_catalog", "uc_schema"])
@pytest.mark.parametrize("value", ["main; DROP SCHEMA x", "ma`in", "main.astro", "mаin"])
def test_unity_catalog_parts_are_identifiers_wherever_they_come_from(env, tmp_path, option, value):
    other = "uc_schema" if option == "uc_catalog" else "uc_catalog"
    with pytest.raises(IdentifierError, match=f"^{option} .* refused: "):
        Settings(**{option: value, other: "ok"})
    cfg = tmp_path / "s.yaml"
    cfg.write_text(yaml.safe_dump({option: value, other: "ok"}))
    with pytest.raises(IdentifierError, match=option):
        Settings.load(cfg)
    env.setenv("ASTROLAKE_" + option.upper(), value)
    with pytest.raises(IdentifierError, match=option):
        Settings.load()


def test_unset_unity_catalog_parts_stay_allowed():
    assert not Settings(uc_catalog="", uc_schema=None).uses_unity_catalog


@pytest.mark.parametrize("base", ["/tmp/a b", "/tmp/it's", '/tmp/"x"', "/tmp/x -XX:+PrintFlagsFinal", "/tmp/a\nb"])
def test_base_paths_that_would_reach_the_jvm_command_line_as_options_are_refused(base):
    with pytest.raises(SettingsError, match=r"^base_path .* refused: it holds "):
        Settings(base_path=base)


def test_lake_quotes_what_it_puts_into_sql_text():
    local = Lake(spark=None, settings=Settings(base_path="/data/we`ird"))  # type: ignore[arg-type]
    assert local.sql_ident("silver_x") == "delta.`/data/we``ird/silver_x`"
    assert local.sql_ident("/data/x`y") == "delta.`/data/x``y`"
    uc = Lake(spark=None, settings=Settings(uc_catalog="main", uc_schema="default"))  # type: ignore[arg-type]
    assert uc.sql_ident("gold_x") == "`main`.`default`.`gold_x`"
    assert uc.location("gold_x") == "main.default.gold_x"
    for lake in (local, uc):
        with pytest.raises(IdentifierError):
            lake.sql_ident("t`; DROP TABLE y; --")


@pytest.mark.parametrize("value, why", BAD_NAMES[:8], ids=BAD_IDS[:8])
def test_layout_refuses_catalog_names_that_are_not_identifiers(value, why):
    for table_of in (layout.bronze_table, layout.silver_table, layout.gold_table, layout.predictions_table):
        with pytest.raises((IdentifierError, ValueError)):
            table_of(value)


def test_every_shipped_catalog_name_is_an_identifier():
    from astrolake.catalogs.contract import catalogs

    for name, cat in catalogs().items():
        assert check_identifier(name) == name
        assert check_identifier(cat.silver_table) == cat.silver_table


# ------------------------------------------------------------------------------- the CLI
def _no_spark(args):
    raise AssertionError("the command reached for Spark")


@pytest.mark.parametrize(
    "argv, what",
    [
        (["show", "x; DROP TABLE y"], "table name 'x; DROP TABLE y' refused: it holds ';'"),
        (["optimize", "silver_x`; DROP TABLE y"], "table name 'silver_x`; DROP TABLE y' refused: it holds '`'"),
        (["history", "../etc"], "table name '../etc' refused"),
        (["vacuum", "a/b"], "table name 'a/b' refused: it holds '/'"),
        (["show", ""], "table name '' refused: it is empty"),
        (["show", "silver_\u0430"], "U+0430, not ASCII"),
        (["cone", "--table", "o'brien", "--ra", "1", "--dec", "1", "--radius", "1"], '--table "o\'brien" refused'),
        (["cone", "--table", "silver_x", "--ra", "1", "--dec", "1", "--radius", "1", "--out", "a.b"], "--out 'a.b'"),
        (["xmatch", "--left", "a;b", "--right", "b", "--radius", "1", "--out", "o"], "--left 'a;b' refused"),
        (["xmatch", "--left", "a", "--right", "b`", "--radius", "1", "--out", "o"], "--right 'b`' refused"),
        (["xmatch", "--left", "a", "--right", "b", "--radius", "1", "--out", "/x/../y"], "--out '/x/../y' refused"),
        (["score", "--model", "models:/m/1", "--table", "t;", "--out", "p"], "--table 't;' refused"),
        (["score", "--model", "models:/m/1", "--table", "t", "--out", "p q"], "--out 'p q' refused"),
        (["report", "--table", "gold_x; DROP TABLE gold_x"], "--table 'gold_x; DROP TABLE gold_x' refused"),
        (["export-hats", "--table", "t`", "--out", "/tmp/h"], "--table 't`' refused"),
        (["ingest", "sdss; DROP TABLE y", "x.csv"], "catalog name 'sdss; DROP TABLE y' refused"),
        (["train", "gold_x`", "--family", "logreg"], "catalog name 'gold_x`' refused"),
        (["features", ".."], "catalog name '..' refused"),
        (["check-quarantine", "a/b"], "catalog name 'a/b' refused"),
        (["catalogs", "--uc-catalog", "main;", "--uc-schema", "astro"], "uc_catalog 'main;' refused"),
        (["show", "t", "--uc-catalog", "main", "--uc-schema", "as`tro"], "uc_schema 'as`tro' refused"),
        (["show", "/abs/t", "--uc-catalog", "main", "--uc-schema", "astro"], "table name '/abs/t' refused"),
        (["catalogs", "--base-path", "/tmp/x -Dfoo=1"], "base_path '/tmp/x -Dfoo=1' refused"),
    ],
    ids=lambda v: " ".join(v)[:40] if isinstance(v, list) else None,
)
def test_cli_refuses_bad_names_with_one_line_and_exit_1_before_spark(capsys, monkeypatch, env, argv, what):
    monkeypatch.setattr(cli, "_lake", _no_spark)
    code, out, err = run_main(capsys, *argv)
    assert code == 1, err
    assert out == ""
    assert len(err) == 1, err
    assert err[0].startswith(f"astrolake {argv[0]}: error: ")
    assert what in err[0]


def test_cli_refuses_a_bad_unity_catalog_variable(capsys, monkeypatch, env):
    monkeypatch.setattr(cli, "_lake", _no_spark)
    env.setenv("ASTROLAKE_UC_CATALOG", "main`; DROP")
    env.setenv("ASTROLAKE_UC_SCHEMA", "astro")
    code, out, err = run_main(capsys, "show", "silver_x")
    assert (code, out, len(err)) == (1, "", 1)
    assert "uc_catalog 'main`; DROP' refused: it holds '`'" in err[0]


def test_cli_lets_legitimate_names_through_to_the_command(capsys, monkeypatch, env, tmp_path):
    """Valid names (and an absolute Delta folder on a local lake) pass the checks: the command runs."""
    reached = []
    monkeypatch.setattr(cli, "_lake", lambda args: reached.append(args.command) or _no_spark(args))
    for argv in (
        ["show", "silver_sdss_dr14_skyserver"],
        ["history", "_manifest"],
        ["cone", "--table", str(tmp_path / "t"), "--ra", "1", "--dec", "1", "--radius", "1", "--out", "near_1"],
        ["xmatch", "--left", "gold_a", "--left-key", "_key", "--right", "b", "--right-key", "id"]
        + ["--radius", "1", "--out", "pairs_ab"],
        ["show", "gold_x", "--uc-catalog", "main", "--uc-schema", "default"],
    ):
        code, _, err = run_main(capsys, *argv, "--base-path", str(tmp_path / "lake"))
        assert code == 3 and "the command reached for Spark" in err[-1], err  # past every name check
    assert reached == ["show", "history", "cone", "xmatch", "show"]


# ------------------------------------------------------------------------------- secrets
SECRET = "dapi-FAKE-0123456789abcdef0123456789abcdef"


def test_an_unknown_settings_option_is_refused_without_echoing_its_value(capsys, env, tmp_path):
    cfg = tmp_path / "settings.yaml"
    cfg.write_text(yaml.safe_dump({"base_path": str(tmp_path / "lake"), "token": SECRET, "password": SECRET}))
    with pytest.raises(SettingsError) as info:
        Settings.load(cfg)
    assert "'token'" in str(info.value) and SECRET not in str(info.value)
    code, out, err = run_main(capsys, "catalogs", "--config", str(cfg), "--debug")
    assert code == 1 and "unknown option(s) ['password', 'token']" in err[-1]
    assert SECRET not in out and not any(SECRET in line for line in err)
