"""``crossmatch`` in Spark against a brute-force oracle (every pair, numpy), set for set, in every mode.

The skies are small and crowded where HEALPix is hard: around both poles, on the RA 0 / 360 seam,
on a corner where four base cells meet, and on the corners of the join cells themselves (right rows
within a radius of a cell corner must reach the left rows of all the cells that meet there).  The
oracle measures separations with unit vectors (a formula of its own), then derives each mode with
pandas.  Real data: SDSS against Pan-STARRS in two fields must give exactly the pairs of astropy's
``search_around_sky`` at 1 arcsecond.
"""

from __future__ import annotations

import math
import re
import warnings

import astropy.units as u
import numpy as np
import pandas as pd
import pytest
from astropy.coordinates import SkyCoord, search_around_sky
from astropy.time import Time
from cdshealpix import nested

from astrolake.errors import UsageError
from astrolake.sky.healpix import healpix_index
from astrolake.sky.xmatch import crossmatch, crossmatch_order, max_radius_arcsec
from conftest import ROOT, shared_file

RADIUS = 5.0  # arcsec
PATCHES = [
    (0.0, 0.0),  # the seam
    (359.999, -20.0),
    (30.0, 90.0),  # the poles
    (250.0, -90.0),
    (45.0, math.degrees(math.asin(2 / 3))),  # a base-cell corner
    (123.4, 56.7),
]


def _offset(ra, dec, sep_arcsec, rng) -> tuple[np.ndarray, np.ndarray]:
    moved = SkyCoord(np.asarray(ra) * u.deg, np.asarray(dec) * u.deg).directional_offset_by(
        rng.uniform(0, 360, np.size(ra)) * u.deg, np.asarray(sep_arcsec) * u.arcsec
    )
    return moved.ra.deg, moved.dec.deg


