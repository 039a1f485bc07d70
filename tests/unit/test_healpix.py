"""astrolake.sky.healpix (nested scheme) against cdshealpix and the HEALPix base-cell layout."""

from __future__ import annotations

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import Latitude, Longitude, SkyCoord
from cdshealpix import nested

from astrolake.sky.healpix import HEALPIX_ORDER, degrade, healpix_index


@pytest.fixture(scope="module")
def positions():
    """2,000 positions uniform on the sphere, plus both poles and RA 0 / 360 edges."""
    rng = np.random.default_rng(29)
    ra = rng.uniform(0, 360, 2000)
    dec = np.degrees(np.arcsin(rng.uniform(-1, 1, 2000)))
    ra = np.r_[ra, 0.0, 359.9999999, 10.0, 10.0]
    dec = np.r_[dec, 0.0, 0.0, 90.0, -90.0]
    return ra, dec


@pytest.mark.parametrize("order", [0, 1, 5, 12, 20, HEALPIX_ORDER])
def test_index_equals_cdshealpix_nested(positions, order):
    ra, dec = positions
    got = healpix_index(ra, dec, order=order)
    want = nested.lonlat_to_healpix(Longitude(ra, unit=u.deg), Latitude(dec, unit=u.deg), order)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, want.astype(np.int64))
    assert got.min() >= 0 and got.max() < 12 * 4**order


def test_base_cells_follow_the_healpix_layout():
    """Order 0: cells 0-3 around the north pole (centres at RA 45, 135, 225, 315), 4-7 on the
    equator (centres at RA 0, 90, 180, 270), 8-11 around the south pole."""
    ra = [45, 135, 225, 315, 0, 90, 180, 270, 45, 135, 225, 315]
    dec = [60] * 4 + [0] * 4 + [-60] * 4
    assert healpix_index(ra, dec, order=0).tolist() == list(range(12))


@pytest.mark.parametrize("order", [3, 10, HEALPIX_ORDER])
def test_position_lies_in_its_cell(positions, order):
    """The centre of the cell returned is within one cell radius of the position (catches swapped
    or mis-scaled coordinates, which cdshealpix would index just as happily)."""
    ra, dec = positions
    idx = healpix_index(ra, dec, order=order).astype(np.uint64)
    lon, lat = nested.healpix_to_lonlat(idx, order)
    sep = SkyCoord(ra * u.deg, dec * u.deg).separation(SkyCoord(lon, lat)).to_value(u.deg)
    cell = np.degrees(np.sqrt(4 * np.pi / (12 * 4**order)))  # mean cell side
    assert sep.max() < cell  # a cell's farthest point is well within one side length of its centre


def test_degrade_is_the_index_at_the_coarser_order(positions):
    ra, dec = positions
    fine = healpix_index(ra, dec)
    for order in (0, 1, 7, 16, 28, 29):
        np.testing.assert_array_equal(degrade(fine, order), healpix_index(ra, dec, order=order))
    assert degrade(int(fine[0]), 0) == fine[0] >> 58  # a plain integer works too
    np.testing.assert_array_equal(
        degrade(healpix_index(ra, dec, order=10), 4, from_order=10), healpix_index(ra, dec, 4)
    )


def test_missing_or_impossible_coordinates_give_minus_one():
    ra = [np.nan, 10.0, 10.0, np.inf, 10.0, 10.0]
    dec = [10.0, np.nan, 90.5, 10.0, -91.0, 89.0]
    got = healpix_index(ra, dec, order=8)
    assert got[:5].tolist() == [-1] * 5
    assert got[5] == nested.lonlat_to_healpix(Longitude([10.0], unit=u.deg), Latitude([89.0], unit=u.deg), 8)[0]


def test_right_ascension_wraps_around():
    dec = np.array([-30.0, 0.0, 45.0])
    base = healpix_index(np.array([10.0, 200.0, 359.5]), dec)
    np.testing.assert_array_equal(healpix_index(np.array([370.0, 560.0, 719.5]), dec), base)
    np.testing.assert_array_equal(healpix_index(np.array([-350.0, -160.0, -0.5]), dec), base)


def test_shape_is_kept():
    ra = np.array([[0.0, 90.0], [180.0, 270.0]])
    got = healpix_index(ra, np.zeros((2, 2)), order=0)
    assert got.shape == (2, 2) and got.tolist() == [[4, 5], [6, 7]]
    assert healpix_index([], [], order=3).shape == (0,)
