"""Distributed deep learning: real multi-process Horovod and tf.distribute on local Spark.

Each run trains the Keras MLP on the DR17 sample (tests/data) and checks several things at once:
shards, identical weights, a score above the majority-class baseline, one MLflow run and one
registered version.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow.dataset as ds
import pytest

CAT = "sdss_dr17_stellar"
GOLD = "gold_sdss_dr17_stellar"
FAST = {"epochs": 4, "batch_size": 128, "depth": 2, "width": 32, "patience": 10}


@pytest.fixture(scope="module")
def dl_lake(spark, settings, tmp_path_factory, stellar_lake):
    """The DR17 5k sample ingested and featurised, in a lake and MLflow store of the module's own."""
    from astrolake.lake.tables import Lake

    root = tmp_path_factory.mktemp("dl")
    lake = Lake(
        spark,
        settings.with_overrides(
            base_path=str(root / "lake"), experiment="astrolake-dl", tracking_uri=f"sqlite:///{root}/mlflow.db"
        ),
    )
    stellar_lake(lake.settings.base_path)
    return lake


def _runs_and_versions(name: str):
    from mlflow import MlflowClient

    client = MlflowClient()
    versions = client.search_model_versions(f"name = '{name}'")
    return client, versions


def _run_count(lake) -> int:
    from mlflow import MlflowClient

    from astrolake.ml import tracking

    exp_id = tracking.configure(lake.settings)
    return len(MlflowClient().search_runs([exp_id], max_results=1000))


