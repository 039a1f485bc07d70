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

from astrolake.catalogs.contract import ROW_NUMBER, SOURCE_NAME, Column, Contract, Interval

REASONS = "_reasons"


def _interval_check(value: SparkColumn, r: Interval) -> SparkColumn:
    ok = F.lit(True)
    if r.low is not None:
        ok = ok & ((value >= r.low) if r.low_inclusive else (value > r.low))
    if r.high is not None:
        ok = ok & ((value <= r.high) if r.high_inclusive else (value < r.high))
    return ok


def validate(raw: DataFrame, contract: Contract) -> DataFrame:
    """Add typed contract columns and ``_reasons`` (array of broken rules, empty when valid).

    Key columns ``_source_name`` (file name) are added for contracts keyed by row position.
    The work is staged in three selects (source text, parsed value, cleaned value) so that
    every rule refers to a computed column: written as one nested expression, Spark would
    evaluate the map lookup, trim and cast again inside every rule (about 10x slower).
    """
    cols = contract.columns
    text = {c.name: F.col(f"__t_{c.name}") for c in cols}
    parsed = {c.name: F.col(f"__p_{c.name}") for c in cols}
    value = {c.name: F.col(f"__v_{c.name}") for c in cols}

    def source_text(c: Column):
        t = F.trim(F.col("_fields").getItem(c.source))
        return F.when(t != "", t)

    staged = raw.select("*", *[source_text(c).alias(f"__t_{c.name}") for c in cols])
    staged = staged.select("*", *[text[c.name].try_cast(c.type).alias(f"__p_{c.name}") for c in cols])

    # (condition, message) per rule: the conditions are plain booleans, OR-ed into one test that
    # Spark compiles; the messages are formatted only for the rows that fail it
    rules: list[tuple[SparkColumn, SparkColumn]] = []
    cleaned = []
    for c in cols:
        t, p = text[c.name], parsed[c.name]
        has_sentinels = bool(c.sentinels) and c.type in ("double", "float", "int", "long")
        floating = c.type in ("double", "float")
        sentinel = p.isin(*c.sentinels) if has_sentinels else F.lit(False)
        nan = F.isnan(p) if floating else F.lit(False)
        cleaned.append(F.when(p.isNotNull() & ~F.coalesce(sentinel | nan, F.lit(False)), p).alias(f"__v_{c.name}"))
        rules.append((t.isNotNull() & p.isNull(), F.format_string(f"{c.name}: '%s' is not a valid {c.type}", t)))
        if c.required:
            rules.append((t.isNull(), F.lit(f"{c.name}: required value missing")))
            if has_sentinels:
                rules.append((sentinel, F.format_string(f"{c.name}: required value missing (sentinel %s)", t)))
            if floating:
                rules.append((nan, F.lit(f"{c.name}: required value missing (NaN)")))
    staged = staged.select("*", *cleaned)
    for c in cols:
        v = value[c.name]
        if c.range is not None:
            rules.append(
                (
                    v.isNotNull() & ~_interval_check(v, c.range),
                    F.format_string(f"{c.name}: %s outside {c.range}", v.cast("string")),
                )
            )
        if c.values:
            rules.append(
                (
                    v.isNotNull() & ~v.isin(*c.values),
                    F.format_string(f"{c.name}: '%s' not one of {', '.join(c.values)}", v),
                )
            )
    broken = F.lit(False)
    for cond, _ in rules:
        broken = broken | F.coalesce(cond, F.lit(False))
    reason_array = (
        F.when(F.col("_parse_error").isNotNull(), F.array(F.col("_parse_error")))
        .when(broken, F.array_compact(F.array(*[F.when(cond, msg) for cond, msg in rules])))
        .otherwise(F.array().cast("array<string>"))
    )
    out = staged.select(
        *raw.columns, *[value[c.name].cast(c.type).alias(c.name) for c in cols], reason_array.alias(REASONS)
    )
    if SOURCE_NAME in contract.key:
        out = out.withColumn(SOURCE_NAME, F.element_at(F.split("_source_file", "/"), -1))
    return out


def key_text(contract: Contract) -> SparkColumn:
    """The key as one string (for reports and quarantine), e.g. ``'3306|54922|491'``."""
    parts = []
    for k in contract.key:
        if k in (ROW_NUMBER, SOURCE_NAME):
            parts.append(F.col(k).cast("string"))
        else:
            parts.append(F.coalesce(F.col(k).cast("string"), F.col("_fields").getItem(contract.column(k).source)))
    return F.concat_ws("|", *[F.coalesce(p, F.lit("")) for p in parts])  # a missing part stays in its place
