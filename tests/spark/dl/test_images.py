"""Galaxy Zoo images: ingest of JPEG bytes into Delta, the tf.data pipeline, the CNN, transfer learning.

Real data, real Spark + Delta; kept small for 2 busy cores.  The checks that need a handful of
images use the four Galaxy Zoo 1 JPEGs of tests/data; ingesting all 6,664 GZ1 images, the CNN and
transfer learning to GZ2 need ../shared/data/galaxyzoo* and are skipped without it.
"""

from __future__ import annotations

import csv
import logging
import shutil

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import functions as F

from conftest import TESTS_DATA, shared_file

GZ1, GZ2 = "bronze_gz1_images", "bronze_gz2_images"
SAMPLE = TESTS_DATA / "galaxyzoo1_4" / "labels.csv"  # one JPEG each: elliptical, two spirals, edge-on


@pytest.fixture(scope="module")
def img_lake(spark, settings, tmp_path_factory):
    from astrolake.lake.tables import Lake

    root = tmp_path_factory.mktemp("images")
    return Lake(
        spark,
        settings.with_overrides(
            base_path=str(root / "lake"), tracking_uri=f"sqlite:///{root}/mlflow.db", experiment="images"
        ),
    )


@pytest.fixture(scope="module")
def gz1(img_lake):
    from astrolake.dl.images import ingest_images

    labels = shared_file("galaxyzoo1_small/labels.csv")
    return labels, ingest_images(img_lake, labels, GZ1, "objid")


@pytest.fixture(scope="module")
def gz1_cnn(img_lake, gz1):
    from astrolake.dl.images import train_cnn

    return train_cnn(img_lake, GZ1, epochs=2, size=64, max_images=1500, mlflow_run=True)


@pytest.mark.shared_data
def test_ingest_gz1_bytes_splits_and_idempotence(img_lake, gz1):
    from astrolake.dl.images import ingest_images

    labels, added = gz1
    rows = pd.read_csv(labels, dtype=str)
    assert added == len(rows) == 6664 and added.missing == 0 and added.unlabelled == 0
    df = img_lake.read(GZ1)
    assert df.columns == ["_key", "label", "split", "path", "content", "length"]
    assert df.count() == len(rows)
    sample = rows.iloc[1234]
    got = df.where(F.col("_key") == sample.objid).select("label", "content", "length").first()
    data = (labels.parent / sample.path).read_bytes()
    assert bytes(got["content"]) == data and got["length"] == len(data) and got["label"] == sample.label
    splits = {r["split"]: r["count"] for r in df.groupBy("split").count().collect()}
    assert set(splits) == {"train", "validation", "holdout", "test"} and 0.65 < splits["train"] / len(rows) < 0.75

    version = img_lake.version(GZ1)
    again = ingest_images(img_lake, labels, GZ1, "objid")
    assert again == 0 and img_lake.version(GZ1) == version


def test_missing_image_and_corrupt_jpeg(img_lake, tmp_path, caplog):
    from astrolake.dl.images import image_dataset, image_snapshot, ingest_images

    src = SAMPLE
    with pytest.raises(FileNotFoundError, match="labels file not found"):
        ingest_images(img_lake, tmp_path / "nope.csv", "bronze_bad", "objid")
    rows = pd.read_csv(src, dtype=str)
    assert rows["label"].nunique() == 4
    (tmp_path / "images").mkdir()
    for r in rows.itertuples():
        shutil.copy(src.parent / r.path, tmp_path / r.path)
    broken = tmp_path / rows.iloc[0].path  # truncated: a corrupt JPEG
    broken.write_bytes(broken.read_bytes()[:5000])
    table = rows[["objid", "label", "path"]].values.tolist() + [["1", "elliptical", "images/1.jpeg"]]
    with open(tmp_path / "labels.csv", "w", newline="") as f:
        csv.writer(f).writerows([["objid", "label", "path"], *table])

    result = ingest_images(img_lake, tmp_path / "labels.csv", "bronze_bad", "objid")
    assert result == 4 and result.missing == 1 and result.missing_keys == ["1"]
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("1 labels row(s) have no image file and were skipped (e.g. ['1'])" in m for m in warned), warned
    stats = {}
    ds = image_dataset(image_snapshot(img_lake, "bronze_bad"), sorted(rows.label), size=32, stats=stats)
    assert (stats["read"], stats["decoded"], stats["skipped"]) == (4, 3, 1)
    assert sum(int(y.shape[0]) for _, y in ds) == 3  # the epoch runs without the corrupt image

    shutil.copy(src.parent / rows.iloc[1].path, tmp_path / "images" / "1.jpeg")  # the missing image arrives
    again = ingest_images(img_lake, tmp_path / "labels.csv", "bronze_bad", "objid")
    assert again == 1 and again.missing == 0 and img_lake.read("bronze_bad").count() == 5  # merged on _key


