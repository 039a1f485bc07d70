"""The one place that knows local vs Databricks.

``get_spark()`` returns the active session on Databricks (or any session already running) and
otherwise builds a Spark 4 session with Delta Lake: locally from the two Delta jars that
``make setup`` put in ``.jars/``; under ``spark-submit`` from the jars given on its command line
(``scripts/submit`` adds them).  A session whose JVM cannot load Delta's classes is refused with
an :class:`~astrolake.errors.EnvError` naming the fix, before any SQL runs.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from astrolake.config import Settings
from astrolake.errors import EnvError

DELTA_JARS = ("delta-spark_4.2_2.13-4.4.0.jar", "delta-storage-4.4.0.jar")
DELTA_PACKAGE = "io.delta:delta-spark_4.2_2.13:4.4.0"
DELTA_CONF = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
}
MISSING_DELTA = (
    "the Delta Lake classes are not on Spark's classpath: give spark-submit "
    "--jars .jars/delta-spark_4.2_2.13-4.4.0.jar,.jars/delta-storage-4.4.0.jar "
    "--conf spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension "
    "--conf spark.sql.catalog.spark_catalog=org.apache.spark.sql.delta.catalog.DeltaCatalog "
    f"(scripts/submit adds them), or --packages {DELTA_PACKAGE} with the same --conf on a cluster"
)
# Spark's own loggers that write Java stack traces to the console during a normal run.  A
# heartbeat can meet a task's accumulator while the task is still being deserialised (a race
# inside Spark: NullPointerException from PartitionKeyedAccumulator, logged by Utils as "Uncaught
# exception in thread executor-heartbeater" or "... heartbeat-receiver-event-loop-thread"); the
# job is not affected.  A failed task's stack trace (Executor, TaskSetManager) reaches Python with
# the exception, where the CLI turns it into one line (``--debug`` shows it whole).
_SILENCED_LOGGERS = (
    "org.apache.spark.util.Utils",
    "org.apache.spark.executor.Executor",
    "org.apache.spark.scheduler.TaskSetManager",
)


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
    raise EnvError(
        "Delta jars not found (" + ", ".join(DELTA_JARS) + "): run `make setup` in the astrolake "
        "checkout, or set ASTROLAKE_JARS to a folder that holds them"
    )


#: the JVM compiles no method over 8,000 bytes of bytecode by default, and Spark's generated code
#: for a wide row (a contract's 50 rules, the validated columns) exceeds that: without this flag
#: the per-row loop runs in the bytecode interpreter, several times slower
_JAVA_OPTIONS = "-XX:-DontCompileHugeMethods"

#: the shuffle partitions adaptive execution starts from before merging them (see get_spark)
INITIAL_SHUFFLE_PARTITIONS = 64


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
    if submitted:  # before the session exists: Spark would print a stack trace for each missing class
        from pyspark import SparkContext

        _require_delta_classes(SparkContext._jvm)
    builder = SparkSession.builder.appName(app_name)
    if "spark.master" not in submitted:  # spark-submit --master wins over settings.spark_master
        builder = builder.master(settings.spark_master)
    if not submitted:  # under spark-submit the driver's classpath is fixed: its --jars / --packages count
        builder = builder.config("spark.jars", ",".join(find_delta_jars(settings)))
    for key, value in DELTA_CONF.items():
        builder = builder.config(key, value)
    builder = (
        builder.config("spark.driver.memory", settings.driver_memory)
        .config("spark.sql.shuffle.partitions", str(settings.shuffle_partitions))
        # adaptive execution starts every shuffle with many partitions and merges them down to
        # ~64 MB each, so a batch of any size gets partitions sized for it (not a fixed count)
        .config("spark.sql.adaptive.enabled", "true")
        .config("spark.sql.adaptive.coalescePartitions.enabled", "true")
        .config(
            "spark.sql.adaptive.coalescePartitions.initialPartitionNum",
            str(max(settings.shuffle_partitions, INITIAL_SHUFFLE_PARTITIONS)),
        )
        .config("spark.default.parallelism", str(max(2, settings.shuffle_partitions)))
        .config("spark.ui.enabled", "false")
        # the console progress bar is for a person at a terminal, not for logs or CI
        .config("spark.ui.showConsoleProgress", str(_console_progress()).lower())
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.warehouse.dir", str(Path(settings.base_path).absolute() / "_warehouse"))
        .config("spark.databricks.delta.schema.autoMerge.enabled", "false")
        # Delta rebuilds table state with 50 tasks by default: far too many for a laptop's cores
        .config("spark.databricks.delta.snapshotPartitions", str(max(1, settings.shuffle_partitions)))
        .config(
            "spark.driver.extraJavaOptions",
            _JAVA_OPTIONS + " -Dderby.system.home=" + str(Path(settings.base_path).absolute()),
        )
        .config("spark.executor.extraJavaOptions", _JAVA_OPTIONS)
        # the heartbeat thread would call isZero on every task accumulator, and one still being
        # deserialised (a cached frame's PartitionKeyedAccumulator) throws there and stops the
        # thread's heartbeats for good; sent whole, the worst case is one failed heartbeat
        .config("spark.executor.heartbeat.dropZeroAccumulatorUpdates", "false")
    )
    for key, value in settings.extra_spark_conf.items():
        builder = builder.config(key, value)
    # settings given to spark-submit (--jars, --conf, --driver-memory) win over the defaults above
    for key, value in submitted.items():
        if key != "spark.app.name":
            builder = builder.config(key, value)
    spark = builder.getOrCreate()
    _quiet_jvm_logs(spark)
    _require_delta_classes(spark.sparkContext._jvm)
    return spark


def _console_progress() -> bool:
    from astrolake import log

    return sys.stderr.isatty() and log.verbosity() > log.QUIET


def _require_delta_classes(jvm) -> None:
    """The driver's JVM must load Delta's classes (else the first SQL fails deep inside Spark)."""
    try:
        for name in DELTA_CONF.values():
            jvm.org.apache.spark.util.Utils.classForName(name, False, False)
    except Exception as exc:
        if "ClassNotFoundException" not in str(exc):
            raise
        raise EnvError(MISSING_DELTA) from exc


def _quiet_jvm_logs(spark) -> None:
    """Spark's log at ERROR (WARN with ``--verbose``); the loggers of known harmless stack traces off."""
    from astrolake import log

    verbose = log.verbosity() >= log.VERBOSE
    sc = spark.sparkContext
    sc.setLogLevel("WARN" if verbose else "ERROR")
    if verbose:
        return
    configurator = sc._jvm.org.apache.logging.log4j.core.config.Configurator
    off = sc._jvm.org.apache.logging.log4j.Level.OFF
    for name in _SILENCED_LOGGERS:
        configurator.setLevel(name, off)
