"""HATS in Spark: the real LSDB-written sample read back; an export checked file by file with
pyarrow, its margin against an oracle of its own, and a cross-match of partition plus margin
against every pair a brute-force search finds."""

from __future__ import annotations

import math

import astropy.units as u
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from astropy.coordinates import Latitude, Longitude, SkyCoord, search_around_sky
from cdshealpix import nested

from astrolake.errors import UsageError
from astrolake.sky.hats import export_hats, hats_properties, parse_properties, read_hats
from astrolake.sky.healpix import healpix_index
from conftest import shared_file

MARGIN = 60.0  # arcsec
MAX_ROWS = 150
# crowds where HEALPix is hard: the RA seam, a base-cell corner, the north pole, somewhere plain
PATCHES = [(0.0, 0.0), (45.0, math.degrees(math.asin(2 / 3))), (10.0, 89.5), (123.4, 56.7)]


def _synthetic(seed: int = 7, per_patch: int = 600) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ras, decs = [], []
    for ra, dec in PATCHES:
        sep = 2.0 * np.sqrt(rng.uniform(0, 1, per_patch))  # uniform in a 2-degree disc
        moved = SkyCoord(np.full(per_patch, ra) * u.deg, np.full(per_patch, dec) * u.deg).directional_offset_by(
            rng.uniform(0, 360, per_patch) * u.deg, sep * u.deg
        )
        ras.append(moved.ra.deg)
        decs.append(moved.dec.deg)
    ra, dec = np.concatenate(ras), np.concatenate(decs)
    n = len(ra)
    return pd.DataFrame(
        {
            "id": np.arange(n, dtype="int64"),
            "ra": ra,
            "dec": dec,
            "mag": rng.normal(20, 1, n),
            "kind": rng.choice(["STAR", "GALAXY", "QSO"], n),
        }
    )


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return _synthetic()


@pytest.fixture(scope="module")
def exported(spark, table, tmp_path_factory):
    df = spark.createDataFrame(table)
    # three rows without a usable position are left out
    bad = spark.createDataFrame(
        pd.DataFrame(
            {"id": [-1, -2, -3], "ra": [np.nan, 1.0, 2.0], "dec": [0.0, 95.0, np.nan], "mag": 1.0, "kind": "X"}
        )
    )
    out = tmp_path_factory.mktemp("hats")
    result = export_hats(df.unionByName(bad), out, "synth", max_rows=MAX_ROWS, margin_arcsec=MARGIN, max_order=8)
    return result


def _files(catalog) -> pd.DataFrame:
    """(Norder, Npix, path, rows) of every partition file, from the folders themselves."""
    rows = []
    for f in sorted((catalog / "dataset").glob("Norder=*/Dir=*/Npix=*.parquet")):
        k = int(f.parent.parent.name.split("=")[1])
        d = int(f.parent.name.split("=")[1])
        n = int(f.name.split("=")[1].split(".")[0])
        assert d == n // 10000 * 10000
        rows.append((k, n, f, pq.read_metadata(f).num_rows))
    return pd.DataFrame(rows, columns=["Norder", "Npix", "path", "rows"])


def _contains(norder, npix, h29) -> np.ndarray:
    return (np.asarray(h29, dtype="int64") >> (2 * (29 - int(norder)))) == int(npix)


# ---------------------------------------------------------------------------------------------
# the real sample written by LSDB


