"""Contracts: intervals, catalogs, column mapping by contract."""

import pytest

from astrolake.catalogs.contract import ContractError, Interval, catalogs, get_catalog, load_contract


def test_interval_bounds_inclusive_and_exclusive():
    ra = Interval.parse("[0, 360)")
    assert ra.contains(0.0) and ra.contains(359.999999)
    assert not ra.contains(360.0) and not ra.contains(-1e-9)
    assert str(ra) == "[0, 360)"
    z = Interval.parse("[-0.01, 8]")
    assert z.contains(-0.01) and z.contains(8) and not z.contains(-0.0100001)
    with pytest.raises(ContractError, match="not an interval"):
        Interval.parse("0..360")


def test_every_catalog_loads_and_keys_are_columns():
    cats = catalogs()
    assert set(cats) == {
        "sdss_dr14_skyserver",
        "sdss_skyserver_2022",
        "sdss_dr17_kaggle",
        "sdss_dr17_stellar",
        "sdss_dr7_galaxies",
        "mlz_sdss_mgs",
        "sdss_colours",
    }
    for cat in cats.values():
        names = {c.name for c in cat.contract.columns}
        for k in cat.contract.key:
            assert k in names or k.startswith("_")
        assert cat.citation


def test_dr7_maps_fits_z_to_redshift_and_has_no_i_band():
    c = get_catalog("sdss_dr7_galaxies").contract
    assert c.column("redshift").source == "z"
    assert "i" not in {col.name for col in c.columns}
    assert "z" not in {col.name for col in c.columns}  # no z band either


def test_kaggle_contract_renames_but_keeps_rules():
    k = load_contract("kaggle_dr17_csv")
    s = load_contract("skyserver_csv")
    assert k.column("ra").source == "alpha" and k.column("fiberid").source == "fiber_ID"
    assert k.column("ra").range == s.column("ra").range and k.key == s.key == ("plate", "mjd", "fiberid")
    assert k.column("specobjid").type == "string"  # ids above 2^63 kept exactly


def test_unknown_catalog_lists_known_ones():
    with pytest.raises(ContractError, match="known catalogs: .*sdss_dr14_skyserver"):
        get_catalog("sdss_dr99")


@pytest.mark.parametrize("bad", ["ra`; DROP TABLE x; --", "flux w1", "1st", "", "ra\u0430"])
def test_a_contract_column_name_that_is_not_an_identifier_is_refused(bad):
    from astrolake.catalogs.contract import ContractError, _column

    spec = {"name": bad, "source": "x", "type": "double", "description": "d"}
    with pytest.raises(ContractError, match=r"contract c: column name .* refused"):
        _column(spec, "c")
    assert _column({**spec, "name": "flux_w1"}, "c").name == "flux_w1"
