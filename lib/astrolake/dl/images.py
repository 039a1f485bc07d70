"""Galaxy Zoo images: JPEG bytes in Delta, a tf.data pipeline, a small CNN and transfer learning.

Ingest keeps the original JPEG bytes (Spark's ``binaryFile`` source, not the ``image`` source,
which would store decoded pixels) in a Delta table ``_key, label, split, path, content, length``.
Training never queries Delta from TensorFlow: Spark writes a Parquet snapshot of the table at a
pinned version (``<base_path>/_snapshots/<table>/v<version>/images/split=<split>/``) and a
generator reads it with pyarrow, 64 rows at a time; nothing is collected to the driver.

The pipeline decodes only the central crop of each cut-out (the galaxy sits in the middle),
resizes it, caches the small uint8 images and then augments them with random 90 degree rotations
and mirror flips.  A mirror flip turns a clockwise spiral into an anticlockwise one, so every
flip also swaps those labels (:func:`flip_label_index`, inside the tf graph).

Bad data is skipped and counted, never fatal:

* a labels row whose image file is missing: skipped at ingest, counted in
  ``IngestResult.missing`` and logged as a warning (with a few keys);
* a JPEG that does not decode (truncated, corrupt): skipped at decode time, counted in the
  ``stats`` of :func:`image_dataset` (``skipped``) and in the results of :func:`train_cnn`.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from astrolake import layout
from astrolake.lake.tables import Lake
from astrolake.log import Steps

log = logging.getLogger(__name__)

JPEG_GLOB = "*.jp*g"
CROP = 0.55  # central fraction kept of each side (424 px -> 233 px)
SUBSET_BUCKETS = 10_000  # max_images picks rows by a hash bucket, so a subset is stable
MAX_CLASS_WEIGHT = 5.0  # rare classes (dont_know: ~40 training images) would otherwise dominate


def _tf() -> Any:
    """TensorFlow with legacy Keras 2 (tf-keras), which Horovod and mlflow.tensorflow need."""
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    import tensorflow as tf

    if not tf.keras.Model.__module__.startswith("tf_keras"):
        raise RuntimeError("tf.keras is Keras 3: set TF_USE_LEGACY_KERAS=1 before TensorFlow is imported")
    return tf


# --------------------------------------------------------------------------------------------
# ingest
# --------------------------------------------------------------------------------------------
class IngestResult(int):
    """Rows added or changed (the ``int`` value), with ``labels``, ``images``, ``missing``
    (labels rows without an image, skipped), ``unlabelled`` (images without a labels row,
    ignored) and ``missing_keys`` (up to five examples) as attributes."""

    def __new__(cls, added: int, **counts):
        self = super().__new__(cls, added)
        self.__dict__.update(counts)
        return self


def ingest_images(lake: Lake, labels_csv, table: str, key_col: str) -> int:
    """Ingest the JPEGs listed in ``labels_csv`` into the Delta table ``table``.

    Parameters
    ----------
    labels_csv : path of a CSV with ``key_col``, ``label``, ``path`` (relative to the CSV's
        folder, or absolute) and optionally ``split``.  Images are read from under that folder.
    key_col : the id column; it becomes ``_key`` (a string).

    Returns
    -------
    IngestResult
        the number of rows added or changed (0 when re-run on the same files).

    Notes
    -----
    ``split``: with a ``split`` column, its ``validation``/``test`` rows become ``test``, and of
    its ``train`` rows 12 % (``xxhash64(_key) % 100 < 12``) become ``validation`` and the next
    12 % ``holdout`` (promotion); without one, the 70/10/10/10 hash split of the tabular gold
    tables (:mod:`astrolake.layout`).  Idempotent: rows are MERGEd on ``_key``;
    a re-run finds nothing new from file metadata alone and writes nothing.  Rows are never
    deleted.  A labels row whose image is missing is skipped and counted.
    """
    from pyspark.sql import functions as F

    spark, labels_csv = lake.spark, str(labels_csv)
    local = "://" not in labels_csv and not labels_csv.startswith("dbfs:")
    if local and not os.path.isfile(labels_csv):
        raise FileNotFoundError(f"labels file not found: {labels_csv}")
    folder = os.path.dirname(os.path.abspath(labels_csv)) if local else labels_csv.rsplit("/", 1)[0]
    labels = spark.read.option("header", True).csv(labels_csv)
    absent = sorted({key_col, "label", "path"} - set(labels.columns))
    if absent:
        raise ValueError(f"{labels_csv}: no column(s) {absent}; it has {labels.columns}")
    dups = labels.groupBy(key_col).count().where("count > 1").limit(5).collect()
    if dups:
        raise ValueError(f"{labels_csv}: {key_col} is not unique, e.g. {[r[0] for r in dups]}")

    def norm(c):  # file:/x, file:///x and dbfs:/x -> /x
        return F.regexp_replace(c, r"^(file|dbfs):(//)?", "")

    rel = F.regexp_replace(F.col("path"), r"^\./", "")
    if (
        "split" in labels.columns
    ):  # the images' own validation/test rows are test; carve validation and holdout from train
        given = F.lower(F.trim(F.col("split")))
        split = layout.split_column("_key", shipped_test=given.isin("validation", "val", "test"))
    else:
        split = layout.split_column("_key")
    wanted = labels.select(
        F.col(key_col).cast("string").alias("_key"),
        F.col("label"),
        *([F.col("split")] if "split" in labels.columns else []),
        norm(F.when(rel.startswith("/") | rel.contains(":"), rel).otherwise(F.concat(F.lit(folder + "/"), rel))).alias(
            "_file"
        ),
    ).withColumn("split", split)
    files = (
        spark.read.format("binaryFile")
        .option("pathGlobFilter", JPEG_GLOB)
        .option("recursiveFileLookup", "true")
        .load(folder)
        .withColumn("_file", norm(F.col("path")))
        .coalesce(spark.sparkContext.defaultParallelism)
    )  # few tasks for thousands of small files
    # one job on metadata only (no content): labels rows with and without an image, and what is new
    meta = wanted.join(files.select("_file", "length"), "_file", "full")
    exists = lake.exists(table)
    found = F.col("_key").isNotNull() & F.col("length").isNotNull()
    new = found
    if exists:
        current = lake.read(table).select("_key", *[F.col(k).alias("t_" + k) for k in ("label", "split", "length")])
        meta = meta.join(current, "_key", "left")
        new = found & (
            F.col("t_length").isNull()
            | (F.col("t_label") != F.col("label"))
            | (F.col("t_split") != F.col("split"))
            | (F.col("t_length") != F.col("length"))
        )
    c = meta.agg(
        F.count("_key").alias("labels"),
        F.count("length").alias("images"),
        F.count(F.when(F.col("_key").isNotNull() & F.col("length").isNull(), 1)).alias("missing"),
        F.count(F.when(F.col("_key").isNull(), 1)).alias("unlabelled"),
        F.count(F.when(new, 1)).alias("todo"),
    ).collect()[0]
    todo = c["todo"]
    examples = (
        [
            r[0]
            for r in meta.where(F.col("_key").isNotNull() & F.col("length").isNull()).select("_key").limit(5).collect()
        ]
        if c["missing"]
        else []
    )
    if todo:
        source = wanted.join(files.select("_file", "path", "content", "length"), "_file").select(
            "_key", "label", "split", "path", "content", "length"
        )
        if exists:
            (
                lake.delta(table)
                .alias("t")
                .merge(source.alias("s"), "t._key = s._key")
                .whenMatchedUpdateAll("t.label <> s.label OR t.split <> s.split OR t.length <> s.length")
                .whenNotMatchedInsertAll()
                .execute()
            )
        else:
            lake.append(source, table)
    log.info(
        f"ingest {table}: {todo} row(s) added or changed; {c['labels']} labels rows, {c['images']} images"
        + (f"; {c['unlabelled']} image(s) without a labels row ignored" if c["unlabelled"] else "")
    )
    if c["missing"]:
        log.warning(
            f"ingest {table}: {c['missing']} labels row(s) have no image file and were skipped (e.g. {examples})"
        )
    return IngestResult(
        todo,
        labels=c["labels"],
        images=c["images"],
        missing=c["missing"],
        unlabelled=c["unlabelled"],
        missing_keys=examples,
    )


def image_snapshot(lake: Lake, table: str, version: int | None = None, root: str | None = None) -> str:
    """Write (or reuse) a Parquet snapshot of ``table`` at ``version`` for the training readers.

    Returns the folder; it holds ``_key, label, content, _bucket`` partitioned by ``split``.
    """
    from pyspark.sql import functions as F

    version = lake.version(table) if version is None else int(version)
    folder = Path(root or Path(lake.settings.base_path).absolute() / "_snapshots") / table / f"v{version}" / "images"
    if not (folder / "_SUCCESS").is_file():
        bucket = F.pmod(F.xxhash64(F.col("_key"), F.lit("subset")), F.lit(SUBSET_BUCKETS)).alias("_bucket")
        with Steps("snapshot", total=1, logger=log, spark=lake.spark).step(f"write {table} v{version} to {folder}"):
            (
                lake.read(table, version=version)
                .select("_key", "label", "content", bucket, "split")
                .write.mode("overwrite")
                .partitionBy("split")
                .parquet(str(folder))
            )
    return str(folder)


def parquet_rows(
    folder, split: str | None = None, max_bucket: int | None = None, batch_size: int = 64, columns=("content", "label")
):
    """Yield ``(content, label)`` tuples from a snapshot, reading ``batch_size`` rows at a time."""
    import pyarrow.dataset as pads

    data = pads.dataset(str(folder), format="parquet", partitioning="hive")
    filt = None
    if split is not None:
        filt = pads.field("split") == split
    if max_bucket is not None:
        cond = pads.field("_bucket") < max_bucket
        filt = cond if filt is None else filt & cond
    for batch in data.to_batches(columns=list(columns), filter=filt, batch_size=batch_size):
        yield from zip(*(batch.column(c).to_pylist() for c in columns), strict=True)


# --------------------------------------------------------------------------------------------
# tf.data pipeline
# --------------------------------------------------------------------------------------------
def flip_label_index(classes) -> np.ndarray:
    """The label permutation of a mirror flip: clockwise <-> anticlockwise, others unchanged.

    Raises ValueError when a chiral class has no mirror twin among ``classes``.
    """
    classes = list(classes)
    perm = list(range(len(classes)))
    for i, c in enumerate(classes):
        if "clockwise" in c:
            twin = (
                c.replace("anticlockwise", "clockwise")
                if "anticlockwise" in c
                else c.replace("clockwise", "anticlockwise")
            )
            if twin not in classes:
                raise ValueError(f"class {c!r} has no mirror twin {twin!r} in {classes}: a flip would mislabel it")
            perm[i] = classes.index(twin)
    return np.array(perm, dtype=np.int32)


def decode_image(content, size: int = 64, crop: float = CROP):
    """JPEG bytes -> the central ``crop`` fraction, resized to ``size`` x ``size``, uint8 RGB."""
    import tensorflow as tf  # graph code: no _tf() (autograph would try to convert it)

    shape = tf.image.extract_jpeg_shape(content)
    h, w = shape[0], shape[1]
    ch = tf.maximum(1, tf.cast(tf.round(tf.cast(h, tf.float32) * crop), tf.int32))
    cw = tf.maximum(1, tf.cast(tf.round(tf.cast(w, tf.float32) * crop), tf.int32))
    img = tf.io.decode_and_crop_jpeg(content, tf.stack([(h - ch) // 2, (w - cw) // 2, ch, cw]), channels=3)
    img = tf.image.resize(img, (size, size), antialias=True)
    return tf.cast(tf.clip_by_value(tf.round(img), 0, 255), tf.uint8)


def mirror(image, label, perm):
    """Mirror flip (left-right) with the chirality label swap ``perm`` (:func:`flip_label_index`)."""
    import tensorflow as tf  # graph code: no _tf() (autograph would try to convert it)

    return tf.image.flip_left_right(image), tf.gather(perm, label)


def augment_example(image, label, r, perm):
    """Rotate by ``r % 4`` quarter turns, then mirror (swapping chiral labels) when ``r // 4`` is odd."""
    import tensorflow as tf  # graph code: no _tf() (autograph would try to convert it)

    r = tf.cast(r, tf.int64)
    image = tf.image.rot90(image, tf.cast(r % 4, tf.int32))
    return tf.cond(tf.equal((r // 4) % 2, 1), lambda: mirror(image, label, perm), lambda: (image, label))


def _row_source(rows):
    if isinstance(rows, (str, os.PathLike)):
        return lambda: parquet_rows(rows)
    if hasattr(rows, "itertuples"):  # pandas
        return lambda: zip(rows["content"], rows["label"], strict=True)
    if callable(rows):
        return rows
    if isinstance(rows, (list, tuple)):
        return lambda: iter(rows)
    it = iter(rows)  # a one-shot iterator: read once, then served from the cache
    return lambda: it


def image_dataset(
    rows,
    classes,
    size: int = 64,
    crop: float = CROP,
    batch_size: int = 64,
    augment: bool = False,
    shuffle: bool = False,
    seed: int = 0,
    cache=True,
    weights=None,
    stats: dict | None = None,
):
    """A batched ``tf.data.Dataset`` of ``(image float32 [0, 1], label int32[, weight])``.

    Parameters
    ----------
    rows : ``(content bytes, label)`` pairs: a pandas frame (``content``, ``label``), a Parquet
        folder (read with pyarrow in batches), a callable returning an iterable (called once per
        pass), a list, or a one-shot iterable.  Labels are class names or indices.
    classes : class names; rows with other labels are skipped (``stats['unknown']``).
    cache : True (memory), a file name, or False.  The decoded uint8 images are cached before
        augmentation.
    weights : per-class sample weights; adds a third element.
    stats : when given, one pass is made now (filling the cache) and the dict receives ``read``,
        ``decoded``, ``skipped`` (JPEGs that failed to decode), ``unknown`` and ``class_counts``.
    """
    tf = _tf()
    source, index, n_classes = _row_source(rows), {c: i for i, c in enumerate(classes)}, len(classes)
    counts = stats if stats is not None else {}

    def gen():
        counts.update(read=0, unknown=0)
        for content, label in source():
            i = index.get(label, -1) if isinstance(label, str) else int(label)
            if not 0 <= i < n_classes:
                counts["unknown"] += 1
                continue
            counts["read"] += 1
            yield content, i

    spec = (tf.TensorSpec((), tf.string), tf.TensorSpec((), tf.int32))
    ds = (
        tf.data.Dataset.from_generator(gen, output_signature=spec)
        .map(lambda c, y: (decode_image(c, size, crop), y), num_parallel_calls=tf.data.AUTOTUNE)
        .ignore_errors(log_warning=True)
    )  # a JPEG that fails to decode is dropped, not fatal
    if cache:
        ds = ds.cache("" if cache is True else str(cache))
    if stats is not None:
        ys = np.concatenate([y.numpy() for _, y in ds.batch(512)] or [np.zeros(0, np.int32)])
        stats.update(
            decoded=len(ys),
            skipped=counts["read"] - len(ys),
            class_counts=np.bincount(ys, minlength=n_classes).tolist(),
        )
    if shuffle:
        ds = ds.shuffle(4096, seed=seed, reshuffle_each_iteration=True)
    if augment:
        perm = tf.constant(flip_label_index(classes))
        rnd = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
        ds = tf.data.Dataset.zip((ds, rnd)).map(
            lambda xy, r: augment_example(xy[0], xy[1], r, perm), num_parallel_calls=tf.data.AUTOTUNE
        )
    if weights is not None:
        w = tf.constant(np.asarray(weights, np.float32))
        ds = ds.map(lambda x, y: (tf.cast(x, tf.float32) / 255.0, y, tf.gather(w, y)))
    else:
        ds = ds.map(lambda x, y: (tf.cast(x, tf.float32) / 255.0, y))
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


# --------------------------------------------------------------------------------------------
# models
# --------------------------------------------------------------------------------------------
def _with_head(base, n_classes: int, dropout: float, name: str):
    tf = _tf()
    inp = tf.keras.Input(base.input_shape[1:], name="image")
    x = tf.keras.layers.Dropout(dropout)(base(inp))
    return tf.keras.Model(inp, tf.keras.layers.Dense(n_classes, activation="softmax", name="head")(x), name=name)


def build_cnn(n_classes: int, size: int = 64, width: int = 32, dropout: float = 0.3, blocks: int = 3):
    """A small CNN: sub-model ``base`` (``blocks`` conv/pool blocks of ``width * 2**i`` filters,
    global average pooling), then dropout and a softmax layer ``head``."""
    tf = _tf()
    L = tf.keras.layers
    layers = [tf.keras.Input((size, size, 3))]
    for i in range(blocks):
        layers += [
            L.Conv2D(width * 2**i, 3, padding="same", use_bias=False, name=f"conv{i + 1}"),
            L.BatchNormalization(momentum=0.9, name=f"bn{i + 1}"),
            L.ReLU(name=f"relu{i + 1}"),
            L.MaxPooling2D(name=f"pool{i + 1}"),
        ]
    base = tf.keras.Sequential(layers + [L.GlobalAveragePooling2D(name="gap")], name="base")
    return _with_head(base, n_classes, dropout, name="cnn")


def class_weights(counts, cap: float = MAX_CLASS_WEIGHT) -> np.ndarray:
    """Balanced weights ``n / (k * n_c)`` from class counts, capped at ``cap`` (0 for absent classes)."""
    counts = np.asarray(counts, float)
    present = counts > 0
    w = np.zeros_like(counts)
    w[present] = counts.sum() / (present.sum() * counts[present])
    return np.minimum(w, cap)


def evaluate(model, ds, classes) -> dict:
    """Accuracy, macro recall (balanced accuracy), per-class recall and the confusion matrix."""
    ys, ps = [], []
    for batch in ds:
        ps.append(np.argmax(model.predict_on_batch(batch[0]), axis=1))
        ys.append(batch[1].numpy())
    none = [np.zeros(0, np.int64)]
    y, p, k = np.concatenate(ys or none), np.concatenate(ps or none), len(classes)
    cm = np.bincount(y * k + p, minlength=k * k).reshape(k, k)
    support = cm.sum(axis=1)
    recall = {c: float(cm[i, i] / support[i]) for i, c in enumerate(classes) if support[i]}
    return {
        "n": int(len(y)),
        "accuracy": float(np.trace(cm) / max(1, cm.sum())),
        "macro_recall": float(np.mean(list(recall.values()))) if recall else 0.0,
        "recall": recall,
        "confusion": cm.tolist(),
        "classes": list(classes),
    }


def _fit(model, train, val, epochs: int, learning_rate: float, patience: int, on_epoch=None, name: str = "fit") -> dict:
    """Compile and fit; early stopping on the (class-weighted) validation loss, best weights kept.

    Each epoch logs one line (``name: epoch 3/10 loss=... val_loss=... 4.2 s``) at INFO."""
    tf = _tf()
    model.compile(
        optimizer=tf.keras.optimizers.Adam(learning_rate), loss="sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    state: dict[str, Any] = {"best": math.inf, "weights": None, "wait": 0, "history": []}

    callback: Any = tf.keras.callbacks.Callback

    class Keep(callback):
        def on_epoch_begin(self, epoch, logs=None):
            state["t_epoch"] = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            logs = {k: float(v) for k, v in (logs or {}).items()}
            state["history"].append(logs)
            shown = " ".join(f"{k}={v:.4f}" for k, v in logs.items() if k != "learning_rate")
            log.info(f"{name}: epoch {epoch + 1}/{epochs} {shown} ... {time.perf_counter() - state['t_epoch']:.1f} s")
            if on_epoch:
                on_epoch(logs, epoch)
            score = logs.get("val_loss", logs.get("loss", math.inf))
            if score < state["best"]:
                state.update(best=score, weights=self.model.get_weights(), wait=0)
            else:
                state["wait"] += 1
                self.model.stop_training = state["wait"] >= patience

    t0 = time.perf_counter()
    model.fit(train, validation_data=val, epochs=epochs, callbacks=[Keep()], verbose=0)
    seconds = time.perf_counter() - t0
    if state["weights"] is not None:
        model.set_weights(state["weights"])
    return {"history": state["history"], "epochs_run": len(state["history"]), "fit_seconds": seconds}


def _splits(lake, table, max_images, version):
    """Snapshot folder, classes and their train counts (label column only), the ``max_images`` bucket cut."""
    import pyarrow.dataset as pads

    folder = image_snapshot(lake, table, version)
    data = pads.dataset(folder, format="parquet", partitioning="hive")
    cut = None
    if max_images:
        total = data.count_rows(filter=pads.field("split").isin(["train", "validation"]))
        cut = math.ceil(SUBSET_BUCKETS * min(1.0, max_images / max(total, 1)))
    train_filter = pads.field("split") == "train"
    if cut is not None:
        train_filter = train_filter & (pads.field("_bucket") < cut)
    labels = data.to_table(columns=["label"], filter=train_filter).column("label").value_counts().to_pylist()
    classes = sorted(v["values"] for v in labels)
    counts = {v["values"]: v["counts"] for v in labels}
    return folder, classes, [counts[c] for c in classes], cut


def _datasets(folder, classes, weights, size, crop, batch_size, cut, augment, seed):
    """train (shuffled, augmented), validation and test datasets, cached, with their decode stats."""
    out: dict[str, Any] = {}
    stats: dict[str, dict[str, int]] = {}
    for split in ("train", "validation", "test"):
        stats[split] = {}

        def rows(s=split):
            return parquet_rows(folder, s, cut if s != "test" else None)

        out[split] = image_dataset(
            rows,
            classes,
            size,
            crop,
            batch_size,
            augment=augment and split == "train",
            shuffle=split == "train",
            seed=seed,
            weights=None if split == "test" else weights,
            stats=stats[split],
        )
    return out, stats


def _mlflow(lake, mlflow_run: bool, run_name: str):
    """A context: the active MLflow run, a new one (``mlflow_run``), or none."""
    if not mlflow_run:
        return contextlib.nullcontext(None)
    import mlflow

    if mlflow.active_run() is not None:
        return contextlib.nullcontext(mlflow.active_run())
    from astrolake.ml import tracking

    tracking.configure(lake.settings)
    return mlflow.start_run(run_name=run_name)


def train_cnn(
    lake: Lake,
    table: str,
    epochs: int = 10,
    size: int = 64,
    batch_size: int = 32,
    max_images: int | None = None,
    class_weight: bool = True,
    mlflow_run: bool = True,
    width: int = 32,
    dropout: float = 0.3,
    learning_rate: float = 1e-3,
    patience: int = 3,
    crop: float = CROP,
    augment: bool = True,
    seed: int = 0,
    version: int | None = None,
) -> dict:
    """Train :func:`build_cnn` on ``train``, early-stop on ``validation``, score ``test`` once.

    ``max_images`` limits train + validation to a stable hash subset of about that size; the
    test split is always scored in full.  With ``mlflow_run`` the active run (or a new one) gets
    the parameters, per-epoch metrics, test metrics and the model (``mlflow.tensorflow``).

    Returns
    -------
    dict
        ``accuracy``, ``macro_recall``, ``recall`` (per class), ``confusion`` (rows: true class),
        ``classes``, ``n`` (test rows), ``samples_per_second``, ``epochs_run``, ``history``,
        ``counts`` / ``skipped`` per split, ``class_weights``, ``run_id`` and ``model``.
    """
    tf = _tf()
    tf.keras.utils.set_random_seed(seed)
    folder, classes, counts, cut = _splits(lake, table, max_images, version)
    weights = class_weights(counts) if class_weight else np.ones(len(classes))
    data, stats = _datasets(folder, classes, weights, size, crop, batch_size, cut, augment, seed)
    model = build_cnn(len(classes), size, width, dropout)
    with _mlflow(lake, mlflow_run, f"cnn-{table}") as run:
        import mlflow

        if run is not None:
            mlflow.log_params(
                {
                    "table": table,
                    "snapshot": folder,
                    "size": size,
                    "crop": crop,
                    "epochs": epochs,
                    "batch_size": batch_size,
                    "max_images": max_images,
                    "class_weight": class_weight,
                    "width": width,
                    "dropout": dropout,
                    "learning_rate": learning_rate,
                    "patience": patience,
                    "augment": augment,
                    "seed": seed,
                    **{f"n_{s}": v["decoded"] for s, v in stats.items()},
                }
            )
        on_epoch = (lambda logs, step: mlflow.log_metrics(logs, step=step)) if run is not None else None
        fit = _fit(
            model, data["train"], data["validation"], epochs, learning_rate, patience, on_epoch, f"train_cnn {table}"
        )
        result = evaluate(model, data["test"], classes)
        result.update(
            fit,
            samples_per_second=stats["train"]["decoded"] * fit["epochs_run"] / fit["fit_seconds"],
            counts={s: v["decoded"] for s, v in stats.items()},
            skipped={s: v["skipped"] for s, v in stats.items()},
            class_weights=dict(zip(classes, weights.tolist(), strict=True)),
            run_id=run.info.run_id if run else None,
        )
        if run is not None:
            mlflow.log_metrics(
                {
                    "test_accuracy": result["accuracy"],
                    "test_macro_recall": result["macro_recall"],
                    "samples_per_second": result["samples_per_second"],
                    **{f"test_recall_{c}": v for c, v in result["recall"].items()},
                }
            )
            mlflow.log_dict(
                {k: result[k] for k in ("classes", "confusion", "recall", "counts", "skipped")}, "evaluation.json"
            )
            _log_model(model, size, classes)
    log.info(
        f"train_cnn {table}: test accuracy {result['accuracy']:.3f}, macro recall {result['macro_recall']:.3f} "
        f"({result['epochs_run']} epochs, {result['samples_per_second']:.0f} samples/s)"
    )
    return {**result, "model": model}


def _log_model(model, size: int, classes) -> None:
    """Keras flavour; pyfunc takes the (n, size, size, 3) image tensor and returns the class name and
    ``prob_<CLASS>`` columns (:mod:`astrolake.ml.pyfunc`)."""
    from importlib.metadata import version

    import mlflow
    import tensorflow as tf

    from astrolake.ml import tracking

    tracking.log_model(
        mlflow.tensorflow,
        model,
        "classification",
        list(classes),
        None,
        tensor_shape=(-1, size, size, 3),
        pip_requirements=[
            f"tensorflow-cpu=={tf.__version__}",
            f"tf-keras=={version('tf-keras')}",
            f"mlflow=={mlflow.__version__}",
        ],
    )


def transfer_learning(
    lake: Lake,
    gz1_model,
    gz2_table: str,
    epochs: int = 3,
    head_epochs: int = 1,
    batch_size: int = 32,
    max_images: int | None = None,
    learning_rate: float = 1e-3,
    fine_tune_lr: float = 1e-4,
    patience: int = 3,
    dropout: float = 0.3,
    crop: float = CROP,
    augment: bool = True,
    seed: int = 0,
    version: int | None = None,
    mlflow_run: bool = True,
) -> dict:
    """Fine-tune the base of a Galaxy Zoo 1 CNN on Galaxy Zoo 2 spiral / non-spiral vs. training from scratch.

    Transfer: the GZ1 ``base`` (copied; ``gz1_model`` is a Keras model or an MLflow model URI)
    with a new head, ``head_epochs`` epochs with the base frozen at ``learning_rate``, then
    ``epochs`` epochs unfrozen at ``fine_tune_lr``.  Scratch: the same architecture, freshly
    initialised, ``head_epochs + epochs`` epochs at ``learning_rate``.  Both early-stop on the
    validation rows carved from GZ2's training images; GZ2's own ``validation`` images (``test``
    here) are scored once.

    Returns
    -------
    dict
        ``transfer`` and ``scratch`` (each as :func:`evaluate`, plus ``epochs_run``),
        ``better`` (``transfer``, ``scratch`` or ``tie``, by test macro recall), ``counts``.
    """
    tf = _tf()
    if isinstance(gz1_model, str):
        import mlflow.tensorflow

        gz1_model = mlflow.tensorflow.load_model(gz1_model)
    src = gz1_model.get_layer("base")
    size = src.input_shape[1]
    tf.keras.utils.set_random_seed(seed)
    folder, classes, counts, cut = _splits(lake, gz2_table, max_images, version)
    data, stats = _datasets(folder, classes, class_weights(counts), size, crop, batch_size, cut, augment, seed)
    base = tf.keras.models.clone_model(src)
    base.set_weights(src.get_weights())
    transfer = _with_head(base, len(classes), dropout, "transfer")
    scratch = _with_head(tf.keras.models.clone_model(src), len(classes), dropout, "scratch")
    out: dict[str, Any] = {}
    with _mlflow(lake, mlflow_run, f"transfer-{gz2_table}") as run:
        import mlflow

        def on_epoch(prefix):
            return (
                (lambda logs, step: mlflow.log_metrics({f"{prefix}_{k}": v for k, v in logs.items()}, step=step))
                if run is not None
                else None
            )

        base.trainable = False
        head = _fit(
            transfer,
            data["train"],
            data["validation"],
            head_epochs,
            learning_rate,
            patience,
            on_epoch("head"),
            "transfer (head)",
        )
        base.trainable = True
        tune = _fit(
            transfer,
            data["train"],
            data["validation"],
            epochs,
            fine_tune_lr,
            patience,
            on_epoch("tune"),
            "transfer (fine-tune)",
        )
        out["transfer"] = {
            **evaluate(transfer, data["test"], classes),
            "epochs_run": head["epochs_run"] + tune["epochs_run"],
        }
        fit = _fit(
            scratch,
            data["train"],
            data["validation"],
            head_epochs + epochs,
            learning_rate,
            patience,
            on_epoch("scratch"),
            "scratch",
        )
        out["scratch"] = {**evaluate(scratch, data["test"], classes), "epochs_run": fit["epochs_run"]}
        t, s = out["transfer"]["macro_recall"], out["scratch"]["macro_recall"]
        out.update(
            better="transfer" if t > s else "scratch" if s > t else "tie",
            counts={k: v["decoded"] for k, v in stats.items()},
            run_id=run.info.run_id if run else None,
        )
        if run is not None:
            mlflow.log_params(
                {
                    "table": gz2_table,
                    "epochs": epochs,
                    "head_epochs": head_epochs,
                    "size": size,
                    "max_images": max_images,
                    "learning_rate": learning_rate,
                    "fine_tune_lr": fine_tune_lr,
                }
            )
            mlflow.log_metrics(
                {f"{m}_test_{k}": out[m][k] for m in ("transfer", "scratch") for k in ("accuracy", "macro_recall")}
            )
            mlflow.set_tag("astrolake.better", out["better"])
    log.info(
        f"transfer_learning {gz2_table}: transfer acc {out['transfer']['accuracy']:.3f} / macro recall "
        f"{out['transfer']['macro_recall']:.3f}; scratch {out['scratch']['accuracy']:.3f} / "
        f"{out['scratch']['macro_recall']:.3f}; better: {out['better']}"
    )
    return out
