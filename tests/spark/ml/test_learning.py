"""Gold features, MLlib models, tuning, search, MLflow registry, promotion and batch scoring.

Real Spark, real Delta, real MLflow (SQLite) on small real samples (tests/data, at most 5k rows).
"""

from __future__ import annotations

import json
import re
import runpy
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from pyspark.sql import functions as F

from conftest import ROOT, SMALL_SESSION, TESTS_DATA

DR17 = TESTS_DATA / "sdss_dr17_stellar_5k.csv"
CAT = "sdss_dr17_stellar"
GOLD = "gold_sdss_dr17_stellar"


@pytest.fixture(scope="module")
def dr17(lake, tmp_path_factory):
    """DR17 sample: 4,800 rows ingested and featurised; the last 200 kept back in a second file."""
    from astrolake.lake import pipeline
    from astrolake.ml.features import build_gold

    lines = DR17.read_text().splitlines()
    folder = tmp_path_factory.mktemp("dr17")
    first, later = folder / "part1.csv", folder / "part2.csv"
    first.write_text("\n".join(lines[:4801]) + "\n")
    later.write_text("\n".join([lines[0], *lines[4801:]]) + "\n")
    pipeline.ingest(lake, CAT, [str(first)])
    build_gold(lake, CAT)
    return {"later": later}


@pytest.fixture(scope="module")
def runs(lake, dr17):
    """Training runs that the registry tests share, each fitted once (not registered): ``registered``
    gives a test its own model version of one.  A weak logistic regression on u-g alone (twice: two
    runs), a random forest and its twin grown from another seed, a logistic regression on u-g and g-r."""
    from astrolake.ml import train

    rf = {"numTrees": 20, "maxDepth": 8}
    return {
        "weak": train.train(lake, CAT, family="logreg", features=["u_g"], register=False),
        "weak_again": train.train(lake, CAT, family="logreg", features=["u_g"], register=False),
        "rf": train.train(lake, CAT, family="rf", params=rf, register=False),
        "rf_twin": train.train(lake, CAT, family="rf", params={**rf, "seed": 7}, register=False),
        "pair": train.train(lake, CAT, family="logreg", features=["u_g", "g_r"], register=False),
    }


def registered(result, name: str):
    """``result``'s run registered under ``name`` as ``train(..., name=name)`` registers it (a new
    version, tagged with its table version, made the challenger); the result with that version."""
    import dataclasses

    from astrolake.ml import tracking

    tags = {tracking.TAG + "table_version": str(result.table_version)}
    version = tracking.register(result.run_id, "model", name, tags=tags)
    return dataclasses.replace(result, model_name=name, version=version)


def majority_macro_f1(lake) -> float:
    """Macro F1 of always predicting the most common class (the baseline a model must beat)."""
    counts = {r[0]: r[1] for r in lake.read(GOLD).where("split = 'validation'").groupBy("class").count().collect()}
    top = max(counts, key=counts.get)
    share = counts[top] / sum(counts.values())
    return (2 * share / (1 + share)) / len(counts)


# --------------------------------------------------------------------------------------------
# gold
# --------------------------------------------------------------------------------------------
def test_gold_features_split_and_incremental_refresh(lake, dr17):
    from astrolake.lake import pipeline
    from astrolake.ml import features

    gold = lake.read(GOLD)
    cols = gold.columns
    photometry = features.feature_columns(cols, "photometry")
    assert {"u", "g", "r", "i", "z", "u_g", "g_r", "r_i", "i_z", "u_z", "ug_gr", "ri_iz"} <= set(photometry)
    assert not {"ra", "dec", "date", "redshift", "healpix_29", "_key", "class"} & set(photometry)
    assert features.feature_columns(cols, "full") == photometry + ["redshift"]
    row = gold.where(F.col("u").isNotNull()).first()
    assert row["u_g"] == pytest.approx(row["u"] - row["g"])
    assert row["ug_gr"] == pytest.approx((row["u"] - row["g"]) - (row["g"] - row["r"]))

    shares = {r["split"]: r["count"] / 4800 for r in gold.groupBy("split").count().collect()}
    assert shares["train"] == pytest.approx(0.70, abs=0.03)
    assert shares["validation"] == pytest.approx(0.10, abs=0.02)
    assert shares["holdout"] == pytest.approx(0.10, abs=0.02)
    assert shares["test"] == pytest.approx(0.10, abs=0.02)
    before = {r["_key"]: r["split"] for r in gold.select("_key", "split").collect()}

    pipeline.ingest(lake, CAT, [str(dr17["later"])])
    result = features.build_gold(lake, CAT)
    assert result.mode == "incremental" and result.upserted == 200 and result.deleted == 0
    assert result.rows == 5000
    after = {r["_key"]: r["split"] for r in lake.read(GOLD).select("_key", "split").collect()}
    assert all(after[k] == s for k, s in before.items())  # a row keeps its split as the table grows
    assert features.build_gold(lake, CAT).mode == "unchanged"  # re-run: no-op
    # the incremental table equals a rebuild from the silver snapshot
    rebuilt = features.gold_rows(lake.read("silver_" + CAT), features.get_catalog(CAT))
    assert rebuilt.select("_key", "split", "u_g").exceptAll(lake.read(GOLD).select("_key", "split", "u_g")).count() == 0