def test_horovod_build_has_tensorflow_and_gloo():
    out = subprocess.run(
        [str(Path(sys.executable).with_name("horovodrun")), "--check-build"],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    assert "[X] TensorFlow" in out and "[X] Gloo" in out


@pytest.mark.parametrize("backend", ["horovod", "tf-distribute"])
def test_two_worker_training(dl_lake, backend):
    from astrolake.dl.train import train_dnn
    from astrolake.ml import tracking

    name = f"t_dnn_{backend.replace('-', '_')}"
    runs_before = _run_count(dl_lake)
    result = train_dnn(dl_lake, CAT, backend=backend, num_proc=2, params=FAST, name=name, return_keys=True)
    ranks = result.ranks
    assert [r["rank"] for r in ranks] == [0, 1] and all(r["size"] == 2 for r in ranks)
    # each rank read only its shard: disjoint, and together exactly the training split of the table
    keys = [set(r["train_keys"]) for r in ranks]
    assert keys[0] and keys[1] and not keys[0] & keys[1]
    table_train = {
        r["_key"]
        for r in dl_lake.read(GOLD, version=result.table_version).where("split = 'train'").select("_key").collect()
    }
    assert keys[0] | keys[1] == table_train
    assert ranks[0]["weights"] == ranks[1]["weights"]  # every rank ends with the same model
    r0 = ranks[0]
    assert r0["epochs_run"] == FAST["epochs"]
    assert r0["validation_macro_f1"] > r0["majority_macro_f1"] + 0.2
    tracking.configure(dl_lake.settings)
    client, versions = _runs_and_versions(name)
    assert len(versions) == 1 and versions[0].run_id == result.run_id  # one run, one version
    assert _run_count(dl_lake) == runs_before + 1
    assert len(client.get_metric_history(result.run_id, "loss")) == FAST["epochs"]  # per-epoch metrics
    assert tracking.alias_version(name, "challenger") == "1"


def test_killed_run_resumes_from_its_checkpoint_and_registers_once(dl_lake, monkeypatch):
    """Rank 0 is SIGKILLed (``astrolake.faults``) after its first checkpoint, then, resumed, right
    after it registered the model: the third run trains no epoch again and registers no second copy."""
    from astrolake.dl.train import train_dnn
    from astrolake.ml import tracking

    name = "t_dnn_resume"
    params = {**FAST, "epochs": 4}
    monkeypatch.setenv("ASTROLAKE_FAULT", "dnn.epoch")
    with pytest.raises(Exception, match="exited with non-zero|exit"):
        train_dnn(dl_lake, CAT, backend="horovod", num_proc=2, params=params, name=name)
    ckpts = list((Path(dl_lake.settings.checkpoint_root) / "dnn").glob(f"{GOLD}-*"))
    assert [json.loads((c / "state.json").read_text())["epoch"] for c in ckpts] == [1]
    # resumed on plain hosts: horovodrun -np 2 -H localhost:2 (the same training function)
    monkeypatch.setenv("ASTROLAKE_FAULT", "dnn.registered")
    with pytest.raises(RuntimeError, match="horovodrun failed"):
        train_dnn(dl_lake, CAT, backend="horovod", num_proc=2, params=params, name=name, launcher="horovodrun")
    client, versions = _runs_and_versions(name)
    assert [str(v.version) for v in versions] == ["1"]
    monkeypatch.delenv("ASTROLAKE_FAULT")
    result = train_dnn(dl_lake, CAT, backend="horovod", num_proc=2, params=params, name=name)
    r0 = result.ranks[0]
    assert r0["initial_epoch"] == 4 and r0["epochs_run"] == 0  # every epoch was done before the kill
    assert result.ranks[1]["weights"] == r0["weights"]
    assert result.version == "1" and result.run_id == versions[0].run_id
    client, versions = _runs_and_versions(name)
    assert len(versions) == 1  # one run, one version
    assert len(client.get_metric_history(result.run_id, "loss")) == 4  # epoch 1, then epochs 2-4
    tracking.configure(dl_lake.settings)
    assert tracking.alias_version(name, "challenger") == "1"
    assert not list((Path(dl_lake.settings.checkpoint_root) / "dnn").glob(f"{GOLD}-*"))


@pytest.fixture(scope="module")
def keras_classifier(dl_lake):
    """A Keras MLP classifier trained in this process (``local`` backend), registered as challenger."""
    from astrolake.dl.train import train_dnn

    return train_dnn(dl_lake, CAT, backend="local", num_proc=1, params=FAST, name="t_dnn_keras")


def _assert_named_classes(pred, rows, features, classes):
    """pyfunc output: class names, one probability column per class summing to 1, class = argmax."""
    import numpy as np

    assert list(pred.columns) == ["predicted_class"] + [f"prob_{c}" for c in classes]
    assert pred.index.equals(rows.index)
    complete = rows[features].notna().all(axis=1).to_numpy()
    assert (pred["predicted_class"].notna().to_numpy() == complete).all()  # incomplete rows: no prediction
    ok = pred[complete]
    probs = ok[[f"prob_{c}" for c in classes]].to_numpy()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert (ok["predicted_class"].to_numpy() == np.array(classes)[probs.argmax(axis=1)]).all()
    assert set(ok["predicted_class"]) <= set(classes) and ok["predicted_class"].nunique() >= 2
    return ok


def test_keras_model_predicts_class_names_through_plain_pyfunc(dl_lake, keras_classifier):
    import mlflow
    import numpy as np

    from astrolake.ml import registry, tracking

    name = keras_classifier.model_name
    tracking.configure(dl_lake.settings)
    if tracking.alias_version(name, "champion") is None:
        registry.promote(dl_lake, name)
    model = mlflow.pyfunc.load_model(f"models:/{name}@champion")
    ref = tracking.resolve(f"models:/{name}@champion")
    assert "tensorflow" in ref.flavors and ref.named_outputs
    rows = dl_lake.read(GOLD).where("split = 'test'").orderBy("_key").limit(300).toPandas()
    rows.index = rows.index + 1000  # the output keeps the caller's index
    rows.loc[rows.index[:3], ref.features[0]] = np.nan
    pred = model.predict(rows)
    ok = _assert_named_classes(pred, rows, ref.features, ["GALAXY", "QSO", "STAR"])
    # the raw Keras model is still there, and agrees
    raw = mlflow.tensorflow.load_model(f"models:/{name}@champion")
    x = rows.loc[ok.index, ref.features].to_numpy("float32")
    np.testing.assert_allclose(raw.predict(x, verbose=0), ok.iloc[:, 1:].to_numpy(), atol=1e-6)


def test_keras_photoz_model_names_z_phot_and_its_error(dl_lake):
    import mlflow
    import numpy as np

    from astrolake.dl.train import train_dnn

    result = train_dnn(
        dl_lake, CAT, task="photoz", backend="local", num_proc=1, params={**FAST, "epochs": 2}, name="t_dnn_photoz"
    )
    pred = mlflow.pyfunc.load_model(f"models:/t_dnn_photoz/{result.version}").predict(
        dl_lake.read(GOLD).where("split = 'test' AND u IS NOT NULL").limit(50).toPandas()
    )
    assert list(pred.columns) == ["z_phot", "z_phot_err"]
    assert np.isfinite(pred["z_phot"]).all() and pred["z_phot_err"].isna().all()  # the MLP has no error model


def test_keras_model_scores_and_competes_like_mllib_models(dl_lake, keras_classifier):
    from astrolake.ml import registry, scoring
    from astrolake.ml.train import train

    name = keras_classifier.model_name
    scored = scoring.score(dl_lake, f"models:/{name}/{keras_classifier.version}", GOLD, "predictions_dnn")
    assert scored.scored == dl_lake.read(GOLD).count()
    preds = dl_lake.read("predictions_dnn").where(f"model_version = '{keras_classifier.version}'").toPandas()
    assert len(preds) == scored.scored and preds["z_phot"].isna().all()
    for _, row in preds.head(200).iterrows():
        probs = dict(row["probabilities"])
        assert set(probs) == {"GALAXY", "QSO", "STAR"}
        assert sum(probs.values()) == pytest.approx(1.0, abs=1e-5)
        assert row["predicted_class"] == max(probs, key=probs.get)
    # promotion scores the Keras version through the same pyfunc outputs
    first = registry.promote(dl_lake, name, version=keras_classifier.version)
    assert first.champion_after == keras_classifier.version  # the Keras version is (or was already) champion
    assert first.challenger_value > 0.5
    mllib = train(dl_lake, CAT, family="logreg", features=["u_g"], name=name)
    second = registry.promote(dl_lake, name)
    assert mllib.version != keras_classifier.version and not second.promoted
    assert second.champion_after == keras_classifier.version


def test_snapshot_is_written_once_per_version(dl_lake):
    from astrolake.dl.snapshot import write_snapshot

    a = write_snapshot(dl_lake, CAT, num_shards=3)
    stamp = (Path(a.path) / "meta.json").stat().st_mtime
    b = write_snapshot(dl_lake, CAT, num_shards=3)
    assert b.path == a.path and (Path(b.path) / "meta.json").stat().st_mtime == stamp
    total = sum(ds.dataset(a.shard_path("train", s), format="parquet").count_rows() for s in range(3))
    assert total == sum(a.counts["train"]) == dl_lake.read(GOLD).where("split = 'train'").count()
    assert len(a.mean) == len(a.features) and all(v > 0 for v in a.variance)


def test_architecture_search_with_optuna(dl_lake, monkeypatch):
    from astrolake.cli import main

    monkeypatch.setenv("ASTROLAKE_TRACKING_URI", dl_lake.settings.tracking_uri)
    monkeypatch.setenv("ASTROLAKE_EXPERIMENT", dl_lake.settings.experiment)
    name = "t_dnn_search"
    rc = main(
        [
            "search",
            CAT,
            "--family",
            "dnn",
            "--max-trials",
            "2",
            "--epochs",
            "1",
            "--model-name",
            name,
            "--base-path",
            dl_lake.settings.base_path,
            "--quiet",
        ]
    )
    assert rc == 0
    client, versions = _runs_and_versions(name)
    assert len(versions) == 1  # the refit of the best network, registered as challenger
    refit = client.get_run(versions[0].run_id)
    parent = refit.data.tags["mlflow.parentRunId"]
    children = client.search_runs([refit.info.experiment_id], f"tags.mlflow.parentRunId = '{parent}'")
    assert len(children) == 3  # 2 trials + the refit
    # The leaderboard must agree with what each trial run logged: trial 0 is the hand-set network,
    # "best" is the highest logged score, and the refit trains the best trial's network.
    import mlflow

    from astrolake.dl.search import SPACE
    from astrolake.dl.train import DEFAULTS

    with open(mlflow.artifacts.download_artifacts(run_id=parent, artifact_path="leaderboard.json")) as fh:
        board = json.load(fh)
    logged = {t["run_id"]: client.get_run(t["run_id"]).data.metrics["validation_macro_f1"] for t in board["trials"]}
    assert [t["number"] for t in board["trials"]] == [0, 1] and set(logged) <= {c.info.run_id for c in children}
    assert all(t["value"] == logged[t["run_id"]] for t in board["trials"])
    hand = board["trials"][0]
    assert hand["params"] == {k: DEFAULTS[k] for k in SPACE} and board["hand_set"] == hand
    assert board["best"] in board["trials"] and board["best"]["value"] == max(logged.values())
    metrics = client.get_run(parent).data.metrics
    assert metrics["best_validation_macro_f1"] == board["best"]["value"]
    assert metrics["hand_set_validation_macro_f1"] == hand["value"]
    assert {k: refit.data.params[k] for k in SPACE} == {k: str(v) for k, v in board["best"]["params"].items()}
    assert refit.data.tags["astrolake.backend"] == "horovod"
