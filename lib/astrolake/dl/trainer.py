"""The one training function every launcher runs: ``train_worker(config) -> dict``.

Backends (``config["backend"]``):

``horovod``       ``hvd.init()``; DistributedOptimizer, initial-state broadcast, metric averaging,
                  learning-rate warm-up (the rate is scaled by the number of workers).
``tf-distribute`` MultiWorkerMirroredStrategy from ``TF_CONFIG`` (set by the launcher).
``local``         one process, no communication.

Each rank reads only its own Parquet shard of the snapshot (``astrolake.dl.snapshot``) and streams
it through tf.data; the normalisation statistics come from the snapshot (computed in Spark) and are
part of the model, so the logged model takes raw gold features.  Every rank runs the same number of
steps per epoch (the smallest shard decides), as collective operations require.

Rank 0 alone writes checkpoints (weights + epoch + MLflow run id after each epoch) and talks to
MLflow; a run started again with the same checkpoint folder resumes after the last finished
epoch, in the same MLflow run.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

from astrolake import faults


def _threads(config: dict) -> int:
    n = int(config.get("threads_per_rank") or 1)
    for var in ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(n)
    os.environ["TF_NUM_INTEROP_THREADS"] = "1"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    return n


def build_model(tf, config: dict, snap):
    """A ``tf.keras.Model`` (``tf`` is the imported module): normalisation (from the snapshot's
    statistics) -> MLP -> softmax classes or one redshift."""
    k = tf.keras
    n_in = len(snap.features)
    inputs = k.Input(shape=(n_in,), name="features")
    x = k.layers.Normalization(mean=snap.mean, variance=snap.variance, name="normalise")(inputs)
    for i in range(int(config.get("depth", 3))):
        x = k.layers.Dense(int(config.get("width", 64)), activation="relu", name=f"dense_{i}")(x)
        if float(config.get("dropout", 0.0)) > 0:
            x = k.layers.Dropout(float(config["dropout"]), name=f"dropout_{i}")(x)
    if snap.task == "classification":
        out = k.layers.Dense(len(snap.classes), activation="softmax", name="probability")(x)
    else:
        out = k.layers.Dense(1, name="z_phot")(x)
    return k.Model(inputs, out, name=f"astrolake_{snap.task}_mlp")


def _dataset(tf, snap, split: str, shard: int, batch: int, shuffle: bool, seed: int, repeat: bool):
    """Stream one shard's Parquet files as (features, label) batches."""
    import pyarrow.dataset as ds

    path = snap.shard_path(split, shard)
    cols = list(snap.features)

    def gen():
        for rb in ds.dataset(path, format="parquet").to_batches(columns=cols + ["label"], batch_size=4096):
            x = rb.select(cols).to_pandas().to_numpy("float32")
            y = rb.column("label").to_numpy(zero_copy_only=False)
            for i in range(len(y)):
                yield x[i], y[i]

    label_dtype = tf.int32 if snap.task == "classification" else tf.float32
    d = tf.data.Dataset.from_generator(
        gen, output_signature=(tf.TensorSpec((len(cols),), tf.float32), tf.TensorSpec((), label_dtype))
    )
    if shuffle:
        d = d.shuffle(8192, seed=seed, reshuffle_each_iteration=True)
    if repeat:
        d = d.repeat()
    return d.batch(batch).prefetch(2)


def _keys(snap, split: str, shard: int) -> list[str]:
    import pyarrow.dataset as ds

    return (
        ds.dataset(snap.shard_path(split, shard), format="parquet")
        .to_table(columns=["_key"])
        .column("_key")
        .to_pylist()
    )


def weights_digest(model) -> str:
    h = hashlib.sha256()
    for w in model.get_weights():
        h.update(w.tobytes())
    return h.hexdigest()[:16]