def test_feature_allow_list_refuses_non_photometric_columns(lake, dr17):
    from astrolake.ml.features import FeatureError, training_data

    for bad in (["u_g", "ra"], ["redshift"], ["date"]):
        with pytest.raises(FeatureError, match=bad[-1]):
            training_data(lake, CAT, features=bad)
    with pytest.raises(FeatureError, match="photo-z target"):
        training_data(lake, CAT, task="photoz", feature_set="full")
    with pytest.raises(FeatureError, match="unknown feature set"):
        training_data(lake, CAT, feature_set="everything")
    assert training_data(lake, CAT, feature_set="full").features[-1] == "redshift"


def test_sky_blocked_split_keeps_every_order_3_cell_in_one_split(lake, dr17):
    import astropy.units as u
    from cdshealpix.nested import lonlat_to_healpix

    from astrolake.ml import train
    from astrolake.ml.features import FeatureError, training_data

    data = training_data(lake, CAT, split_by="sky")
    rows = data.frame.select("_key", "ra", "dec", "healpix_29", F.col("split").alias("sky")).toPandas()
    stored = lake.read(GOLD).select("_key", "split").toPandas()
    rows = rows.merge(stored, on="_key", validate="one_to_one")
    # the cell is the order-3 cell of the position, as cdshealpix computes it from (ra, dec)
    cells = lonlat_to_healpix(rows["ra"].to_numpy() * u.deg, rows["dec"].to_numpy() * u.deg, 3).astype(np.int64)
    assert (cells == rows["healpix_29"].to_numpy() >> 52).all()
    per_cell = rows.assign(cell=cells).groupby("cell")["sky"].nunique()
    assert (per_cell == 1).all() and len(per_cell) >= 8, per_cell
    assert set(rows["sky"]) == {"train", "validation", "holdout", "test"}
    assert (rows["sky"] != rows["split"]).mean() > 0.2  # not the stored split
    with pytest.raises(FeatureError, match="not registered"):
        train.train(lake, CAT, family="logreg", split_by="sky")
    with pytest.raises(FeatureError, match="unknown split_by"):
        training_data(lake, CAT, split_by="plate")


def test_split_honours_a_shipped_test_file(lake, tmp_path):
    from astrolake.lake import pipeline
    from astrolake.ml.features import build_gold

    pipeline.ingest(
        lake,
        "mlz_sdss_mgs",
        [str(TESTS_DATA / "mlz_sdss_mgs_train_1500.txt"), str(TESTS_DATA / "mlz_sdss_mgs_test_1500.txt")],
    )
    build_gold(lake, "mlz_sdss_mgs")
    counts = {
        (r[0], r[1]): r[2]
        for r in lake.read("gold_mlz_sdss_mgs")
        .groupBy(F.col("_source_name").contains("test"), "split")
        .count()
        .collect()
    }
    assert counts[(True, "test")] == 1500 and (True, "train") not in counts
    assert (False, "test") not in counts
    assert counts[(False, "validation")] == pytest.approx(0.12 * 1500, abs=45)
    assert counts[(False, "holdout")] == pytest.approx(0.12 * 1500, abs=45)  # carved from the train file
    # MLZ ships its own colour errors: gold keeps them; and computes the missing pairs in quadrature
    row = lake.read("gold_mlz_sdss_mgs").first()
    assert row["err_u_r"] == pytest.approx(np.hypot(row["err_u"], row["err_r"]))


def test_gold_written_under_the_old_split_rule_is_migrated_once(lake, tmp_path):
    """A gold table from before the hold-out (buckets 80-89 were test) is rewritten on its next refresh."""
    from astrolake.lake import pipeline
    from astrolake.ml.features import build_gold

    cat, gold = "sdss_colours", "gold_sdss_colours"
    pipeline.ingest(lake, cat, [str(TESTS_DATA / "ddastro_sdss_galaxy_colors_500.csv")])
    build_gold(lake, cat)
    current = {r["_key"]: r["split"] for r in lake.read(gold).select("_key", "split").collect()}
    assert {"train", "validation", "holdout", "test"} == set(current.values())
    # make it look like a table of the old rule
    lake.sql("UPDATE {t} SET split = 'test' WHERE split = 'holdout'", t=gold)
    lake.sql(
        "ALTER TABLE {t} SET TBLPROPERTIES ('astrolake.split' = "
        "'xxhash64(_key) % 100: <70 train, <80 validation, else test')",
        t=gold,
    )
    old_version = lake.version(gold)
    assert build_gold(lake, cat).mode == "unchanged"  # silver did not change; the split did
    assert {r["_key"]: r["split"] for r in lake.read(gold).select("_key", "split").collect()} == current
    props = {r["key"]: r["value"] for r in lake.sql("SHOW TBLPROPERTIES {t}", t=gold).collect()}
    assert "holdout" in props["astrolake.split"]
    migrated = lake.version(gold)
    assert migrated > old_version
    build_gold(lake, cat)
    assert lake.version(gold) == migrated  # once: a second refresh writes nothing


