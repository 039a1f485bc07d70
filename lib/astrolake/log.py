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

>>> s = Steps("demo", total=2)
>>> with s.step("first"):
...     pass
>>> list(s.timings)
['first']
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["QUIET", "NORMAL", "VERBOSE", "configure", "get_logger", "Steps", "timed"]

QUIET, NORMAL, VERBOSE = -1, 0, 1

ROOT = "astrolake"
_NOISY = ("py4j", "mlflow", "xgboost", "xgboost.spark", "alembic", "urllib3", "matplotlib", "numba", "h5py", "absl")


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
    """The verbosity :func:`configure` set last (``NORMAL`` when it was never called)."""
    level = logging.getLogger(ROOT).getEffectiveLevel()
    return QUIET if level >= logging.WARNING else VERBOSE if level <= logging.DEBUG else NORMAL


@contextmanager
def timed(logger: logging.Logger, what: str, level: int = logging.INFO) -> Iterator[None]:
    """Log ``what ... 1.2 s`` once the block ends."""
    t0 = time.perf_counter()
    yield
    logger.log(level, "%s ... %.1f s", what, time.perf_counter() - t0)


class Steps:
    """Times numbered phases: ``<name>: [3/11] colour-colour diagrams ... 4.2 s`` as each ends.

    ``timings`` keeps every phase's seconds (for results and benchmarks).  ``total`` may be
    ``None`` when the number of phases is not known in advance.
    """

    def __init__(self, name: str, total: int | None = None, logger: logging.Logger | None = None):
        self.name, self.total, self.done = name, total, 0
        self.logger = logger or logging.getLogger(f"{ROOT}.{name}")
        self.timings: dict[str, float] = {}

    @contextmanager
    def step(self, what: str) -> Iterator[None]:
        t0 = time.perf_counter()
        yield
        seconds = time.perf_counter() - t0
        self.done += 1
        self.timings[what] = round(seconds, 3)
        count = f"[{self.done}/{self.total}] " if self.total else f"[{self.done}] "
        self.logger.info("%s: %s%s ... %.1f s", self.name, count, what, seconds)
