"""Reports: Spark aggregates against numpy, a 1e6-row table report under a tiny driver result
limit (its own Spark session, in a subprocess), a model report logged to MLflow, and both HTML
files opened in headless Chromium (Debian's chromium + chromium-driver, driven by Selenium).
"""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import TESTS_DATA

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
TABLE_FIGURES = [
    "fig-class-balance",
    "fig-sky",
    "fig-ug-gr",
    "fig-gr-ri",
    "fig-mag",
    "fig-redshift",
    "fig-missing",
    "fig-correlation",
    "fig-ledger",
    "fig-quarantine",
]
MODEL_FIGURES = ["fig-confusion", "fig-roc-pr", "fig-purity-completeness", "fig-reliability", "fig-importance"]
BIG_ROWS = 1_000_000


# --------------------------------------------------------------------------------------------
# aggregates against numpy, on the same small sample
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sample(spark):
    """5,000 rows: three classes, nulls and NaN, and values exactly on bin edges."""
    rng = np.random.default_rng(7)
    n = 5000
    x = rng.normal(1.0, 0.8, n)
    y = 0.6 * x + rng.normal(0, 0.5, n)
    z = rng.exponential(1.0, n)
    x[:40] = np.linspace(-1, 3, 41)[:40]  # exactly on the uniform edges used below
    x[40:45] = 3.0  # the last edge (closed)
    x[100:130] = np.nan
    y[200:210] = np.nan
    cls = rng.choice(["GALAXY", "QSO", "STAR"], n, p=[0.5, 0.2, 0.3]).astype(object)
    cls[300:305] = None
    pdf = pd.DataFrame({"x": x, "y": y, "z": z, "cls": cls})
    pdf.loc[150:170, "z"] = None  # nulls (not NaN) once in Spark
    from astrolake.sky.healpix import healpix_index

    ra, dec = rng.uniform(0, 360, n), np.degrees(np.arcsin(rng.uniform(-1, 1, n)))
    pdf["healpix_29"] = healpix_index(ra, dec)
    # explicit rows: x and y keep NaN as NaN, z and cls have nulls
    rows = [
        (float(a), float(b), None if c != c else float(c), d, int(h))
        for a, b, c, d, h in pdf[["x", "y", "z", "cls", "healpix_29"]].itertuples(index=False)
    ]
    sdf = spark.createDataFrame(rows, "x double, y double, z double, cls string, healpix_29 long")
    return pdf, sdf


def _np_hist(values, edges):
    v = np.asarray(values, dtype=float)
    return np.histogram(v[np.isfinite(v)], bins=edges)[0]


def test_hist1d_and_hist2d_match_numpy_exactly(sample):
    from astrolake.report import stats

    pdf, sdf = sample
    uniform = np.linspace(-1, 3, 41)
    irregular = np.array([-2.0, -0.5, 0.0, 0.3, 1.0, 1.01, 2.5, 4.0])
    for edges in (uniform, irregular):
        assert np.array_equal(stats.hist1d(sdf, "x", edges)["all"], _np_hist(pdf["x"], edges))
        per_class = stats.hist1d(sdf, "x", edges, by="cls")
        for c in ("GALAXY", "QSO", "STAR"):
            assert np.array_equal(per_class[c], _np_hist(pdf.loc[pdf["cls"] == c, "x"], edges)), c
        assert np.array_equal(per_class[stats.NULL_KEY], _np_hist(pdf.loc[pdf["cls"].isna(), "x"], edges))
    ex, ey = np.linspace(-1, 3, 31), np.linspace(-1.5, 2.5, 21)
    ok = np.isfinite(pdf["x"]) & np.isfinite(pdf["y"])
    for c in ("GALAXY", "STAR"):
        sel = ok & (pdf["cls"] == c)
        expected = np.histogram2d(pdf.loc[sel, "x"], pdf.loc[sel, "y"], bins=[ex, ey])[0].astype(np.int64)
        assert np.array_equal(stats.hist2d(sdf, "x", "y", ex, ey, by="cls")[c], expected), c
    # the group folded into the code (classes known from class_balance) changes nothing
    folded = stats.histograms(
        sdf, {"x": ("x", uniform), "xy": (("x", "y"), (ex, ey))}, by="cls", groups=["GALAXY", "QSO", "STAR", None]
    )
    assert set(folded["x"]) == {"GALAXY", "QSO", "STAR", stats.NULL_KEY}
    one_by_one = stats.hist1d(sdf, "x", uniform, by="cls")
    for c, h in folded["x"].items():
        assert np.array_equal(h, one_by_one[c]), c
    assert np.array_equal(folded["xy"]["STAR"], stats.hist2d(sdf, "x", "y", ex, ey, by="cls")["STAR"])
    partial = stats.histograms(sdf, {"x": ("x", uniform)}, by="cls", groups=["STAR"])["x"]
    assert np.array_equal(partial["(other)"], _np_hist(pdf.loc[pdf["cls"] != "STAR", "x"], uniform))
    # several histograms in one pass give the same counts as one at a time
    both = stats.histograms(sdf, {"a": ("x", uniform), "b": (("x", "y"), (ex, ey)), "c": ("z", irregular)})
    assert np.array_equal(both["a"]["all"], _np_hist(pdf["x"], uniform))
    assert np.array_equal(both["b"]["all"], np.histogram2d(pdf.loc[ok, "x"], pdf.loc[ok, "y"], bins=[ex, ey])[0])
    assert np.array_equal(both["c"]["all"], _np_hist(pdf["z"], irregular))