# --------------------------------------------------------------------------------------------
# MLlib families, imbalance, tuning
# --------------------------------------------------------------------------------------------
SMALL = {
    "logreg": {"maxIter": 15},
    "tree": {"maxDepth": 6},
    "rf": {"numTrees": 20, "maxDepth": 8},
    "gbt": {"maxIter": 3, "maxDepth": 4},
    "svc": {"maxIter": 8},
    "mlp": {"hidden": [16], "maxIter": 25},
    "xgb": {"n_estimators": 40, "max_depth": 4},
}


def test_every_classifier_family_beats_the_majority_baseline(lake, dr17):
    from astrolake.ml import features, models, train

    data = features.training_data(lake, CAT)
    data.frame = data.frame.cache()
    baseline = majority_macro_f1(lake)
    scores = {}
    for family, params in SMALL.items():
        fitted = train.fit(data, "classification", family, params)
        assert fitted.classes == ["GALAXY", "QSO", "STAR"]
        validation = models.index_labels(data.split("validation"), fitted.classes)
        scores[family] = models.MacroF1Evaluator().evaluate(fitted.model.transform(validation))
    data.frame.unpersist()
    assert all(v > baseline + 0.2 for v in scores.values()), (baseline, scores)


def test_class_weights_and_resampling(lake, dr17):
    from astrolake.ml import features, models

    train_rows = features.training_data(lake, CAT).split("train")
    weighted, weights = models.with_class_weights(train_rows)
    counts = {r[0]: r[1] for r in train_rows.groupBy("class").count().collect()}
    # n / (k * n_c): every class carries the same total weight
    totals = {c: weights[c] * n for c, n in counts.items()}
    assert max(totals.values()) == pytest.approx(min(totals.values()))
    assert weighted.agg(F.sum(models.WEIGHT)).first()[0] == pytest.approx(sum(counts.values()))
    resampled = {r[0]: r[1] for r in models.balanced_resample(train_rows).groupBy("class").count().collect()}
    biggest = max(counts.values())
    assert all(abs(n - biggest) / biggest < 0.1 for n in resampled.values()), resampled


@pytest.mark.parametrize("method", ["cv", "tvs"])
def test_tuning_over_a_param_grid(lake, dr17, method):
    from astrolake.ml import features, train

    data = features.training_data(lake, CAT)
    fitted = train.fit(data, "classification", "logreg", tune=method, folds=2, grid_size="small")
    assert fitted.tuning["method"] == method
    assert len(fitted.tuning["scores"]) == 2  # regParam [0.0, 0.01]
    assert all(0.3 < s <= 1 for s in fitted.tuning["scores"])


# --------------------------------------------------------------------------------------------
# MLflow: tracking, registry, promotion; batch scoring
# --------------------------------------------------------------------------------------------
def test_train_logs_reproducible_run_and_registers_challenger(lake, dr17):
    import mlflow
    from mlflow import MlflowClient

    from astrolake.ml import tracking, train

    first = train.train(lake, CAT, family="rf", params={"numTrees": 20, "maxDepth": 8}, name="t_repro")
    client = MlflowClient()
    run = client.get_run(first.run_id)
    assert run.data.tags["astrolake.table"] == GOLD
    assert int(run.data.tags["astrolake.table_version"]) == lake.version(GOLD)
    assert json.loads(run.data.tags["astrolake.features"]) == first.features
    assert first.metrics["validation_macro_f1"] > majority_macro_f1(lake) + 0.2
    assert {"test_macro_f1", "test_f1_QSO", "test_recall_STAR"} <= set(run.data.metrics)
    arts = {a.path for a in client.list_artifacts(first.run_id)} | {
        a.path for a in client.list_artifacts(first.run_id, "plots/test")
    }
    assert "plots/test/confusion_matrix.png" in arts and "features.json" in arts
    info = mlflow.models.get_model_info(f"runs:/{first.run_id}/model")
    assert info.signature is not None and "spark" in info.flavors
    assert tracking.alias_version("t_repro", "challenger") == first.version == "1"
    # retraining from the recorded table version reproduces the metrics
    again = train.train(
        lake,
        CAT,
        family="rf",
        params={"numTrees": 20, "maxDepth": 8},
        table_version=first.table_version,
        register=False,
    )
    assert again.metrics["test_macro_f1"] == pytest.approx(first.metrics["test_macro_f1"], abs=1e-12)


