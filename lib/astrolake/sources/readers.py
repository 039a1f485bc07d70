"""Readers that turn landing files into *raw rows*: the bronze shape shared by every format.

Text files (CSV and whitespace-separated) land in bronze line by line, as read: every physical
line of the file in ``_raw`` (header, comment and blank lines included), with provenance:
``_source_file`` (the local path, URI escapes decoded), ``_file_index`` (the file's position in
its batch) and ``_block``/``_row_order`` (the line's order within its file).  Parsing happens
when the batch is validated (:func:`classify`): the header's position and the quotes decide what
each line is, and Spark's own CSV parser (``from_csv``, one per distinct header, RFC 4180
quoting) splits the data lines.  FITS rows are typed already: ``_fields`` (source column name ->
text) is filled at read time and ``_raw`` holds the row as JSON.

Line kinds (``_kind``), counted by the ledger (``read`` counts every line after the header):

* ``preamble`` / ``header``: the lines up to and including the header (not read);
* ``skipped``: a blank or ``#`` comment line after the header;
* ``continuation``: a line that continues a record whose quoted field spans lines (the record's
  first line is quarantined once, with the reason);
* ``data``: everything else, parsed (a line that cannot be parsed is quarantined).
"""

from __future__ import annotations

import logging
import re

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.window import Window

from astrolake.catalogs.contract import Contract

log = logging.getLogger(__name__)

RAW_COLUMNS = ["_raw", "_fields", "_parse_error", "_source_file", "_file_index", "_block", "_row_order", "_row_number"]
KIND = "_kind"
DATA, SKIPPED, CONTINUATION, PREAMBLE, HEADER = "data", "skipped", "continuation", "preamble", "header"
#: the ledger terms for the kinds that are read but never reach validation
COUNTED_KINDS = (SKIPPED, CONTINUATION)


def _file_map(values: dict[str, object]):
    return F.create_map(*[F.lit(x) for kv in values.items() for x in kv])


def local_path(uri: str) -> str:
    """A file URI as Spark reports it (``file:/a%20b/c.csv``) -> the local path (``/a b/c.csv``);
    the driver-side twin of :func:`source_path`."""
    from urllib.parse import unquote

    return unquote(re.sub(r"^file:(//)?", "", uri))


def _uri_forms(uri: str) -> list[str]:
    """The spellings of a local file URI: Spark lists ``file:///a`` where ``_metadata.file_path``
    says ``file:/a``."""
    m = re.match(r"^file:(?://)?(/.*)$", uri)
    return [f"file:{m[1]}", f"file://{m[1]}"] if m else [uri]


def with_file_columns(df: DataFrame, order: list[str]) -> DataFrame:
    """Add ``_source_file`` (local path) and ``_file_index`` (place in ``order``) to rows read by
    a file source, from a small table of the files joined (broadcast) on ``_metadata.file_path``:
    no per-row path decoding and no per-row search of a literal map, whatever the file count.
    The table's URIs are the ones Spark itself listed (``DataFrame.inputFiles``)."""
    index = {path: i for i, path in enumerate(order)}
    table = [(form, local_path(uri), index.get(local_path(uri))) for uri in df.inputFiles() for form in _uri_forms(uri)]
    files = df.sparkSession.createDataFrame(table, "_uri STRING, _source_file STRING, _file_index INT")
    with_uri = df.withColumn("_uri", F.col("_metadata.file_path"))
    joined = with_uri.join(F.broadcast(files.withColumnRenamed("_source_file", "_listed")), "_uri", "left")
    # a spelling not foreseen (another file system's scheme) still gets its path, decoded per row
    return joined.withColumn("_source_file", F.coalesce(F.col("_listed"), source_path(F.col("_uri")))).drop(
        "_uri", "_listed"
    )


def source_path(col):
    """``_metadata.file_path`` (a URI: ``file:/a%20b/c.csv``) -> the local path ``/a b/c.csv``."""
    local = F.regexp_replace(col, r"^file:(//)?", "")
    return F.url_decode(F.regexp_replace(local, r"\+", "%2B"))  # url_decode would read '+' as a space


def read_text(spark: SparkSession, contract: Contract, files: list[str], order: list[str] | None = None) -> DataFrame:
    """Every physical line of delimited text files, with provenance (the bronze rows);
    ``_file_index`` is a file's place in ``order`` (the whole batch; default ``files``).

    Contracts whose key uses the row number read each file whole, so that a line's position is
    exact (``_row_order`` is its 0-based line number); the others read line by line, which scales
    to files of any size (``_row_order`` increases along the file split that ``_block`` starts).
    """
    if contract.needs_row_number:
        text = F.regexp_replace("value", r"(\r\n|\n|\r)$", "")  # a final line break ends the last line
        whole = with_file_columns(spark.read.text(files, wholetext=True), order or files)
        lines = whole.select(
            "_source_file",
            "_file_index",
            F.posexplode(F.split(text, r"\r\n|\n|\r")).alias("_row_order", "value"),
        ).withColumn("_block", F.lit(0).cast("long"))
    else:  # the text source splits on \n, \r\n and \r alike
        lines = with_file_columns(
            spark.read.text(files).select(
                "value",
                "_metadata",
                F.col("_metadata.file_block_start").alias("_block"),
                F.monotonically_increasing_id().alias("_row_order"),
            ),
            order or files,
        )
    return lines.select(
        F.col("value").alias("_raw"),
        F.lit(None).cast("map<string,string>").alias("_fields"),
        F.lit(None).cast("string").alias("_parse_error"),
        "_source_file",
        F.col("_file_index").cast("int"),
        F.col("_block").cast("long"),
        F.col("_row_order").cast("long"),
        F.lit(None).cast("long").alias("_row_number"),
    )


def _csv_options(contract: Contract) -> dict[str, str]:
    return {
        "sep": contract.separator,
        "quote": '"',
        "escape": '"',  # RFC 4180: a doubled quote inside a quoted field is one quote
        "mode": "PERMISSIVE",
        "columnNameOfCorruptRecord": "_corrupt",
        "ignoreLeadingWhiteSpace": "true",
        "ignoreTrailingWhiteSpace": "true",
        "nullValue": "",
    }


def _field_count(contract: Contract):
    """How many fields the line has, quoted separators not counted (used for failing lines only)."""
    sep = contract.separator
    sep = "\\" + sep if sep in ".|^$*+?()[]{}\\" else sep
    return F.size(F.split(F.regexp_replace("_raw", r'"[^"]*("|$)', ""), sep, -1))


def _split(contract: Contract, names: list[str]):
    """The expression that splits a line under one header: ``from_csv`` into a struct of strings
    (CSV), or an array of the whitespace-separated fields."""
    if contract.format == "whitespace":
        return F.split(F.trim("_raw"), r"\s+")
    schema = ", ".join(f"`c{i}` STRING" for i in range(len(names))) + ", `_corrupt` STRING"
    return F.from_csv(F.col("_raw"), schema, _csv_options(contract))


def _parse(contract: Contract, names: list[str], split):
    """(fields map, parse error) of a data line under one header, from its staged ``split``
    (:func:`_split`, computed once per line in a projection of its own: every field refers to
    it, and Spark does not share a subexpression inside a conditional branch, so written inline
    the line would be parsed once per field)."""
    if contract.format == "whitespace":
        ok = F.size(split) == len(names)
        error = F.format_string("malformed line: expected %d fields, found %d", F.lit(len(names)), F.size(split))
        return F.when(ok, F.map_from_arrays(F.array(*[F.lit(n) for n in names]), split)), F.when(~ok, error)
    values = F.array(*[split[f"c{i}"] for i in range(len(names))])
    header = F.array(*[F.lit(n) for n in names])
    corrupt = split["_corrupt"].isNotNull()
    error = F.when(
        corrupt,
        F.format_string("malformed line: expected %d fields, found %d", F.lit(len(names)), _field_count(contract)),
    ).when(values == header, F.lit("repeated header line (files joined end to end?): not a data row"))
    return F.when(error.isNull(), F.map_from_arrays(header, values)), error


def classify(rows: DataFrame, contract: Contract, files: list[dict]) -> DataFrame:
    """Bronze rows -> rows with ``_kind``, and ``_fields``/``_parse_error`` for data lines.

    ``files`` describes the text files among ``rows``: dicts with ``batch_id``, ``path``,
    ``header`` (source column names) and ``header_line`` (0-based line of the header; -1 when the
    contract takes columns by position and the file has no header line).  Rows whose fields were
    stored in bronze (FITS, and text rows written before lines were kept whole) are data as they are.
    """
    stored = F.col("_fields").isNotNull() | F.col("_parse_error").isNotNull()
    if contract.format == "fits" or not files:
        return rows.withColumn(KIND, F.lit(DATA))
    spark = rows.sparkSession
    trimmed = F.regexp_replace("_raw", r"^\s+|\s+$", "")
    blank_or_comment = (trimmed == "") | trimmed.startswith("#")
    # an odd number of quotes leaves a quoted field open at the end of the line; a quote between two
    # word characters (O"Brien, 5"3) does not open or close a field, so it does not count
    odd = (
        F.lit(False)
        if contract.format == "whitespace"
        else F.when(
            F.instr("_raw", '"') > 0,
            F.size(F.split(F.regexp_replace("_raw", r'(?<=\w)"(?=\w)', ""), '"', -1)) % 2 == 0,
        ).otherwise(F.lit(False))
    )

    # per file: the id of its first line (so that block-0 lines know their line number) and
    # whether any line has an odd number of quotes (then quoted fields may span lines)
    stats = {
        (r["_batch_id"], r["_source_file"]): r
        for r in rows.where(~stored)
        .groupBy("_batch_id", "_source_file")
        .agg(
            F.min(F.when(F.col("_block") == 0, F.col("_row_order"))).alias("first"),
            F.count_if(odd & ~blank_or_comment).alias("odd"),
        )
        .collect()
    }
    headers = list(dict.fromkeys(tuple(f["header"]) for f in files))
    info = [
        (
            f["batch_id"],
            f["path"],
            headers.index(tuple(f["header"])),
            int(f["header_line"]),
            stats[(f["batch_id"], f["path"])]["first"],
        )
        for f in files
        if (f["batch_id"], f["path"]) in stats
    ]
    if not info:
        return rows.withColumn(KIND, F.lit(DATA))
    info_df = F.broadcast(
        spark.createDataFrame(info, "_batch_id BIGINT, _source_file STRING, _hid INT, _hline INT, _first BIGINT")
    )
    lines = rows.join(info_df, ["_batch_id", "_source_file"], "left")
    line_no = F.when(F.col("_block") == 0, F.col("_row_order") - F.col("_first"))
    spanning = [k for k, r in stats.items() if r["odd"]]
    lines = lines.withColumn("_line_no", line_no)
    after_header = F.coalesce(F.col("_line_no") > F.col("_hline"), F.lit(True))
    if spanning:
        log.info(f"{len(spanning)} file(s) have lines with an odd number of quotes: checking for quoted newlines")
        hit = F.concat_ws("\n", F.col("_batch_id").cast("string"), "_source_file").isin(
            *[f"{b}\n{p}" for b, p in spanning]
        )
        w = (
            Window.partitionBy("_batch_id", "_source_file")
            .orderBy("_block", "_row_order")
            .rowsBetween(Window.unboundedPreceding, -1)
        )
        toggles = F.when(~stored & after_header & odd & ~blank_or_comment, 1).otherwise(0)
        lines = (
            lines.where(~hit)
            .withColumn("_open", F.lit(0))
            .unionByName(lines.where(hit).withColumn("_open", F.coalesce(F.sum(toggles).over(w), F.lit(0)) % 2))
        )
    else:
        lines = lines.withColumn("_open", F.lit(0))
    kind = (
        F.when(stored | F.col("_hid").isNull(), F.lit(DATA))
        .when(~after_header & (F.col("_line_no") < F.col("_hline")), F.lit(PREAMBLE))
        .when(~after_header, F.lit(HEADER))
        .when(F.col("_open") == 1, F.lit(CONTINUATION))
        .when(blank_or_comment, F.lit(SKIPPED))
        .otherwise(F.lit(DATA))
    )
    lines = lines.withColumn(KIND, kind)
    parse_now = ~stored & (F.col(KIND) == DATA)
    # each data line is split once, under its file's header, in a projection of its own
    lines = lines.select(
        "*",
        *[
            F.when(parse_now & (F.col("_hid") == hid), _split(contract, list(names))).alias(f"__split{hid}")
            for hid, names in enumerate(headers)
        ],
    )
    fields = F.lit(None).cast("map<string,string>")
    error = F.lit("no header is recorded for this file in the manifest, so its lines cannot be parsed")
    for hid, names in enumerate(headers):
        f, e = _parse(contract, list(names), F.col(f"__split{hid}"))
        fields = F.when(F.col("_hid") == hid, f).otherwise(fields)
        error = F.when(F.col("_hid") == hid, e).otherwise(error)
    unclosed = F.lit(
        "a quoted field runs past the end of this line (a quoted newline, or a stray quote): "
        "the record is quarantined here and its following lines are counted as continuation"
    )
    out = lines.select(
        *[c for c in rows.columns if c not in ("_fields", "_parse_error")],
        F.when(parse_now & odd, None).when(parse_now, fields).otherwise(F.col("_fields")).alias("_fields"),
        F.when(parse_now & odd, unclosed).when(parse_now, error).otherwise(F.col("_parse_error")).alias("_parse_error"),
        KIND,
    )
    if contract.needs_row_number:  # 1-based number among the file's data lines (whole files: small)
        is_data = (F.col(KIND) == DATA).cast("long")
        w = Window.partitionBy("_batch_id", "_source_file").orderBy("_block", "_row_order")
        out = out.withColumn(
            "_row_number",
            F.when(
                F.col("_row_number").isNull() & (F.col(KIND) == DATA), F.sum(is_data).over(w).cast("long")
            ).otherwise(F.col("_row_number")),
        )
    return out


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
        source_path(F.col("_source_file")).alias("_source_file"),
        F.element_at(index, source_path(F.col("_source_file"))).cast("int").alias("_file_index"),
        F.lit(0).cast("long").alias("_block"),
        F.col("_row_number").cast("long").alias("_row_order"),
        (F.col("_row_number") + 1).cast("long").alias("_row_number"),
    )


