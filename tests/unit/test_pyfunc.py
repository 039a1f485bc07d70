"""Named pyfunc outputs (astrolake.ml.pyfunc) on a real Keras model saved with real MLflow; no JVM."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

from astrolake.ml import pyfunc  # noqa: E402

CLASSES = ["GALAXY", "QSO", "STAR"]
FEATURES = ["u_g", "g_r", "r_i"]


def _saved(tmp_path, task: str, n_out: int, classes=None, features=FEATURES, shape=None):
    """A small Keras model saved by mlflow.tensorflow, its pyfunc flavour pointed at astrolake's loader."""
    import mlflow.tensorflow
    import tensorflow as tf
    from mlflow.models import Model

    tf.keras.utils.set_random_seed(0)
    k = tf.keras
    inp = k.Input(shape=shape[1:] if shape else (len(features),))
    x = k.layers.Flatten()(inp) if shape else inp
    out = k.layers.Dense(n_out, activation="softmax" if task == "classification" else None)(x)
    model = k.Model(inp, out)
    path = str(tmp_path / task)
    meta = Model()
    mlflow.tensorflow.save_model(model, path, mlflow_model=meta)
    meta.signature = pyfunc.signature(task, classes, features, shape)
    pyfunc.attach(path, meta, task, classes, features)
    return path, model


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    return _saved(tmp_path_factory.mktemp("classifier"), "classification", 3, CLASSES)


def _rows(n: int = 40, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(rng.normal(size=(n, len(FEATURES))), columns=FEATURES)
    df["ra"] = rng.uniform(0, 360, n)  # not a feature: ignored
    df.index = df.index + 500
    return df


def test_classifier_returns_class_names_and_probabilities(classifier):
    import mlflow.pyfunc

    path, keras = classifier
    model = mlflow.pyfunc.load_model(path)
    rows = _rows()
    rows.loc[501, "g_r"] = np.nan
    pred = model.predict(rows)
    assert list(pred.columns) == ["predicted_class", "prob_GALAXY", "prob_QSO", "prob_STAR"]
    assert pred.index.equals(rows.index)
    assert pred.loc[501, "predicted_class"] is None and pred.loc[501, "prob_QSO"] != pred.loc[501, "prob_QSO"]
    ok = pred.drop(index=501)
    probs = ok[["prob_GALAXY", "prob_QSO", "prob_STAR"]].to_numpy()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-6)
    assert (ok["predicted_class"].to_numpy() == np.array(CLASSES)[probs.argmax(axis=1)]).all()
    # the columns are taken by name, in the model's order, whatever order the caller has them in
    direct = keras.predict(rows.drop(index=501)[FEATURES].to_numpy("float32"), verbose=0)
    np.testing.assert_allclose(probs, direct, atol=1e-6)
    shuffled = model.predict(rows[["ra", "r_i", "u_g", "g_r"]])
    pd.testing.assert_frame_equal(shuffled, pred)
    # the raw Keras model is one call away
    assert model.get_raw_model().count_params() == keras.count_params()


def test_photoz_names_the_estimate_and_its_error(tmp_path):
    import mlflow.pyfunc

    path, keras = _saved(tmp_path, "photoz", 1)
    rows = _rows(10)
    pred = mlflow.pyfunc.load_model(path).predict(rows)
    assert list(pred.columns) == ["z_phot", "z_phot_err"]
    np.testing.assert_allclose(pred["z_phot"], keras.predict(rows[FEATURES].to_numpy("float32"), verbose=0)[:, 0])
    assert pred["z_phot_err"].isna().all()  # this network has no error model


def test_image_classifier_takes_its_tensor(tmp_path):
    import mlflow.pyfunc

    path, _ = _saved(tmp_path, "classification", 2, ["spiral", "other"], features=None, shape=(-1, 8, 8, 3))
    x = np.random.default_rng(0).random((5, 8, 8, 3), dtype=np.float32)
    pred = mlflow.pyfunc.load_model(path).predict(x)
    assert list(pred.columns) == ["predicted_class", "prob_spiral", "prob_other"] and len(pred) == 5
    assert set(pred["predicted_class"]) <= {"spiral", "other"}


def test_the_signature_lists_features_in_and_named_columns_out(classifier):
    from mlflow.models import Model

    path, _ = classifier
    meta = Model.load(os.path.join(path, "MLmodel"))
    assert meta.signature.inputs.input_names() == FEATURES
    assert meta.signature.outputs.input_names() == ["predicted_class", *[f"prob_{c}" for c in CLASSES]]
    conf = meta.flavors["python_function"]
    assert conf["loader_module"] == pyfunc.LOADER and conf["config"]["inner_loader"] == "mlflow.tensorflow"
    assert os.path.isfile(os.path.join(path, conf["code"], f"{pyfunc.LOADER}.py"))
    assert "tensorflow" in meta.flavors  # the model's own flavour stays


def test_rejections(tmp_path, classifier):
    import mlflow.pyfunc

    with pytest.raises(ValueError, match="class names"):
        pyfunc.output_columns("classification", [])
    with pytest.raises(ValueError, match="unknown task 'regression'"):
        pyfunc.output_columns("regression")
    path, _ = classifier
    with pytest.raises(Exception, match="r_i"):  # MLflow's schema check names the missing column
        mlflow.pyfunc.load_model(path).predict(_rows().drop(columns=["r_i"]))
    wrong, _ = _saved(tmp_path / "wrong", "classification", 2, CLASSES)
    with pytest.raises(ValueError, match="2 probabilities for 3 classes"):
        mlflow.pyfunc.load_model(wrong).predict(_rows())


def test_spark_result_type_matches_the_output_columns():
    assert pyfunc.spark_result_type("classification", ["A", "B"]) == (
        "`predicted_class` string, `prob_A` double, `prob_B` double"
    )
    assert pyfunc.spark_result_type("clustering") == "`cluster` bigint"
