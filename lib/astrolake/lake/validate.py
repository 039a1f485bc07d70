"""Contract validation: raw rows -> typed values plus the list of rules each row breaks.

Pure DataFrame functions; nothing here reads or writes a table.

Rules, in the words used in quarantine reasons:

* ``malformed line``: the line does not split into the header's number of fields;
* ``<col>: '<text>' is not a valid <type>``: the text does not parse;
* ``<col>: required value missing`` (with ``(sentinel -9999)`` or ``(NaN)`` when that is why):
  a required column is empty, a sentinel or NaN;
* ``<col>: <value> outside <interval>``: a value beyond its contract range;
* ``<col>: '<value>' not one of A, B, C``: a value outside the allowed set.

Sentinels and NaN in optional columns become null and break no rule.
"""

from __future__ import annotations

from pyspark.sql import Column as SparkColumn
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from astrolake.catalogs.contract import ROW_NUMBER, SOURCE_NAME, Column, Contract

REASONS = "_reasons"


def _interval_check(value: SparkColumn, col: Column) -> SparkColumn:
    r = col.range
    ok = F.lit(True)
    if r.low is not None:
        ok = ok & ((value >= r.low) if r.low_inclusive else (value > r.low))
    if r.high is not None:
        ok = ok & ((value <= r.high) if r.high_inclusive else (value < r.high))
    return ok


def typed_and_reasons(col: Column) -> tuple[SparkColumn, list[SparkColumn]]:
    """The typed value of ``col`` (sentinels and NaN as null) and its possible reasons."""
    raw = F.trim(F.col("_fields").getItem(col.source))
    raw = F.when(raw != "", raw)
    parsed = raw.try_cast(col.type)
    reasons: list[SparkColumn] = [
        F.when(raw.isNotNull() & parsed.isNull(),
               F.format_string(f"{col.name}: '%s' is not a valid {col.type}", raw)),
    ]
    is_sentinel = F.lit(False)
    if col.sentinels and col.type in ("double", "float", "int", "long"):
        is_sentinel = parsed.isin(*col.sentinels)
    is_nan = F.isnan(parsed) if col.type in ("double", "float") else F.lit(False)
    missing_marker = is_sentinel | is_nan
    value = F.when(parsed.isNotNull() & ~F.coalesce(missing_marker, F.lit(False)), parsed)
    if col.required:
        reasons.append(F.when(raw.isNull(), F.lit(f"{col.name}: required value missing")))
        reasons.append(F.when(is_sentinel, F.format_string(
            f"{col.name}: required value missing (sentinel %s)", raw)))
        reasons.append(F.when(is_nan, F.lit(f"{col.name}: required value missing (NaN)")))
    if col.range is not None:
        reasons.append(F.when(value.isNotNull() & ~_interval_check(value, col), F.format_string(
            f"{col.name}: %s outside {col.range}", value.cast("string"))))
    if col.values:
        reasons.append(F.when(value.isNotNull() & ~value.isin(*col.values), F.format_string(
            f"{col.name}: '%s' not one of {', '.join(col.values)}", value)))
    return value.cast(col.type).alias(col.name), reasons


def validate(raw: DataFrame, contract: Contract) -> DataFrame:
    """Add typed contract columns and ``_reasons`` (array of broken rules, empty when valid).

    Key columns ``_source_name`` (file name) and ``_row_number`` are added for contracts keyed
    by row position.
    """
    values, reasons = [], []
    for col in contract.columns:
        v, r = typed_and_reasons(col)
        values.append(v)
        reasons += r
    reason_array = F.when(F.col("_parse_error").isNotNull(), F.array(F.col("_parse_error"))) \
        .otherwise(F.filter(F.array(*reasons), lambda x: x.isNotNull()))
    out = raw.select("*", *values, reason_array.alias(REASONS))
    if SOURCE_NAME in contract.key:
        out = out.withColumn(SOURCE_NAME, F.element_at(F.split("_source_file", "/"), -1))
    return out


def key_columns(contract: Contract) -> list[str]:
    return list(contract.key)


def key_text(contract: Contract) -> SparkColumn:
    """The key as one string (for reports and quarantine), e.g. ``'3306|54922|491'``."""
    parts = []
    for k in contract.key:
        if k in (ROW_NUMBER, SOURCE_NAME):
            parts.append(F.col(k).cast("string"))
        else:
            parts.append(F.coalesce(F.col(k).cast("string"),
                                    F.col("_fields").getItem(contract.column(k).source)))
    return F.concat_ws("|", *parts)