def test_class_balance_healpix_counts_and_missing_values_match_numpy(sample):
    from astrolake.report import stats
    from astrolake.sky.healpix import degrade

    pdf, sdf = sample
    balance = stats.class_balance(sdf, "cls")
    expected = pdf["cls"].fillna(stats.NULL_KEY).value_counts().sort_index()
    assert balance.to_dict() == expected.to_dict()
    for order in (0, 3, 5):
        cells = stats.healpix_counts(sdf, order=order)
        idx, counts = np.unique(degrade(pdf["healpix_29"].to_numpy(), order), return_counts=True)
        assert np.array_equal(cells.index.to_numpy(), idx) and np.array_equal(cells.to_numpy(), counts)
    missing = stats.missing_values(sdf, counts=True)
    assert missing.attrs["rows"] == len(pdf)
    assert missing.to_dict() == {c: int(pdf[c].isna().sum()) for c in ["x", "y", "z", "cls", "healpix_29"]}
    assert missing["x"] == 30 and missing["z"] == 21  # NaN in a double column, and nulls
    fractions = stats.missing_values(sdf, ["x", "z"])
    assert fractions["x"] == pytest.approx(30 / 5000)


def test_correlation_matches_numpy(sample):
    from astrolake.report import stats

    pdf, sdf = sample
    complete = pdf[["x", "y", "z"]].astype(float).dropna()  # rows with every value, as in the report
    expected = np.corrcoef(complete.to_numpy().T)
    for center in (None, {"x": 1.0, "y": 0.6, "z": 1.0}):
        got = stats.correlation(sdf, ["x", "y", "z"], center)
        np.testing.assert_allclose(got.to_numpy(), expected, rtol=1e-9, atol=1e-12)
    # a constant column has no correlation; magnitudes far from zero stay accurate
    shifted = sdf.selectExpr("x + 1e4 AS a", "y + 2e4 AS b", "1.0 AS k")
    got = stats.correlation(shifted, ["a", "b", "k"], {"a": 1e4, "b": 2e4})
    ok = pdf[["x", "y"]].dropna()
    assert got.loc["a", "b"] == pytest.approx(np.corrcoef(ok["x"], ok["y"])[0, 1], rel=1e-9)
    assert np.isnan(got.loc["k", "k"]) and np.isnan(got.loc["a", "k"])


