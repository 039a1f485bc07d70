"""Exploratory statistics, figures and HTML reports computed in Spark (only bins reach the driver).

``table_report(lake, table)`` and ``model_report(lake, "models:/NAME@alias")`` (from
:mod:`astrolake.report.build`) are what ``astrolake report`` runs; :mod:`~astrolake.report.stats`
and :mod:`~astrolake.report.figures` are the building blocks notebooks use directly.
Public names load lazily: importing the package must not import Spark-heavy modules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from astrolake._lazy import exports

_EXPORTS = {
    "table_report": "astrolake.report.build",
    "model_report": "astrolake.report.build",
}
__all__ = ["table_report", "model_report"]
__getattr__, __dir__ = exports(__name__, _EXPORTS)

if TYPE_CHECKING:
    from astrolake.report.build import model_report, table_report
