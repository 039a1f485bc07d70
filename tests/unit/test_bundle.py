"""The Databricks asset bundle, validated offline, and mutated copies that must be rejected."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import ROOT

BUNDLE = ROOT / "deploy" / "databricks"


def test_bundle_is_valid_for_every_target():
    from astrolake.deploy.bundle import load, validate, variables_for

    assert validate(BUNDLE) == []
    raw, sources = load(BUNDLE)
    assert set(raw["targets"]) == {"dev", "prod"} and raw["targets"]["dev"].get("default") is True
    assert set(raw["resources"]["jobs"]) == {"catalog_refresh", "train", "deploy_model", "score"}
    assert variables_for(raw, "prod", [])["uc_schema"] == "astrolake_prod"
    assert variables_for(raw, "dev", [])["uc_schema"] == "astrolake"
    deploy = raw["resources"]["jobs"]["deploy_model"]
    assert [t["task_key"] for t in deploy["tasks"]] == ["evaluation", "approval", "promotion"]
    assert {p["name"] for p in deploy["parameters"]} == {"model_name", "model_version"}


@pytest.mark.parametrize(
    "quartz, ok",
    [
        ("0 0 3 * * ?", True),
        ("0 15 10 ? * MON-FRI", True),
        ("0 0/30 8-18 ? * 2-6", True),
        ("0 0 12 L * ?", True),
        ("0 0 12 ? * 6#3", True),
        ("0 0 12 * * ? 2027", True),
        ("0 0 12 * * *", False),
        ("0 0 12 ? * ?", False),
        ("0 12 * * *", False),
        ("0 60 12 * * ?", False),
        ("0 0 25 * * ?", False),
        ("0 0 12 * 13 ?", False),
        ("? 0 12 * * ?", False),
        ("0 0 12 * JANUARY ?", False),
    ],
)
def test_quartz_cron_rules(quartz, ok):
    from astrolake.deploy.bundle import quartz_errors

    assert (quartz_errors(quartz) == []) is ok


@pytest.fixture
def copy(tmp_path):
    """A copy of the repository's deploy/ and notebooks/ with the same layout."""
    shutil.copytree(ROOT / "deploy", tmp_path / "deploy")
    shutil.copytree(ROOT / "notebooks", tmp_path / "notebooks")
    return tmp_path / "deploy" / "databricks"


def _edit(path: Path, fn) -> None:
    data = yaml.safe_load(path.read_text())
    fn(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def _refresh_task(d, key="ingest"):
    return next(t for t in d["resources"]["jobs"]["catalog_refresh"]["tasks"] if t["task_key"] == key)


MUTATIONS = {
    "misspelled field": (
        lambda b: _edit(b / "resources" / "catalog_refresh.yml", lambda d: _refresh_task(d).update(max_retriez=2)),
        "Unexpected field 'max_retriez'",
    ),
    "missing notebook": (
        lambda b: (b.parent.parent / "notebooks" / "06_batch_scoring.py").unlink(),
        "notebook '../../../notebooks/06_batch_scoring.py' not found",
    ),
    "unknown task parameter": (
        lambda b: _edit(
            b / "resources" / "catalog_refresh.yml",
            lambda d: _refresh_task(d)["notebook_task"]["base_parameters"].update(colour="blue"),
        ),
        "has no widget 'colour'",
    ),
    "unknown CLI option": (
        lambda b: _edit(
            b / "resources" / "catalog_refresh.yml",
            lambda d: _refresh_task(d, "gold")["python_wheel_task"]["parameters"].append("--everything"),
        ),
        "unrecognized arguments: --everything",
    ),
    "invalid cron": (
        lambda b: _edit(b / "databricks.yml", lambda d: d["variables"]["refresh_cron"].update(default="0 0 12 * * *")),
        "exactly one of day-of-month and day-of-week must be '?'",
    ),
    "undefined variable": (
        lambda b: _edit(
            b / "resources" / "score.yml",
            lambda d: d["resources"]["jobs"]["score"]["tasks"][0]["notebook_task"]["base_parameters"].update(
                out="${var.predictions_tabel}"
            ),
        ),
        "undefined variable ${var.predictions_tabel}",
    ),
    "wheel not built by the bundle": (
        lambda b: _edit(
            b / "resources" / "score.yml",
            lambda d: d["resources"]["jobs"]["score"]["environments"][0]["spec"].update(
                dependencies=["../elsewhere/*.whl"]
            ),
        ),
        "is not built by any artifact",
    ),
    "secret in a file": (
        lambda b: _edit(
            b / "resources" / "train.yml",
            lambda d: d["resources"]["jobs"]["train"]["job_clusters"][1]["new_cluster"]["spark_env_vars"].update(
                ASTROLAKE_TRACKING_TOKEN="dapi123"
            ),
        ),
        "must come from a secret scope",
    ),
    "unknown job parameter": (
        lambda b: _edit(
            b / "resources" / "deploy_model.yml",
            lambda d: d["resources"]["jobs"]["deploy_model"]["tasks"][0]["notebook_task"]["base_parameters"].update(
                model_version="{{job.parameters.model_versio}}"
            ),
        ),
        "the job has no parameter 'model_versio'",
    ),
    "undeclared target variable": (
        lambda b: _edit(b / "databricks.yml", lambda d: d["targets"]["prod"]["variables"].update(gpu_wokers=8)),
        "variable 'gpu_wokers' is not declared",
    ),
}


@pytest.mark.parametrize("mutation", list(MUTATIONS))
def test_mutated_bundle_is_rejected(copy, mutation):
    from astrolake.deploy.bundle import validate

    assert validate(copy) == []  # the untouched copy is valid
    mutate, expected = MUTATIONS[mutation]
    mutate(copy)
    problems = [str(p) for p in validate(copy)]
    assert any(expected in p for p in problems), problems


def test_validate_bundle_command(copy):
    ok = subprocess.run(
        [sys.executable, "-m", "astrolake.cli", "validate-bundle", "--path", str(copy)], capture_output=True, text=True
    )
    assert ok.returncode == 0 and "valid for every target" in ok.stdout
    MUTATIONS["invalid cron"][0](copy)
    bad = subprocess.run(
        [sys.executable, "-m", "astrolake.cli", "validate-bundle", "--path", str(copy), "--target", "prod"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 1 and "[prod] jobs.catalog_refresh.schedule" in bad.stdout
    assert "problem(s) in the bundle" in bad.stderr