def test_quantile_edges_are_within_the_rank_error(sample):
    from astrolake.report import stats

    pdf, sdf = sample
    eps = 0.001
    edges = stats.quantile_edges(sdf, ["x", "y", "z"], bins=20, quantiles=(0.01, 0.99), relative_error=eps)
    for c in ("x", "y", "z"):
        v = np.sort(pdf[c].dropna().to_numpy(float))
        v = v[np.isfinite(v)]
        n = len(v)
        assert len(edges[c]) == 21 and np.allclose(np.diff(edges[c]), np.diff(edges[c])[0])
        for q, value in ((0.01, edges[c][0]), (0.99, edges[c][-1])):
            lo, hi = np.searchsorted(v, value, "left"), np.searchsorted(v, value, "right")
            target = q * n
            assert lo - eps * n - 1 <= target <= hi + eps * n + 1, (c, q, value)
    sampled = stats.quantile_edges(sdf, ["x"], bins=4, quantiles=(0.01, 0.99), rows=5000, sample_rows=2500)["x"]
    assert abs(sampled[0] - edges["x"][0]) < 0.2 and abs(sampled[-1] - edges["x"][-1]) < 0.2  # from half the rows
    exact = stats.quantile_edges(sdf, ["x"], bins=4, quantiles=(0.25, 0.75), relative_error=0.0)["x"]
    v = np.sort(pdf["x"].dropna().to_numpy(float))
    assert exact[0] == np.quantile(v, 0.25, method="inverted_cdf")
    assert exact[-1] == np.quantile(v, 0.75, method="inverted_cdf")


def test_quarantine_reasons_are_grouped_by_rule(spark):
    from astrolake.report import stats

    reasons = [
        "ra: 361.5 outside [0, 360)",
        "ra: -3.0 outside [0, 360)",
        "plate: 'abc' is not a valid int",
        "class: 'UFO' not one of GALAXY, STAR, QSO",
        "u: required value missing (sentinel -9999)",
        "plate: required value missing",
    ]
    rules = [
        r[0]
        for r in spark.createDataFrame([(r,) for r in reasons], "reason string")
        .select(stats.reason_rule("reason"))
        .collect()
    ]
    assert rules == [
        "ra: outside [0, 360)",
        "ra: outside [0, 360)",
        "plate: not a valid int",
        "class: not one of GALAXY, STAR, QSO",
        "u: required value missing (sentinel)",
        "plate: required value missing",
    ]


def test_cli_report_arguments(spark, fresh_settings, capsys):
    from astrolake.cli import main

    for bad in (["report"], ["report", "--table", "t", "--model", "models:/m@champion"]):
        with pytest.raises(SystemExit) as exc:
            main(bad)
        assert exc.value.code == 2  # argparse: exactly one of --table / --model
    capsys.readouterr()
    assert main(["report", "--table", "gold_nothing", "--base-path", fresh_settings.base_path]) == 1
    assert "astrolake report: error: no table 'gold_nothing'" in capsys.readouterr().err
    assert (
        main(["report", "--model", "models:/m@champion", "--version", "3", "--base-path", fresh_settings.base_path])
        == 2
    )
    assert "--version applies to --table" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------
# the browser check
# --------------------------------------------------------------------------------------------
def open_in_chromium(html: Path, figure_ids: list[str], screenshot: Path) -> dict:
    """Open ``html`` in headless Chromium: no console errors, every figure present and decoded,
    each image non-uniform (decoded here from the DOM's base64), a full-page screenshot saved."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        pytest.fail(
            f"{', '.join(missing)} not found: the report test needs Debian's chromium and chromium-driver. "
            "Run the set-up (`make setup`, i.e. bash scripts/setup.sh), which installs them",
            pytrace=False,
        )
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.options import Options
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.fail(
            "selenium is not installed: run the set-up (`make setup`; requirements/base.txt pins it)", pytrace=False
        )
    from PIL import Image

    opts = Options()
    opts.binary_location = str(CHROMIUM)
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1280,1600",
        "--no-first-run",
        "--disable-extensions",
    ):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=opts)
    try:
        driver.get(html.resolve().as_uri())
        assert driver.execute_script("return document.readyState") == "complete"
        errors = [e for e in driver.get_log("browser") if e.get("level") in ("SEVERE", "ERROR")]
        assert not errors, f"console errors in {html}: {errors}"
        images = driver.execute_script(
            "return Array.from(document.images).map(i => ({id: i.id, ok: i.complete && i.naturalWidth > 0,"
            " w: i.naturalWidth, h: i.naturalHeight, src: i.getAttribute('src')}))"
        )
        by_id = {i["id"]: i for i in images}
        absent = [f for f in figure_ids if f not in by_id]
        assert not absent, f"figures missing from {html}: {absent}"
        stds = {}
        for fig_id in figure_ids:
            img = by_id[fig_id]
            assert img["ok"], f"{fig_id} was not decoded by the browser"
            assert img["src"].startswith("data:image/png;base64,"), f"{fig_id} is not an embedded PNG"
            pixels = np.asarray(
                Image.open(io.BytesIO(base64.b64decode(img["src"].split(",", 1)[1]))).convert("RGB"), dtype=float
            )
            assert pixels.shape[:2] == (img["h"], img["w"])
            stds[fig_id] = float(pixels.std())
            assert stds[fig_id] > 0, f"{fig_id} is a uniform image"
        # a screenshot of the whole page
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(1280, min(int(height) + 100, 16000))
        assert driver.save_screenshot(str(screenshot))
    finally:
        driver.quit()
    data = screenshot.read_bytes()
    assert len(data) > 1000 and data[:8] == b"\x89PNG\r\n\x1a\n", "the screenshot is not a PNG"
    return stds


# --------------------------------------------------------------------------------------------
# a table report on 1e6 rows, in a Spark session of its own that cannot collect the table
# --------------------------------------------------------------------------------------------
GUARDED_REPORT = """
import json, sys
from astrolake.cli import main
rc = main(sys.argv[1:-1])  # the last argument is the table's location, for the guard below
if rc:
    sys.exit(rc)