@pytest.mark.shared_data
def test_read_real_lsdb_catalog(spark):
    root = shared_file("hats_sdss_dr14_10k")
    df = read_hats(spark, root, provenance=True)  # the collection folder: its primary catalog
    got = df.toPandas()
    assert len(got) == 10_000
    assert "healpix_29" in got and "_healpix_29" not in got and "Dir" not in got
    expected = healpix_index(got["ra"].to_numpy(), got["dec"].to_numpy())
    np.testing.assert_array_equal(got["healpix_29"].to_numpy("int64"), expected)
    # every row was read from the partition that holds it
    for (k, n), part in got.groupby(["Norder", "Npix"]):
        assert _contains(k, n, part["healpix_29"]).all()
    info = pd.read_csv(root / "sdss_dr14_10k" / "partition_info.csv")
    assert set(map(tuple, info[["Norder", "Npix"]].to_numpy().tolist())) == set(got.groupby(["Norder", "Npix"]).groups)

    csv = pd.read_csv(shared_file("sdss_dr14_skyserver_10k.csv"))
    both = csv.merge(got, on=["objid", "ra", "dec"], suffixes=("_csv", ""), validate="one_to_one")
    assert len(both) == 10_000
    for col in ("u", "g", "r", "redshift", "plate", "mjd", "fiberid", "class"):
        assert (both[f"{col}_csv"] == both[col]).all(), col


@pytest.mark.shared_data
def test_read_real_margin_and_catalog_folder(spark):
    root = shared_file("hats_sdss_dr14_10k")
    assert read_hats(spark, root / "sdss_dr14_10k", check_rows=0).count() == 10_000
    margin = read_hats(spark, root / "sdss_dr14_10k_10arcs", provenance=True).toPandas()
    assert len(margin) == int(hats_properties(root / "sdss_dr14_10k_10arcs")["hats_nrows"]) == 18
    # a margin row lies outside the partition it is filed under
    for _, row in margin.iterrows():
        assert not _contains(row["Norder"], row["Npix"], [row["healpix_29"]])[0]


def test_read_refuses_a_wrong_index(spark, tmp_path):
    import pyarrow as pa

    cat = tmp_path / "bad"
    (cat / "dataset" / "Norder=0" / "Dir=0").mkdir(parents=True)
    (cat / "hats.properties").write_text("hats_col_ra=ra\nhats_col_dec=dec\nhats_col_healpix=_healpix_29\n")
    t = pa.table({"ra": [10.0], "dec": [20.0], "_healpix_29": [123]})
    pq.write_table(t, cat / "dataset" / "Norder=0" / "Dir=0" / "Npix=0.parquet")
    with pytest.raises(UsageError, match="nested order-29"):
        read_hats(spark, cat)
    assert read_hats(spark, cat, check_rows=0).count() == 1
    with pytest.raises(UsageError, match="not a HATS"):
        read_hats(spark, tmp_path)


# ---------------------------------------------------------------------------------------------
# export


def test_export_layout_and_properties(spark, exported, table):
    cat = exported.catalog
    files = _files(cat)
    assert exported.dropped_rows == 3 and exported.rows == len(table)
    assert len(files) == len(exported.partitions) > 4
    assert files["Norder"].nunique() >= 3, "several orders should be used"
    info = pd.read_csv(cat / "partition_info.csv")
    assert sorted(map(tuple, info.to_numpy().tolist())) == sorted(
        map(tuple, files[["Norder", "Npix"]].to_numpy().tolist())
    )
    plan = {(k, n): r for k, n, r in exported.partitions}
    assert {(k, n): r for k, n, r in files[["Norder", "Npix", "rows"]].itertuples(index=False)} == plan
    # the same properties as LSDB writes (less the sky map and coverage, which are not written)
    props = hats_properties(cat)
    assert props["hats_nrows"] == str(len(table)) and props["dataproduct_type"] == "object"
    assert props["hats_col_healpix"] == "_healpix_29" and props["hats_col_healpix_order"] == "29"
    assert int(props["hats_order"]) == files["Norder"].max() and props["hats_max_rows"] == str(MAX_ROWS)
    assert props["hats_builder"].startswith("astrolake ") and props["hats_version"] == "v1.0"
    real_keys = {
        "obs_collection", "dataproduct_type", "hats_nrows", "hats_col_ra", "hats_col_dec", "hats_col_healpix",
        "hats_col_healpix_order", "hats_npix_suffix", "hats_max_rows", "hats_estsize", "hats_builder",
        "hats_creation_date", "hats_version", "hats_order",
    }  # fmt: skip
    assert real_keys <= set(props)
    coll = parse_properties((exported.collection / "collection.properties").read_text())
    assert coll["hats_primary_table_url"] == "synth" and coll["default_margin"] == coll["all_margins"] == "synth_60arcs"
    mprops = hats_properties(exported.margin)
    assert mprops["dataproduct_type"] == "margin" and float(mprops["hats_margin_threshold"]) == MARGIN
    assert mprops["hats_primary_table_url"] == "synth" and int(mprops["hats_nrows"]) == exported.margin_rows > 0
    # _metadata: every file's row groups, with paths relative to dataset/
    for root in (cat, exported.margin):
        md = pq.read_metadata(root / "dataset" / "_metadata")
        assert md.num_rows == int(hats_properties(root)["hats_nrows"])
        paths = {md.row_group(i).column(0).file_path for i in range(md.num_row_groups)}
        assert paths == {str(p.relative_to(root / "dataset")) for p in _files(root)["path"]}
        assert pq.read_schema(root / "dataset" / "_common_metadata").names[-1] == "_healpix_29"
    with pytest.raises(UsageError, match="exists"):
        export_hats(spark.createDataFrame(table.head(3)), exported.collection, "synth")