def read_parquet(
    spark: SparkSession, contract: Contract, files: list[str], order: list[str] | None = None
) -> DataFrame:
    """Raw rows of Parquet files: each row as JSON in ``_raw``, every column as text in
    ``_fields``, and its index in its file (``_metadata.row_index``) as its order and number;
    ``_file_index`` is a file's place in ``order`` (the whole batch; default ``files``)."""
    df = spark.read.option("mergeSchema", "true").parquet(*files)
    present = [c for c in df.columns if not c.startswith("_")]
    rows = with_file_columns(df.select("*", "_metadata"), order or files)
    return rows.select(
        F.to_json(F.struct(*[F.col(f"`{c}`") for c in present])).alias("_raw"),
        F.create_map(*[x for c in present for x in (F.lit(c), F.col(f"`{c}`").cast("string"))]).alias("_fields"),
        F.lit(None).cast("string").alias("_parse_error"),
        "_source_file",
        "_file_index",
        F.lit(0).cast("long").alias("_block"),
        F.col("_metadata.row_index").cast("long").alias("_row_order"),
        (F.col("_metadata.row_index") + 1).cast("long").alias("_row_number"),
    )


def fits_columns(path: str, hdu) -> list[str]:
    """Column names of the chosen binary-table HDU (driver side, header only)."""
    from astropy.io import fits

    from astrolake.sources.fits import FitsSourceError

    try:
        with fits.open(path, memmap=True) as hdul:
            if hdu is None:
                tables = [h for h in hdul if isinstance(h, fits.BinTableHDU)]
                if not tables:
                    raise FitsSourceError(f"{path}: no binary table HDU")
                return list(tables[0].columns.names)
            if not isinstance(hdu, str) and not 0 <= int(hdu) < len(hdul):
                raise FitsSourceError(
                    f"{path}: has {len(hdul)} readable HDU(s), no HDU {hdu} (a damaged or truncated header?)"
                )
            table = hdul[hdu]
            if not isinstance(table, fits.BinTableHDU):
                raise FitsSourceError(f"{path}: HDU {hdu} is a {type(table).__name__}, not a binary table")
            return list(table.columns.names)
    except FitsSourceError:
        raise
    except (OSError, ValueError, KeyError, IndexError, TypeError, fits.VerifyError) as exc:
        # astropy's own complaint about a damaged file (header cards, TFORM codes, truncation)
        raise FitsSourceError(f"{path}: not a readable FITS binary table ({type(exc).__name__}: {exc})") from exc