from pyspark.sql import SparkSession
spark = SparkSession.getActiveSession()
conf = spark.conf.get("spark.driver.maxResultSize")
try:  # the guard works: collecting the table's rows fails in this very session
    spark.read.format("delta").load(sys.argv[-1]).select("ra", "dec", "r", "u_g").collect()
except Exception as exc:
    if "maxResultSize" not in str(exc):
        raise
    print(json.dumps({"guard": conf}))
    sys.exit(0)
sys.exit("collecting 1e6 rows did not hit spark.driver.maxResultSize")
"""


@pytest.mark.slow
def test_table_report_of_a_million_rows_collects_nothing_and_opens_in_chromium(spark, settings, tmp_path):
    from astrolake.lake import pipeline
    from astrolake.lake.tables import Lake
    from astrolake.report.synthetic import write_synthetic_gold
    from astrolake.sources.synthetic import write_synthetic_csv

    t0 = time.perf_counter()
    lake_dir = tmp_path / "lake"
    lake = Lake(spark, settings.with_overrides(base_path=str(lake_dir)))
    # two small real batches (5 % corrupted rows) give bronze, silver, quarantine and a ledger...
    for seed, rows in ((1, 2000), (2, 1000)):
        path = write_synthetic_csv(
            spark, rows, tmp_path / "landing" / f"batch{seed}.csv", seed=seed, bad_fraction=0.05, single_file=True
        )
        assert pipeline.ingest(lake, "sdss_dr14_skyserver", [path]).ledgers[0].closes
    # ...and the gold table gets 1e6 synthetic rows, generated inside Spark
    gold = write_synthetic_gold(lake, BIG_ROWS, seed=42)
    assert lake.read(gold).count() == BIG_ROWS
    t_data = time.perf_counter() - t0

    config = tmp_path / "settings.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "base_path": str(lake_dir),
                "spark_master": "local[2]",
                "driver_memory": "2g",
                "shuffle_partitions": 2,
                "tracking_uri": f"sqlite:///{tmp_path}/mlflow.db",
                "extra_spark_conf": {"spark.driver.maxResultSize": "8m"},
            }
        )
    )
    out = tmp_path / "report"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASTROLAKE_")}
    env |= {"TF_USE_LEGACY_KERAS": "1", "SPARK_LOCAL_IP": "127.0.0.1"}
    t1 = time.perf_counter()
    # `astrolake report` (cli.main) in a fresh interpreter; the table location last, for the guard
    r = subprocess.run(
        [
            sys.executable,
            "-c",
            GUARDED_REPORT,
            "report",
            "--table",
            gold,
            "--out",
            str(out),
            "--config",
            str(config),
            lake.location(gold),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=900,
    )
    t_report = time.perf_counter() - t1
    assert r.returncode == 0, r.stderr[-4000:]
    lines = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    summary, guard = lines[0], lines[-1]
    assert guard == {"guard": "8m"}
    assert summary["kind"] == "table" and set(TABLE_FIGURES) <= set(summary["figures"])
    # progress lines on stderr, one per step: "[astrolake] report: [3/11] colour-colour diagrams ... 4.2 s"
    progress = [line for line in r.stderr.splitlines() if line.startswith("[astrolake] report: [")]
    assert (
        len(progress) == 11 and progress[-1].startswith("[astrolake] report: [11/11]") and progress[-1].endswith(" s")
    )

    html = out / "report.html"
    text = html.read_text()
    for fig_id in TABLE_FIGURES:
        assert (out / f"{fig_id}.png").read_bytes()[:4] == b"\x89PNG"
    assert "http://" not in text and "https://" not in text and "<script" not in text  # self-contained
    assert "Abolfathi et al. 2018" in text and "Right ascension (J2000)" in text  # citation, dictionary
    assert f"{BIG_ROWS:,}" in text and "outside [0, 360)" in text  # rows, a quarantine rule
    stds = open_in_chromium(html, TABLE_FIGURES, tmp_path / "table-report.png")
    assert min(stds.values()) > 1.0
    print(f"\n1e6-row table report: data {t_data:.0f} s, report subprocess {t_report:.0f} s", file=sys.stderr)


# --------------------------------------------------------------------------------------------
# a model report, logged to the model's MLflow run
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def trained(spark, settings, tmp_path_factory, stellar_lake):
    from astrolake.lake.tables import Lake
    from astrolake.ml import train

    root = tmp_path_factory.mktemp("report-model")
    s = settings.with_overrides(
        base_path=str(root / "lake"), tracking_uri=f"sqlite:///{root}/mlflow.db", experiment="astrolake-report-tests"
    )
    lake = Lake(spark, s)
    stellar_lake(s.base_path)  # the DR17 5k sample ingested and featurised
    result = train.train(
        lake, "sdss_dr17_stellar", family="rf", params={"numTrees": 10, "maxDepth": 5}, name="t_report"
    )
    return lake, result, root


def test_model_report_has_the_evaluation_figures_and_is_logged_to_mlflow(trained, capsys, monkeypatch, tmp_path):
    from mlflow import MlflowClient

    from astrolake.cli import main

    lake, result, root = trained
    monkeypatch.setenv("ASTROLAKE_TRACKING_URI", lake.settings.tracking_uri)
    monkeypatch.setenv("ASTROLAKE_EXPERIMENT", "astrolake-report-tests")
    out = tmp_path / "model-report"
    capsys.readouterr()
    rc = main(
        ["report", "--model", "models:/t_report@challenger", "--out", str(out), "--base-path", lake.settings.base_path]
    )
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    summary = json.loads(captured.out.strip().splitlines()[-1])
    assert set(MODEL_FIGURES) <= set(summary["figures"])
    assert summary["artifact_uri"] == f"runs:/{result.run_id}/report"
    assert "report: [7/7]" in captured.err
    logged = {a.path for a in MlflowClient().list_artifacts(result.run_id, "report")}
    assert "report/report.html" in logged and {f"report/{f}.png" for f in MODEL_FIGURES} <= logged
    text = (out / "report.html").read_text()
    assert "t_report v1" in text and "gold_sdss_dr17_stellar v" in text and "macro_f1" in text
    open_in_chromium(out / "report.html", MODEL_FIGURES, tmp_path / "model-report.png")


def test_permutation_importance_ranks_an_informative_feature_first(trained):
    """The non-tree path, computed in Spark: shuffling the feature the forest relies on most hurts
    more than shuffling the one it uses least."""
    import mlflow

    from astrolake.ml import models
    from astrolake.ml.features import training_data
    from astrolake.report import importance

    lake, result, _ = trained
    data = training_data(lake, result.table, features=result.features, version=result.table_version)
    val = models.index_labels(
        data.split("validation"),
        sorted(json.loads(mlflow.MlflowClient().get_run(result.run_id).data.tags["astrolake.classes"])),
    )
    # each copy's shuffled column is a permutation of the original (same multiset, rows moved), and
    # every other column of every copy is the original row's
    base, n, cached = importance.dense_index(val.select("u_g", "g_r", "r"))
    try:
        assert sorted(r[0] for r in base.select("_i").collect()) == list(range(n))
        orig = {r["_i"]: r for r in base.collect()}
        rows = importance.permuted_copies(base, ["u_g", "g_r"], seed=3).collect()
        assert len(rows) == 3 * n
        for copy, shuffled, kept in ((1, "u_g", ["g_r", "r"]), (2, "g_r", ["u_g", "r"])):
            mine = [r for r in rows if r[importance.COPY] == copy]
            assert sorted(r["_i"] for r in mine) == list(range(n))
            assert sorted(r[shuffled] for r in mine) == sorted(o[shuffled] for o in orig.values())
            assert sum(r[shuffled] != orig[r["_i"]][shuffled] for r in mine) > 0.9 * n
            assert all(r[c] == orig[r["_i"]][c] for r in mine for c in kept)
        assert all(
            r.asDict() == {**orig[r["_i"]].asDict(), importance.COPY: 0} for r in rows if r[importance.COPY] == 0
        )
    finally:
        cached.unpersist()
    # the forest's own top feature (colours are collinear, so which one depends on the fit) and
    # its least used one: shuffling the first must cost macro F1, far more than the second
    trees = importance.tree_importances(result.model.stages, result.features, "prediction")
    assert trees is not None and trees.sum() == pytest.approx(1.0) and list(trees.index) == result.features
    top, least = trees.idxmax(), trees.idxmin()
    perm = importance.permutation_importance(
        result.model.transform, val, result.features, columns=[top, least], max_rows=5000
    )
    assert set(perm.index) == {top, least} and np.isfinite(perm.to_numpy()).all()
    assert perm[top] > 0.02 and perm[top] > perm[least] + 0.02 and 0 < perm.attrs["baseline"] <= 1
    assert importance.tree_importances(result.model.stages, result.features, "z_phot") is None


def test_photoz_model_report_reproduces_the_logged_test_metrics(spark, settings, tmp_path):
    """A photo-z model (linear: no trees, so permutation importance): the report re-scores the test
    split of the pinned gold version and must land on the very metrics the training run logged."""
    from mlflow import MlflowClient

    from astrolake.lake import pipeline
    from astrolake.lake.tables import Lake
    from astrolake.ml import train
    from astrolake.ml.features import build_gold
    from astrolake.report import model_report

    lake = Lake(
        spark,
        settings.with_overrides(
            base_path=str(tmp_path / "lake"),
            tracking_uri=f"sqlite:///{tmp_path}/mlflow.db",
            experiment="astrolake-report-photoz",
        ),
    )
    pipeline.ingest(
        lake,
        "mlz_sdss_mgs",
        [str(TESTS_DATA / "mlz_sdss_mgs_train_1500.txt"), str(TESTS_DATA / "mlz_sdss_mgs_test_1500.txt")],
    )
    build_gold(lake, "mlz_sdss_mgs")
    result = train.train(lake, "mlz_sdss_mgs", task="photoz", family="linear", name="t_report_z")
    logged = MlflowClient().get_run(result.run_id).data.metrics

    report = model_report(
        lake,
        "models:/t_report_z@challenger",
        out=tmp_path / "z-report",
        log_artifact=False,
        permutation_rows=2000,
    )
    assert {"fig-photoz", "fig-photoz-residuals", "fig-importance"} <= set(report.figures)
    for name in ("n", "bias", "sigma_nmad", "outlier_fraction", "rmse"):
        assert report.metrics[name] == pytest.approx(logged[f"test_{name}"], rel=1e-9, abs=1e-12), name
    assert report.metrics["n"] > 1000
    # permutation importance: every feature once; shuffling some input hurts the fit (which one
    # depends on the fit: magnitudes and colours are collinear)
    assert set(report.importances) == set(result.features)
    assert max(report.importances.values()) > 0.005
    assert (tmp_path / "z-report" / "fig-photoz-residuals.png").read_bytes()[:4] == b"\x89PNG"
    assert report.artifact_uri is None  # log_artifact=False logs nothing
