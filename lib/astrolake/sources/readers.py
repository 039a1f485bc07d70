"""Readers that turn landing files into *raw rows*: the bronze shape shared by every format.

A raw row keeps the source text of every field in ``_fields`` (source column name -> text),
the original line in ``_raw`` (text formats), ``_parse_error`` for lines that cannot be split
into the expected fields, and provenance: ``_source_file``, ``_file_index`` (the file's position
in its batch), ``_row_number`` (1-based data-row number where it is known exactly) and
``_block``/``_row_order`` (the row's order within its file, used to let the last occurrence of
a duplicate key win).
"""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.window import Window

from astrolake.catalogs.contract import Contract

RAW_COLUMNS = ["_raw", "_fields", "_parse_error", "_source_file", "_file_index", "_block", "_row_order", "_row_number"]


def _file_map(values: dict[str, object]):
    return F.create_map(*[F.lit(x) for kv in values.items() for x in kv])


def _header_map(headers: dict[str, list[str]]):
    """file path -> array of its source column names, as a Spark map literal."""
    return F.create_map(*[x for f, h in headers.items() for x in (F.lit(f), F.array(*[F.lit(n) for n in h]))])


def _path_col(col):
    return F.regexp_replace(col, r"^file:(//)?", "")


def read_text(spark: SparkSession, contract: Contract, files: list[str], headers: dict[str, list[str]]) -> DataFrame:
    """Raw rows of delimited text files (CSV or whitespace-separated).

    Contracts whose key uses the row number read each file whole so that every data row gets
    its exact 1-based number; the others read line by line, which scales to files of any size.
    """
    if contract.needs_row_number:
        lines = (
            spark.read.option("wholetext", "true")
            .text(files)
            .select(
                _path_col(F.col("_metadata.file_path")).alias("_source_file"),
                F.posexplode(F.split("value", r"\r?\n|\r")).alias("_pos", "value"),
            )
            .withColumn("_block", F.lit(0).cast("long"))
        )
    else:  # the text source splits on \n, \r\n and \r alike
        lines = spark.read.text(files).select(
            "value",
            _path_col(F.col("_metadata.file_path")).alias("_source_file"),
            F.col("_metadata.file_block_start").alias("_block"),
            F.monotonically_increasing_id().alias("_row_order"),
        )
    # split once; data lines are the non-blank, non-comment lines that are not the file's header
    lines = lines.select(
        "*", _split_fields(contract).alias("_f"), F.element_at(_header_map(headers), F.col("_source_file")).alias("_n")
    )
    trimmed = F.trim("value")
    data = (trimmed != "") & ~trimmed.startswith("#")
    if contract.header == "first_line":
        data = data & ~(F.col("_f") == F.col("_n"))
    lines = lines.where(data)
    if contract.needs_row_number:  # 1-based number among the file's data rows
        w = Window.partitionBy("_source_file").orderBy("_pos")
        lines = lines.withColumn("_row_number", F.row_number().over(w).cast("long")).withColumn(
            "_row_order", F.col("_row_number")
        )
    else:
        lines = lines.withColumn("_row_number", F.lit(None).cast("long"))

    index = _file_map({f: i for i, f in enumerate(files)})
    ok = F.size("_f") == F.size("_n")
    return lines.select(
        F.col("value").alias("_raw"),
        F.when(ok, F.map_from_arrays("_n", "_f")).alias("_fields"),
        F.when(~ok, F.format_string("malformed line: expected %d fields, found %d", F.size("_n"), F.size("_f"))).alias(
            "_parse_error"
        ),
        "_source_file",
        F.element_at(index, F.col("_source_file")).cast("int").alias("_file_index"),
        F.col("_block").cast("long"),
        F.col("_row_order").cast("long"),
        "_row_number",
    )


def _split_fields(contract: Contract):
    """The line's fields: whitespace runs, or the separator (fields trimmed; surrounding
    double quotes removed, on lines that have any)."""
    if contract.format == "whitespace":
        return F.split(F.trim("value"), r"\s+")
    sep = contract.separator
    sep = "\\" + sep if sep in ".|^$*+?()[]{}\\" else sep
    parts = F.split("value", sep, -1)
    return F.when(
        F.instr("value", '"') > 0, F.transform(parts, lambda f: F.regexp_replace(F.trim(f), r'^"(.*)"$', "$1"))
    ).otherwise(
        F.transform(parts, lambda f: F.trim(f))
    )  # not F.trim itself: transform would pass the index as trim characters


def read_fits(spark: SparkSession, contract: Contract, files: list[str]) -> DataFrame:
    """Raw rows of FITS binary tables read through the ``fits`` Spark data source.

    Each source column's value is kept as text (64-bit integers exactly; doubles with Java's
    round-trip representation); ``_raw`` is the row as JSON.
    """
    from astrolake.sources.fits import register_fits, source_error

    register_fits(spark)
    reader = spark.read.format("fits")
    if contract.hdu is not None:
        reader = reader.option("hdu", str(contract.hdu))
    try:  # the files' headers are read here: a bad file fails now, as the data source's own error
        df = reader.load(",".join(files))
        present = [c for c in df.columns if not c.startswith("_")]
    except Exception as exc:
        err = source_error(exc)
        if err is None:
            raise
        raise err from exc
    as_text = {c: F.col(f"`{c}`").cast("string") for c in present}
    index = _file_map({f: i for i, f in enumerate(files)})
    return df.select(
        F.to_json(F.struct(*[F.col(f"`{c}`") for c in present])).alias("_raw"),
        F.create_map(*[x for c in present for x in (F.lit(c), as_text[c])]).alias("_fields"),
        F.lit(None).cast("string").alias("_parse_error"),
        _path_col(F.col("_source_file")).alias("_source_file"),
        F.element_at(index, _path_col(F.col("_source_file"))).cast("int").alias("_file_index"),
        F.lit(0).cast("long").alias("_block"),
        F.col("_row_number").cast("long").alias("_row_order"),
        (F.col("_row_number") + 1).cast("long").alias("_row_number"),
    )


def fits_columns(path: str, hdu) -> list[str]:
    """Column names of the chosen binary-table HDU (driver side, header only)."""
    from astropy.io import fits

    from astrolake.sources.fits import FitsSourceError

    with fits.open(path, memmap=True) as hdul:
        if hdu is None:
            tables = [h for h in hdul if isinstance(h, fits.BinTableHDU)]
            if not tables:
                raise FitsSourceError(f"{path}: no binary table HDU")
            return list(tables[0].columns.names)
        return list(hdul[hdu].columns.names)