def test_flip_swaps_chirality():
    import tensorflow as tf

    from astrolake.dl.images import augment_example, flip_label_index, image_dataset

    classes = sorted({"dont_know", "edge_on", "elliptical", "merger", "spiral_anticlockwise", "spiral_clockwise"})
    cw, acw = classes.index("spiral_clockwise"), classes.index("spiral_anticlockwise")
    perm = flip_label_index(classes)
    assert perm[cw] == acw and perm[acw] == cw and sorted(perm) == list(range(6))
    with pytest.raises(ValueError, match="mirror twin"):
        flip_label_index(["elliptical", "spiral_clockwise"])
    sample = pd.read_csv(SAMPLE, dtype=str)
    path = SAMPLE.parent / sample.loc[sample["label"] == "spiral_clockwise", "path"].item()
    one = pd.DataFrame({"content": [path.read_bytes()], "label": ["spiral_clockwise"]})
    x = next(iter(image_dataset(one, classes, size=64, cache=False)))[0][0]
    x8 = tf.cast(tf.round(x * 255), tf.uint8)
    for r in range(8):  # r % 4 quarter turns, a mirror flip when r // 4 is odd
        img, label = augment_example(x8, tf.constant(cw), tf.constant(r, tf.int64), tf.constant(perm))
        want = tf.image.rot90(x8, r % 4)
        want = tf.image.flip_left_right(want) if r >= 4 else want
        assert np.array_equal(img.numpy(), want.numpy())
        assert int(label) == (acw if r >= 4 else cw)
    # the random augmentation inside the pipeline: label swapped exactly when the pixels are mirrored
    rotations = [tf.image.rot90(x, k).numpy() for k in range(4)]
    mirrored = [tf.image.flip_left_right(r).numpy() for r in rotations]
    seen = set()
    for xb, yb in image_dataset(pd.concat([one] * 24), classes, augment=True, seed=3):
        for img, label in zip(xb.numpy(), yb.numpy(), strict=True):
            flipped = any(np.array_equal(img, m) for m in mirrored)
            assert flipped or any(np.array_equal(img, r) for r in rotations)
            assert label == (acw if flipped else cw)
            seen.add(flipped)
    assert seen == {True, False}


@pytest.mark.shared_data
def test_cnn_beats_chance_macro_recall(gz1_cnn):
    import mlflow

    r = gz1_cnn
    assert r["counts"]["train"] >= 1000 and r["epochs_run"] >= 1
    assert r["n"] == r["counts"]["test"] == sum(map(sum, r["confusion"]))
    assert set(r["recall"]) == set(r["classes"]) and len(r["classes"]) == 6
    assert r["macro_recall"] > 1 / 6  # an elliptical-only model scores exactly 1/6 (and ~70 % accuracy)
    assert r["class_weights"]["elliptical"] < 1 < r["class_weights"]["edge_on"]
    assert r["samples_per_second"] > 0
    run = mlflow.get_run(r["run_id"])
    assert run.data.metrics["test_macro_recall"] == pytest.approx(r["macro_recall"])
    steps = mlflow.MlflowClient().get_metric_history(r["run_id"], "val_loss")
    assert len(steps) == r["epochs_run"]
    assert mlflow.models.get_model_info(f"runs:/{r['run_id']}/model").flavors.get("tensorflow")


@pytest.mark.shared_data
def test_transfer_learning_smoke(img_lake, gz1_cnn):
    from astrolake.dl.images import ingest_images, transfer_learning

    labels = shared_file("galaxyzoo2_spiral/labels.csv")
    assert ingest_images(img_lake, labels, GZ2, "image_id") == 2000
    splits = {r["split"]: r["count"] for r in img_lake.read(GZ2).groupBy("split").count().collect()}
    assert splits["test"] == 600 and splits["train"] + splits["validation"] + splits["holdout"] == 1400
    assert 0.08 < splits["validation"] / 1400 < 0.16 and 0.08 < splits["holdout"] / 1400 < 0.16

    out = transfer_learning(img_lake, gz1_cnn["model"], GZ2, epochs=1, head_epochs=1, max_images=300, mlflow_run=False)
    assert out["counts"]["test"] == 600 and out["counts"]["train"] < 400
    for name in ("transfer", "scratch"):
        r = out[name]
        cm = np.array(r["confusion"])  # rows: true class
        assert r["n"] == 600 and cm.sum(axis=1).tolist() == [300, 300]  # GZ2's 300 + 300 validation images
        assert r["classes"] == ["non_spiral", "spiral"] and r["epochs_run"] == 2
        assert r["accuracy"] == pytest.approx(np.trace(cm) / 600)
        assert r["macro_recall"] == pytest.approx(np.mean(np.diag(cm) / 300))
    t, s = out["transfer"]["macro_recall"], out["scratch"]["macro_recall"]
    assert out["better"] == ("transfer" if t > s else "scratch" if s > t else "tie")  # by test macro recall
    # the GZ1 model itself is left untouched (its base was copied)
    assert gz1_cnn["model"].get_layer("base").trainable