def test_promotion_moves_champion_only_on_a_win_beyond_the_noise_and_scoring_is_incremental(lake, runs):
    from mlflow import MlflowClient

    from astrolake.ml import registry, scoring

    name = "t_promote"
    weak = registered(runs["weak"], name)
    p1 = registry.promote(lake, name)
    assert p1.promoted and p1.champion_after == weak.version and p1.gain is None  # no champion yet
    holdout = lake.read(GOLD).where("split = 'holdout' AND u IS NOT NULL").count()
    assert p1.rows == holdout > 300  # the hold-out split, not the test split
    strong = registered(runs["rf"], name)
    # a required gain larger than the one there is keeps the champion (a dry run moves nothing anyway)
    demanding = registry.promote(lake, name, min_gain=0.9, dry_run=True)
    assert not demanding.wins and demanding.champion_after == weak.version
    p2 = registry.promote(lake, name)
    assert p2.promoted and p2.champion_after == strong.version
    assert p2.gain.low > 0 and p2.gain.gain == pytest.approx(p2.challenger_value - p2.champion_value)
    tags = MlflowClient().get_model_version(name, strong.version).tags
    assert tags["astrolake.promotion.split"] == "holdout"
    assert float(tags["astrolake.promotion.gain_low"]) == pytest.approx(p2.gain.low)
    # a near-tie: the same forest grown from another seed; whichever of the two is better by a hair
    # is made the challenger, so that the old rule (any strict win) would promote it: it must not
    twin = registered(runs["rf_twin"], name)
    probe = registry.promote(lake, name, dry_run=True)
    assert probe.gain.low <= 0 <= probe.gain.high and abs(probe.gain.gain) < 0.03  # a tie within the noise
    client = MlflowClient()
    if probe.gain.gain < 0:  # the first forest is the better one: it challenges the twin
        client.set_registered_model_alias(name, "champion", twin.version)
        client.set_registered_model_alias(name, "challenger", strong.version)
    p3 = registry.promote(lake, name)
    champion = p3.champion_before
    assert p3.gain.gain >= 0 and p3.challenger_value >= p3.champion_value
    assert not p3.promoted and p3.gain.low <= 0
    result = client.get_model_version(name, p3.challenger).tags["astrolake.promotion.result"]
    assert result == "rejected"
    weak2 = registered(runs["weak_again"], name)
    p4 = registry.promote(lake, name)
    assert not p4.promoted and p4.champion_after == champion  # a worse model never wins
    assert p4.gain.high < 0
    tags = MlflowClient().get_model_version(name, weak2.version).tags
    assert tags["astrolake.promotion.result"] == "rejected"
    assert float(tags["astrolake.promotion.champion_value"]) == pytest.approx(p4.champion_value)
    with pytest.raises(registry.tracking.ModelError, match="at least 100000"):
        registry.promote(lake, name, min_rows=100_000)
    with pytest.raises(registry.tracking.ModelError, match="not 'rmse'"):
        registry.promote(lake, name, metric="rmse")

    out = "predictions_t"
    r1 = scoring.score(lake, f"models:/{name}@champion", GOLD, out)
    assert r1.scored == lake.read(GOLD).where(F.col("u").isNotNull()).count() and r1.model_version == champion
    preds = lake.read(out)
    row = preds.first()
    assert sum(row["probabilities"].values()) == pytest.approx(1.0)
    assert row["predicted_class"] == max(row["probabilities"], key=row["probabilities"].get)
    assert scoring.score(lake, f"models:/{name}@champion", GOLD, out).scored == 0  # re-run: no-op
    # another version: rows already scored by the model are skipped unless rescoring is asked for
    assert scoring.score(lake, f"models:/{name}/{weak.version}", GOLD, out).scored == 0
    r4 = scoring.score(lake, f"models:/{name}/{weak.version}", GOLD, out, rescore=True)
    assert r4.scored == r1.scored
    assert preds.groupBy("model_version").count().count() == 2
    with pytest.raises(LookupError, match="no registered model version"):
        scoring.score(lake, f"models:/{name}@nosuchalias", GOLD, out)


def test_a_model_that_fails_validation_never_becomes_champion(lake, runs):
    """Features the table lacks, or a model logged without a signature: refused, tagged, no alias moved."""
    import mlflow
    from mlflow import MlflowClient
    from mlflow.models import Model

    from astrolake.ml import registry, tracking, train

    name = "t_invalid"
    bad = train.train(lake, CAT, family="logreg", features=["u_g", "g_r"], name=name)
    client = MlflowClient()  # after train: it configures the tracking store
    client.set_tag(bad.run_id, "astrolake.features", json.dumps(["u_g", "g_r", "w1_mag"]))
    with pytest.raises(tracking.ModelError, match="cannot become champion: its signature lacks feature.s. w1_mag"):
        registry.promote(lake, name)
    assert tracking.alias_version(name, tracking.CHAMPION) is None  # even with no champion to beat
    tags = client.get_model_version(name, bad.version).tags
    assert (
        tags["astrolake.promotion.result"] == "invalid"
        and "missing from the table" in tags["astrolake.promotion.problems"]
    )

    # the same kind of pipeline, logged by hand without a signature
    fitted = runs["pair"]
    with mlflow.start_run() as run:
        mlflow.set_tags(
            {k: v for k, v in client.get_run(fitted.run_id).data.tags.items() if k.startswith("astrolake.")}
        )
        # as astrolake logs its models (Model.log with the spark flavour), only without a signature
        Model.log(artifact_path=None, name="model", flavor=mlflow.spark, spark_model=fitted.model)
    version = tracking.register(run.info.run_id, "model", name)
    with pytest.raises(tracking.ModelError, match="has no MLflow signature"):
        registry.promote(lake, name, version=version)
    assert tracking.alias_version(name, tracking.CHAMPION) is None
    good = registered(runs["pair"], name)
    assert registry.promote(lake, name).champion_after == good.version  # a valid one still can


