"""The lake: :class:`Lake` (table names -> Delta locations), the ingest pipeline (bronze,
quarantine, silver, ledger) and table maintenance.  Dry runs are
:func:`astrolake.lake.preview.preview` and retraction lists :func:`astrolake.lake.retract.retract`
(each in the module of its name, which a package-level export would shadow).

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
    "optimize": "astrolake.lake.maintenance",
    "vacuum": "astrolake.lake.maintenance",
    "history": "astrolake.lake.maintenance",
}
__all__ = ["Lake", "ingest", "refresh", "revalidate", "optimize", "vacuum", "history"]
__getattr__, __dir__ = exports(__name__, _EXPORTS)

if TYPE_CHECKING:
    from astrolake.lake.maintenance import history, optimize, vacuum
    from astrolake.lake.pipeline import ingest, refresh, revalidate
    from astrolake.lake.tables import Lake
