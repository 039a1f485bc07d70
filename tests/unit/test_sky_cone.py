"""Cone coverings (``cone_ranges``) and the cross-match's cell copies (``right_cells``), in numpy.

Both rest on one promise: a covering never misses a cell that holds a point within the radius.
The tests draw points inside the cone (many right on its edge) around both poles, on the RA 0 / 360
seam, on a base-cell corner and on cell vertices, and check each one's order-29 index falls in a
covering range; and that the covering stays close to the cone (a covering of the whole sky would
pass the first test).
"""

from __future__ import annotations

import math

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import Latitude, Longitude, SkyCoord
from cdshealpix import nested

from astrolake.errors import UsageError
from astrolake.sky import cone
from astrolake.sky.cone import cone_order, cone_ranges, disc_cells
from astrolake.sky.healpix import HEALPIX_ORDER, healpix_index
from astrolake.sky.xmatch import crossmatch_order, max_radius_arcsec, right_cells

RADII_DEG = [0.1 / 3600, 1 / 3600, 10 / 3600, 1 / 60, 0.1, 1.0, 5.0, 10.0]
CENTRES = [
    (0.0, 0.0),  # on the seam
    (359.9999, 0.0),
    (360.0, -12.0),
    (10.0, 90.0),  # the poles
    (200.0, -90.0),
    (0.0, 89.99),
    (45.0, math.degrees(math.asin(2 / 3))),  # where four base cells meet
    (180.0, -60.0),
    (123.4, -30.0),
]


