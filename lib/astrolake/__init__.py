"""astrolake: survey-catalog analytics on Apache Spark and Delta Lake.

The library's verbs, importable from the package itself::

    from astrolake import Lake, Settings, build_gold, cone_search, crossmatch, get_spark, ingest, train

They are loaded on first use: ``import astrolake`` starts no JVM and imports neither pyspark
nor MLflow.  Error classes live in :mod:`astrolake.errors`.  See ``docs/python-api.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from astrolake._lazy import exports

__version__ = "0.1.0"

_EXPORTS = {
    "Settings": "astrolake.config",
    "get_spark": "astrolake.spark",
    "Lake": "astrolake.lake.tables",
    "ingest": "astrolake.lake.pipeline",
    "refresh": "astrolake.lake.pipeline",
    "revalidate": "astrolake.lake.pipeline",
    "build_gold": "astrolake.ml.features",
    "train": "astrolake.ml.train",
    "search": "astrolake.ml.search",
    "promote": "astrolake.ml.registry",
    "score": "astrolake.ml.scoring",
    "table_report": "astrolake.report.build",
    "model_report": "astrolake.report.build",
    "cone_search": "astrolake.sky.cone",
    "crossmatch": "astrolake.sky.xmatch",
}
__all__ = [
    "Settings",
    "get_spark",
    "Lake",
    "ingest",
    "refresh",
    "revalidate",
    "build_gold",
    "train",
    "search",
    "promote",
    "score",
    "table_report",
    "model_report",
    "cone_search",
    "crossmatch",
]
__getattr__, __dir__ = exports(__name__, _EXPORTS)

if TYPE_CHECKING:
    from astrolake.config import Settings
    from astrolake.lake.pipeline import ingest, refresh, revalidate
    from astrolake.lake.tables import Lake
    from astrolake.ml.features import build_gold
    from astrolake.ml.registry import promote
    from astrolake.ml.scoring import score
    from astrolake.ml.search import search
    from astrolake.ml.train import train
    from astrolake.report.build import model_report, table_report
    from astrolake.sky.cone import cone_search
    from astrolake.sky.xmatch import crossmatch
    from astrolake.spark import get_spark
