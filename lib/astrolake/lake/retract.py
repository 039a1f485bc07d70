"""Retractions: objects withdrawn or superseded by a later release, as soft deletes.

A *retraction list* is a landing file whose name ends in ``.retract.csv``: a CSV header naming
every column of the catalog's key (silver or source names) and optionally ``reason``, then one
row per object.  ``astrolake retract CATALOG FILE`` applies one; a refresh applies the lists it
finds in the landing folder after the folder's data files.  Like a data file, a list is planned
in ``_manifest`` (by SHA-256, so the same list is never applied twice), is a batch of its own and
closes a ledger row:

    read = retracted + duplicates + quarantined

- **retracted**: silver rows that were live and now carry ``_retracted_batch`` (this batch),
  ``_retracted_at`` and ``_retraction_reason`` (the row's ``reason``, else the one given to the
  command, else ``retracted by <file>``); their ``_batch_id`` becomes this batch, so the change
  data feed carries the retraction to gold, and ``astrolake score`` to the predictions;
- **duplicates**: a key listed again in the same batch, or already retracted by an earlier one;
- **quarantined**: a key that is not in silver, or that does not parse as the key's type, with
  the reason.

Nothing is deleted: retracted rows stay in silver, gold and the predictions, with their reason
and batch, and every reader of live rows (training, scoring, cone search, cross-match) leaves
them out (:func:`astrolake.layout.live`).  A later data file that delivers the key again revives
the row (its values replace the retracted ones and the retraction columns are cleared).
A re-validation keeps the retractions of the silver it replaces.
"""

from __future__ import annotations

import csv
import logging
import os
from functools import reduce

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from astrolake.catalogs.contract import ROW_NUMBER, SOURCE_NAME, Catalog
from astrolake.lake import pipeline
from astrolake.lake.tables import Lake
from astrolake.layout import QUARANTINE, RETRACT_SUFFIX, RETRACTED
from astrolake.sources import files as landing

log = logging.getLogger(__name__)

REASON = "reason"
NOT_IN_SILVER = "retraction: no such key in silver"


def is_retraction(path: str) -> bool:
    return os.path.basename(path).lower().endswith(RETRACT_SUFFIX)


def key_types(catalog: Catalog) -> dict[str, str]:
    """Silver name -> Spark SQL type of every key column."""
    c = catalog.contract
    out = {}
    for k in c.key:
        if k == ROW_NUMBER:
            out[k] = "bigint"
        elif k == SOURCE_NAME:
            out[k] = "string"
        else:
            out[k] = {"long": "bigint"}.get(c.column(k).type, c.column(k).type)
    return out


def list_header(path: str, catalog: Catalog) -> list[str]:
    """The retraction list's header, checked: every key column present (by silver or source
    name), no column twice, nothing else but ``reason``."""
    first, _, _ = landing.header_lines(path)
    names = [n.strip() for n in next(csv.reader([first.rstrip("\r\n")]))]
    c = catalog.contract
    source = {k: (c.column(k).source if k not in (ROW_NUMBER, SOURCE_NAME) else k) for k in c.key}
    aliases = {n: k for k, n in source.items()} | {k: k for k in c.key}
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise landing.LandingError(f"{path}: column(s) {', '.join(dupes)} appear more than once in the header")
    unknown = [n for n in names if n not in aliases and n != REASON]
    missing = [k for k in c.key if k not in {aliases.get(n) for n in names}]
    if missing or unknown:
        raise landing.LandingError(
            f"{path}: a retraction list for {catalog.name} has the key column(s) "
            f"{', '.join(c.key)} and optionally '{REASON}'"
            + (f"; missing {', '.join(missing)}" if missing else "")
            + (f"; unknown {', '.join(unknown)}" if unknown else "")
        )
    return [aliases.get(n, n) for n in names]