def _skies(radius: float = RADIUS, seed: int = 42) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(left, right) positions: crowds of 220 left rows within 12 radii of each patch centre, a
    partner for most of them within 1.3 radii (so some partners fall outside), extra right rows
    in the crowd, left rows on the corners of the join cells there with right rows around them."""
    rng = np.random.default_rng(seed)
    order = crossmatch_order(radius)
    lra, ldec, rra, rdec = [], [], [], []
    for c_ra, c_dec in PATCHES:
        a, d = _offset(np.full(220, c_ra), np.full(220, c_dec), 12 * radius * np.sqrt(rng.uniform(0, 1, 220)), rng)
        cell = healpix_index([c_ra], [c_dec], order=order).astype(np.uint64)
        corners = nested.vertices(np.r_[cell, nested.neighbours(cell, order).ravel()].astype(np.uint64), order)
        va, vd = corners[0].to_value(u.deg).ravel(), corners[1].to_value(u.deg).ravel()
        # neighbouring cells share corners: one left row per corner (ties would make ranks arbitrary)
        _, first = np.unique(np.round(_unit(va, vd), 12), axis=0, return_index=True)  # the pole has many RAs
        va, vd = va[np.sort(first)], vd[np.sort(first)]
        a, d = np.r_[a, va], np.r_[d, vd]
        pa, pd_ = _offset(a[:180], d[:180], 1.3 * radius * np.sqrt(rng.uniform(0, 1, 180)), rng)
        xa, xd = _offset(np.full(60, c_ra), np.full(60, c_dec), 12 * radius * np.sqrt(rng.uniform(0, 1, 60)), rng)
        ca, cd = _offset(np.repeat(va, 3), np.repeat(vd, 3), radius * rng.uniform(0, 1.2, va.size * 3), rng)
        lra.append(a)
        ldec.append(d)
        rra += [pa, xa, ca]
        rdec += [pd_, xd, cd]
    left = pd.DataFrame({"ra": np.concatenate(lra) % 360.0, "dec": np.clip(np.concatenate(ldec), -90, 90)})
    right = pd.DataFrame({"ra": np.concatenate(rra) % 360.0, "dec": np.clip(np.concatenate(rdec), -90, 90)})
    left.insert(0, "lid", np.arange(len(left), dtype="int64"))
    right.insert(0, "rid", np.arange(len(right), dtype="int64") + 1_000_000)
    return left, right


def _unit(ra, dec) -> np.ndarray:
    ra, dec = np.radians(np.asarray(ra, dtype="float64")), np.radians(np.asarray(dec, dtype="float64"))
    return np.stack([np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)], axis=-1)


def _all_pairs(left: pd.DataFrame, right: pd.DataFrame, radius: float, key_l="lid", key_r="rid") -> pd.DataFrame:
    """Every pair within ``radius`` arcsec: brute force over all pairs, separations from chords."""
    ul, ur = _unit(left["ra"], left["dec"]), _unit(right["ra"], right["dec"])
    out = []
    for start in range(0, len(ul), 500):
        chord = np.linalg.norm(ul[start : start + 500, None, :] - ur[None, :, :], axis=-1)
        sep = np.degrees(2 * np.arcsin(np.minimum(chord / 2, 1.0))) * 3600
        i, j = np.nonzero(sep <= radius * (1 + 1e-6))
        out.append(
            pd.DataFrame({"l": left[key_l].to_numpy()[start + i], "r": right[key_r].to_numpy()[j], "sep": sep[i, j]})
        )
    pairs = pd.concat(out, ignore_index=True)
    close = np.abs(pairs["sep"] - radius) <= 1e-9 * radius
    assert not close.any(), "a pair sits on the radius: rounding would decide it; change the seed"
    return pairs[pairs["sep"] <= radius].reset_index(drop=True)


def _oracle(pairs: pd.DataFrame, left_ids, mode: str, n: int | None = 1) -> pd.DataFrame:
    """What each mode returns, from every pair: columns l, r (NaN when none), sep, rank, n_matches."""
    pairs = pairs.sort_values(["l", "sep", "r"]).copy()
    pairs["rank"] = pairs.groupby("l").cumcount() + 1
    pairs["n_matches"] = pairs.groupby("l")["r"].transform("size")
    unmatched = pd.DataFrame({"l": sorted(set(left_ids) - set(pairs["l"]))})
    if mode == "all":
        return pairs
    if mode == "nearest":
        return pairs[pairs["rank"] == 1]
    if mode == "n_nearest":
        return pairs[pairs["rank"] <= n]
    if mode == "left":
        kept = pairs if n is None else pairs[pairs["rank"] <= n]
        return pd.concat([kept, unmatched.assign(n_matches=0)], ignore_index=True)
    if mode == "anti":
        return unmatched
    if mode == "best":
        by_right = pairs.sort_values(["r", "sep", "l"])
        by_right = by_right[by_right.groupby("r").cumcount() == 0]
        mutual = pairs[pairs["rank"] == 1].merge(by_right[["l", "r"]], on=["l", "r"])
        return mutual
    raise AssertionError(mode)


def _rows(df) -> pd.DataFrame:
    return df.toPandas()


def _compare(got: pd.DataFrame, want: pd.DataFrame, mode: str) -> None:
    if mode == "anti":
        assert sorted(got["lid_l"].tolist()) == sorted(want["l"].tolist())
        return
    g = got.rename(columns={"lid_l": "l", "rid_r": "r"})
    gk = {(int(a), None if pd.isna(b) else int(b)) for a, b in zip(g["l"], g["r"], strict=True)}
    wk = {(int(a), None if pd.isna(b) else int(b)) for a, b in zip(want["l"], want["r"], strict=True)}
    assert len(gk) == len(g), "a pair came out twice"
    assert gk == wk, f"missing {sorted(wk - gk, key=str)[:5]}, extra {sorted(gk - wk, key=str)[:5]}"
    merged = g.merge(want, on=["l", "r"], suffixes=("", "_want"))
    matched = merged["r"].notna()
    np.testing.assert_allclose(merged.loc[matched, "sep_arcsec"], merged.loc[matched, "sep"], rtol=1e-8, atol=1e-9)
    assert (merged.loc[matched, "match_rank"] == merged.loc[matched, "rank"]).all()
    assert (merged["n_matches"] == merged["n_matches_want"]).all()
    assert merged.loc[~matched, "match_rank"].isna().all() and merged.loc[~matched, "sep_arcsec"].isna().all()


@pytest.fixture(scope="module")
def skies(spark):
    left, right = _skies()
    # two left rows and one right row without a position: never matched, kept by left and anti
    left_rows = [*left.itertuples(index=False, name=None), (900_001, None, 10.0), (900_002, 10.0, None)]
    right_rows = [*right.itertuples(index=False, name=None), (2_900_001, None, None)]
    ldf = spark.createDataFrame(left_rows, "lid LONG, ra DOUBLE, dec DOUBLE").cache()
    rdf = spark.createDataFrame(right_rows, "rid LONG, ra DOUBLE, dec DOUBLE").cache()
    ids = [*left["lid"], 900_001, 900_002]
    return left, right, ldf, rdf, ids, _all_pairs(left, right, RADIUS)


def test_the_sky_is_hard_enough(skies):
    """The synthetic sky has what the comparisons need: many pairs, left rows with several
    partners, right rows with several left partners, and unmatched left rows."""
    left, right, *_, pairs = skies
    per_left, per_right = pairs.groupby("l").size(), pairs.groupby("r").size()
    assert len(pairs) > 1000 and (per_left >= 3).sum() > 30 and (per_right >= 2).sum() > 100
    assert len(set(left["lid"]) - set(pairs["l"])) > 50
    # the pairs straddle join cells, at the poles too
    order = crossmatch_order(RADIUS)
    cl = healpix_index(left.set_index("lid").loc[pairs["l"], "ra"], left.set_index("lid").loc[pairs["l"], "dec"], order)
    cr = healpix_index(
        right.set_index("rid").loc[pairs["r"], "ra"], right.set_index("rid").loc[pairs["r"], "dec"], order
    )
    assert (cl != cr).sum() > 100


@pytest.mark.parametrize(
    ("mode", "n"), [("all", 1), ("nearest", 1), ("n_nearest", 2), ("left", 1), ("left", None), ("anti", 1), ("best", 1)]
)
def test_every_mode_equals_the_oracle(skies, mode, n):
    _, _, ldf, rdf, ids, pairs = skies
    got = _rows(crossmatch(ldf, rdf, RADIUS, mode, left_key="lid", right_key="rid", n=n))
    if mode == "anti":
        assert got.columns.tolist() == ["lid_l", "ra_l", "dec_l"]
    else:
        assert got.columns.tolist() == [
            *["lid_l", "ra_l", "dec_l", "rid_r", "ra_r", "dec_r"],
            *["sep_arcsec", "match_rank", "n_matches"],
        ]
    _compare(got, _oracle(pairs, ids, mode, n), mode)
    if mode == "best":  # one to one
        assert got["lid_l"].is_unique and got["rid_r"].is_unique and len(got) > 500


def test_min_radius_drops_the_closest_pairs(skies):
    _, _, ldf, rdf, ids, pairs = skies
    kept = pairs[pairs["sep"] >= 2.0]
    got = _rows(crossmatch(ldf, rdf, RADIUS, "nearest", left_key="lid", right_key="rid", min_radius_arcsec=2.0))
    _compare(got, _oracle(kept, ids, "nearest"), "nearest")


def test_left_index_column_gives_the_same_pairs(spark, skies):
    """With silver's healpix_29 the left cells are a shift of it: the same pairs."""
    left, _, _, rdf, ids, pairs = skies
    indexed = left.assign(healpix_29=healpix_index(left["ra"], left["dec"]))  # as a silver table holds it
    ldf = spark.createDataFrame(indexed, "lid LONG, ra DOUBLE, dec DOUBLE, healpix_29 LONG")
    got = _rows(crossmatch(ldf, rdf, RADIUS, "all", left_key="lid", right_key="rid"))
    _compare(got, _oracle(pairs, ids, "all"), "all")


