"""``astrolake cone`` and ``astrolake xmatch`` on a tiny lake, in process (``cli.main`` on the test
session): what they print and write, row for row, against a brute-force separation in numpy.

The lake: a left table named like a catalog's silver table (so ``xmatch`` takes its key, ``objid``,
from the contract) with a crowded field around (10, 20) and rows all over the sky, written in
files that each hold one stretch of ``healpix_29``; and a right table ``seen`` (key ``obj``) with
counterparts a few arcseconds from left rows of the field.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from astrolake import cli
from astrolake.lake.tables import Lake
from astrolake.sky.healpix import HEALPIX_COLUMN, with_healpix

LEFT = "silver_sdss_dr7_galaxies"
RIGHT = "seen"
CENTRE = (10.0, 20.0)
XMATCH = ["xmatch", "--left", LEFT, "--right", RIGHT, "--right-key", "obj"]


def _unit(ra, dec) -> np.ndarray:
    ra, dec = np.radians(ra), np.radians(dec)
    return np.stack([np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)], axis=-1)


def sep_arcsec(ra1, dec1, ra2, dec2) -> np.ndarray:
    """Angle between unit vectors, ``atan2(|a x b|, a . b)`` (not the haversine the library uses)."""
    a, b = _unit(ra1, dec1), _unit(ra2, dec2)
    return np.degrees(np.arctan2(np.linalg.norm(np.cross(a, b), axis=-1), np.sum(a * b, axis=-1))) * 3600.0


def _around(rng, ra0, dec0, n, max_arcsec):
    """``n`` positions uniform in a disc of ``max_arcsec`` (flat-sky offsets: tiny discs)."""
    r = max_arcsec / 3600.0 * np.sqrt(rng.uniform(0, 1, n))
    pa = rng.uniform(0, 2 * np.pi, n)
    return ra0 + r * np.sin(pa) / np.cos(np.radians(dec0)), dec0 + r * np.cos(pa)


@pytest.fixture(scope="module")
def sky(spark, settings, tmp_path_factory):
    rng = np.random.default_rng(2718)
    far_ra, far_dec = rng.uniform(0, 360, 400), np.degrees(np.arcsin(rng.uniform(-1, 1, 400)))
    near_ra, near_dec = _around(rng, *CENTRE, 200, 60.0)
    left = {
        "objid": np.arange(1000, 1600, dtype="int64"),
        "ra": np.r_[far_ra, near_ra],
        "dec": np.r_[far_dec, near_dec],
    }
    picked = rng.choice(np.arange(400, 600), 120, replace=False)  # counterparts of field rows
    c_ra, c_dec = _around(rng, 0.0, 0.0, 120, 3.0)
    f_ra, f_dec = _around(rng, *CENTRE, 40, 60.0)
    right = {
        "obj": np.arange(120 + 40, dtype="int64") * 7 + 3,
        "ra": np.r_[left["ra"][picked] + c_ra / np.cos(np.radians(left["dec"][picked])), f_ra],
        "dec": np.r_[left["dec"][picked] + c_dec, f_dec],
    }
    right["mag"] = rng.uniform(14, 20, right["obj"].size)

    base = tmp_path_factory.mktemp("sky_cli")
    lake = Lake(spark, settings.with_overrides(base_path=str(base)))
    rows = list(zip(*(v.tolist() for v in left.values()), strict=True))
    df = with_healpix(spark.createDataFrame(rows, "objid LONG, ra DOUBLE, dec DOUBLE"))
    lake.replace(df.repartitionByRange(8, HEALPIX_COLUMN), LEFT)  # one stretch of the index per file
    rows = list(zip(*(v.tolist() for v in right.values()), strict=True))
    df = with_healpix(spark.createDataFrame(rows, "obj LONG, ra DOUBLE, dec DOUBLE, mag DOUBLE"))
    lake.replace(df.repartitionByRange(2, HEALPIX_COLUMN), RIGHT)
    return lake, left, right


def run(capsys, lake: Lake, *argv: str) -> tuple[int, str, str]:
    code = cli.main([*argv, "--base-path", lake.settings.base_path])
    out, err = capsys.readouterr()
    return code, out, err


def printed_table(out: str) -> list[dict[str, str]]:
    """The rows of a ``DataFrame.show`` table, as column -> text."""
    lines = [line for line in out.splitlines() if line.startswith("|")]
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in lines]
    return [dict(zip(cells[0], row, strict=True)) for row in cells[1:]]


def test_cone_prints_the_nearest_rows_and_the_files_read_and_writes_every_row(sky, capsys):
    lake, left, _ = sky
    sep = sep_arcsec(left["ra"], left["dec"], *CENTRE)
    assert np.abs(sep - 30.0).min() > 1e-6  # no row so near the edge that rounding decides it
    inside = np.flatnonzero(sep <= 30.0)
    want = inside[np.argsort(sep[inside])]
    assert len(want) >= 20

    argv = f"cone --table {LEFT} --ra 10 --dec 20 --radius 0.5arcmin --limit 5 --out cone_rows".split()
    code, out, err = run(capsys, lake, *argv)
    assert code == 0, err
    shown = printed_table(out)
    assert list(shown[0])[0] == "sep_arcsec"
    assert [int(r["objid"]) for r in shown] == left["objid"][want[:5]].tolist()  # nearest first
    assert [float(r["sep_arcsec"]) for r in shown] == pytest.approx(sep[want[:5]], abs=1e-6)
    m = re.search(r"^(\d+) rows within 0\.5arcmin of ra 10, dec 20; files read (\d+) of (\d+)$", out, re.M)
    assert m, out
    rows, read, total = map(int, m.groups())
    assert rows == len(want)
    assert 1 <= read < total  # the files whose stretch of healpix_29 misses the cone are skipped

    # --out gets every row, not only those printed
    assert f"{len(want)} rows written to cone_rows" in out
    written = {r["objid"]: r["sep_arcsec"] for r in lake.read("cone_rows").collect()}
    assert sorted(written) == sorted(left["objid"][want].tolist())
    assert [written[k] for k in left["objid"][want].tolist()] == pytest.approx(sep[want], abs=1e-6)


def _pairs(left, right, radius):
    sep = sep_arcsec(left["ra"][:, None], left["dec"][:, None], right["ra"][None, :], right["dec"][None, :])
    assert np.abs(sep - radius).min() > 1e-6
    i, j = np.nonzero(sep <= radius)
    return sep, i, j


def test_xmatch_all_writes_every_pair_within_the_radius(sky, capsys):
    lake, left, right = sky
    sep, i, j = _pairs(left, right, 2.0)
    want = {(int(left["objid"][a]), int(right["obj"][b])): sep[a, b] for a, b in zip(i, j, strict=True)}
    partners = np.bincount(i, minlength=left["objid"].size)
    assert partners.max() >= 2 and np.bincount(j).max() >= 2  # crowded on both sides
    assert len(want) >= 80

    code, out, err = run(
        capsys,
        lake,
        *XMATCH,
        *"--radius 2arcsec --right-cols mag --out xm_all".split(),
    )
    assert code == 0, err
    summary = json.loads(out.strip().splitlines()[-1])
    assert (summary["left_rows"], summary["pairs"], summary["rows"]) == (600, len(want), len(want))
    assert summary["matched"] == len(set(i.tolist())) and summary["radius_arcsec"] == pytest.approx(2.0)
    assert summary["elapsed_s"] >= 0

    got = lake.read("xm_all")
    assert got.columns == ["objid_l", "ra_l", "dec_l", "obj_r", "mag_r", "sep_arcsec", "match_rank", "n_matches"]
    rows = got.collect()
    assert {(r["objid_l"], r["obj_r"]): r["sep_arcsec"] for r in rows} == pytest.approx(want, abs=1e-6)
    by_id = dict(zip(left["objid"].tolist(), partners.tolist(), strict=True))
    assert all(r["n_matches"] == by_id[r["objid_l"]] for r in rows)
    mags = dict(zip(right["obj"].tolist(), right["mag"].tolist(), strict=True))
    assert all(r["mag_r"] == mags[r["obj_r"]] for r in rows)


def test_xmatch_nearest_and_anti(sky, capsys):
    lake, left, right = sky
    sep, i, _ = _pairs(left, right, 2.0)
    matched = sorted(set(i.tolist()))
    nearest = {int(left["objid"][a]): int(right["obj"][np.argmin(sep[a])]) for a in matched}

    code, out, err = run(
        capsys,
        lake,
        *XMATCH,
        *"--radius 2 --mode nearest --out xm_nearest".split(),
    )
    assert code == 0, err
    assert {r["objid_l"]: r["obj_r"] for r in lake.read("xm_nearest").collect()} == nearest
    assert json.loads(out.strip().splitlines()[-1])["matched"] == len(matched)

    code, out, err = run(
        capsys,
        lake,
        *XMATCH,
        *"--radius 2arcsec --mode anti --out xm_anti".split(),
    )
    assert code == 0, err
    unmatched = sorted(set(left["objid"].tolist()) - set(nearest))
    assert sorted(r["objid_l"] for r in lake.read("xm_anti").collect()) == unmatched
    summary = json.loads(out.strip().splitlines()[-1])
    assert (summary["matched"], summary["rows"], summary["pairs"]) == (len(matched), len(unmatched), 0)


@pytest.mark.parametrize(
    "argv",
    [
        ["cone", "--table", "no_such_table", "--ra", "10", "--dec", "20", "--radius", "1arcmin"],
        ["xmatch", "--left", LEFT, "--right", "no_such_table", "--right-key", "k", "--radius", "1", "--out", "o"],
    ],
    ids=["cone", "xmatch"],
)
def test_a_missing_table_is_one_line_and_exit_1(sky, capsys, argv):
    lake, _, _ = sky
    code, out, err = run(capsys, lake, *argv)
    assert code == 1 and out == ""
    assert err.strip().splitlines() == [
        f"astrolake {argv[0]}: error: no table 'no_such_table' at {lake.location('no_such_table')}"
    ]


def test_export_hats_writes_every_row_once_in_the_partition_that_holds_it(sky, capsys, tmp_path):
    """``astrolake export-hats``: the crowded field splits into finer partitions than the rest of the
    sky, every row of the table lands once, in the partition whose cell holds it, and the margin
    holds only rows from other partitions."""
    import pyarrow.parquet as pq

    from astrolake.sky.hats import hats_properties

    lake, left, _ = sky
    code, out, err = run(capsys, lake, "export-hats", "--table", LEFT, "--out", str(tmp_path), "--max-rows", "60")
    assert code == 0, err
    assert "600 rows in " in out and "margin rows (10 arcsec)" in out
    catalog = tmp_path / LEFT
    props = hats_properties(catalog)
    assert props["hats_nrows"] == "600" and props["hats_col_healpix"] == "_healpix_29"
    seen: dict[int, tuple[int, int]] = {}
    for f in sorted((catalog / "dataset").glob("Norder=*/Dir=*/Npix=*.parquet")):
        k = int(f.parent.parent.name.split("=")[1])
        npix = int(f.stem.split("=")[1])
        t = pq.read_table(f).to_pandas()
        assert len(t) <= 60 or k == 10
        assert ((t["_healpix_29"].to_numpy() >> (2 * (29 - k))) == npix).all(), f
        for objid in t["objid"].tolist():
            assert objid not in seen, objid
            seen[objid] = (k, npix)
    assert sorted(seen) == left["objid"].tolist()
    orders = {k for k, _ in seen.values()}
    assert len(orders) > 1  # the crowded field is split finer than the empty sky
    margin = [p for p in tmp_path.iterdir() if p.name.startswith(LEFT + "_")]
    assert len(margin) == 1 and margin[0].name.endswith("arcs")
    code, _, err = run(capsys, lake, "export-hats", "--table", "no_such_table", "--out", str(tmp_path / "x"))
    assert code == 1 and "no table 'no_such_table'" in err
