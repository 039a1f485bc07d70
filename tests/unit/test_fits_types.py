"""The pure parts of the ``fits`` data source (astrolake.sources.fits), without a JVM.

TFORM/TDIM parsing and the FITS -> Spark type mapping are read from astropy ``Column`` headers;
values go through the reader's own ``partitions()`` / ``read()`` (plain Python that yields Arrow
batches; Spark only calls it), on files written here with astropy.  Expected values are literals.
The same file kinds through ``spark.read.format("fits")`` are in tests/spark/sources/test_fits.py.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import warnings

import numpy as np
import pytest
from astropy.io import fits

from astrolake.sources.fits import FitsDataSource, FitsSourceError, _column_spec, _parse_options, _parse_tdim

# ---------------------------------------------------------------------------------------------
# header -> Spark type
# ---------------------------------------------------------------------------------------------
MAPPING = [
    # (TFORM, Column keywords, kind, Spark type)
    ("L", {}, "bool", "boolean"),
    ("X", {}, "bits", "boolean"),
    ("11X", {}, "bits", "array<boolean>"),
    ("B", {}, "int", "smallint"),
    ("B", {"bzero": -128}, "int", "smallint"),  # signed-byte convention
    ("B", {"bzero": 10}, "scaled", "double"),
    ("I", {}, "int", "smallint"),
    ("I", {"bzero": 32768}, "uint", "int"),
    ("I", {"bscale": 0.5}, "scaled", "double"),
    ("I", {"bzero": 32768, "bscale": 2.0}, "scaled", "double"),  # scaled: not the unsigned convention
    ("J", {}, "int", "int"),
    ("J", {"bzero": 2**31}, "uint", "bigint"),
    ("J", {"bzero": -(2**31)}, "scaled", "double"),
    ("K", {}, "int", "bigint"),
    ("K", {"bzero": 2**63}, "uint", "decimal(20,0)"),
    ("E", {}, "float", "float"),
    ("E", {"bscale": 2.0}, "float", "double"),
    ("D", {}, "float", "double"),
    ("D", {"bzero": 1.0}, "float", "double"),
    ("8A", {}, "string", "string"),
    ("3E", {}, "float", "array<float>"),
    ("1D", {"dim": "(1)"}, "float", "double"),  # TDIM '(1)': a scalar, not a 1-element array
    ("6J", {"dim": "(3,2)"}, "int", "array<array<int>>"),
    ("6J", {"dim": "(3,1,2)"}, "int", "array<array<int>>"),  # length-1 axes dropped
    ("12A", {"dim": "(4,3)"}, "string", "array<string>"),  # first TDIM axis is the string width
    ("2L", {}, "bool", "array<boolean>"),
]


@pytest.mark.parametrize("tform, keywords, kind, spark_type", MAPPING, ids=[f"{m[0]}-{m[1]}" for m in MAPPING])
def test_type_mapping(tform, keywords, kind, spark_type):
    spec = _column_spec("t.fits", 0, fits.Column(name="c", format=tform, **keywords))
    assert (spec.kind, spec.spark_type.simpleString()) == (kind, spark_type)


def test_shape_width_and_nulls_from_the_header():
    grid = _column_spec("t.fits", 2, fits.Column(name="grid", format="6J", dim="(3,2)", null=-1))
    assert (grid.index, grid.repeat, grid.shape, grid.tnull) == (2, 6, (2, 3), -1)  # numpy order: last FITS axis out
    names = _column_spec("t.fits", 0, fits.Column(name="names", format="12A", dim="(4,3)"))
    assert (names.width, names.shape) == (4, (3,))
    plain = _column_spec("t.fits", 0, fits.Column(name="s", format="7A"))
    assert (plain.width, plain.shape) == (7, ())
    unnamed = _column_spec("t.fits", 4, fits.Column(name="", format="E"))
    assert unnamed.name == "col5"
    assert _column_spec("t.fits", 0, fits.Column(name="v", format="3E")).describe() == "'v' (3E -> array<float>)"


def test_layout_key_separates_what_cannot_be_read_together():
    a = _column_spec("a.fits", 0, fits.Column(name="x", format="J"))
    assert a.layout_key() == _column_spec("b.fits", 0, fits.Column(name="x", format="J")).layout_key()
    for other in (
        fits.Column(name="x", format="K"),
        fits.Column(name="x", format="2J"),
        fits.Column(name="x", format="J", bzero=2**31),
        fits.Column(name="y", format="J"),
    ):
        assert _column_spec("b.fits", 0, other).layout_key() != a.layout_key(), other


@pytest.mark.parametrize(
    "tform, message",
    [
        ("PJ()", r"column 'v' of t\.fits is a variable-length array \(PJ"),
        ("QD()", r"column 'v' of t\.fits is a variable-length array \(QD"),
        ("C", r"column 'v' of t\.fits is complex \(C\), which the fits data source does not support"),
        ("2M", r"column 'v' of t\.fits is complex \(2M\), which the fits data source does not support"),
    ],
)
def test_variable_length_and_complex_columns_are_refused(tform, message):
    with pytest.raises(FitsSourceError, match=message):
        _column_spec("t.fits", 0, fits.Column(name="v", format=tform))


@pytest.mark.parametrize(
    "text, dims",
    [
        ("(3,2)", (3, 2)),
        (" (1) ", (1,)),
        ("(4, 3, 2)", (4, 3, 2)),
        ("", None),
        (None, None),
        ("3,2", None),
        ("(a)", None),
        ("()", None),
    ],
)
def test_parse_tdim(text, dims):
    assert _parse_tdim(text) == dims


# ---------------------------------------------------------------------------------------------
# options
# ---------------------------------------------------------------------------------------------
def test_options_are_parsed_and_checked():
    o = _parse_options({"path": "a.fits, b.fits", "HDU": "2", "rowsPerPartition": "1_000", "provenance": "no"})
    assert (o.paths, o.hdu, o.rows_per_partition, o.rows_per_batch, o.provenance) == (
        ("a.fits", "b.fits"),
        2,
        1000,
        100_000,
        False,
    )
    assert _parse_options({"paths": '["x,1.fits", "y.fits"]', "hdu": "CAT"}).paths == ("x,1.fits", "y.fits")
    assert _parse_options({"path": "a.fits", "hdu": "cat"}).hdu == "cat"
    for options, message in (
        ({}, r"needs a path"),
        ({"path": " , "}, r"needs a path"),
        ({"path": "a.fits", "hdu": "-1"}, r"option hdu must be >= 0"),
        ({"path": "a.fits", "rowsPerBatch": "0"}, r"option rowsPerBatch must be a positive integer, got 0"),
        (
            {"path": "a.fits", "rowsPerPartition": "many"},
            r"option rowsPerPartition must be a positive integer, got 'many'",
        ),
        ({"path": "a.fits", "provenance": "maybe"}, r"option provenance must be true or false, got 'maybe'"),
    ):
        with pytest.raises(FitsSourceError, match=message):
            _parse_options(options)


# ---------------------------------------------------------------------------------------------
# values, through the reader's own partitions() and read()
# ---------------------------------------------------------------------------------------------
def write_table(path, columns, header=None):
    """A primary HDU and one binary table; ``header`` cards are set after the columns, so
    TSCAL/TZERO apply to the stored values as written."""
    table = fits.BinTableHDU.from_columns(columns)
    for key, value in (header or {}).items():
        table.header[key] = value
    fits.HDUList([fits.PrimaryHDU(), table]).writeto(path)
    return str(path)


def set_stored_byte(path, row: int, column: str, value: int, element: int = 0) -> None:
    """Overwrite one stored byte of a column in place (astropy will not write a NUL logical)."""
    with fits.open(path) as hdul:
        start = hdul[1].fileinfo()["datLoc"]
        raw = hdul[1].data.view(np.ndarray)
        offset = start + row * raw.dtype.itemsize + raw.dtype.fields[column][1] + element
    with open(path, "r+b") as fh:
        fh.seek(offset)
        fh.write(bytes([value]))


def read_all(path, **options) -> tuple[str, dict]:
    """(schema, column -> values) as the data source produces them, partition by partition."""
    source = FitsDataSource({"path": str(path), "provenance": "false", **options})
    schema = source.schema()
    reader = source.reader(schema)
    out: dict[str, list] = {name: [] for name in schema.fieldNames()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for part in reader.partitions():
            for batch in reader.read(part):
                for name, values in batch.to_pydict().items():
                    out[name] += values
    return schema.simpleString(), out


BITS = np.array([[1, 0, 1, 1, 0, 0, 0, 0, 1], [0] * 9, [1] * 9, [0, 0, 0, 0, 0, 0, 0, 1, 0]], dtype=np.uint8)


def quirky_columns():
    return [
        fits.Column(name="bit", format="X", array=BITS[:, :1]),
        fits.Column(name="bits", format="9X", array=BITS),  # crosses a byte boundary
        fits.Column(name="sbyte", format="B", bzero=-128, array=np.array([-128, -1, 0, 127], dtype=np.int8)),
        fits.Column(
            name="sbyte_null", format="B", bzero=-128, null=0, array=np.array([-128, 5, -128, 127], dtype=np.int8)
        ),
        fits.Column(name="ubyte", format="B", array=np.array([0, 128, 200, 255], dtype=np.uint8)),
        fits.Column(name="flag", format="L", array=np.array([True, False, True, False])),
        fits.Column(
            name="flags", format="2L", array=np.array([[True, False], [False, True], [True, True], [False, False]])
        ),
    ]


EXPECTED = {
    "bit": [True, False, True, False],
    "bits": [[bool(b) for b in row] for row in BITS.tolist()],
    "sbyte": [-128, -1, 0, 127],
    "sbyte_null": [None, 5, None, 127],  # TNULL compares the stored byte: 0 is the physical -128
    "ubyte": [0, 128, 200, 255],
    "flag": [True, None, True, False],  # row 1 holds a NUL byte: undefined
    "flags": [[True, False], [False, True], [True, None], [False, False]],
}


@pytest.fixture
def quirky(tmp_path):
    path = write_table(tmp_path / "quirky.fits", quirky_columns())
    set_stored_byte(path, 1, "flag", 0)
    set_stored_byte(path, 2, "flags", 0, element=1)
    return path


def test_bits_signed_bytes_and_undefined_logicals(quirky):
    schema, got = read_all(quirky)
    assert schema == (
        "struct<bit:boolean,bits:array<boolean>,sbyte:smallint,sbyte_null:smallint,ubyte:smallint,"
        "flag:boolean,flags:array<boolean>>"
    )
    assert got == EXPECTED


@pytest.mark.parametrize("packer", [gzip, bz2, lzma], ids=["gzip", "bzip2", "xz"])
def test_compressed_files_read_like_the_plain_file(quirky, tmp_path, packer):
    packed = tmp_path / "copy.fits.packed"  # recognised by its magic bytes, whatever the name
    packed.write_bytes(packer.compress(open(quirky, "rb").read()))
    schema, got = read_all(packed, rowsPerPartition=3, rowsPerBatch=2)  # the second partition starts mid-file
    assert got == EXPECTED
    assert schema == read_all(quirky)[0]


@pytest.mark.parametrize("packer", [gzip, bz2, lzma], ids=["gzip", "bzip2", "xz"])
def test_truncated_compressed_file_is_a_clear_error(quirky, tmp_path, packer):
    data = packer.compress(open(quirky, "rb").read())
    cut = tmp_path / "cut.fits.z"
    cut.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(FitsSourceError, match=r"cut\.fits\.z is truncated or corrupt: its compressed stream cannot"):
        read_all(cut)


def test_scaled_and_unsigned_integers(tmp_path):
    path = write_table(
        tmp_path / "scaled.fits",
        [
            fits.Column(name="u16", format="I", bzero=32768, array=np.array([0, 1, 32768, 65535], dtype=np.uint16)),
            fits.Column(name="u32", format="J", bzero=2**31, array=np.array([0, 7, 2**31, 2**32 - 1], dtype=np.uint32)),
            fits.Column(name="half", format="I", array=np.array([0, 1, -30, 32767], dtype=np.int16)),
            fits.Column(name="k", format="K", null=-1, array=np.array([-1, 2, 2**62, -(2**63)], dtype=np.int64)),
        ],
        header={"TSCAL3": 0.5, "TZERO3": 10.0},
    )
    schema, got = read_all(path)
    assert schema == "struct<u16:int,u32:bigint,half:double,k:bigint>"
    assert got["u16"] == [0, 1, 32768, 65535]
    assert got["u32"] == [0, 7, 2**31, 2**32 - 1]
    assert got["half"] == [10.0, 10.5, -5.0, 16393.5]
    assert got["k"] == [None, 2, 2**62, -(2**63)]


def test_refused_columns_name_the_file_before_any_row_is_read(tmp_path):
    path = write_table(
        tmp_path / "vla.fits",
        [
            fits.Column(name="id", format="J", array=np.array([1, 2], dtype=np.int32)),
            fits.Column(name="spectrum", format="PE()", array=np.array([np.ones(3), np.ones(1)], dtype=object)),
        ],
    )
    with pytest.raises(FitsSourceError, match=r"column 'spectrum' of \S*vla\.fits is a variable-length array"):
        FitsDataSource({"path": path}).schema()
