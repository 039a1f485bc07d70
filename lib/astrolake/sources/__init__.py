"""Landing sources: file listing and suffixes (one list and one expansion for text and FITS
files), raw readers, the ``fits`` Spark data source, synthetic catalogs.

Public names load lazily: importing the package imports none of its modules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from astrolake._lazy import exports

_EXPORTS = {
    "FITS_SUFFIXES": "astrolake.sources.files",
    "TEXT_SUFFIXES": "astrolake.sources.files",
    "LandingError": "astrolake.sources.files",
    "expand": "astrolake.sources.files",
    "register_fits": "astrolake.sources.fits",
    "FitsSourceError": "astrolake.sources.fits",
    "synthetic_catalog": "astrolake.sources.synthetic",
    "write_synthetic_csv": "astrolake.sources.synthetic",
}
__all__ = [
    "FITS_SUFFIXES",
    "TEXT_SUFFIXES",
    "LandingError",
    "expand",
    "register_fits",
    "FitsSourceError",
    "synthetic_catalog",
    "write_synthetic_csv",
]
__getattr__, __dir__ = exports(__name__, _EXPORTS)

if TYPE_CHECKING:
    from astrolake.sources.files import FITS_SUFFIXES, TEXT_SUFFIXES, LandingError, expand
    from astrolake.sources.fits import FitsSourceError, register_fits
    from astrolake.sources.synthetic import synthetic_catalog, write_synthetic_csv
