"""HEALPix indexing of sky positions (nested scheme).

Silver tables carry ``healpix_29``: the nested HEALPix index at order 29 (depth 29, cells of
about 0.4 milliarcseconds), computed with cdshealpix.  A coarser nested index is a bit shift
away: ``index_at_order_k = healpix_29 >> (2 * (29 - k))``, so one column serves cone searches,
partitioning and clustering at any order (the same convention as LSDB's ``_healpix_29``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

HEALPIX_ORDER = 29
HEALPIX_COLUMN = "healpix_29"


def healpix_index(ra_deg, dec_deg, order: int = HEALPIX_ORDER) -> np.ndarray:
    """Nested HEALPix index of positions in degrees; -1 where a coordinate is missing.

    Examples
    --------
    >>> healpix_index([180.0, 45.0], [0.0, float("nan")], order=0).tolist()  # base cell 6; unknown
    [6, -1]
    """
    import astropy.units as u
    from astropy.coordinates import Latitude, Longitude
    from cdshealpix.nested import lonlat_to_healpix

    ra = np.asarray(ra_deg, dtype="float64")
    dec = np.asarray(dec_deg, dtype="float64")
    out = np.full(ra.shape, -1, dtype="int64")
    ok = np.isfinite(ra) & np.isfinite(dec) & (dec >= -90) & (dec <= 90)
    if ok.any():
        out[ok] = lonlat_to_healpix(Longitude(ra[ok] % 360.0, unit=u.deg), Latitude(dec[ok], unit=u.deg), order).astype(
            "int64"
        )
    return out


def degrade(index: np.ndarray | int, order: int, from_order: int = HEALPIX_ORDER):
    """The nested index at a coarser ``order``."""
    return np.asarray(index) >> (2 * (from_order - order))


def healpix_column(ra_col: str = "ra", dec_col: str = "dec"):
    """A Spark column with the order-29 nested index of (``ra_col``, ``dec_col``); null when unknown."""
    from pyspark.sql import functions as F
    from pyspark.sql.functions import pandas_udf

    @pandas_udf("long")  # type: ignore[call-overload]  # pyspark's stubs lack the type-hinted form
    def _hpx(ra: pd.Series, dec: pd.Series) -> pd.Series:
        idx = healpix_index(
            ra.to_numpy(dtype="float64", na_value=np.nan), dec.to_numpy(dtype="float64", na_value=np.nan)
        )
        return pd.Series(idx).where(idx >= 0)

    return _hpx(F.col(ra_col), F.col(dec_col))
