"""Logging for astrolake: every module logs through ``logging.getLogger(__name__)``.

The library never prints progress itself.  The doors decide what a person sees:
:func:`configure` (called by the CLI with ``--quiet`` / ``--verbose``, and by notebooks) attaches
one stderr handler to the ``astrolake`` logger and quietens the chattiest third-party loggers
(py4j, MLflow, xgboost) unless ``--verbose`` is given.  A library user who configures nothing
gets Python's default: warnings only.

:class:`Steps` times the phases of a long piece of work and logs one line as each ends::

    steps = Steps("ingest", total=3)
    with steps.step("bronze"):
        ...
    # ingest: [1/3] bronze ... 4.2 s

Given a Spark session, :class:`Steps` also reports the running stages of a long phase every
10 s (``ingest: bronze: stage 4: 3/8 tasks done, 20 s``).

>>> s = Steps("demo", total=2)
>>> with s.step("first"):
...     pass
>>> list(s.timings)
['first']
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["QUIET", "NORMAL", "VERBOSE", "configure", "verbosity", "get_logger", "Step", "Steps", "timed"]

QUIET, NORMAL, VERBOSE = -1, 0, 1

ROOT = "astrolake"
_NOISY = ("py4j", "mlflow", "xgboost", "XGBoost-PySpark", "alembic", "urllib3", "matplotlib", "numba", "h5py", "absl")


def get_logger(name: str) -> logging.Logger:
    """``logging.getLogger(name)``, for modules that are not inside the ``astrolake`` package."""
    return logging.getLogger(name)


class _Format(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        msg = record.getMessage()
        if record.levelno >= logging.WARNING:
            msg = f"{record.levelname.lower()}: {msg}"
        if record.exc_info and logging.getLogger(ROOT).isEnabledFor(logging.DEBUG):
            msg += "\n" + self.formatException(record.exc_info)
        return f"[astrolake] {msg}"


def configure(verbosity: int = NORMAL, stream=None) -> logging.Logger:
    """Send astrolake's log to ``stream`` (stderr) at a level set by ``verbosity``.

    ``QUIET`` (-1): warnings and errors only.  ``NORMAL`` (0): progress lines.  ``VERBOSE`` (1):
    debug lines, and third-party loggers (MLflow, py4j, xgboost) at INFO.  Safe to call again:
    the previous handler is replaced.
    """
    level = {QUIET: logging.WARNING, NORMAL: logging.INFO}.get(verbosity, logging.DEBUG)
    root = logging.getLogger(ROOT)
    for h in list(root.handlers):
        if getattr(h, "_astrolake", False):
            root.removeHandler(h)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler._astrolake = True  # type: ignore[attr-defined]
    handler.setFormatter(_Format())
    root.addHandler(handler)
    root.setLevel(level)
    root.propagate = False
    for name in _NOISY:
        logging.getLogger(name).setLevel(logging.INFO if verbosity >= VERBOSE else logging.WARNING)
    return root


def verbosity() -> int:
    """The verbosity in force, read from the ``astrolake`` logger's level: what :func:`configure`
    set last; ``QUIET`` when nothing configured logging (Python shows warnings only)."""
    level = logging.getLogger(ROOT).getEffectiveLevel()
    return QUIET if level >= logging.WARNING else VERBOSE if level <= logging.DEBUG else NORMAL


@contextmanager
def timed(logger: logging.Logger, what: str, level: int = logging.INFO) -> Iterator[None]:
    """Log ``what ... 1.2 s`` once the block ends."""
    t0 = time.perf_counter()
    yield
    logger.log(level, "%s ... %.1f s", what, time.perf_counter() - t0)


class Step:
    """One running phase of :class:`Steps`: set ``detail`` (rows written, ...) to have it logged
    after the seconds: ``ingest: [1/3] bronze ... 4.2 s (10,000 rows)``."""

    def __init__(self, what: str):
        self.what, self.detail = what, ""


class _StagePoller(threading.Thread):
    """Logs the running Spark stages of one phase every ``every`` seconds until stopped."""

    def __init__(self, sc, logger: logging.Logger, label: str, every: float):
        super().__init__(name=f"astrolake-progress {label}", daemon=True)
        self.sc, self.logger, self.label, self.every = sc, logger, label, every
        self.stopped = threading.Event()
        self.t0 = time.perf_counter()

    def run(self) -> None:
        while not self.stopped.wait(self.every):
            try:
                tracker = self.sc.statusTracker()
                stages = [tracker.getStageInfo(i) for i in sorted(tracker.getActiveStageIds())]
            except Exception:  # the session went away under us: progress is best effort
                return
            for st in stages:
                if st is not None and not self.stopped.is_set():
                    self.logger.info(
                        "%s: stage %d: %d/%d tasks done, %.0f s",
                        self.label,
                        st.stageId,
                        st.numCompletedTasks,
                        st.numTasks,
                        time.perf_counter() - self.t0,
                    )


def _spark_context(spark):
    """``spark.sparkContext``, or ``None`` where there is none (Spark Connect, a stopped session)."""
    try:
        return spark.sparkContext if spark is not None else None
    except Exception:
        return None


class Steps:
    """Times numbered phases: ``<name>: [3/11] colour-colour diagrams ... 4.2 s`` as each ends.

    ``timings`` keeps every phase's seconds (for results and benchmarks).  ``total`` may be
    ``None`` when the number of phases is not known in advance.  A phase that raises is neither
    counted nor logged (the error says what went wrong).

    With ``spark``, a phase that runs longer than ``poll_seconds`` also logs its running Spark
    stages every ``poll_seconds`` while INFO lines are shown:
    ``ingest: silver: stage 12: 37/200 tasks done, 20 s``.
    """

    def __init__(
        self,
        name: str,
        total: int | None = None,
        logger: logging.Logger | None = None,
        spark=None,
        poll_seconds: float = 10.0,
    ):
        self.name, self.total, self.done = name, total, 0
        self.logger = logger or logging.getLogger(f"{ROOT}.{name}")
        self.timings: dict[str, float] = {}
        self.spark, self.poll_seconds = spark, poll_seconds

    @contextmanager
    def step(self, what: str) -> Iterator[Step]:
        t0 = time.perf_counter()
        current = Step(what)
        sc = _spark_context(self.spark) if self.logger.isEnabledFor(logging.INFO) else None
        poller = _StagePoller(sc, self.logger, f"{self.name}: {what}", self.poll_seconds) if sc else None
        if poller:
            poller.start()
        try:
            yield current
        finally:
            if poller:
                poller.stopped.set()
                poller.join(timeout=5)
        seconds = time.perf_counter() - t0
        self.done += 1
        self.timings[what] = round(seconds, 3)
        count = f"[{self.done}/{self.total}] " if self.total else f"[{self.done}] "
        detail = f" ({current.detail})" if current.detail else ""
        self.logger.info("%s: %s%s ... %.1f s%s", self.name, count, what, seconds, detail)

    @property
    def seconds(self) -> float:
        """The seconds of all phases so far."""
        return round(sum(self.timings.values()), 3)
