"""Sky indexing: nested HEALPix indices (cdshealpix) as numpy functions and as
Spark columns computed in the JVM.

Public names load lazily: importing the package imports none of its modules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from astrolake._lazy import exports

_EXPORTS = {
    "HEALPIX_ORDER": "astrolake.sky.healpix",
    "HEALPIX_COLUMN": "astrolake.sky.healpix",
    "healpix_index": "astrolake.sky.healpix",
    "healpix_column": "astrolake.sky.healpix",
    "with_healpix": "astrolake.sky.healpix",
    "degrade": "astrolake.sky.healpix",
}
__all__ = ["HEALPIX_ORDER", "HEALPIX_COLUMN", "healpix_index", "healpix_column", "with_healpix", "degrade"]
__getattr__, __dir__ = exports(__name__, _EXPORTS)

if TYPE_CHECKING:
    from astrolake.sky.healpix import (
        HEALPIX_COLUMN,
        HEALPIX_ORDER,
        degrade,
        healpix_column,
        healpix_index,
        with_healpix,
    )