def _points_in(ra: float, dec: float, radius_deg: float, n: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points within ``radius_deg`` of the centre: uniform in the disc, a quarter on its edge."""
    centre = SkyCoord(ra * u.deg, dec * u.deg)
    sep = radius_deg * np.sqrt(rng.uniform(0, 1, n))
    sep[: n // 4] = radius_deg * (1 - 1e-12)
    moved = centre.directional_offset_by(rng.uniform(0, 360, n) * u.deg, sep * u.deg)
    return moved.ra.deg, moved.dec.deg


def _covered(ranges: list[tuple[int, int]], index: np.ndarray) -> np.ndarray:
    lo = np.array([r[0] for r in ranges], dtype="int64")
    hi = np.array([r[1] for r in ranges], dtype="int64")
    at = np.searchsorted(lo, index, side="right") - 1
    return (at >= 0) & (index < hi[np.maximum(at, 0)])


def _area_ratio(ranges: list[tuple[int, int]], radius_deg: float) -> float:
    """Covered area over cone area."""
    covered = sum(hi - lo for lo, hi in ranges) / (12 * 4**HEALPIX_ORDER) * 4 * math.pi
    return covered / (2 * math.pi * (1 - math.cos(math.radians(radius_deg))))


@pytest.mark.parametrize("radius_deg", RADII_DEG)
def test_ranges_hold_every_point_of_the_cone(radius_deg):
    rng = np.random.default_rng(int(radius_deg * 1e9) % 2**32)
    centres = CENTRES + [(rng.uniform(0, 360), math.degrees(math.asin(rng.uniform(-1, 1)))) for _ in range(6)]
    for ra, dec in centres:
        ranges = cone_ranges(ra, dec, radius_deg)
        pra, pdec = _points_in(ra, dec, radius_deg, 3000, rng)
        inside = _covered(ranges, healpix_index(pra, pdec))
        assert inside.all(), f"cone ({ra}, {dec}, r={radius_deg}): {np.sum(~inside)} points outside the ranges"
        assert _area_ratio(ranges, radius_deg) < 6, f"cone ({ra}, {dec}, r={radius_deg}): covering too loose"


@pytest.mark.parametrize("radius_deg", [1 / 3600, 1 / 60, 1.0])
def test_ranges_hold_cell_vertices_on_the_edge(radius_deg):
    """Points exactly on cell corners at the covering order (where cells meet, the index of the
    point is decided by rounding), the cone's edge passing through them."""
    order = cone_order(radius_deg)
    for ra, dec in CENTRES:
        cell = healpix_index([ra], [dec], order=order).astype(np.uint64)
        lon, lat = nested.vertices(cell, order)
        vra, vdec = lon.to_value(u.deg).ravel(), lat.to_value(u.deg).ravel()
        # cones centred one radius away from each vertex (toward the four compass points)
        for pa in (0.0, 90.0, 180.0, 270.0):
            centre = SkyCoord(vra * u.deg, vdec * u.deg).directional_offset_by(pa * u.deg, radius_deg * u.deg)
            for k in range(vra.size):
                c_ra, c_dec = float(centre.ra.deg[k]) % 360.0, float(np.clip(centre.dec.deg[k], -90, 90))
                ranges = cone_ranges(c_ra, c_dec, radius_deg)
                assert _covered(ranges, healpix_index(vra[k : k + 1], vdec[k : k + 1])).all(), (c_ra, c_dec)


def test_ranges_are_sorted_disjoint_and_merged():
    for ra, dec in CENTRES:
        for radius_deg in RADII_DEG:
            ranges = cone_ranges(ra, dec, radius_deg)
            assert ranges and all(lo < hi for lo, hi in ranges)
            assert all(a[1] < b[0] for a, b in zip(ranges, ranges[1:], strict=False)), "overlapping or unmerged"
            assert ranges[0][0] >= 0 and ranges[-1][1] <= 12 * 4**HEALPIX_ORDER


def test_order_follows_the_radius():
    """Cells about half the radius wide: a handful of ranges at every scale."""
    assert [cone_order(r) for r in RADII_DEG] == [22, 18, 15, 12, 10, 6, 4, 3]
    for r in RADII_DEG:
        assert r / 2 <= cone.cell_size_deg(cone_order(r)) < r
    assert len(cone_ranges(10.0, 20.0, 10.0)) < 40 and len(cone_ranges(10.0, 20.0, 1e-4)) < 40


def test_explicit_order_is_a_coarser_covering():
    fine = cone_ranges(30.0, 30.0, 0.5)
    coarse = cone_ranges(30.0, 30.0, 0.5, order=2)
    assert len(coarse) <= len(fine)
    assert all(any(lo <= a and b <= hi for lo, hi in coarse) for a, b in fine)
    with pytest.raises(UsageError, match="order"):
        cone_ranges(30.0, 30.0, 0.5, order=30)


@pytest.mark.parametrize(
    ("ra", "dec", "radius", "message"),
    [
        (10.0, 0.0, 0.0, "radius must be > 0 and <= 10 degrees, not 0"),
        (10.0, 0.0, -1.0, "radius must be > 0"),
        (10.0, 0.0, 10.5, "not 10.5"),
        (10.0, 0.0, float("nan"), "finite"),
        (10.0, 0.0, float("inf"), "finite"),
        (10.0, 0.0, "1", "finite"),
        (-0.1, 0.0, 1.0, r"ra must be within \[0, 360\]"),
        (360.5, 0.0, 1.0, "ra must be within"),
        (10.0, 90.01, 1.0, r"dec must be within \[-90, 90\]"),
        (10.0, -91.0, 1.0, "dec must be within"),
    ],
)
def test_bad_cones_are_refused(ra, dec, radius, message):
    with pytest.raises(UsageError, match=message):
        cone_ranges(ra, dec, radius)


def test_largest_cone_is_accepted():
    assert cone_ranges(0.0, 0.0, 10.0) and cone_ranges(360.0, 90.0, 10.0)


def test_compiled_cone_coverage_equals_cdshealpix_public_function():
    """``disc_cells`` calls cdshealpix's compiled function directly (the cross-match calls it once
    per row); it must give the cells of the public ``cdshealpix.nested.cone_search``."""
    if cone._compiled_cone_search() is None:
        pytest.skip("this cdshealpix has no compiled cone_search: the public function is used")
    rng = np.random.default_rng(7)
    for _ in range(300):
        ra, dec = rng.uniform(0, 360), math.degrees(math.asin(rng.uniform(-1, 1)))
        radius, order = 10 ** rng.uniform(-4, 0.5), int(rng.integers(0, 16))
        want, _, _ = nested.cone_search(Longitude(ra, u.deg), Latitude(dec, u.deg), radius * u.deg, order, flat=True)
        assert disc_cells(ra, dec, radius, order).tolist() == sorted(want.astype("int64").tolist())


# --- the cross-match's copies of right rows ------------------------------------------------------


@pytest.mark.parametrize("radius_arcsec", [0.5, 5.0, 60.0])
def test_right_copies_reach_every_cell_within_the_radius(radius_arcsec):
    """A right row is copied into the cells of every left position within the radius of it, at
    the largest radius the order allows and at the order chosen for the radius."""
    rng = np.random.default_rng(int(radius_arcsec * 10))
    for order in (crossmatch_order(radius_arcsec), max(k for k in range(30) if max_radius_arcsec(k) >= radius_arcsec)):
        r_deg = radius_arcsec / 3600
        # right rows on the usual hard places, on the vertices of their cells at the join order,
        # and up to 1.5 radii from those vertices (within a radius of one border or two)
        cells = healpix_index([c[0] for c in CENTRES], [c[1] for c in CENTRES], order=order).astype(np.uint64)
        lon, lat = nested.vertices(cells, order)
        vra, vdec = lon.to_value(u.deg).ravel(), lat.to_value(u.deg).ravel()
        near = SkyCoord(np.repeat(vra, 8) * u.deg, np.repeat(vdec, 8) * u.deg).directional_offset_by(
            rng.uniform(0, 360, vra.size * 8) * u.deg, rng.uniform(0, 1.5 * r_deg, vra.size * 8) * u.deg
        )
        ra = np.r_[vra, near.ra.deg, [c[0] % 360 for c in CENTRES]]
        dec = np.r_[vdec, near.dec.deg, [c[1] for c in CENTRES]]
        copies = right_cells(ra, dec, radius_arcsec, order)
        for k in range(ra.size):
            pra, pdec = _points_in(float(ra[k]), float(dec[k]), r_deg, 200, rng)
            need = set(healpix_index(pra, pdec, order=order).tolist())
            assert need <= set(copies[k].tolist()), (order, ra[k], dec[k])
            assert len(copies[k]) <= 9


def test_right_copies_are_few():
    """Copied to neighbours only near borders: about 1.2 cells per row at the chosen order, not 9."""
    rng = np.random.default_rng(11)
    ra, dec = rng.uniform(0, 360, 3000), np.degrees(np.arcsin(rng.uniform(-1, 1, 3000)))
    copies = right_cells(ra, dec, 1.0, crossmatch_order(1.0))
    assert 1.0 < np.mean([len(c) for c in copies]) < 1.5
    assert [len(c) for c in right_cells([np.nan, 1.0, 1.0], [0.0, np.nan, 91.0], 1.0, 10)] == [0, 0, 0]


def test_crossmatch_order_and_its_limit():
    assert crossmatch_order(1.0) == 13
    for r in (0.01, 0.3, 1.0, 2.0, 30.0, 600.0, 3600.0):
        k = crossmatch_order(r)
        assert cone.cell_size_deg(k) * 3600 >= 16 * r
        assert max_radius_arcsec(k) >= r
    assert crossmatch_order(1e-9) == HEALPIX_ORDER and crossmatch_order(40_000.0) == 0
