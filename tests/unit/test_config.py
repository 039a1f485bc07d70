"""Settings: defaults < YAML file < ASTROLAKE_* variables < explicit overrides, and table locations."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest
import yaml

from astrolake.config import Settings


@pytest.fixture
def env(monkeypatch):
    """A clean environment: no ASTROLAKE_* variable from the caller leaks into the settings."""
    for name in list(os.environ):
        if name.startswith("ASTROLAKE_"):
            monkeypatch.delenv(name)
    return monkeypatch


def write_yaml(path: Path, values) -> Path:
    path.write_text(yaml.safe_dump(values))
    return path


def test_defaults_and_local_table_locations(env, tmp_path):
    s = Settings.load()
    assert s == Settings()
    assert (s.base_path, s.spark_master, s.shuffle_partitions, s.experiment) == (
        "lakehouse",
        "local[*]",
        4,
        "astrolake",
    )
    assert s.tracking_uri is None and s.uc_catalog is None and not s.uses_unity_catalog
    env.chdir(tmp_path)
    assert s.table("silver_x") == str(tmp_path / "lakehouse" / "silver_x")  # absolute, under the working folder
    assert s.checkpoint_root == str(tmp_path / "lakehouse" / "_checkpoints")


def test_unity_catalog_needs_both_catalog_and_schema():
    assert Settings(uc_catalog="main", uc_schema="astro").table("gold_x") == "main.astro.gold_x"
    only_catalog = Settings(base_path="/data/lake", uc_catalog="main")
    assert not only_catalog.uses_unity_catalog
    assert only_catalog.table("gold_x") == "/data/lake/gold_x"


def test_yaml_then_environment_then_overrides(env, tmp_path):
    cfg = write_yaml(
        tmp_path / "s.yaml",
        {
            "base_path": "/from/yaml",
            "experiment": "yaml-exp",
            "shuffle_partitions": "7",
            "spark_master": "local[1]",
            "extra_spark_conf": {"spark.ui.enabled": "false"},
        },
    )
    s = Settings.load(cfg)
    assert (s.base_path, s.experiment, s.shuffle_partitions, s.spark_master) == (
        "/from/yaml",
        "yaml-exp",
        7,
        "local[1]",
    )
    assert s.extra_spark_conf == {"spark.ui.enabled": "false"}

    env.setenv("ASTROLAKE_EXPERIMENT", "env-exp")
    env.setenv("ASTROLAKE_SHUFFLE_PARTITIONS", "3")
    env.setenv("ASTROLAKE_SPARK_MASTER", "")  # empty: ignored, the YAML value stays
    s = Settings.load(cfg)
    assert (s.base_path, s.experiment, s.shuffle_partitions, s.spark_master) == ("/from/yaml", "env-exp", 3, "local[1]")
    assert isinstance(s.shuffle_partitions, int)

    s = Settings.load(cfg, experiment="flag-exp", base_path=None, shuffle_partitions="5")
    assert (s.base_path, s.experiment, s.shuffle_partitions) == ("/from/yaml", "flag-exp", 5)  # None: no override


def test_astrolake_config_variable_names_the_file(env, tmp_path):
    env.setenv("ASTROLAKE_CONFIG", str(write_yaml(tmp_path / "c.yaml", {"base_path": "/via/env"})))
    assert Settings.load().base_path == "/via/env"
    explicit = write_yaml(tmp_path / "d.yaml", {"base_path": "/explicit"})
    assert Settings.load(explicit).base_path == "/explicit"  # an explicit file wins over the variable


def test_empty_yaml_file_gives_the_defaults(env, tmp_path):
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    assert Settings.load(empty) == Settings()


@pytest.mark.parametrize(
    "content, message",
    [
        ("- a\n- b\n", r"must hold a mapping of option: value"),
        (
            "base_path: /x\nbase_pth: /y\nzz: 1\n",
            r"unknown option\(s\) \['base_pth', 'zz'\] in .*known: \[.*'base_path'",
        ),
    ],
    ids=["not-a-mapping", "unknown-keys"],
)
def test_bad_settings_files_are_refused_by_name(env, tmp_path, content, message):
    path = tmp_path / "bad.yaml"
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        Settings.load(path)


def test_missing_settings_file_is_refused(env, tmp_path):
    missing = tmp_path / "nowhere.yaml"
    with pytest.raises((OSError, ValueError), match=f"settings file not found: {missing}"):
        Settings.load(missing)


def test_with_overrides_returns_a_new_frozen_object():
    base = Settings(base_path="/a", shuffle_partitions=2)
    changed = base.with_overrides(base_path="/b", tracking_uri=None)
    assert (changed.base_path, changed.shuffle_partitions, changed.tracking_uri) == ("/b", 2, None)
    assert base.base_path == "/a"  # unchanged
    with pytest.raises(dataclasses.FrozenInstanceError):
        base.base_path = "/c"  # type: ignore[misc]