def test_every_row_in_exactly_one_partition_that_holds_it(exported, table):
    seen = []
    for k, n, path, _ in _files(exported.catalog).itertuples(index=False):
        t = pq.read_table(path)
        assert t.schema.names == ["id", "ra", "dec", "mag", "kind", "_healpix_29"]
        h = t.column("_healpix_29").to_numpy()
        assert (np.diff(h) >= 0).all(), "rows sorted by _healpix_29"
        assert _contains(k, n, h).all()
        seen.append(t.column("id").to_numpy())
    ids = np.concatenate(seen)
    assert len(ids) == len(np.unique(ids)) == len(table)
    assert set(ids) == set(table["id"])
    # plain pyarrow reads the whole dataset too
    whole = pq.read_table(exported.catalog / "dataset").to_pandas()
    got = whole.set_index("id").loc[table["id"]]
    np.testing.assert_array_equal(got["_healpix_29"].to_numpy(), healpix_index(table["ra"], table["dec"]))


def test_read_back_with_read_hats(spark, exported, table):
    back = read_hats(spark, exported.collection, provenance=True).toPandas().set_index("id").loc[table["id"]]
    np.testing.assert_array_equal(back["ra"].to_numpy(), table["ra"].to_numpy())
    np.testing.assert_array_equal(back["kind"].to_numpy(), table["kind"].to_numpy())
    np.testing.assert_array_equal(back["healpix_29"].to_numpy(), healpix_index(table["ra"], table["dec"]))
    assert all(_contains(k, n, [h])[0] for k, n, h in back[["Norder", "Npix", "healpix_29"]].itertuples(index=False))


def _oracle_margins(table: pd.DataFrame, partitions, order: int) -> dict[int, set[tuple[int, int]]]:
    """For each row id, the partitions other than its own that its disc of MARGIN touches: the
    cells at ``order`` of cdshealpix's (public) cone search, each matched to the partition that
    contains it by a scan of every partition."""
    radius = MARGIN / 3600 * (1 + 1e-9) + 1e-9  # padded as the export pads it
    ids = table["id"].to_numpy()
    own_h = healpix_index(table["ra"], table["dec"])
    cells, rows = [], []
    for i, (ra, dec) in enumerate(table[["ra", "dec"]].itertuples(index=False)):
        c, _, _ = nested.cone_search(Longitude(ra * u.deg), Latitude(dec * u.deg), radius * u.deg, order, flat=True)
        cells.append(np.asarray(c, dtype="int64") << (2 * (29 - order)))
        rows.append(np.full(len(c), i))
    flat, row_of = np.concatenate(cells), np.concatenate(rows)
    out: dict[int, set[tuple[int, int]]] = {int(i): set() for i in ids}
    owners = np.zeros(len(ids), dtype="int64")
    for k, n, _ in partitions:
        owners += _contains(k, n, own_h)
        for i in np.unique(row_of[_contains(k, n, flat)]):
            if not _contains(k, n, own_h[i : i + 1])[0]:
                out[int(ids[i])].add((k, n))
    assert (owners == 1).all()
    return out


