"""Sky indexing and positional queries: nested HEALPix indices (cdshealpix) as numpy functions and
as Spark columns computed in the JVM; cone searches on ``healpix_29``; catalog cross-matches;
HATS catalogs (LSDB's HEALPix-partitioned Parquet) read and written.

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
    "cone_ranges": "astrolake.sky.cone",
    "cone_search": "astrolake.sky.cone",
    "cone_files": "astrolake.sky.cone",
    "ConeFiles": "astrolake.sky.cone",
    "crossmatch": "astrolake.sky.xmatch",
    "crossmatch_order": "astrolake.sky.xmatch",
    "max_radius_arcsec": "astrolake.sky.xmatch",
    "read_hats": "astrolake.sky.hats",
    "export_hats": "astrolake.sky.hats",
    "hats_properties": "astrolake.sky.hats",
}
__all__ = [
    "HEALPIX_ORDER",
    "HEALPIX_COLUMN",
    "healpix_index",
    "healpix_column",
    "with_healpix",
    "degrade",
    "cone_ranges",
    "cone_search",
    "cone_files",
    "ConeFiles",
    "crossmatch",
    "crossmatch_order",
    "max_radius_arcsec",
    "read_hats",
    "export_hats",
    "hats_properties",
]
__getattr__, __dir__ = exports(__name__, _EXPORTS)

if TYPE_CHECKING:
    from astrolake.sky.cone import ConeFiles, cone_files, cone_ranges, cone_search
    from astrolake.sky.hats import export_hats, hats_properties, read_hats
    from astrolake.sky.healpix import (
        HEALPIX_COLUMN,
        HEALPIX_ORDER,
        degrade,
        healpix_column,
        healpix_index,
        with_healpix,
    )
    from astrolake.sky.xmatch import crossmatch, crossmatch_order, max_radius_arcsec
