"""The lake: :class:`Lake` (table names -> Delta locations), the ingest pipeline (bronze,
quarantine, silver, ledger), its dry run (:func:`preview`) and table maintenance.

Public names load lazily: importing the package imports none of its modules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from astrolake._lazy import exports

_EXPORTS = {
    "Lake": "astrolake.lake.tables",
    "ingest": "astrolake.lake.pipeline",
    "refresh": "astrolake.lake.pipeline",
    "revalidate": "astrolake.lake.pipeline",
    "preview": "astrolake.lake.preview",
    "optimize": "astrolake.lake.maintenance",
    "vacuum": "astrolake.lake.maintenance",
    "history": "astrolake.lake.maintenance",
}
__all__ = ["Lake", "ingest", "refresh", "revalidate", "preview", "optimize", "vacuum", "history"]
__getattr__, __dir__ = exports(__name__, _EXPORTS)

if TYPE_CHECKING:
    from astrolake.lake.maintenance import history, optimize, vacuum
    from astrolake.lake.pipeline import ingest, refresh, revalidate
    from astrolake.lake.preview import preview
    from astrolake.lake.tables import Lake
