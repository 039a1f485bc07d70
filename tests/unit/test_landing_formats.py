"""Compressed text and ECSV headers, checked on the driver before any table is written (no JVM)."""

from __future__ import annotations

import bz2
import gzip

import numpy as np
import pytest
from astropy.table import Table

from astrolake.catalogs.contract import get_catalog
from astrolake.sources import ecsv
from astrolake.sources.files import LandingError, check_format, describe, read_header

CONTRACT = get_catalog("sdss_dr14_skyserver").contract
LINES = "objid,ra,dec\n1,10.5,1.25\n2,11.5,2.25\n"


def skyserver_table(n: int = 3) -> Table:
    """A table with every column of the skyserver contract, as astropy writes it."""
    t = Table()
    for c in CONTRACT.columns:
        if c.type == "string":
            t[c.source] = [("GALAXY" if c.source == "class" else str(1000 + i)) for i in range(n)]
        elif c.type in ("int", "long"):
            t[c.source] = np.arange(1, n + 1, dtype=np.int64) + (300 if c.source == "plate" else 0)
        else:
            t[c.source] = np.linspace(1.0, 2.0, n)
        if c.unit:
            t[c.source].unit = c.unit
    return t


@pytest.mark.parametrize("codec, opener, suffix", [("gzip", gzip.open, ".gz"), ("bzip2", bz2.open, ".bz2")])
def test_compressed_text_is_hashed_checked_and_its_header_read(tmp_path, codec, opener, suffix):
    f = tmp_path / f"x.csv{suffix}"
    with opener(f, "wt") as fh:
        fh.write("# a comment\n" + ",".join(CONTRACT.source_columns) + "\n1,2\n")
    check_format(str(f), CONTRACT)
    assert len(describe(str(f)).sha256) == 64
    header = read_header(str(f), CONTRACT)
    assert header.names == CONTRACT.source_columns and header.line == 1
    # cut short: refused by name when it is hashed
    cut = tmp_path / f"cut.csv{suffix}"
    cut.write_bytes(f.read_bytes()[:-8])
    with pytest.raises(LandingError, match=f"cut.csv{suffix}: is (truncated|not a valid {codec})"):
        describe(str(cut))


def test_compression_and_name_must_agree(tmp_path):
    packed = tmp_path / "x.csv"
    packed.write_bytes(gzip.compress(LINES.encode()))
    with pytest.raises(LandingError, match="is gzip-compressed but its name says otherwise; name it x.csv.gz"):
        check_format(str(packed), CONTRACT)
    plain = tmp_path / "y.csv.gz"
    plain.write_text(LINES)
    with pytest.raises(LandingError, match="is not compressed but its name says otherwise"):
        check_format(str(plain), CONTRACT)
    xz = tmp_path / "z.csv"
    xz.write_bytes(b"\xfd7zXZ\x00" + b"\x00" * 20)
    with pytest.raises(LandingError, match="xz-compressed text is not supported"):
        check_format(str(xz), CONTRACT)


def test_an_ecsv_header_that_agrees_with_the_contract_is_accepted(tmp_path):
    f = tmp_path / "x.ecsv"
    t = skyserver_table()
    t["ra"].unit = "degree"  # the same unit as the contract's 'deg', written differently
    t.write(f, format="ascii.ecsv", delimiter=",")
    header = read_header(str(f), CONTRACT)
    assert header.names == CONTRACT.source_columns
    assert f.read_text().splitlines()[header.line] == ",".join(CONTRACT.source_columns)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda t: setattr(t["ra"], "unit", "arcsec"), "ra: unit 'arcsec' is not the contract's 'deg'"),
        (lambda t: t.replace_column("ra", t["ra"].astype(str)), "ra: datatype string cannot hold contract type double"),
        (lambda t: t.replace_column("plate", t["plate"].astype(float)), "plate: datatype float64 cannot hold"),
    ],
    ids=["unit", "string-for-double", "float-for-int"],
)
def test_an_ecsv_header_that_disagrees_is_refused_before_any_table(tmp_path, change, message):
    f = tmp_path / "bad.ecsv"
    t = skyserver_table()
    change(t)
    t.write(f, format="ascii.ecsv", delimiter=",")
    with pytest.raises(LandingError, match="the ECSV header disagrees with contract skyserver_csv: .*" + message):
        read_header(str(f), CONTRACT)


def test_an_ecsv_delimiter_other_than_the_contracts_is_refused(tmp_path):
    f = tmp_path / "spaces.ecsv"
    skyserver_table().write(f, format="ascii.ecsv")  # ECSV's default delimiter is a space
    with pytest.raises(LandingError, match="delimiter ' ', but contract skyserver_csv reads ','"):
        read_header(str(f), CONTRACT)


def test_units_compare_as_units():
    assert ecsv.same_unit("deg", "degree") and ecsv.same_unit("mag", "mag")
    assert not ecsv.same_unit("deg", "arcsec") and not ecsv.same_unit("deg", "rad")


def _parquet(path, table: Table) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({name: np.asarray(table[name]) for name in table.colnames}), path)


def test_a_parquet_schema_that_agrees_is_read_from_the_footer(tmp_path):
    from astrolake.sources.files import inspect

    f = tmp_path / "x.parquet"
    _parquet(f, skyserver_table())
    header = inspect(str(f), CONTRACT)
    assert header.names == CONTRACT.source_columns and header.line == -1


def test_a_parquet_schema_that_disagrees_lists_every_problem(tmp_path):
    from astrolake.sources.files import inspect

    t = skyserver_table()
    t.remove_column("plate")
    t["ra"] = t["ra"].astype(str)
    t["extra"] = [1, 2, 3]
    f = tmp_path / "bad.parquet"
    _parquet(f, t)
    with pytest.raises(LandingError) as err:
        inspect(str(f), CONTRACT)
    message = str(err.value)
    assert "the Parquet schema disagrees with contract skyserver_csv" in message
    assert "missing required column(s) plate" in message
    assert "extra" not in message  # a column the contract does not know is kept in bronze, not refused
    assert "ra: Parquet type string cannot hold contract type double" in message
    junk = tmp_path / "junk.parquet"
    junk.write_bytes(b"PAR1 not really")
    with pytest.raises(LandingError, match="not a readable Parquet file"):
        inspect(str(junk), CONTRACT)
