"""Every notebook runs top to bottom in-process on local Spark with the shipped DR14 sample."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py"))
ROWS = 2_000


def run_notebook(path: Path) -> dict:
    src = path.read_text()
    assert src.startswith("# Databricks notebook source")
    cells = src.split("# COMMAND ----------")
    assert len(cells) >= 3
    namespace: dict = {"__name__": "__notebook__"}
    exec(compile(src, str(path), "exec"), namespace)  # noqa: S102 - the notebook is ours
    return namespace


@pytest.fixture(scope="module")
def notebook_env(tmp_path_factory):
    root = tmp_path_factory.mktemp("notebooks")
    from astrolake.demo import demo_file

    sample = root / "sample.csv"  # the first ROWS objects of the shipped sample
    sample.write_text("\n".join(open(demo_file()).read().splitlines()[: ROWS + 1]) + "\n")
    env = {
        "ASTROLAKE_WIDGET_SOURCE": str(sample),
        "ASTROLAKE_WIDGET_BASE_PATH": str(root / "lake"),
        "ASTROLAKE_TRACKING_URI": f"sqlite:///{root}/mlflow.db",
        "ASTROLAKE_EXPERIMENT": "astrolake-notebooks",
        "ASTROLAKE_WIDGET_MAX_TRIALS": "2",
        "ASTROLAKE_WIDGET_GRID": "small",
        "ASTROLAKE_WIDGET_EPOCHS": "2",
        "ASTROLAKE_WIDGET_BACKEND": "tf-distribute",
        "ASTROLAKE_WIDGET_REPORT_DIR": str(root / "reports"),
    }
    return root, env


def test_notebooks_run_in_order_and_produce_their_outputs(spark, notebook_env, monkeypatch):
    from mlflow import MlflowClient

    from astrolake.config import Settings
    from astrolake.lake.tables import Lake

    root, env = notebook_env
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert [p.name[:2] for p in NOTEBOOKS] == ["01", "02", "03", "04", "05", "06"]
    lake = Lake(spark, Settings(base_path=str(root / "lake")))

    ns = run_notebook(NOTEBOOKS[0])  # 01: ingest + gold
    assert ns["result"].ledgers[0].closes and lake.exists("gold_sdss_dr14_skyserver")

    ns = run_notebook(NOTEBOOKS[1])  # 02: exploration figures
    assert set(ns["figs"]) == {"class_balance", "sky", "ug_gr", "gr_ri", "r_mag", "redshift", "separation"}
    assert ns["balance"].sum() == ROWS and ns["cells"].sum() == ROWS
    # the cone holds its own centre first, at separation 0; the self-match never pairs a row with itself
    nearest = ns["near"].orderBy("sep_arcsec").first()
    assert nearest["_key"] == ns["target"]["_key"] and nearest["sep_arcsec"] < 1e-6
    assert ns["pairs"].where("_key_l = _key_r").count() == 0
    html = Path(ns["report"].html_path)
    assert html == root / "reports" / "gold_sdss_dr14_skyserver" / "report.html" and "fig-sky" in html.read_text()

    ns = run_notebook(NOTEBOOKS[2])  # 03: search + tuning
    assert len(ns["result"].trials) == 2 and ns["result"].version == "1"
    assert len(ns["tuned"].tuning["scores"]) == 2 and len(ns["figs"]) == 3

    ns = run_notebook(NOTEBOOKS[3])  # 04: tf-distribute DNN, registered as version 2 of the same model
    assert ns["result"].version == "2" and ns["result"].ranks[0]["size"] == 2 and "learning_curve" in ns["figs"]

    ns = run_notebook(NOTEBOOKS[4])  # 05: evaluate -> approve -> promote the challenger (the DNN)
    assert ns["version"] == "2" and ns["promotion"].champion_after == "2"
    assert ns["evaluation"].champion_value is None  # no champion before
    assert {"fig-confusion", "fig-importance"} <= set(ns["report"].figures) and ns["report"].artifact_uri

    ns = run_notebook(NOTEBOOKS[5])  # 06: the champion (a Keras model, through pyfunc) scores gold
    assert ns["result"].scored == ROWS and ns["predicted"].sum() == ROWS
    assert lake.read("predictions_sdss_dr14_skyserver").count() == ROWS
    sample = ns["sample_predictions"]  # plain mlflow.pyfunc: class names and per-class probabilities
    probs = sample.drop(columns="predicted_class")
    assert list(probs.columns) == ["prob_GALAXY", "prob_QSO", "prob_STAR"] and len(sample) == 10
    assert (probs.sum(axis=1) - 1).abs().max() < 1e-5
    assert (sample["predicted_class"] == probs.idxmax(axis=1).str[len("prob_") :]).all()
    runs = MlflowClient().search_runs([MlflowClient().get_experiment_by_name("astrolake-notebooks").experiment_id])
    assert len(runs) >= 4  # search parent + 2 trials + the DNN run