def train_worker(config: dict) -> dict:
    """Train on this rank's shard; return what the launcher and the tests need to check."""
    threads = _threads(config)
    import tensorflow as tf

    from astrolake.dl.snapshot import Snapshot

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # TF already initialised in this process (trials run one after another)
        pass
    backend = config.get("backend", "local")
    snap = Snapshot.load(config["snapshot"])
    hvd: Any = None  # horovod.tensorflow.keras with the horovod backend
    strategy = None
    if backend == "horovod":
        import horovod.tensorflow.keras as hvd_keras

        hvd = hvd_keras
        hvd.init()
        rank, size = hvd.rank(), hvd.size()
    elif backend == "tf-distribute":
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        tf_config = json.loads(os.environ["TF_CONFIG"])
        rank, size = int(tf_config["task"]["index"]), len(tf_config["cluster"]["worker"])
    else:
        rank, size = 0, 1
    if size > snap.num_shards:
        raise ValueError(f"{size} workers but the snapshot has {snap.num_shards} shards")
    seed = int(config.get("seed", 42)) + rank
    tf.keras.utils.set_random_seed(int(config.get("seed", 42)))
    batch = int(config.get("batch_size", 256))
    shards = [s for s in range(snap.num_shards) if s % size == rank]
    steps = max(
        1,
        min(sum(snap.counts["train"][s] for s in range(snap.num_shards) if s % size == r) for r in range(size))
        // batch,
    )
    val_steps = max(
        1,
        min(sum(snap.counts["validation"][s] for s in range(snap.num_shards) if s % size == r) for r in range(size))
        // batch,
    )

    def shard_data(split, shuffle, repeat):
        parts = [_dataset(tf, snap, split, s, batch, shuffle, seed, repeat) for s in shards]
        d = parts[0]
        for p in parts[1:]:
            d = d.concatenate(p)
        return d

    train_ds, val_ds = shard_data("train", True, True), shard_data("validation", False, True)
    lr = float(config.get("learning_rate", 1e-3)) * size  # scaled by the number of workers
    loss = "sparse_categorical_crossentropy" if snap.task == "classification" else "mse"
    metrics = ["accuracy"] if snap.task == "classification" else ["mae"]

    def compile_model():
        model = build_model(tf, config, snap)
        opt = tf.keras.optimizers.Adam(learning_rate=lr)
        if hvd is not None:
            opt = hvd.DistributedOptimizer(opt)
        model.compile(optimizer=opt, loss=loss, metrics=metrics)
        return model

    if strategy is not None:
        opts = tf.data.Options()
        opts.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
        train_ds, val_ds = train_ds.with_options(opts), val_ds.with_options(opts)
        with strategy.scope():
            model = compile_model()
    else:
        model = compile_model()

    epochs = int(config.get("epochs", 10))
    ckpt = Path(config["checkpoint_dir"])
    state_file = ckpt / "state.json"
    state = json.loads(state_file.read_text()) if state_file.is_file() else {}
    initial_epoch = int(state.get("epoch", 0))
    if initial_epoch:
        model.load_weights(str(ckpt / "weights.h5"))
    callbacks = []
    if hvd is not None:
        callbacks.append(hvd.callbacks.BroadcastGlobalVariablesCallback(0))
        avg = hvd.callbacks.MetricAverageCallback()
        avg.backend = tf.keras.backend  # needed under legacy Keras
        callbacks.append(avg)
        if int(config.get("warmup_epochs", 1)) > 0 and initial_epoch == 0:
            warm = hvd.callbacks.LearningRateWarmupCallback(
                initial_lr=lr, warmup_epochs=int(config.get("warmup_epochs", 1)), steps_per_epoch=steps, verbose=0
            )
            warm.backend = tf.keras.backend  # as above
            callbacks.append(warm)
    callbacks.append(
        tf.keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=int(config.get("patience", 3)), restore_best_weights=True
        )
    )
    run_id = state.get("run_id")
    mlflow_on = rank == 0 and config.get("tracking_uri")
    if mlflow_on:
        import mlflow

        mlflow.set_tracking_uri(config["tracking_uri"])
        mlflow.set_registry_uri(config.get("registry_uri") or config["tracking_uri"])
        if run_id is None:
            exp = mlflow.get_experiment_by_name(config["experiment"])
            exp_id = exp.experiment_id if exp else mlflow.create_experiment(config["experiment"])
            run = mlflow.MlflowClient().create_run(
                exp_id, run_name=config.get("run_name", "dnn"), tags=config.get("tags", {})
            )
            run_id = run.info.run_id
            mlflow.MlflowClient().log_batch(
                run_id, params=[mlflow.entities.Param(k, str(v)) for k, v in sorted(config.get("params", {}).items())]
            )
    if rank == 0:
        ckpt.mkdir(parents=True, exist_ok=True)

    class RankZeroState(tf.keras.callbacks.Callback):
        """Rank 0: checkpoint weights + epoch + run id, log per-epoch metrics."""

        def on_epoch_end(self, epoch, logs=None):
            if rank != 0:
                return
            model.save_weights(str(ckpt / "weights.tmp.h5"))
            os.replace(ckpt / "weights.tmp.h5", ckpt / "weights.h5")
            tmp = ckpt / "state.tmp.json"
            tmp.write_text(json.dumps({"epoch": epoch + 1, "run_id": run_id}))
            os.replace(tmp, state_file)
            if mlflow_on and run_id is not None:
                import mlflow

                mlflow.MlflowClient().log_batch(
                    run_id,
                    metrics=[
                        mlflow.entities.Metric(k, float(v), int(time.time() * 1000), epoch)
                        for k, v in (logs or {}).items()
                    ],
                )
            if epoch + 1 < epochs:
                faults.point("dnn.epoch")

    callbacks.append(RankZeroState())
    t0 = time.perf_counter()
    history = model.fit(
        train_ds,
        epochs=epochs,
        initial_epoch=initial_epoch,
        steps_per_epoch=steps,
        validation_data=val_ds,
        validation_steps=val_steps,
        callbacks=callbacks,
        verbose=2 if (rank == 0 and config.get("verbose")) else 0,
    )
    seconds = time.perf_counter() - t0
    epochs_run = len(history.history.get("loss", []))
    result = {
        "rank": rank,
        "size": size,
        "backend": backend,
        "shards": shards,
        "train_keys": sum((_keys(snap, "train", s) for s in shards), []) if config.get("return_keys") else None,
        "weights": weights_digest(model),
        "initial_epoch": initial_epoch,
        "epochs_run": epochs_run,
        "train_seconds": seconds,
        "samples_per_second": epochs_run * steps * batch * size / max(seconds, 1e-9),
        "history": {k: [float(x) for x in v] for k, v in history.history.items()},
        "run_id": run_id,
    }
    if rank == 0:
        result |= _finish(tf, model, snap, config, run_id)
    return result


