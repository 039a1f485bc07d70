"""What an ingest or refresh would do, without doing it (``--dry-run``).

The preview runs the same steps as a batch (survey and hash the files, skip content already
taken in, read, classify, validate against the contract, keep the last occurrence of each key,
compare with silver by key and row hash) on DataFrames that are never written: no table, no
manifest entry and no folder is created, so a preview can be run against a production lake at
any time.  Its counts are the ones the ledger of the real run would show, provided nothing else
writes to the catalog in between.

>>> p = Preview("demo", files=["a.csv"], add=3, change=1, unchanged=1, superseded=1, quarantine=2, read=8)
>>> p.balance()
True
>>> print(p.lines()[-1])
demo (dry run): read 8 = add 3 + change 1 + unchanged 1 + superseded 1 + quarantine 2; nothing written
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from pyspark import StorageLevel
from pyspark.sql import functions as F

from astrolake.catalogs.contract import get_catalog
from astrolake.lake import pipeline, retract
from astrolake.lake.tables import Lake
from astrolake.lake.validate import REASONS, validate
from astrolake.layout import LEDGER, MANIFEST, RETRACTED
from astrolake.sources.readers import CONTINUATION, COUNTED_KINDS, DATA, KIND, RAW_COLUMNS, SKIPPED, classify

log = logging.getLogger(__name__)

#: the batch id the previewed rows carry (never written; real batch ids start at 1)
PREVIEW_BATCH = -1


@dataclass
class Preview:
    """The files a run would take in and what their rows would do to silver and quarantine."""

    catalog: str
    files: list[str] = field(default_factory=list)  # would be read, in arrival order
    already: list[str] = field(default_factory=list)  # content already ingested: would be skipped
    unfinished: int | None = None  # an unfinished batch the run would finish first (its files included)
    notices: list[str] = field(default_factory=list)
    read: int = 0
    add: int = 0  # keys new to silver
    change: int = 0  # keys in silver whose values would change
    unchanged: int = 0  # keys in silver with the same values (ledger: duplicates)
    superseded: int = 0  # earlier occurrences of a key within the files (ledger: duplicates)
    quarantine: int = 0
    skipped: int = 0
    continuation: int = 0
    lists: list[str] = field(default_factory=list)  # retraction lists that would be applied
    listed: int = 0  # their rows = retract + retract_duplicates + retract_quarantine
    retract: int = 0
    retract_duplicates: int = 0
    retract_quarantine: int = 0

    def balance(self) -> bool:
        """read = add + change + unchanged + superseded + quarantine + skipped + continuation"""
        return self.read == (
            self.add
            + self.change
            + self.unchanged
            + self.superseded
            + self.quarantine
            + self.skipped
            + self.continuation
        )

    def lines(self) -> list[str]:
        out = []
        if self.unfinished is not None:
            out.append(f"{self.catalog}: unfinished batch {self.unfinished} would be finished first")
        out += [f"would read {path}" for path in self.files]
        out += [f"would apply retraction list {path}" for path in self.lists]
        out += [f"would skip {path}: already ingested" for path in self.already]
        if self.lists:
            out.append(
                f"{self.catalog} retractions (dry run): listed {self.listed:,} = retract {self.retract:,} "
                f"+ duplicates {self.retract_duplicates:,} + quarantine {self.retract_quarantine:,}"
            )
        if not self.files:
            what = "no new data file" if self.lists else "nothing new"
            out.append(f"{self.catalog} (dry run): {what}; nothing written")
            return out
        extra = "".join(
            f" + {name} {n:,}" for name, n in (("skipped", self.skipped), ("continuation", self.continuation)) if n
        )
        out.append(
            f"{self.catalog} (dry run): read {self.read:,} = add {self.add:,} + change {self.change:,} "
            f"+ unchanged {self.unchanged:,} + superseded {self.superseded:,} + quarantine {self.quarantine:,}"
            f"{extra}; nothing written"
        )
        return out


def _state(lake: Lake, catalog) -> pipeline.CatalogState:
    if lake.exists(MANIFEST) and lake.exists(LEDGER):
        return pipeline.CatalogState.read(lake, catalog)
    return pipeline.CatalogState([], set())


def _preview_lists(lake: Lake, catalog, lists: list[dict], out: Preview) -> None:
    """Count what the retraction lists would do to silver as it is now (the data files of the
    same run are not taken into account: a key they bring counts as not in silver)."""
    out.lists = [p["path"] for p in lists]
    key = list(catalog.contract.key)
    rows = retract.read_lists(lake, catalog, [dict(p, batch_id=PREVIEW_BATCH) for p in lists], None)
    out.listed = rows.count()
    parsed = rows.dropna(subset=key)
    distinct = parsed.select(*key).distinct()
    n_distinct = distinct.count()
    live = in_silver = 0
    if lake.exists(catalog.silver_table):  # one join: keys in silver, and those of them still live
        silver = lake.read(catalog.silver_table)
        state = F.col(RETRACTED) if RETRACTED in silver.columns else F.lit(None).cast("long")
        counts = (
            distinct.join(silver.select(*key, state.alias("_t_retracted")), key)
            .agg(F.count(F.lit(1)).alias("in"), F.count_if(F.col("_t_retracted").isNull()).alias("live"))
            .collect()[0]
        )
        in_silver, live = int(counts["in"]), int(counts["live"] or 0)
    out.retract = live
    out.retract_quarantine = (out.listed - parsed.count()) + (n_distinct - in_silver)
    out.retract_duplicates = out.listed - out.retract - out.retract_quarantine


def preview(lake: Lake, catalog_name: str, paths: list[str] | str) -> Preview:
    """What ``ingest(lake, catalog_name, paths)`` (or a refresh of a landing folder) would do.

    Reads the files and the catalog's tables; writes nothing.  An unfinished batch that the run
    would replay first is previewed together with the new files (from its planned files).
    """
    catalog = get_catalog(catalog_name)
    c = catalog.contract
    paths = [paths] if isinstance(paths, str) else list(paths)
    surveyed, surveyed_lists = pipeline.survey_landing(catalog, paths)
    state = _state(lake, catalog)
    rows, found = pipeline.new_files(catalog, surveyed, state)
    out = Preview(catalog.name, already=found.skipped, notices=found.notices)
    new_lists, known = pipeline.new_files(catalog, surveyed_lists, state, data=False)
    out.already += known.skipped
    if new_lists:
        _preview_lists(lake, catalog, new_lists, out)
    pending, pending_plan = state.pending()
    plan = [dict(r, batch_id=PREVIEW_BATCH) for r in rows]
    if pending is not None:
        out.unfinished = pending
        if pending_plan[0]["operation"] != "revalidate":
            pipeline.check_planned_files(lake, catalog, pending, pending_plan)
            plan = [dict(p, batch_id=PREVIEW_BATCH) for p in pending_plan] + plan
    out.files = [p["path"] for p in plan]
    if not plan:
        return out
    spark = lake.spark
    shas = spark.createDataFrame([(p["path"], p["sha256"]) for p in plan], "_source_file STRING, _source_sha256 STRING")
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    bronze = (
        pipeline.read_raw(spark, catalog, plan)
        .join(F.broadcast(shas), "_source_file", "left")
        .select(
            *RAW_COLUMNS,
            "_source_sha256",
            F.lit(now).alias("_ingested_at"),
            F.lit(PREVIEW_BATCH).cast("long").alias("_batch_id"),
        )
    )
    lines = classify(bronze, c, pipeline.text_files(lake, catalog, plan)).where(F.col(KIND).isin(DATA, *COUNTED_KINDS))
    checked = validate(lines, c).select(*pipeline.checked_columns(catalog)).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        is_data = F.col(KIND) == DATA
        tally = checked.agg(
            F.count(F.lit(1)).alias("read"),
            F.count_if(is_data & (F.size(REASONS) > 0)).alias("bad"),
            F.count_if(F.col(KIND) == SKIPPED).alias("skipped"),
            F.count_if(F.col(KIND) == CONTINUATION).alias("continuation"),
        ).collect()[0]
        out.read, out.quarantine = int(tally["read"]), int(tally["bad"] or 0)
        out.skipped, out.continuation = int(tally["skipped"] or 0), int(tally["continuation"] or 0)
        valid = checked.where(is_data & (F.size(REASONS) == 0)).drop(REASONS, KIND)
        winners, out.superseded = pipeline.last_occurrences(valid, c.key)
        new = pipeline.to_silver_rows(winners, catalog, PREVIEW_BATCH).select(*c.key, "_row_hash")
        if lake.exists(catalog.silver_table):
            key = list(c.key)
            have = lake.read(catalog.silver_table).select(*key, F.col("_row_hash").alias("_t_hash"))
            counts = (
                new.join(have, key, "left")
                .agg(
                    F.count_if(F.col("_t_hash").isNull()).alias("add"),
                    F.count_if(F.col("_t_hash") != F.col("_row_hash")).alias("change"),
                    F.count_if(F.col("_t_hash") == F.col("_row_hash")).alias("unchanged"),
                )
                .collect()[0]
            )
            out.add, out.change, out.unchanged = (int(counts[k] or 0) for k in ("add", "change", "unchanged"))
        else:
            out.add = new.count()
    finally:
        checked.unpersist()
    if not out.balance():  # the same arithmetic as the ledger's; a failure here is a bug
        raise AssertionError(f"preview of {catalog.name} does not balance: {out}")
    return out
