"""Exploratory statistics, figures and HTML reports computed in Spark (only bins reach the driver).

``table_report(lake, table)`` and ``model_report(lake, "models:/NAME@alias")`` (from
:mod:`astrolake.report.build`) are what ``astrolake report`` runs; :mod:`~astrolake.report.stats`
and :mod:`~astrolake.report.figures` are the building blocks notebooks use directly.
"""

__all__ = ["table_report", "model_report"]


def __getattr__(name):  # lazy: importing the package must not import Spark-heavy modules
    if name in __all__:
        from astrolake.report import build

        return getattr(build, name)
    raise AttributeError(f"module 'astrolake.report' has no attribute {name!r}")