def survey(paths: list[str], catalog: Catalog) -> list[landing.Surveyed]:
    out = []
    for path in paths:
        if os.path.getsize(path) == 0:
            raise landing.LandingError(f"{path}: file is empty (0 bytes)")
        header = list_header(path, catalog)
        out.append(landing.Surveyed(landing.describe(path), landing.Header(header, -1)))
    return out


def read_lists(lake: Lake, catalog: Catalog, plan: list[dict], reason: str | None) -> DataFrame:
    """The planned lists' rows: typed key columns (null where a value does not parse), the raw
    line, the reason, the file and the row's position (for the quarantine and the duplicates)."""
    spark = lake.spark
    types = key_types(catalog)
    frames = []
    for i, p in enumerate(plan):
        header = list(p["header"])
        schema = ", ".join(f"`c{j}` STRING" for j in range(len(header)))
        df = (
            spark.read.option("header", True)
            .option("comment", "#")
            .option("escape", '"')
            .option("mode", "PERMISSIVE")
            .option("ignoreLeadingWhiteSpace", True)
            .option("ignoreTrailingWhiteSpace", True)
            .schema(schema)
            .csv(p["path"])
        )
        named = df.select(*[F.col(f"c{j}").alias(n) for j, n in enumerate(header)])
        given = F.col(REASON) if REASON in header else F.lit(None).cast("string")
        default = reason or f"retracted by {os.path.basename(p['path'])}"
        frames.append(
            named.select(
                *[F.expr(f"try_cast(`{k}` AS {t})").alias(k) for k, t in types.items()],
                F.concat_ws(",", *[F.coalesce(F.col(n), F.lit("")) for n in header]).alias("_raw"),
                F.create_map(*[x for n in header for x in (F.lit(n), F.col(n))]).alias("_fields"),
                F.coalesce(F.nullif(F.trim(given), F.lit("")), F.lit(default)).alias("_reason"),
                F.lit(p["path"]).alias("_source_file"),
                F.lit(i).alias("_file_index"),
                F.monotonically_increasing_id().alias("_row_order"),
            )
        )
    out = frames[0]
    for more in frames[1:]:
        out = out.unionByName(more)
    return out