def _finish(tf, model, snap, config: dict, run_id: str | None) -> dict:
    """Rank 0: evaluate on the whole validation split, log and register the model."""
    import numpy as np
    import pyarrow.dataset as ds

    from astrolake.ml import metrics

    val = (
        ds.dataset(str(Path(snap.path) / "split=validation"), format="parquet")
        .to_table(columns=snap.features + ["label"])
        .to_pandas()
    )
    x = val[snap.features].to_numpy("float32")
    # a plain copy, outside any strategy: predicting with a MultiWorkerMirrored model is a collective
    # operation the other ranks no longer join, and Horovod's DistributedOptimizer cannot be
    # deserialised where Horovod is absent
    plain = tf.keras.models.clone_model(model)
    plain.set_weights(model.get_weights())
    pred = plain.predict(x, batch_size=4096, verbose=0)
    y = val["label"].to_numpy()
    out: dict = {"validation_rows": int(len(y))}
    if snap.task == "classification":
        k, y = len(snap.classes), y.astype(np.int64)
        p = pred.argmax(axis=1)
        out["validation_macro_f1"] = metrics.macro_f1(metrics.confusion_matrix(y, p, k))
        out["validation_accuracy"] = float((p == y).mean())
        majority = np.bincount(y, minlength=k).argmax()
        out["majority_macro_f1"] = metrics.macro_f1(metrics.confusion_matrix(y, np.full_like(y, majority), k))
    else:
        dz = metrics.normalized_residuals(pred[:, 0], y)
        out["validation_sigma_nmad"] = metrics.sigma_nmad(dz)
        out["validation_outlier_fraction"] = float((np.abs(dz) > 0.15).mean())
    if run_id is None or not config.get("log_model", True):
        if run_id is not None:
            import mlflow

            mlflow.MlflowClient().log_batch(
                run_id,
                metrics=[
                    mlflow.entities.Metric(k, v, int(time.time() * 1000), 0)
                    for k, v in out.items()
                    if isinstance(v, float)
                ],
            )
            mlflow.MlflowClient().set_terminated(run_id)
        return out
    import mlflow

    from astrolake.ml import tracking

    client = mlflow.MlflowClient()
    client.log_batch(
        run_id,
        metrics=[
            mlflow.entities.Metric(k, v, int(time.time() * 1000), 0) for k, v in out.items() if isinstance(v, float)
        ],
    )
    name: str | None = config.get("register_name")
    done = tracking.version_of_run(name, run_id) if name else None
    if name and done is not None:
        # a run killed after it registered, run again from its last checkpoint: the version it
        # registered is the result (one run, one version), not a second copy of the same model
        out["version"], out["model_name"] = done, name
        tracking.ensure_alias(name, done)
        client.set_terminated(run_id)
        return out
    with mlflow.start_run(run_id=run_id):
        # Keras flavour, pyfunc with named outputs: feature columns in, class names and prob_<CLASS>
        # (or z_phot, z_phot_err) out
        tracking.log_model(
            mlflow.tensorflow,
            plain,
            snap.task,
            snap.classes,
            snap.features,
            pip_requirements=[f"tensorflow-cpu=={tf.__version__}", "tf-keras", f"mlflow=={mlflow.__version__}"],
        )
        mlflow.log_dict({"features": snap.features, "classes": snap.classes}, "features.json")
        if name:
            out["version"] = tracking.register(run_id, "model", name)
            out["model_name"] = name
            faults.point("dnn.registered")
    client.set_terminated(run_id)
    return out
