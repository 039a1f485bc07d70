"""Training snapshots: a gold table at a pinned Delta version -> Parquet shards for the workers.

Deep-learning workers never query Delta themselves (a worker-side Delta reader such as
``deltalake`` cannot read tables with deletion vectors, common on Databricks); Spark writes one
versioned Parquet snapshot instead, honouring every table feature:

    <root>/<table>/v<version>/<task>-<n>shards/split=<split>/shard=<i>/part-*.parquet
    <root>/<table>/v<version>/<task>-<n>shards/meta.json   (features, classes, statistics, counts)

Rows go to shard ``xxhash64(_key) mod n``, so each worker reads only its own folder, and a
snapshot is written once per (table, version, task, shards) and then reused.  Normalisation
statistics (mean and variance of every feature on the training split) are computed in Spark;
nothing is collected but them and the counts.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from pyspark.sql import functions as F

from astrolake.lake.tables import Lake
from astrolake.log import Steps
from astrolake.ml.features import training_data

log = logging.getLogger(__name__)

LABEL = "label"


@dataclass
class Snapshot:
    path: str
    table: str
    version: int
    task: str
    feature_set: str
    features: list[str]
    classes: list[str]
    mean: list[float]
    variance: list[float]
    num_shards: int
    counts: dict[str, list[int]]  # split -> rows per shard

    def shard_path(self, split: str, shard: int) -> str:
        return str(Path(self.path) / f"split={split}" / f"shard={shard}")

    @classmethod
    def load(cls, path: str | Path) -> Snapshot:
        return cls(**json.loads((Path(path) / "meta.json").read_text()))

    def save(self) -> None:
        (Path(self.path) / "meta.json").write_text(json.dumps(asdict(self), indent=1))


def snapshot_root(lake: Lake) -> str:
    return str(Path(lake.settings.base_path).absolute() / "_snapshots")


def write_snapshot(
    lake: Lake,
    table: str,
    task: str = "classification",
    feature_set: str = "photometry",
    features: list[str] | None = None,
    version: int | None = None,
    num_shards: int = 2,
    root: str | None = None,
) -> Snapshot:
    """Write (or reuse) the Parquet shards of ``table`` at ``version`` for ``num_shards`` workers."""
    if num_shards < 1:
        raise ValueError("num_shards must be at least 1")
    data = training_data(lake, table, task, feature_set, features, version=version)
    folder = Path(root or snapshot_root(lake)) / data.table / f"v{data.version}" / f"{task}-{num_shards}shards"
    if (folder / "meta.json").is_file():
        snap = Snapshot.load(folder)
        if snap.features == data.features:
            log.info(f"snapshot: reusing {folder}")
            return snap
    if folder.exists():
        shutil.rmtree(folder)  # a partial snapshot from a killed run
    steps = Steps("snapshot", total=2, logger=log, spark=lake.spark)
    train = data.split("train")
    with steps.step(f"classes and normalisation statistics of {data.table} v{data.version}"):
        classes = (
            sorted(r[0] for r in train.select(data.label).distinct().collect()) if task == "classification" else []
        )
        stats = train.agg(
            *[F.avg(c).alias(f"m_{i}") for i, c in enumerate(data.features)],
            *[F.var_pop(c).alias(f"v_{i}") for i, c in enumerate(data.features)],
        ).collect()[0]
    mean = [float(stats[f"m_{i}"]) for i in range(len(data.features))]
    variance = [max(float(stats[f"v_{i}"]), 1e-12) for i in range(len(data.features))]
    if task == "classification":
        label = (F.array_position(F.array(*[F.lit(c) for c in classes]), F.col(data.label)) - 1).cast("int")
    else:
        label = F.col(data.label).cast("float")
    rows = (
        data.frame.select(
            "_key", "split", *[F.col(c).cast("float").alias(c) for c in data.features], label.alias(LABEL)
        )
        .where(F.col(LABEL) >= 0 if task == "classification" else F.lit(True))
        .withColumn("shard", F.pmod(F.xxhash64("_key", F.lit("shard")), F.lit(num_shards)).cast("int"))
    )
    with steps.step(f"write {num_shards} shard(s) to {folder}") as step:
        rows.repartition("split", "shard").write.mode("overwrite").partitionBy("split", "shard").parquet(str(folder))
        got = {(r["split"], r["shard"]): r["count"] for r in rows.groupBy("split", "shard").count().collect()}
        counts = {s: [int(got.get((s, i), 0)) for i in range(num_shards)] for s in ("train", "validation", "test")}
        step.detail = ", ".join(f"{sum(n):,} {s}" for s, n in counts.items()) + " rows"
    snap = Snapshot(
        str(folder),
        data.table,
        data.version,
        task,
        feature_set,
        data.features,
        classes,
        mean,
        variance,
        num_shards,
        counts,
    )
    snap.save()
    return snap
