"""The one place that knows local vs Databricks.

``get_spark()`` returns the active session on Databricks (or any session already running, such
as one started by ``spark-submit``) and otherwise builds a local Spark 4 session with Delta Lake
enabled from the two Delta jars that ``make setup`` put in ``.jars/``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from astrolake.config import Settings

DELTA_JARS = ("delta-spark_4.2_2.13-4.4.0.jar", "delta-storage-4.4.0.jar")


def on_databricks() -> bool:
    """True inside a Databricks runtime (cluster, job or serverless)."""
    return "DATABRICKS_RUNTIME_VERSION" in os.environ


def find_delta_jars(settings: Settings | None = None) -> list[str]:
    """Locate the Delta jars: ``settings.jars``, ``$ASTROLAKE_JARS``, or ``.jars/`` of the checkout."""
    candidates = []
    if settings is not None and settings.jars:
        candidates.append(Path(settings.jars))
    if os.environ.get("ASTROLAKE_JARS"):
        candidates.append(Path(os.environ["ASTROLAKE_JARS"]))
    here = Path(__file__).resolve()
    candidates += [p / ".jars" for p in here.parents]
    candidates.append(Path.cwd() / ".jars")
    for folder in candidates:
        jars = [folder / name for name in DELTA_JARS]
        if all(j.is_file() for j in jars):
            return [str(j) for j in jars]
    raise RuntimeError(
        "Delta jars not found (" + ", ".join(DELTA_JARS) + "): run `make setup` in the astrolake "
        "checkout, or set ASTROLAKE_JARS to a folder that holds them"
    )


def _submitted_conf() -> dict[str, str]:
    """The ``spark.*`` settings of the JVM this Python process was started by (``spark-submit``).

    Empty for a plain ``python``/``astrolake`` process, which launches its own JVM.  Under
    ``spark-submit`` the session is not active yet when the job's code runs, so without this the
    builder's ``master(...)`` would silently replace ``spark-submit --master spark://...`` with
    ``local[*]``.
    """
    if "PYSPARK_GATEWAY_PORT" not in os.environ:
        return {}
    from pyspark import SparkConf, SparkContext

    SparkContext._ensure_initialized()
    return dict(SparkConf().getAll())


def get_spark(settings: Settings | None = None, app_name: str = "astrolake"):
    """Return a Spark session with Delta Lake.

    On Databricks, or when a session is already active (``spark-submit``, notebooks, tests), that
    session is returned unchanged.  Otherwise a local session is built: ``settings.spark_master``
    (``local[*]`` by default), few shuffle partitions, the Delta jars as ``spark.jars``.
    """
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    if on_databricks():
        return SparkSession.builder.getOrCreate()

    settings = settings or Settings.load()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    # pip's pyspark ships the JVM; make sure spark-submit children find the venv's python
    submitted = _submitted_conf()
    builder = SparkSession.builder.appName(app_name)
    if "spark.master" not in submitted:  # spark-submit --master wins over settings.spark_master
        builder = builder.master(settings.spark_master)
    builder = (
        builder.config("spark.jars", ",".join(find_delta_jars(settings)))
        .config("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension")
        .config("spark.sql.catalog.spark_catalog", "org.apache.spark.sql.delta.catalog.DeltaCatalog")
        .config("spark.driver.memory", settings.driver_memory)
        .config("spark.sql.shuffle.partitions", str(settings.shuffle_partitions))
        .config("spark.default.parallelism", str(max(2, settings.shuffle_partitions)))
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.warehouse.dir", str(Path(settings.base_path).absolute() / "_warehouse"))
        .config("spark.databricks.delta.schema.autoMerge.enabled", "false")
        # Delta rebuilds table state with 50 tasks by default: far too many for a laptop's cores
        .config("spark.databricks.delta.snapshotPartitions", str(max(1, settings.shuffle_partitions)))
        .config("spark.driver.extraJavaOptions", "-Dderby.system.home=" + str(Path(settings.base_path).absolute()))
    )
    for key, value in settings.extra_spark_conf.items():
        builder = builder.config(key, value)
    # settings given to spark-submit (--jars, --conf, --driver-memory) win over the defaults above
    for key, value in submitted.items():
        if key != "spark.app.name":
            builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark
