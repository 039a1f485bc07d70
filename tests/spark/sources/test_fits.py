"""The ``fits`` Spark data source (astrolake.sources.fits) on tiny FITS files written here.

Every fixture is written with astropy into ``tmp_path``; the expected values are literals in the
tests, never read back through the reader under test.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import math
import os
from decimal import Decimal

import numpy as np
import pytest
from astropy.io import fits
from pyspark.errors import AnalysisException
from pyspark.sql import types as T

from astrolake.sources.fits import register_fits
from conftest import TESTS_DATA


@pytest.fixture
def read(spark):
    """``read(path, **options)`` -> DataFrame via ``spark.read.format("fits")``."""
    register_fits(spark)
    register_fits(spark)  # idempotent

    def _read(path, schema=None, **options):
        reader = spark.read.format("fits")
        if schema is not None:
            reader = reader.schema(schema)
        for key, value in options.items():
            reader = reader.option(key, value)
        return reader.load(path)

    return _read


def write_table(path, columns, header=None, extname=None):
    """Write a primary HDU + one binary table; ``header`` cards are set after the columns
    (so TSCAL/TZERO apply to the raw stored values as written)."""
    table = fits.BinTableHDU.from_columns(columns, name=extname)
    for key, value in (header or {}).items():
        table.header[key] = value
    fits.HDUList([fits.PrimaryHDU(), table]).writeto(path)
    return str(path)


def simple_columns(ids, names=None):
    ids = np.asarray(ids, dtype=np.int32)
    names = names if names is not None else [f"s{i}" for i in ids]
    return [
        fits.Column(name="id", format="J", array=ids),
        fits.Column(name="mag", format="D", array=ids * 0.5),
        fits.Column(name="label", format="6A", array=np.array(names)),
    ]


# ---------------------------------------------------------------------------- types


def test_unsigned_integers_via_tzero(read, tmp_path):
    path = write_table(
        tmp_path / "u.fits",
        [
            fits.Column(name="u64", format="K", bzero=2**63, array=np.array([0, 1, 2**63, 2**64 - 1], dtype=np.uint64)),
            fits.Column(name="u32", format="J", bzero=2**31, array=np.array([0, 1, 2**31, 2**32 - 1], dtype=np.uint32)),
            fits.Column(name="u16", format="I", bzero=32768, array=np.array([0, 1, 32768, 65535], dtype=np.uint16)),
        ],
    )
    df = read(path)
    types = {f.name: f.dataType for f in df.schema.fields}
    assert types["u64"] == T.DecimalType(20, 0)
    assert types["u32"] == T.LongType()
    assert types["u16"] == T.IntegerType()
    rows = df.collect()
    assert [r.u64 for r in rows] == [
        Decimal(0),
        Decimal(1),
        Decimal("9223372036854775808"),
        Decimal("18446744073709551615"),
    ]
    assert [r.u32 for r in rows] == [0, 1, 2147483648, 4294967295]
    assert [r.u16 for r in rows] == [0, 1, 32768, 65535]


def test_tscal_tzero_scaled_integers(read, tmp_path):
    path = write_table(
        tmp_path / "scaled.fits",
        [
            fits.Column(name="i16", format="I", array=np.array([0, 1, -30, 32767], dtype=np.int16)),
            fits.Column(name="i32", format="J", array=np.array([0, 1000, -1000, 7], dtype=np.int32)),
            fits.Column(name="plain", format="I", array=np.array([1, 2, 3, 4], dtype=np.int16)),
        ],
        header={"TSCAL1": 0.5, "TZERO1": 10.0, "TSCAL2": 0.001, "TZERO2": -2.0},
    )
    df = read(path, provenance="false")
    assert df.schema.fieldNames() == ["i16", "i32", "plain"]
    assert df.schema["i16"].dataType == T.DoubleType()
    assert df.schema["i32"].dataType == T.DoubleType()
    assert df.schema["plain"].dataType == T.ShortType()
    rows = df.collect()
    assert [r.i16 for r in rows] == [10.0, 10.5, -5.0, 16393.5]
    assert [r.i32 for r in rows] == pytest.approx([-2.0, -1.0, -3.0, -1.993], rel=1e-12)
    assert [r.plain for r in rows] == [1, 2, 3, 4]


def test_tnull_gives_null_and_nan_stays_nan(read, tmp_path):
    path = write_table(
        tmp_path / "nulls.fits",
        [
            fits.Column(name="j", format="J", null=-999, array=np.array([5, -999, 7, -999, 0], dtype=np.int32)),
            fits.Column(name="k", format="K", null=-1, array=np.array([-1, 2, 3, 4, -1], dtype=np.int64)),
            fits.Column(name="scaled", format="I", null=-1, array=np.array([-1, 3, 0, -1, 1], dtype=np.int16)),
            fits.Column(name="f", format="E", array=np.array([1.5, np.nan, 2.5, 3.5, np.nan], dtype=np.float32)),
        ],
        header={"TSCAL3": 2.0},
    )
    rows = read(path).collect()
    assert [r.j for r in rows] == [5, None, 7, None, 0]
    assert [r.k for r in rows] == [None, 2, 3, 4, None]
    assert [r.scaled for r in rows] == [None, 6.0, 0.0, None, 2.0]
    f = [r.f for r in rows]
    assert f[0] == 1.5 and f[2] == 2.5 and f[3] == 3.5
    assert f[1] is not None and math.isnan(f[1]) and math.isnan(f[4])  # NaN, not null


def test_vector_column_tdim_gives_arrays(read, tmp_path):
    vec = np.array([[1, 2, 3], [4, 5, 6], [7.5, 8.5, -9.5]], dtype=np.float32)
    path = write_table(
        tmp_path / "vec.fits",
        [
            fits.Column(name="flux", format="3E", dim="(3)", array=vec),
            fits.Column(name="one", format="1D", dim="(1)", array=np.array([[1.0], [2.0], [3.0]])),
            fits.Column(name="grid", format="6J", dim="(3,2)", array=np.arange(18, dtype=np.int32).reshape(3, 2, 3)),
        ],
    )
    df = read(path)
    assert df.schema["flux"].dataType == T.ArrayType(T.FloatType(), True)
    assert df.schema["one"].dataType == T.DoubleType()  # repeat 1 with TDIM '(1)': scalar
    assert df.schema["grid"].dataType == T.ArrayType(T.ArrayType(T.IntegerType(), True), True)
    rows = df.collect()
    assert [r.flux for r in rows] == [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.5, 8.5, -9.5]]
    assert [r.one for r in rows] == [1.0, 2.0, 3.0]
    assert rows[0].grid == [[0, 1, 2], [3, 4, 5]]
    assert rows[2].grid == [[12, 13, 14], [15, 16, 17]]


def test_string_and_boolean_columns(read, tmp_path):
    path = write_table(
        tmp_path / "sb.fits",
        [
            fits.Column(name="name", format="8A", array=np.array(["M31", " NGC 224", "", "abcdefgh"])),
            fits.Column(name="flag", format="L", array=np.array([True, False, True, False])),
        ],
    )
    df = read(path)
    assert df.schema["name"].dataType == T.StringType()
    assert df.schema["flag"].dataType == T.BooleanType()
    rows = df.collect()
    assert [r.name for r in rows] == ["M31", " NGC 224", "", "abcdefgh"]
    assert [r.flag for r in rows] == [True, False, True, False]


def set_stored_byte(path, row: int, column: str, value: int) -> None:
    """Overwrite the first stored byte of a column in one row (astropy will not write a NUL logical)."""
    with fits.open(path) as hdul:
        raw = hdul[1].data.view(np.ndarray)
        offset = hdul[1].fileinfo()["datLoc"] + row * raw.dtype.itemsize + raw.dtype.fields[column][1]
    with open(path, "r+b") as fh:
        fh.seek(offset)
        fh.write(bytes([value]))


def test_bits_signed_bytes_undefined_logicals_and_compressed_copies(read, tmp_path):
    bits = np.array([[1, 0, 1, 1, 0, 0, 0, 0, 1], [0] * 9, [1] * 9], dtype=np.uint8)
    plain = write_table(
        tmp_path / "q.fits",
        [
            fits.Column(name="bit", format="X", array=bits[:, :1]),
            fits.Column(name="bits", format="9X", array=bits),
            fits.Column(name="sbyte", format="B", bzero=-128, null=0, array=np.array([-128, -1, 127], dtype=np.int8)),
            fits.Column(name="flag", format="L", array=np.array([True, True, False])),
        ],
    )
    set_stored_byte(plain, 1, "flag", 0)  # a NUL byte: the logical is undefined
    data = open(plain, "rb").read()
    for suffix, packer in ((".gz", gzip), (".bz2", bz2), (".xz", lzma)):
        (tmp_path / f"q.fits{suffix}").write_bytes(packer.compress(data))
    df = read(str(tmp_path / "q.fits*"), rowsPerPartition=2)
    assert {f.name: f.dataType for f in df.schema.fields[:4]} == {
        "bit": T.BooleanType(),
        "bits": T.ArrayType(T.BooleanType(), True),
        "sbyte": T.ShortType(),
        "flag": T.BooleanType(),
    }
    assert df.rdd.getNumPartitions() == 4 * 2
    rows = df.orderBy("_source_file", "_row_number").collect()
    assert sorted({os.path.basename(r._source_file) for r in rows}) == [
        "q.fits",
        "q.fits.bz2",
        "q.fits.gz",
        "q.fits.xz",
    ]
    expected = [
        (True, [True, False, True, True, False, False, False, False, True], None, True),  # TNULL: stored 0
        (False, [False] * 9, -1, None),
        (True, [True] * 9, 127, False),
    ]
    for name in ("q.fits", "q.fits.gz", "q.fits.bz2", "q.fits.xz"):
        got = [(r.bit, r.bits, r.sbyte, r.flag) for r in rows if os.path.basename(r._source_file) == name]
        assert got == expected, name


@pytest.mark.parametrize(
    "tform, array, message",
    [
        ("PJ()", np.array([np.arange(3), np.arange(1)], dtype=object), r"is a variable-length array \(PJ"),
        ("QD()", np.array([np.ones(2), np.ones(4)], dtype=object), r"is a variable-length array \(QD"),
        ("C", np.array([1 + 2j, 3j], dtype=np.complex64), r"is complex \(C\)"),
        ("2M", np.array([[1 + 2j, 3j], [0, 1]], dtype=np.complex128), r"is complex \(2M\)"),
    ],
    ids=["P", "Q", "C", "M"],
)
def test_variable_length_and_complex_columns_are_refused(read, tmp_path, tform, array, message):
    path = write_table(
        tmp_path / "refused.fits",
        [fits.Column(name="id", format="J", array=np.array([1, 2])), fits.Column(name="v", format=tform, array=array)],
    )
    with pytest.raises(AnalysisException, match=r"FitsSourceError: column 'v' of \S*refused\.fits " + message) as err:
        _ = read(path).schema
    assert "which the fits data source does not support" in str(err.value)


# ---------------------------------------------------------------------------- HDUs, files


def test_hdu_selection_by_index_and_extname(read, tmp_path):
    table = fits.BinTableHDU.from_columns(simple_columns([1, 2]), name="CAT")
    image = fits.ImageHDU(np.zeros((4, 4), dtype=np.float32), name="IMG")
    path = tmp_path / "three.fits"
    fits.HDUList([fits.PrimaryHDU(), image, table]).writeto(path)

    with pytest.raises(AnalysisException, match=r"HDU 1 of \S*three\.fits is an ImageHDU, not a binary table"):
        _ = read(str(path), hdu=1).schema
    with pytest.raises(AnalysisException, match=r"HDU 0 of \S*three\.fits is a PrimaryHDU, not a binary table"):
        _ = read(str(path), hdu="0").schema
    with pytest.raises(AnalysisException, match=r"is an ImageHDU, not a binary table"):
        _ = read(str(path), hdu="IMG").schema
    with pytest.raises(AnalysisException, match=r"no HDU with EXTNAME 'NOPE'"):
        _ = read(str(path), hdu="NOPE").schema

    by_name = read(str(path), hdu="cat").collect()  # EXTNAME, case-insensitive
    assert [(r.id, r.label) for r in by_name] == [(1, "s1"), (2, "s2")]
    default = read(str(path)).collect()  # first binary table
    assert [r.id for r in default] == [1, 2]
    assert read(str(path), hdu=2).count() == 2


def test_no_table_hdu_is_an_error(read, tmp_path):
    path = tmp_path / "image_only.fits"
    fits.HDUList([fits.PrimaryHDU(np.ones((2, 2)))]).writeto(path)
    with pytest.raises(AnalysisException, match=r"image_only\.fits has no binary table HDU"):
        _ = read(str(path)).schema


def test_truncated_file_is_a_clear_error(read, tmp_path):
    # primary header 2880 + table header 2880 bytes; 4 rows of 4 + 8 + 6 = 18 bytes
    full = write_table(tmp_path / "full.fits", simple_columns([1, 2, 3, 4]))
    data = open(full, "rb").read()
    cut = tmp_path / "cut.fits"
    cut.write_bytes(data[: 5760 + 2 * 18 + 5])  # mid-way through the third row
    with pytest.raises(AnalysisException, match=r"cut\.fits is truncated") as err:
        read(str(cut)).collect()
    message = str(err.value)
    assert "at least 5832 bytes" in message and "it has 5801" in message


def test_glob_several_files_with_provenance(read, tmp_path):
    paths = [
        write_table(tmp_path / "part_a.fits", simple_columns([1, 2, 3])),
        write_table(tmp_path / "part_b.fits", simple_columns([10, 20])),
    ]
    df = read(str(tmp_path / "part_*.fits"))
    assert df.schema.fieldNames() == ["id", "mag", "label", "_source_file", "_row_number"]
    assert df.schema["_source_file"].dataType == T.StringType()
    assert df.schema["_row_number"].dataType == T.LongType()
    rows = [tuple(r) for r in df.collect()]
    assert rows == [
        (1, 0.5, "s1", paths[0], 0),
        (2, 1.0, "s2", paths[0], 1),
        (3, 1.5, "s3", paths[0], 2),
        (10, 5.0, "s10", paths[1], 0),
        (20, 10.0, "s20", paths[1], 1),
    ]
    # the same files as a directory, a comma-separated list with a file: prefix, a list
    assert read(str(tmp_path)).count() == 5
    assert read(f"file:{paths[1]},{paths[0]}").select("id").collect()[0].id == 10
    assert read([paths[0], paths[1]]).count() == 5
    # provenance off
    assert read(paths[0], provenance="false").columns == ["id", "mag", "label"]


def test_mismatched_layouts_name_both_files(read, tmp_path):
    good = write_table(tmp_path / "m1.fits", simple_columns([1, 2]))
    write_table(
        tmp_path / "m2.fits",
        [
            fits.Column(name="id", format="K", array=np.array([1, 2])),
            fits.Column(name="mag", format="D", array=np.ones(2)),
            fits.Column(name="label", format="6A", array=np.array(["a", "b"])),
        ],
    )
    with pytest.raises(AnalysisException, match=r"different column layouts") as err:
        _ = read(str(tmp_path / "m*.fits")).schema
    message = str(err.value)
    assert good in message and str(tmp_path / "m2.fits") in message


def test_row_range_partitions(read, tmp_path):
    write_table(tmp_path / "r1.fits", simple_columns(list(range(7))))
    write_table(tmp_path / "r2.fits", simple_columns(list(range(100, 105))))
    write_table(tmp_path / "r3.fits", simple_columns([]))  # empty table: still one partition
    df = read(str(tmp_path / "r*.fits"), rowsPerPartition=3, rowsPerBatch=2)
    assert df.rdd.getNumPartitions() == 3 + 2 + 1
    rows = [(r.id, os.path.basename(r._source_file), r._row_number) for r in df.collect()]
    expected = [(i, "r1.fits", i) for i in range(7)] + [(100 + i, "r2.fits", i) for i in range(5)]
    assert rows == expected
    assert read(str(tmp_path / "r1.fits")).rdd.getNumPartitions() == 1


def test_user_schema_selects_and_casts_columns(read, tmp_path):
    path = write_table(tmp_path / "sel.fits", simple_columns([3, 4]))
    df = read(path, schema="label string, ID long, _row_number long")
    assert [tuple(r) for r in df.collect()] == [("s3", 3, 0), ("s4", 4, 1)]


# ---------------------------------------------------------------------------- real data


def test_real_sdss_dr7_file(read):
    """A real archive file (tests/data: 1,202 rows of the SDSS DR7 table, header and rows as
    published): big-endian, TDIM '(1)' on every column, TNULL on objid."""
    path = TESTS_DATA / "sdss_dr7_galaxies_1202.fits"
    df = read(str(path), rowsPerPartition=500)
    expected_types = {"objid": T.LongType(), **{c: T.DoubleType() for c in ("ra", "dec", "u", "g", "r", "z")}}
    assert {f.name: f.dataType for f in df.schema.fields if not f.name.startswith("_")} == expected_types
    table = df.toArrow()
    assert table.num_rows == 1202 and df.rdd.getNumPartitions() == 3
    order = table.column("_row_number").to_numpy()
    assert np.array_equal(np.sort(order), np.arange(1202))
    with fits.open(path, memmap=True) as hdul:
        data = hdul[1].data
        for name in expected_types:
            truth = np.asarray(data[name]).ravel()
            got = np.empty_like(truth, dtype=truth.dtype.newbyteorder("="))
            got[order] = table.column(name).to_numpy()
            assert np.array_equal(got, truth), name
    objid = table.column("objid").to_numpy()
    assert len(np.unique(objid)) == 1202
    assert table.column("u").to_numpy().min() == -9999  # the sentinel row is kept as stored