def test_finest_allowed_order_gives_the_same_pairs(skies):
    """At the finest order the radius allows (cells 4 radii wide) more rows sit near borders: still
    every pair, once."""
    _, _, ldf, rdf, ids, pairs = skies
    order = max(k for k in range(30) if max_radius_arcsec(k) >= RADIUS)
    assert order > crossmatch_order(RADIUS)
    got = _rows(crossmatch(ldf, rdf, RADIUS, "all", left_key="lid", right_key="rid", order=order))
    _compare(got, _oracle(pairs, ids, "all"), "all")


def test_self_match_leaves_out_each_row_with_itself(skies):
    left, _, ldf, _, ids, _ = skies
    pairs = _all_pairs(left, left, RADIUS, key_l="lid", key_r="lid")
    pairs = pairs[pairs["l"] != pairs["r"]]
    got = _rows(crossmatch(ldf, ldf, RADIUS, "all", left_key="lid", right_key="lid", self_match=True))
    _compare(got.rename(columns={"lid_r": "rid_r"}), _oracle(pairs, ids, "all"), "all")
    keys = set(zip(got["lid_l"], got["lid_r"], strict=True))
    assert keys == {(b, a) for a, b in keys} and len(keys) > 300  # symmetric: (a, b) and (b, a)


def test_carried_columns_and_suffixes(spark):
    left = spark.createDataFrame(
        [(1, 10.0, 20.0, "a"), (2, 50.0, 20.0, "b")], "id LONG, ra DOUBLE, dec DOUBLE, name STRING"
    )
    right = spark.createDataFrame([(7, 10.0001, 20.0, 15.5)], "id LONG, RAJ DOUBLE, DEJ DOUBLE, mag DOUBLE")
    got = crossmatch(
        left, right, 1.0, "left", left_key="id", right_key="id", left_cols=["name"], right_cols=["mag"],
        right_ra="RAJ", right_dec="DEJ", suffixes=("_sdss", "_ps1"),
    )  # fmt: skip
    assert got.columns == ["id_sdss", "name_sdss", "id_ps1", "mag_ps1", "sep_arcsec", "match_rank", "n_matches"]
    rows = {r["id_sdss"]: r for r in got.collect()}
    assert rows[1]["id_ps1"] == 7 and rows[1]["mag_ps1"] == 15.5 and rows[1]["n_matches"] == 1
    assert rows[1]["sep_arcsec"] == pytest.approx(0.0001 * 3600 * math.cos(math.radians(20.0)), rel=1e-6)
    assert rows[2]["id_ps1"] is None and rows[2]["n_matches"] == 0 and rows[2]["match_rank"] is None


