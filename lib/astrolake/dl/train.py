"""``astrolake train-dnn``: snapshot -> launcher -> the training function -> MLflow model version.

The Keras model is registered under the same name as the MLlib models of its task and catalog
(``astrolake_<task>_<catalog>``), as the new ``challenger``, so ``astrolake promote`` and
``astrolake score`` treat it like any other version.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

from astrolake import layout
from astrolake.lake.tables import Lake
from astrolake.log import NORMAL, Steps, verbosity
from astrolake.ml import tracking

log = logging.getLogger(__name__)

DEFAULTS = {
    "depth": 3,
    "width": 64,
    "dropout": 0.1,
    "batch_size": 256,
    "learning_rate": 1e-3,
    "epochs": 20,
    "patience": 3,
    "warmup_epochs": 1,
    "seed": 42,
}


@dataclass
class DnnResult:
    ranks: list[dict]
    model_name: str | None
    version: str | None
    run_id: str | None
    snapshot: str
    table: str
    table_version: int

    @property
    def metrics(self) -> dict:
        return {k: v for k, v in self.ranks[0].items() if k.startswith("validation_")}

    def line(self) -> str:
        r0 = self.ranks[0]
        reg = f"; registered {self.model_name} v{self.version} @challenger" if self.version else ""
        return (
            f"train-dnn: {r0['backend']} x{r0['size']}: {r0['epochs_run']} epochs from epoch {r0['initial_epoch']}, "
            f"{r0['samples_per_second']:.0f} samples/s, {self.metrics}{reg}"
        )


def train_dnn(
    lake: Lake,
    table: str,
    task: str = "classification",
    backend: str = "horovod",
    num_proc: int = 2,
    feature_set: str = "photometry",
    params: dict | None = None,
    table_version: int | None = None,
    register: bool = True,
    name: str | None = None,
    launcher: str = "spark",
    hosts: str | None = None,
    threads_per_rank: int = 1,
    return_keys: bool = False,
    extra_tags: dict | None = None,
) -> DnnResult:
    """Train the deep MLP (classifier or photo-z regressor) with ``num_proc`` workers."""
    import mlflow

    from astrolake.dl.launch import launch
    from astrolake.dl.snapshot import write_snapshot

    if task not in ("classification", "photoz"):
        raise tracking.ModelError(f"train-dnn covers classification and photoz, not {task!r}")
    if num_proc < 1:
        raise tracking.ModelError("--num-proc must be at least 1")
    unknown = set(params or {}) - set(DEFAULTS)
    if unknown:
        raise tracking.ModelError(f"unknown DNN parameter(s) {sorted(unknown)}; known: {sorted(DEFAULTS)}")
    hp = {**DEFAULTS, **(params or {})}
    experiment_id = tracking.configure(lake.settings)
    steps = Steps("train-dnn", total=2, logger=log)
    with steps.step("snapshot"):
        snap = write_snapshot(
            lake, table, task, feature_set, version=table_version, num_shards=1 if backend == "local" else num_proc
        )
    catalog = layout.catalog_of(snap.table)
    model_name = (name or tracking.model_name(lake.settings, task, catalog)) if register else None
    t = tracking.TAG
    tags = {
        t + "table": snap.table,
        t + "table_location": lake.location(snap.table),
        t + "table_version": str(snap.version),
        t + "task": task,
        t + "family": "dnn",
        t + "feature_set": feature_set,
        t + "features": json.dumps(snap.features),
        t + "label": "class" if task == "classification" else "redshift",
        t + "classes": json.dumps(snap.classes),
        t + "backend": backend,
        t + "num_proc": str(num_proc),
        **(extra_tags or {}),
    }
    ident = hashlib.sha256(json.dumps([snap.path, backend, num_proc, hp, model_name], sort_keys=True).encode())
    ckpt = Path(lake.settings.checkpoint_root) / "dnn" / f"{snap.table}-v{snap.version}-{task}-{ident.hexdigest()[:12]}"
    exp = mlflow.get_experiment(experiment_id)
    config = {
        **hp,
        "snapshot": snap.path,
        "checkpoint_dir": str(ckpt),
        "tracking_uri": mlflow.get_tracking_uri(),
        # resolved here: a worker may inherit a stale MLFLOW_REGISTRY_URI from the process that started it
        "registry_uri": mlflow.get_registry_uri(),
        "experiment": exp.name,
        "run_name": f"dnn-{task}-{backend}",
        "tags": tags,
        "params": {**hp, "backend": backend, "num_proc": num_proc},
        "register_name": model_name,
        "threads_per_rank": threads_per_rank,
        "return_keys": return_keys,
        "verbose": verbosity() >= NORMAL,  # rank 0's per-epoch lines
    }
    state = ckpt / "state.json"
    resumed = f", resuming after epoch {json.loads(state.read_text())['epoch']}" if state.is_file() else ""
    log.info(f"train-dnn: {task} on {snap.table} v{snap.version} with {backend} x{num_proc}{resumed}")
    with steps.step(f"train with {backend} x{num_proc}") as step:
        ranks = launch(config, backend, num_proc, spark=lake.spark, launcher=launcher, hosts=hosts)
        step.detail = f"{ranks[0].get('epochs_run', '?')} epochs"
    shutil.rmtree(ckpt, ignore_errors=True)  # finished: a later run starts afresh
    r0 = ranks[0]
    result = DnnResult(
        ranks, r0.get("model_name"), r0.get("version"), r0.get("run_id"), snap.path, snap.table, snap.version
    )
    log.info(result.line())
    return result