def _promote_killed_at(fault: str, settings, name: str) -> None:
    """``registry.promote`` in a child process that SIGKILLs itself at ``fault`` (astrolake.faults)."""
    import os
    import signal

    code = (
        "from astrolake import Lake, Settings, get_spark\n"
        "from astrolake.ml import registry\n"
        f"s = Settings(base_path={settings.base_path!r}, tracking_uri={settings.tracking_uri!r}, "
        f"experiment={settings.experiment!r}, spark_master='local[2]', shuffle_partitions=2, driver_memory='2g')\n"
        f"registry.promote(Lake(get_spark(s), s), {name!r})\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ASTROLAKE_", "PYSPARK_GATEWAY"))}
    env.update(ASTROLAKE_FAULT=fault, SPARK_LOCAL_IP="127.0.0.1", TF_USE_LEGACY_KERAS="1")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
    assert f"fault point {fault}" in proc.stderr


@pytest.mark.parametrize("point", ["promote.tagged", pytest.param("promote.moved", marks=pytest.mark.slow)])
def test_a_promote_killed_between_its_steps_leaves_consistent_aliases(lake, runs, ml_settings, point):
    from mlflow import MlflowClient

    from astrolake.ml import registry, tracking

    name = "t_kill_" + point.replace(".", "_")
    weak = registered(runs["weak"], name)
    registry.promote(lake, name)
    strong = registered(runs["rf"], name)
    client = MlflowClient()

    def state():
        result = client.get_model_version(name, strong.version).tags.get("astrolake.promotion.result")
        return tracking.alias_version(name, "champion"), tracking.alias_version(name, "challenger"), result

    _promote_killed_at(point, ml_settings, name)
    if point == "promote.tagged":
        # killed after the comparison's tags, before the alias moved: the old champion stays, the
        # challenger is marked as having won; the next promote moves the alias
        assert state() == (weak.version, strong.version, "wins")
        assert registry.promote(lake, name).promoted and state() == (strong.version, strong.version, "promoted")
    else:
        # killed after the alias moved, before the last tag: champion is the winner; the next promote
        # completes the tag, and never marks the champion rejected
        assert state() == (strong.version, strong.version, "wins")
        again = registry.promote(lake, name)
        assert again.champion_after == strong.version and not again.promoted
        assert state() == (strong.version, strong.version, "promoted")


def _assert_named_classes(pred, rows, features, classes):
    """pyfunc output: class names, one probability column per class summing to 1, class = argmax."""
    assert list(pred.columns) == ["predicted_class"] + [f"prob_{c}" for c in classes]
    assert pred.index.equals(rows.index)
    complete = rows[features].notna().all(axis=1).to_numpy()
    assert (pred["predicted_class"].notna().to_numpy() == complete).all()  # incomplete rows: no prediction
    ok = pred[complete]
    probs = ok[[f"prob_{c}" for c in classes]].to_numpy()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-9)
    assert (ok["predicted_class"].to_numpy() == np.array(classes)[probs.argmax(axis=1)]).all()
    assert set(ok["predicted_class"]) <= set(classes) and ok["predicted_class"].nunique() >= 2
    return ok


def test_champion_predicts_class_names_through_plain_pyfunc(lake, runs):
    """`mlflow.pyfunc.load_model("models:/NAME@champion").predict(pandas)`: names, not label indexes."""
    import mlflow

    from astrolake.ml import registry, scoring, tracking

    name = "t_pyfunc"
    trained = registered(runs["rf"], name)
    registry.promote(lake, name)
    assert tracking.resolve(f"models:/{name}@champion").named_outputs
    model = mlflow.pyfunc.load_model(f"models:/{name}@champion")
    rows = lake.read(GOLD).where("split = 'test'").orderBy("_key").limit(400).toPandas()
    rows.index = rows.index + 1000  # the output keeps the caller's index
    rows.loc[rows.index[:3], "g_r"] = np.nan  # a missing feature: no prediction for that row
    pred = model.predict(rows)
    ok = _assert_named_classes(pred, rows, trained.features, ["GALAXY", "QSO", "STAR"])
    # the raw MLlib pipeline is still there (spark flavour) and agrees
    raw = mlflow.spark.load_model(f"models:/{name}@champion")
    keys = rows.loc[ok.index, "_key"]
    direct = raw.transform(lake.read(GOLD).where(F.col("_key").isin(list(keys)))).toPandas().set_index("_key")
    assert (direct.loc[keys, "predicted_class"].to_numpy() == ok["predicted_class"].to_numpy()).all()
    # scoring into Delta stores the same class names and probabilities
    scoring.score(lake, f"models:/{name}@champion", GOLD, "predictions_pyfunc")
    stored = lake.read("predictions_pyfunc").toPandas().set_index("_key").loc[keys]
    assert (stored["predicted_class"].to_numpy() == ok["predicted_class"].to_numpy()).all()
    for c in ("GALAXY", "QSO", "STAR"):
        got = stored["probabilities"].map(lambda m, c=c: dict(m)[c]).to_numpy()
        np.testing.assert_allclose(got, ok[f"prob_{c}"].to_numpy(), atol=1e-12)


