"""Turning exceptions into one clear line for the doors (CLI, jobs)."""

from __future__ import annotations


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
