"""astrolake's one error hierarchy, and how the doors turn an exception into an exit status.

Every error astrolake raises on purpose is an :class:`AstrolakeError`, in one of two branches:

* :class:`UserError`: something the user can fix by changing what they asked for (a bad argument,
  an unknown catalog, an invalid or missing input file, a rejected batch).  The CLI prints one
  line and exits 1 (2 for a :class:`UsageError`, a bad command-line argument).
* :class:`EnvError`: the surroundings are broken, not the request (disk full, unwritable output,
  missing Delta jars, MLflow store unreachable or locked).  One line naming the cause; exit 4.

Anything else is a bug: the CLI keeps its traceback and exits 3.  ``--debug`` shows the whole
chain for every branch.  :func:`classify` recognises the environment failures that arrive as
third-party exceptions (``OSError``, JVM errors, SQLite locks) and wraps them in an
:class:`EnvError`, so that the doors never have to parse error text themselves.

>>> issubclass(UsageError, UserError) and UsageError.exit_code
2
>>> classify(OSError(28, "No space left on device")).exit_code
4
>>> classify(KeyError("x")) is None
True
"""

from __future__ import annotations

import errno

__all__ = [
    "EXIT_BUG",
    "AstrolakeError",
    "EnvError",
    "IntegrityError",
    "UsageError",
    "UserError",
    "classify",
    "describe",
]

EXIT_BUG = 3


class AstrolakeError(Exception):
    """Base of every error astrolake raises on purpose."""

    exit_code = 1


class UserError(AstrolakeError):
    """The request cannot be done as asked: bad argument, unknown name, invalid or missing input."""

    exit_code = 1


class UsageError(UserError):
    """A command-line argument is malformed or out of range (exit 2, like argparse)."""

    exit_code = 2


class EnvError(AstrolakeError):
    """The environment is broken: disk full, unwritable output, missing jars, MLflow store down (exit 4)."""

    exit_code = 4


class IntegrityError(AstrolakeError):
    """An invariant of astrolake itself broke (a ledger that does not close): a bug, exit 3."""

    exit_code = EXIT_BUG


_ENV_ERRNOS = {errno.ENOSPC, errno.EACCES, errno.EROFS, errno.EPERM, errno.EDQUOT, errno.EMFILE}

# (text found in a JVM/third-party error, one line for the user)
_ENV_PATTERNS: tuple[tuple[str, str], ...] = (
    ("Read-only file system", "the output folder is on a read-only file system"),
    ("No space left on device", "no space left on device while writing: free disk space or choose another --base-path"),
    ("Disk quota exceeded", "disk quota exceeded while writing: free space or choose another --base-path"),
    (
        "ClassNotFoundException: io.delta",
        "the Delta Lake jars are not on Spark's classpath: run `make setup`, pass --jars with "
        "delta-spark_4.2_2.13-4.4.0.jar and delta-storage-4.4.0.jar to spark-submit (or use scripts/submit), "
        "or --packages io.delta:delta-spark_4.2_2.13:4.4.0 on a cluster",
    ),
    (
        # the class itself missing: any Delta error's stack trace names org.apache.spark.sql.delta
        "ClassNotFoundException: org.apache.spark.sql.delta",
        "the Delta Lake jars are not on Spark's classpath: run `make setup`, pass --jars with "
        "delta-spark_4.2_2.13-4.4.0.jar and delta-storage-4.4.0.jar to spark-submit (or use scripts/submit), "
        "or --packages io.delta:delta-spark_4.2_2.13:4.4.0 on a cluster",
    ),
    (
        "DATA_SOURCE_NOT_FOUND] Failed to find the data source: delta",
        "the Delta Lake jars are not on Spark's classpath",
    ),
    ("database is locked", "the MLflow tracking store is locked by another process: retry, or set MLFLOW_TRACKING_URI"),
    ("unable to open database file", "the MLflow tracking store cannot be opened: check MLFLOW_TRACKING_URI"),
    ("Max retries exceeded with url", "the MLflow tracking server is unreachable: check MLFLOW_TRACKING_URI"),
    ("Connection refused", "a service astrolake needs refused the connection (MLflow tracking server?)"),
    ("Permission denied", "permission denied: the output folder is not writable"),
)


def _chain(exc: BaseException):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]


def classify(exc: BaseException) -> AstrolakeError | None:
    """The :class:`AstrolakeError` that ``exc`` stands for, or ``None`` when it is a bug.

    An :class:`AstrolakeError` anywhere in the chain is returned as it is.  An ``OSError`` for a
    full disk or a permission problem, and JVM or MLflow errors whose text names a broken
    environment (no space left, missing Delta classes, locked or unreachable tracking store)
    become an :class:`EnvError` with one line naming the cause.
    """
    for e in _chain(exc):
        if isinstance(e, AstrolakeError):
            return e
    for e in _chain(exc):
        if isinstance(e, OSError) and e.errno in _ENV_ERRNOS:
            where = f": {e.filename}" if getattr(e, "filename", None) else ""
            return EnvError(f"{e.strerror or e}{where}")
    text = "\n".join(str(e) for e in _chain(exc))
    for needle, line in _ENV_PATTERNS:
        if needle in text:
            err = EnvError(line)
            err.__cause__ = exc
            return err
    return None


def describe(exc: BaseException) -> str:
    """The first meaningful line of an exception, without JVM stack traces."""
    text = str(exc).strip() or type(exc).__name__
    if type(exc).__name__ in ("AnalysisException", "PythonException", "Py4JJavaError"):
        for line in text.splitlines():
            line = line.strip()
            if line and not line.startswith(("at ", "Traceback", "File ", "JVM stacktrace")):
                text = line
                break
    first = text.splitlines()[0]
    return first if len(first) < 600 else first[:600] + " ..."