def test_stacked_ensemble_is_one_pipeline_that_leans_on_its_better_members(lake, dr17):
    import mlflow

    from astrolake.ml import ensemble, features, train
    from astrolake.ml.tracking import ModelError

    data = features.training_data(lake, CAT)
    data.frame = data.frame.cache()
    weak = train.fit(data, "classification", "logreg", {"regParam": 1.0, "maxIter": 20})  # scaled, shrunk
    boosted = train.fit(data, "classification", "gbt", {"maxIter": 3, "maxDepth": 2})  # one-vs-rest
    strong = train.fit(data, "classification", "rf", {"numTrees": 10, "maxDepth": 6})
    members = [weak, boosted, strong]
    validation, test = data.split("validation"), data.split("test")
    stacked = ensemble.stack(members, validation)
    assert stacked.family == "stack" and [m["family"] for m in stacked.params["members"]] == ["logreg", "gbt", "rf"]
    f1 = {
        name: train.evaluate(f.model, test, "classification", f.classes).to_dict()["macro_f1"]
        for name, f in {"weak": weak, "strong": strong, "stack": stacked}.items()
    }
    assert f1["strong"] > f1["weak"] + 0.1, f1  # the members differ, so the meta-learner must choose
    assert f1["stack"] > f1["weak"] + 0.1 and f1["stack"] >= f1["strong"] - 0.01, f1
    honest = ensemble.cross_fitted_metrics(members, validation).to_dict()
    assert honest["n"] == validation.count() and honest["macro_f1"] > f1["weak"] + 0.1
    # one pipeline: the usual outputs, none of the members' columns; logged like any model and loaded
    # back by plain pyfunc (saved and read from disk), it gives the same class names
    rows = test.orderBy("_key").limit(300).toPandas()
    pred = stacked.model.transform(test.orderBy("_key").limit(300)).toPandas()
    assert {"prediction", "probability", "predicted_class"} <= set(pred.columns)
    assert not [c for c in pred.columns if c.startswith("_m") or c == ensemble.META_FEATURES]
    with mlflow.start_run():
        train.log_model(stacked, data)
        uri = f"runs:/{mlflow.active_run().info.run_id}/model"
    named = _assert_named_classes(mlflow.pyfunc.load_model(uri).predict(rows), rows, data.features, stacked.classes)
    assert (named["predicted_class"].to_numpy() == pred["predicted_class"].to_numpy()).all()
    with pytest.raises(ModelError, match="at least 2 members"):
        ensemble.stack([strong], validation)
    data.frame.unpersist()


def test_search_runs_nested_trials_and_scores_test_once(lake, dr17):
    from mlflow import MlflowClient

    from astrolake.ml import search

    result = search.search(
        lake, CAT, families=["logreg", "rf"], grid_size="small", max_trials=3, name="t_search", stack=2
    )
    # first round: each family once; then the trial goes to the family that leads (rf, far ahead of
    # a linear model on colours), not to the next grid point in plan order (logreg)
    assert len(result.trials) == 3 and [t.family for t in result.trials] == ["logreg", "rf", "rf"]
    assert result.stopped_by == "max trials (3) reached"
    client = MlflowClient()
    children = client.search_runs(
        [client.get_run(result.run_id).info.experiment_id], f"tags.mlflow.parentRunId = '{result.run_id}'"
    )
    # the stack of the best rf and the best logreg is tried after the trials, cross-fitted on validation,
    # and selected only if it beats the best single trial
    assert len(children) == 4
    (stacked,) = [c for c in children if c.data.tags.get("astrolake.family") == "stack"]
    assert re.fullmatch(r"rf \(trial [23]\) \+ logreg \(trial 1\)", stacked.data.tags["astrolake.members"])
    best_single = max(t.value for t in result.trials)
    stack_value = stacked.data.metrics["validation_macro_f1"]
    if stack_value > best_single:
        assert result.best.family == "stack" and result.best.value == stack_value
    else:
        assert result.best.family == "rf" and result.best.value == best_single
    assert all(not any(k.startswith("test_") for k in c.data.metrics) for c in children)  # validation only
    assert "test_macro_f1" in client.get_run(result.run_id).data.metrics
    assert result.version == "1"
    board = json.loads((Path(client.download_artifacts(result.run_id, "leaderboard.json"))).read_text())
    assert [r["status"] for r in board["plan"]].count("run") == 3
    assert {r["status"] for r in board["plan"]} == {"run", "not reached"}  # small grids: 2 + 2 planned
    assert board["trial_seconds"] > 0