def test_margin_matches_an_oracle(exported, table):
    want = _oracle_margins(table, exported.partitions, exported.margin_order)
    got: dict[int, set[tuple[int, int]]] = {int(i): set() for i in table["id"]}
    for k, n, path, _ in _files(exported.margin).itertuples(index=False):
        t = pq.read_table(path)
        assert (np.diff(t.column("_healpix_29").to_numpy()) >= 0).all()
        ids = t.column("id").to_numpy()
        assert len(ids) == len(np.unique(ids))
        assert not _contains(k, n, t.column("_healpix_29").to_numpy()).any(), "a margin row lies outside"
        for i in ids:
            got[int(i)].add((k, n))
    assert got == want
    assert sum(len(v) for v in got.values()) == exported.margin_rows > 0
    assert {(k, n) for k, n, _ in exported.margin_partitions} == set().union(*got.values())


def test_partition_plus_margin_crossmatch_is_complete(exported, table):
    """Left rows near the exported (right) rows: for each left row, the pairs within MARGIN found
    in its partition plus that partition's margin are every pair a search of the whole right
    catalog finds."""
    rng = np.random.default_rng(3)
    pick = table.sample(1200, random_state=5)
    moved = SkyCoord(pick["ra"].to_numpy() * u.deg, pick["dec"].to_numpy() * u.deg).directional_offset_by(
        rng.uniform(0, 360, len(pick)) * u.deg, rng.uniform(0, 1.5 * MARGIN, len(pick)) * u.arcsec
    )
    left = pd.DataFrame({"lid": np.arange(len(pick)), "ra": moved.ra.deg, "dec": moved.dec.deg})
    left["h"] = healpix_index(left["ra"], left["dec"])
    right = SkyCoord(table["ra"].to_numpy() * u.deg, table["dec"].to_numpy() * u.deg)
    li, ri, _, _ = search_around_sky(
        SkyCoord(left["ra"].to_numpy() * u.deg, left["dec"].to_numpy() * u.deg), right, MARGIN * u.arcsec
    )
    oracle = set(zip(li.tolist(), table["id"].to_numpy()[ri].tolist(), strict=True))
    assert len(oracle) > 800

    cat_files = {(k, n): p for k, n, p, _ in _files(exported.catalog).itertuples(index=False)}
    margin_files = {(k, n): p for k, n, p, _ in _files(exported.margin).itertuples(index=False)}
    found = set()
    covered = np.zeros(len(left), dtype=bool)
    for (k, n), path in cat_files.items():
        mine = _contains(k, n, left["h"])
        if not mine.any():
            continue
        covered |= mine
        parts = [pq.read_table(path, columns=["id", "ra", "dec"]).to_pandas()]
        if (k, n) in margin_files:
            parts.append(pq.read_table(margin_files[(k, n)], columns=["id", "ra", "dec"]).to_pandas())
        rows = pd.concat(parts)
        lsub = left[mine]
        a, b, _, _ = search_around_sky(
            SkyCoord(lsub["ra"].to_numpy() * u.deg, lsub["dec"].to_numpy() * u.deg),
            SkyCoord(rows["ra"].to_numpy() * u.deg, rows["dec"].to_numpy() * u.deg),
            MARGIN * u.arcsec,
        )
        found |= set(zip(lsub["lid"].to_numpy()[a].tolist(), rows["id"].to_numpy()[b].tolist(), strict=True))
    # left rows in sky without a partition are not the margin's business
    assert covered.mean() > 0.95
    assert found == {(lid, rid) for lid, rid in oracle if covered[lid]}