# --- proper motion -------------------------------------------------------------------------------


def test_high_proper_motion_star_matches_once_moved(spark):
    """A star moving 10 arcsec/yr (about Barnard's star), at J2000 on the left and J2016 on the
    right, 160 arcsec apart: matched at 1 arcsec only when propagated; and one that passes over the
    north pole on the way."""
    stars = [(1, 269.45, 4.69, -798.6, 10328.1), (2, 80.0, 89.995, 4000.0, -6000.0), (3, 10.0, -30.0, None, None)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ERFA: no distance given, taken as far
        moved = [
            SkyCoord(
                ra * u.deg, dec * u.deg, pm_ra_cosdec=(pmra or 0) * u.mas / u.yr, pm_dec=(pmdec or 0) * u.mas / u.yr,
                obstime=Time(2000.0, format="jyear"),
            ).apply_space_motion(new_obstime=Time(2016.0, format="jyear"))
            for _, ra, dec, pmra, pmdec in stars
        ]  # fmt: skip
    left = spark.createDataFrame(
        [(*s, 2000.0) for s in stars], "id LONG, ra DOUBLE, dec DOUBLE, pmra DOUBLE, pmdec DOUBLE, ref_epoch DOUBLE"
    )
    right = spark.createDataFrame(
        [(10 + i, float(c.ra.deg), float(c.dec.deg)) for i, c in enumerate(moved)], "id LONG, ra DOUBLE, dec DOUBLE"
    )

    def match(**motion):
        rows = crossmatch(left, right, 1.0, "nearest", left_key="id", right_key="id", **motion).collect()
        return {r["id_l"]: (r["id_r"], r["sep_arcsec"], r["ra_l"], r["dec_l"]) for r in rows}

    assert match() == {3: (12, pytest.approx(0.0, abs=1e-6), 10.0, -30.0)}  # only the star that does not move
    got = match(epoch_col="ref_epoch", pmra_col="pmra", pmdec_col="pmdec", target_epoch=2016.0)
    assert {k: v[0] for k, v in got.items()} == {1: 10, 2: 11, 3: 12}
    assert max(v[1] for v in got.values()) < 1e-3  # arcsec
    assert got[1][2:] == (269.45, 4.69)  # the output keeps the positions as given
    # one epoch for every row, as a number
    got = match(epoch_col=2000.0, pmra_col="pmra", pmdec_col="pmdec", target_epoch=2016.0)
    assert {k: v[0] for k, v in got.items()} == {1: 10, 2: 11, 3: 12}


# --- errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"radius_arcsec": 10.0, "order": 15}, r"too large for HEALPix order 15 .* use order <= 12"),
        ({"radius_arcsec": 60_000.0}, r"too large: at most \d+ arcsec \(14.66 deg\)"),
        ({"radius_arcsec": 0.0}, "radius must be > 0"),
        ({"radius_arcsec": float("nan")}, "finite"),
        ({"radius_arcsec": 1.0, "min_radius_arcsec": 1.0}, "min_radius_arcsec must be >= 0 and below"),
        ({"radius_arcsec": 1.0, "mode": "closest"}, "mode must be one of all, nearest"),
        ({"radius_arcsec": 1.0, "mode": "n_nearest", "n": 0}, "n >= 1"),
        ({"radius_arcsec": 1.0, "order": 30}, "order must be within 0..29"),
        ({"radius_arcsec": 1.0, "right_key": "nope"}, "right table has no column nope"),
        ({"radius_arcsec": 1.0, "left_cols": ["x"]}, "left table has no column x"),
        ({"radius_arcsec": 1.0, "pmra_col": "ra"}, "needs epoch_col, pmra_col, pmdec_col and target_epoch together"),
        ({"radius_arcsec": 1.0, "suffixes": ("", "")}, "output columns clash: dec, id, ra"),
    ],
)
def test_bad_arguments_are_refused(spark, kwargs, message):
    df = spark.createDataFrame([(1, 10.0, 20.0)], "id LONG, ra DOUBLE, dec DOUBLE")
    args = {"left_key": "id", "right_key": "id", **kwargs}
    with pytest.raises(UsageError, match=message):
        crossmatch(df, df, **args)