def test_a_trial_running_past_the_budget_is_cancelled(spark):
    """The search's guard: a trial's Spark jobs are cancelled when the budget ends."""
    import time

    from astrolake.ml.search import TrialCancelled, _run_within

    started = time.perf_counter()
    endless = spark.range(0, 10**13, numPartitions=4).selectExpr("max(id % 1000)")  # hours of work, no overflow
    with pytest.raises(TrialCancelled, match="budget ended"):
        _run_within(spark, 2.0, endless.collect)
    assert time.perf_counter() - started < 120  # it was stopped
    assert _run_within(spark, 60.0, lambda: spark.range(10).count()) == 10  # in time: the result
    assert spark.range(5).count() == 5  # the session is usable afterwards


def test_photoz_with_calibrated_uncertainty(lake):
    from astrolake.lake import pipeline
    from astrolake.ml import train
    from astrolake.ml.features import build_gold

    if not lake.exists("gold_mlz_sdss_mgs"):
        pipeline.ingest(
            lake,
            "mlz_sdss_mgs",
            [str(TESTS_DATA / "mlz_sdss_mgs_train_1500.txt"), str(TESTS_DATA / "mlz_sdss_mgs_test_1500.txt")],
        )
        build_gold(lake, "mlz_sdss_mgs")
    r = train.train(
        lake,
        "mlz_sdss_mgs",
        task="photoz",
        family="rf",
        params={"numTrees": 30, "maxDepth": 8},
        register=False,
    )
    assert r.metrics["test_sigma_nmad"] < 0.03  # MGS galaxies: about 0.013-0.02 with RF
    assert r.metrics["test_outlier_fraction"] < 0.02
    assert 0.55 < r.metrics["test_coverage_1sigma"] < 0.80  # calibrated to 0.683 on validation
    # plain pyfunc names the point estimate and its 1-sigma
    import mlflow

    rows = lake.read("gold_mlz_sdss_mgs").where("split = 'test'").orderBy("_key").limit(100).toPandas()
    pred = mlflow.pyfunc.load_model(f"runs:/{r.run_id}/model").predict(rows)
    assert list(pred.columns) == ["z_phot", "z_phot_err"]
    direct = r.model.transform(lake.read("gold_mlz_sdss_mgs").where(F.col("_key").isin(list(rows["_key"]))))
    direct = direct.toPandas().set_index("_key").loc[rows["_key"]]
    np.testing.assert_allclose(pred["z_phot"].to_numpy(), direct["z_phot"].to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(pred["z_phot_err"].to_numpy(), direct["z_phot_err"].to_numpy(), rtol=1e-12)
    assert (pred["z_phot_err"] > 0).all()


def test_clustering_on_colours_assigns_new_rows(lake, dr17):
    from astrolake.ml import features, train

    r = train.train(lake, CAT, task="clustering", family="kmeans", params={"k": 3}, name="t_kmeans")
    assert r.features == ["u_g", "g_r", "r_i", "i_z"]
    assert r.metrics["validation_silhouette"] > 0.2
    rows = features.training_data(lake, CAT, features=r.features).split("test")
    assigned = r.model.transform(rows).select("cluster").distinct().count()
    assert assigned == 3
    import mlflow

    pred = mlflow.pyfunc.load_model(f"runs:/{r.run_id}/model").predict(rows.limit(50).toPandas())
    assert list(pred.columns) == ["cluster"] and set(pred["cluster"]) <= {0, 1, 2}


def test_xgboost_stage_is_logged_loaded_and_scored(lake, dr17):
    from astrolake.ml import scoring, train

    r = train.train(lake, CAT, family="xgb", params=SMALL["xgb"], name="t_xgb")
    assert r.metrics["test_macro_f1"] > majority_macro_f1(lake) + 0.2
    s = scoring.score(lake, "models:/t_xgb@challenger", GOLD, "predictions_xgb")
    assert s.scored > 4000
    import mlflow

    rows = lake.read(GOLD).where("split = 'test'").orderBy("_key").limit(200).toPandas()
    pred = mlflow.pyfunc.load_model("models:/t_xgb@challenger").predict(rows)
    ok = _assert_named_classes(pred, rows, r.features, ["GALAXY", "QSO", "STAR"])
    stored = lake.read("predictions_xgb").toPandas().set_index("_key").loc[rows.loc[ok.index, "_key"]]
    assert (stored["predicted_class"].to_numpy() == ok["predicted_class"].to_numpy()).all()


# --------------------------------------------------------------------------------------------
# doors
# --------------------------------------------------------------------------------------------
def _cli(*args, settings):
    env_args = ["--base-path", settings.base_path, *SMALL_SESSION]
    return subprocess.run(
        [sys.executable, "-m", "astrolake.cli", *args, *env_args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
        env={
            **__import__("os").environ,
            "ASTROLAKE_TRACKING_URI": settings.tracking_uri,
            "ASTROLAKE_EXPERIMENT": "astrolake-cli",
        },
    )


def test_cli_rejects_bad_learning_arguments(ml_settings, capsys, monkeypatch):
    def cli(*args):  # in this process: exit status and stderr, argparse's own exits included
        try:
            rc, _, err = _main(capsys, monkeypatch, ml_settings, *args)
        except SystemExit as exc:
            rc, err = exc.code, capsys.readouterr().err
        return rc, err

    rc, err = cli("train", CAT, "--family", "nope")
    assert rc == 1 and "unknown classification family 'nope'" in err
    rc, err = cli("train", CAT, "--param", "maxDepth")
    assert rc == 2 and "NAME=VALUE" in err
    rc, err = cli("score", "--model", "runs:/abc", "--table", GOLD, "--out", "p")
    assert rc == 1 and "models:/NAME@champion" in err
    rc, err = cli("search", CAT, "--budget-minutes", "0")
    assert rc == 2 and "budget" in err
    rc, err = cli("train", CAT, "--task", "regression")
    assert rc == 2 and "invalid choice: 'regression'" in err  # argparse


def test_cli_train_xgb_shows_its_steps_and_hides_xgboost_rounds(lake, dr17, ml_settings):
    args = ("train", CAT, "--family", "xgb", "--param", "n_estimators=25", "--param", "max_depth=3", "--no-register")
    r = _cli(*args, settings=ml_settings)
    assert r.returncode == 0, r.stderr[-3000:]
    steps = [line for line in r.stderr.splitlines() if line.startswith("[astrolake] train: [")]
    assert [line.split(" ... ")[0] for line in steps] == [
        "[astrolake] train: [1/3] fit xgb",
        "[astrolake] train: [2/3] evaluate on validation and test",
        "[astrolake] train: [3/3] log model",
    ]
    assert "rows)" in steps[1]  # the rows evaluated
    assert "training-mlogloss" not in r.stdout + r.stderr  # no per-round evaluation lines
    assert "XGBoost-PySpark" not in r.stderr  # nor xgboost.spark's INFO lines


@pytest.mark.slow
def test_cli_train_xgb_shows_xgboost_rounds_with_verbose(lake, dr17, ml_settings):
    args = ("train", CAT, "--family", "xgb", "--param", "n_estimators=25", "--param", "max_depth=3", "--no-register")
    verbose = _cli(*args, "--verbose", settings=ml_settings)
    assert verbose.returncode == 0, verbose.stderr[-3000:]
    assert verbose.stderr.count("training-mlogloss") >= 25  # one line per round when asked for


def _main(capsys, monkeypatch, settings, *args) -> tuple[int, str, str]:
    """`astrolake ARGS` in this process (the session's Spark), with the test's MLflow store."""
    from astrolake.cli import main

    monkeypatch.setenv("ASTROLAKE_TRACKING_URI", settings.tracking_uri)
    monkeypatch.setenv("ASTROLAKE_EXPERIMENT", "astrolake-cli")
    capsys.readouterr()
    rc = main([*args, "--base-path", settings.base_path])
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_cli_train_promote_score(lake, dr17, ml_settings, tmp_path, capsys, monkeypatch):
    # once gold exists, every ingest brings it up to date from silver's change feed
    lines = DR17.read_text().splitlines()
    fixed = tmp_path / "corrected.csv"
    fixed.write_text(
        "\n".join([lines[0]] + [",".join(row.split(",")[:3] + ["18.5"] + row.split(",")[4:]) for row in lines[1:4]])
        + "\n"
    )
    rc, out, err = _main(capsys, monkeypatch, ml_settings, "ingest", CAT, str(fixed))
    assert rc == 0, err
    assert f"{GOLD}: incremental" in out and "3 upserted" in out
    assert lake.read(GOLD).where(F.col("u") == 18.5).count() == 3

    rc, out, err = _main(
        capsys,
        monkeypatch,
        ml_settings,
        "train",
        CAT,
        "--family",
        "tree",
        "--param",
        "maxDepth=6",
        "--model-name",
        "t_cli",
        "--quiet",
    )
    assert rc == 0, err
    trained = json.loads(out.strip().splitlines()[-1])
    assert trained["version"] == "1" and trained["metrics"]["test_macro_f1"] > 0.5
    rc, out, err = _main(capsys, monkeypatch, ml_settings, "promote", "t_cli", "--quiet")
    assert rc == 0 and json.loads(out)["champion"] == "1"
    # the spark-submit door's script, jobs/score.py, run as __main__ (in this process: the session's Spark;
    # tests/spark/test_doors.py runs jobs/ingest.py through spark-submit on a standalone cluster)
    monkeypatch.setattr(
        sys,
        "argv",
        ["jobs/score.py", "--model", "models:/t_cli@champion", "--table", GOLD, "--out", "predictions_cli"]
        + ["--quiet", "--base-path", ml_settings.base_path],
    )
    capsys.readouterr()
    with pytest.raises(SystemExit) as done:
        runpy.run_path(str(ROOT / "jobs" / "score.py"), run_name="__main__")
    assert done.value.code == 0, capsys.readouterr().err
    assert json.loads(capsys.readouterr().out)["scored"] == lake.read("predictions_cli").count() > 4000