def process(lake: Lake, catalog: Catalog, batch_id: int, plan: list[dict], reason: str | None = None):
    """Apply the planned retraction lists as batch ``batch_id`` and close its ledger row; safe to
    replay (the quarantine append is idempotent, the MERGE only touches live rows)."""
    key = list(catalog.contract.key)
    silver = catalog.silver_table
    ledger = pipeline.Ledger(catalog.name, batch_id, "retract", [p["path"] for p in plan], pipeline.now())
    rows = read_lists(lake, catalog, plan, reason).cache()
    try:
        ledger.read = rows.count()
        any_null = reduce(lambda a, b: a | b, [F.col(k).isNull() for k in key])
        parsed = rows.where(~any_null)
        order = F.struct("_file_index", "_row_order")
        first = parsed.groupBy(*key).agg(F.min(order).alias("_first"), F.count(F.lit(1)).alias("_n"))
        repeats = int(first.agg(F.sum(F.col("_n") - 1)).collect()[0][0] or 0)
        winners = parsed.join(first, key).where(order == F.col("_first")).drop("_first", "_n")
        table = lake.read(silver).select(*key, F.col(RETRACTED).alias("_t_retracted"), F.lit(True).alias("_in"))
        matched = winners.join(table, key, "left")
        earlier = matched.where(F.col("_t_retracted").isNotNull() & (F.col("_t_retracted") != batch_id)).count()
        unknown = matched.where(F.col("_in").isNull()).drop("_t_retracted", "_in")
        reasons = F.array(
            *[
                F.when(F.col(k).isNull(), F.lit(f"retraction: {k} is not a valid {t}"))
                for k, t in key_types(catalog).items()
            ]
        )
        quarantine = (
            rows.where(any_null)
            .select("*", F.filter(reasons, lambda r: r.isNotNull()).alias("_reasons"))
            .unionByName(unknown.select(*rows.columns, F.array(F.lit(NOT_IN_SILVER)).alias("_reasons")))
            .select(
                F.lit(catalog.name).alias("catalog"),
                F.lit(batch_id).cast("long").alias("_batch_id"),
                F.concat_ws(
                    "|", *[F.coalesce(F.col(k).cast("string"), F.col("_fields")[k], F.lit("")) for k in key]
                ).alias("_key"),
                "_reasons",
                "_raw",
                "_fields",
                "_source_file",
                F.lit(None).cast("long").alias(ROW_NUMBER),
                F.lit(pipeline.now()).alias("_quarantined_at"),
            )
        )
        lake.append(quarantine, QUARANTINE, txn=(f"astrolake.quarantine.{catalog.name}.retract", batch_id))
        cond = " AND ".join(f"t.`{k}` = s.`{k}`" for k in key)
        (
            lake.delta(silver)
            .alias("t")
            .merge(winners.select(*key, "_reason").alias("s"), cond)
            .whenMatchedUpdate(
                condition=f"t.{RETRACTED} IS NULL",
                set={
                    RETRACTED: F.lit(batch_id).cast("long"),
                    "_retracted_at": F.lit(ledger.started_at),
                    "_retraction_reason": F.col("s._reason"),
                    "_batch_id": F.lit(batch_id).cast("long"),
                },
            )
            .execute()
        )
    finally:
        rows.unpersist()
    ledger.retracted = lake.read(silver).where(F.col(RETRACTED) == batch_id).count()
    ledger.quarantined = (
        lake.read(QUARANTINE).where((F.col("catalog") == catalog.name) & (F.col("_batch_id") == batch_id)).count()
    )
    ledger.duplicates = repeats + earlier
    ledger.closes = ledger.balance()
    ledger.silver_version = lake.version(silver)
    ledger.finished_at = pipeline.now()
    pipeline.append_ledger(lake, catalog, ledger, "retract")
    log.info(ledger.line())
    if not ledger.closes:
        raise pipeline.LedgerError(
            f"{ledger.line()}: the retraction's counts disagree; its rows are left as they are for inspection "
            f"(silver rows with {RETRACTED} = {batch_id}, quarantine rows of batch {batch_id})"
        )
    return ledger


def retract(lake: Lake, catalog_name: str, paths: list[str] | str, reason: str | None = None):
    """Apply retraction lists (``*.retract.csv``) to a catalog; see the module docstring.

    Returns the :class:`~astrolake.lake.pipeline.IngestResult` with the batch's ledger; a list
    whose content was applied before is skipped.
    """
    from astrolake.catalogs.contract import get_catalog

    catalog = get_catalog(catalog_name)
    paths = landing.expand([paths] if isinstance(paths, str) else paths, (RETRACT_SUFFIX,))
    if not lake.exists(catalog.silver_table):
        raise landing.LandingError(
            f"{catalog.name} has no silver table yet: there is nothing to retract (ingest the catalog first)"
        )
    surveyed = survey(paths, catalog)
    with pipeline.catalog_lock(lake, catalog.name):
        return pipeline.retrying_conflicts(f"retract {catalog.name}", lambda: _retract(lake, catalog, surveyed, reason))


def _retract(lake: Lake, catalog: Catalog, surveyed: list[landing.Surveyed], reason: str | None):
    pipeline.ensure_tables(lake, catalog)
    result = pipeline.IngestResult(catalog.name)
    state = pipeline.resume(lake, catalog, result)
    rows, found = pipeline.new_files(catalog, surveyed, state, data=False)
    result.skipped += found.skipped
    if not rows:
        log.info(f"{catalog.name}: no new retraction list")
        return result
    batch, plan = pipeline.write_plan(lake, catalog, rows, "retract", state)
    result.ledgers.append(process(lake, catalog, batch, plan, reason))
    return result