# --- real data -----------------------------------------------------------------------------------


@pytest.mark.shared_data
@pytest.mark.parametrize(("field", "matched"), [("308", 355), ("310", 271)])
def test_sdss_against_panstarrs_equals_search_around_sky(spark, field, matched):
    """SDSS DR14 against Pan-STARRS1 DR1 in one field at 1 arcsec: exactly astropy's pairs, and
    the counterpart counts that the data's README gives."""
    sdss = pd.read_csv(shared_file(f"xmatch_sdss_panstarrs/sdss_{field}.csv"), skiprows=1)
    ps1 = pd.read_csv(shared_file(f"xmatch_sdss_panstarrs/panstarrs_{field}.csv"))
    i, j, sep, _ = search_around_sky(
        SkyCoord(sdss["ra"].to_numpy() * u.deg, sdss["dec"].to_numpy() * u.deg),
        SkyCoord(ps1["raMean"].to_numpy() * u.deg, ps1["decMean"].to_numpy() * u.deg),
        1.0 * u.arcsec,
    )
    keys = zip(sdss["objid"].to_numpy()[i].tolist(), ps1["objID"].to_numpy()[j].tolist(), strict=True)
    want = dict(zip(keys, sep.arcsec, strict=True))
    left = spark.createDataFrame(sdss[["objid", "ra", "dec", "type"]])
    right = spark.createDataFrame(ps1[["objID", "raMean", "decMean", "rMeanPSFMag"]])
    common = {"left_key": "objid", "right_key": "objID", "right_ra": "raMean", "right_dec": "decMean"}
    rows = crossmatch(left, right, 1.0, "all", **common).collect()
    got = {(r["objid_l"], r["objID_r"]): r["sep_arcsec"] for r in rows}
    assert len(rows) == len(got) and set(got) == set(want)
    np.testing.assert_allclose([got[k] for k in want], list(want.values()), rtol=1e-7, atol=1e-7)
    assert len({k[0] for k in got}) == matched  # SDSS objects with a counterpart
    assert {r["objid_l"]: r["n_matches"] for r in rows} == pd.Series([k[0] for k in want]).value_counts().to_dict()


# --- the documented example ----------------------------------------------------------------------


def test_documented_example_runs_as_written(spark, capsys):
    """docs/sky.md's example, with the output its comments promise."""
    text = (ROOT / "docs" / "sky.md").read_text(encoding="utf-8")
    marker = "<!-- this example is run as written by tests/spark/sky/test_xmatch.py -->"
    m = re.search(re.escape(marker) + r"\n```python\n(.*?)```", text, re.S)
    assert m, "docs/sky.md lost its tested example"
    exec(compile(m.group(1), "docs/sky.md", "exec"), {"__name__": "__main__"})
    assert capsys.readouterr().out.splitlines() == ["[4, 5]", "1 101 0.766 1", "3 102 1.08 2"]
