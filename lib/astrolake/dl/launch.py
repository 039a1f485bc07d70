"""Launchers for the one training function (``astrolake.dl.trainer.train_worker``).

``horovod`` on Spark   ``horovod.spark.run(train_worker, num_proc=N)``: N Horovod ranks started by
                        Spark tasks on the current cluster (local[2], a standalone cluster, ...).
``horovod`` on hosts    ``horovodrun -np N -H host:slots python -m astrolake.dl.worker CONFIG``.
``tf-distribute``       a Spark barrier stage of N tasks: each task learns its peers' addresses
                        (``BarrierTaskContext.allGather``), sets ``TF_CONFIG`` and runs the worker in
                        a fresh Python process (MultiWorkerMirroredStrategy).  Works wherever Spark
                        does, including Databricks runtimes that ship no Horovod.
``local``               one process, in this one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

BACKENDS = ("horovod", "tf-distribute", "local")


def _worker_env(threads: int) -> dict:
    env = dict(os.environ)
    env.update(
        {
            "TF_USE_LEGACY_KERAS": "1",
            "OMP_NUM_THREADS": str(threads),
            "PYTHONUNBUFFERED": "1",
            "TF_CPP_MIN_LOG_LEVEL": "2",
        }
    )
    lib = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = lib + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def run_horovod_spark(config: dict, num_proc: int) -> list[dict]:
    import horovod.spark

    from astrolake.dl.trainer import train_worker

    env = _worker_env(int(config.get("threads_per_rank", 1)))
    return horovod.spark.run(
        train_worker,
        args=(config,),
        num_proc=num_proc,
        env=env,
        verbose=0,
        use_gloo=True,
        use_mpi=False,
        executable=sys.executable,
    )


def run_horovodrun(config: dict, num_proc: int, hosts: str | None = None) -> list[dict]:
    """``horovodrun`` on plain hosts (default: this one with num_proc slots)."""
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "config.json"
        cfg.write_text(json.dumps({**config, "result_dir": tmp}))
        cmd = [
            str(Path(sys.executable).with_name("horovodrun")),
            "-np",
            str(num_proc),
            "-H",
            hosts or f"localhost:{num_proc}",
            "--gloo",
            sys.executable,
            "-m",
            "astrolake.dl.worker",
            str(cfg),
        ]
        proc = subprocess.run(
            cmd, env=_worker_env(int(config.get("threads_per_rank", 1))), capture_output=True, text=True
        )
        if proc.returncode != 0:
            raise RuntimeError(f"horovodrun failed (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}")
        return [json.loads((Path(tmp) / f"rank{r}.json").read_text()) for r in range(num_proc)]


def _barrier_task(config: dict):
    """Runs inside a Spark barrier task: agree on TF_CONFIG, run the worker in a fresh process."""
    import socket

    from pyspark import BarrierTaskContext

    ctx = BarrierTaskContext.get()
    host = ctx.getTaskInfos()[ctx.partitionId()].address.split(":")[0]
    with socket.socket() as s:
        s.bind(("", 0))
        port = s.getsockname()[1]
    peers = ctx.allGather(f"{host}:{port}")
    rank = ctx.partitionId()
    env = _worker_env(int(config.get("threads_per_rank", 1)))
    env["TF_CONFIG"] = json.dumps({"cluster": {"worker": list(peers)}, "task": {"type": "worker", "index": rank}})
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "config.json"
        cfg.write_text(json.dumps({**config, "result_dir": tmp, "rank_hint": rank}))
        proc = subprocess.run(
            [sys.executable, "-m", "astrolake.dl.worker", str(cfg)], env=env, capture_output=True, text=True
        )
        if proc.returncode != 0:
            raise RuntimeError(
                f"tf-distribute worker {rank} failed (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}"
            )
        yield (Path(tmp) / f"rank{rank}.json").read_text()


def run_tf_distribute(spark, config: dict, num_proc: int) -> list[dict]:
    rdd = spark.sparkContext.parallelize(range(num_proc), num_proc).barrier()
    out = rdd.mapPartitions(lambda _: _barrier_task(config)).collect()
    return sorted((json.loads(o) for o in out), key=lambda r: r["rank"])


def launch(
    config: dict, backend: str, num_proc: int, spark=None, launcher: str = "spark", hosts: str | None = None
) -> list[dict]:
    """Run ``train_worker`` with ``num_proc`` workers; one result dict per rank, rank order."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    config = {**config, "backend": backend}
    if backend == "local":
        from astrolake.dl.trainer import train_worker

        return [train_worker(config)]
    if backend == "horovod":
        try:
            import horovod.tensorflow.keras  # noqa: F401
        except ImportError as exc:  # e.g. a Databricks Spark 4 ML runtime
            raise RuntimeError(
                "Horovod is not installed here; use --backend tf-distribute "
                "(or install Horovod, see docs/deep-learning.md)"
            ) from exc
        if launcher == "horovodrun":
            return run_horovodrun(config, num_proc, hosts)
        return sorted(run_horovod_spark(config, num_proc), key=lambda r: r["rank"])
    if spark is None:
        raise ValueError("tf-distribute needs a Spark session to start its workers")
    return run_tf_distribute(spark, config, num_proc)
