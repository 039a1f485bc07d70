"""Bronze -> silver (+ quarantine) for one catalog, with a ledger that must close.

One *batch* is a set of landing files processed together.  Steps, each safe to replay after a
crash (``kill -9`` included):

1. **plan**: the new files (path + SHA-256) are appended to ``_manifest`` under the next batch
   id.  A batch planned but without a ledger row is unfinished and is replayed, with exactly
   its planned files, by the next ``ingest``/``refresh``.
2. **bronze**: every raw row is appended with ``_source_file``, ``_ingested_at``, ``_batch_id``
   (an idempotent Delta write: ``txnAppId``/``txnVersion``).
3. **validate** the batch read back from bronze; rows that break rules are appended to
   ``quarantine`` with every reason (idempotent write).
4. **silver**: valid rows, deduplicated on the contract key (the last occurrence in the batch
   wins), are merged into the silver table (a changed row updates it, an identical one is an
   unchanged duplicate).  The first load into an empty table is a plain append.
5. **ledger**: read, inserted, updated, duplicates and quarantined are each counted from what
   was written for this ``_batch_id``; ``read = inserted + updated + duplicates + quarantined +
   skipped + continuation`` must hold (``read`` counts every line after a text file's header;
   blank and comment lines are ``skipped``; the extra lines of a record whose quoted field spans
   lines are ``continuation``).  A closing ledger row is the batch's commit mark.  A batch whose
   ledger does not close is rolled back by ``_batch_id`` (its ledger row says so, and it is left
   to be replayed) and :class:`LedgerError` is raised.

The same file content is never ingested twice for a catalog (by SHA-256, whatever its name).
A file re-delivered under a name already ingested but with new content is ingested as a new
version: its rows update silver by key, and a notice says so.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field

from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from astrolake import faults
from astrolake.catalogs.contract import ROW_NUMBER, SOURCE_NAME, Catalog, ContractError, get_catalog
from astrolake.errors import EnvError, IntegrityError
from astrolake.lake.tables import Lake, sql_string
from astrolake.lake.validate import REASONS, key_text, validate
from astrolake.layout import LEDGER, MANIFEST, QUARANTINE, RETRACT_SUFFIX, RETRACTION_COLUMNS, retraction_ddl
from astrolake.log import Steps
from astrolake.sky.healpix import HEALPIX_COLUMN, HEALPIX_ORDER, with_healpix
from astrolake.sources import files as landing
from astrolake.sources.readers import (
    CONTINUATION,
    COUNTED_KINDS,
    DATA,
    KIND,
    RAW_COLUMNS,
    SKIPPED,
    classify,
    read_fits,
    read_parquet,
    read_text,
)

log = logging.getLogger(__name__)


BRONZE_DDL = """_raw STRING COMMENT 'the source line (every line of a text file) or the row as JSON (FITS)',
_fields MAP<STRING, STRING> COMMENT 'FITS: source column name -> text (text lines are parsed at validation)',
_parse_error STRING COMMENT 'why a row could not be read into fields, else null',
_source_file STRING COMMENT 'landing file path', _file_index INT COMMENT 'file position in its batch',
_block BIGINT COMMENT 'byte offset of the file split', _row_order BIGINT COMMENT 'order within the file split',
_row_number BIGINT COMMENT '1-based data row number in the file, where known exactly',
_source_sha256 STRING COMMENT 'SHA-256 of the landing file', _ingested_at TIMESTAMP, _batch_id BIGINT"""

QUARANTINE_DDL = """catalog STRING, _batch_id BIGINT,
_key STRING COMMENT 'the contract key as text, as far as it parsed',
_reasons ARRAY<STRING> COMMENT 'every rule the row broke', _raw STRING, _fields MAP<STRING, STRING>,
_source_file STRING, _row_number BIGINT, _quarantined_at TIMESTAMP"""

LEDGER_DDL = """catalog STRING, batch_id BIGINT, operation STRING, files ARRAY<STRING>,
started_at TIMESTAMP, finished_at TIMESTAMP, read BIGINT, inserted BIGINT, updated BIGINT,
duplicates BIGINT, quarantined BIGINT, closes BOOLEAN, silver_version BIGINT,
skipped BIGINT COMMENT 'blank and comment lines after the header',
continuation BIGINT COMMENT 'lines that continue a record whose quoted field spans lines',
retracted BIGINT COMMENT 'silver rows a retraction list retracted'"""

MANIFEST_DDL = """catalog STRING, batch_id BIGINT, operation STRING, path STRING, name STRING,
sha256 STRING, size BIGINT, header ARRAY<STRING>, planned_at TIMESTAMP,
header_line INT COMMENT '0-based line number of the header line (-1: columns by position)'"""

#: columns added to the shared tables since their first release: (table, column, type), added by
#: :func:`migrate` to a lake created before them (schema auto-merge stays off)
ADDED_COLUMNS = [
    (LEDGER, "skipped", "BIGINT COMMENT 'blank and comment lines after the header'"),
    (LEDGER, "continuation", "BIGINT COMMENT 'lines that continue a record whose quoted field spans lines'"),
    (MANIFEST, "header_line", "INT COMMENT '0-based line number of the header line (-1: columns by position)'"),
    (LEDGER, "retracted", "BIGINT COMMENT 'silver rows a retraction list retracted'"),
]


def _schema(ddl: str):
    from pyspark.sql.types import StructType

    return StructType.fromDDL(" ".join(ddl.split()))


class ConcurrentRunError(EnvError, RuntimeError):
    """Another writer kept changing the catalog's tables while this run retried (exit 4)."""


#: seconds to wait before each retry of a run that met another writer's commit
CONFLICT_BACKOFF = (2.0, 4.0, 8.0, 16.0, 32.0)


#: Delta's commit-conflict exceptions (pyspark's captured forms, in delta.exceptions)
CONFLICTS = (
    "ConcurrentAppendException",
    "ConcurrentDeleteDeleteException",
    "ConcurrentDeleteReadException",
    "ConcurrentTransactionException",
    "ConcurrentWriteException",
    "DeltaConcurrentModificationException",
    "MetadataChangedException",
    "ProtocolChangedException",
)


def _conflicts() -> tuple[type[BaseException], ...]:
    import delta.exceptions

    return tuple(getattr(delta.exceptions, name) for name in CONFLICTS)


#: how long a run waits for another run of the same catalog (same lake folder) to finish
LOCK_WAIT_S = 600.0


@contextmanager
def catalog_lock(lake: Lake, catalog_name: str, wait_s: float = LOCK_WAIT_S) -> Iterator[None]:
    """One writer per catalog at a time on a local lake: an exclusive ``flock`` on
    ``<base_path>/_locks/<catalog>.lock`` (released by the system when its process dies, even
    by ``kill -9``).  A second run waits for it, up to ``wait_s``, then stops with
    :class:`ConcurrentRunError`.  Where the lake is not a local folder (Unity Catalog, object
    stores) or the lock file cannot be made, runs rely on Delta's conflict detection and
    :func:`retrying_conflicts` alone."""
    import fcntl

    base = lake.settings.base_path
    if lake.settings.uses_unity_catalog or "://" in str(base):
        yield
        return
    path = os.path.join(landing.strip_scheme(str(base)), "_locks", f"{catalog_name}.lock")
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        handle = open(path, "a+")
    except OSError as exc:  # a read-only or full folder: the first write says so, in one line
        log.debug(f"no lock for {catalog_name} ({exc}); relying on Delta's conflict detection")
        handle = None
    if handle is None:  # yielded outside the except: the run's own errors do not chain to it
        yield
        return
    with handle:
        deadline = time.monotonic() + wait_s
        told = False
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise ConcurrentRunError(
                        f"another run on {catalog_name} has held {path} for more than {wait_s:g} s; "
                        "run again once it has finished"
                    ) from None
                if not told:
                    log.warning(f"another run on {catalog_name} is writing; waiting for it ({path})")
                    told = True
                time.sleep(0.5)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def retrying_conflicts(what: str, run, backoff: Sequence[float] = CONFLICT_BACKOFF):
    """Run ``run()``; when a Delta commit conflict stops it (another ingest, refresh or
    revalidate of the same catalog committed first), wait and run it again from the start.

    Safe because every step of a batch is idempotent and an unfinished batch is replayed with
    exactly its planned files: the retry finishes what the other writer left, or finds that it
    finished it.  When the conflicts outlast ``backoff``, :class:`ConcurrentRunError`.
    """
    conflicts = _conflicts()
    for attempt, wait in enumerate([*backoff, None]):
        try:
            return run()
        except conflicts as exc:
            first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
            if wait is None:
                raise ConcurrentRunError(
                    f"{what}: another writer kept committing to the same tables ({len(backoff)} retries); "
                    f"run it again once the other job has finished ({first})"
                ) from exc
            log.warning(
                f"{what}: another writer committed first ({type(exc).__name__}); retry {attempt + 1} in {wait:g} s"
            )
            time.sleep(wait)
    raise AssertionError("unreachable")


class LedgerError(IntegrityError, RuntimeError):
    """The ledger of a batch does not close: rows were lost or counted twice."""


@dataclass
class Ledger:
    catalog: str
    batch_id: int
    operation: str
    files: list[str]
    started_at: dt.datetime
    finished_at: dt.datetime | None = None
    read: int = 0
    inserted: int = 0
    updated: int = 0
    duplicates: int = 0
    quarantined: int = 0
    closes: bool = False
    silver_version: int | None = None
    skipped: int = 0
    continuation: int = 0
    retracted: int = 0

    def balance(self) -> bool:
        """read = inserted + updated + duplicates + quarantined + skipped + continuation + retracted"""
        return self.read == (
            self.inserted
            + self.updated
            + self.duplicates
            + self.quarantined
            + self.skipped
            + self.continuation
            + self.retracted
        )

    def other_lines(self) -> list[tuple[str, int]]:
        """The terms for lines that never reach validation, where there are any."""
        return [(name, n) for name, n in (("skipped", self.skipped), ("continuation", self.continuation)) if n]

    def line(self) -> str:
        state = "closes" if self.closes else "DOES NOT CLOSE"
        head = f"ledger {self.catalog} batch {self.batch_id} ({self.operation}): read {self.read:,} = "
        if self.operation == "retract":
            return (
                f"{head}retracted {self.retracted:,} + duplicates {self.duplicates:,} "
                f"+ quarantined {self.quarantined:,}  [{state}]"
            )
        extra = "".join(f" + {name} {n:,}" for name, n in self.other_lines())
        return (
            f"{head}inserted {self.inserted:,} + updated {self.updated:,} + duplicates {self.duplicates:,} "
            f"+ quarantined {self.quarantined:,}{extra}  [{state}]"
        )

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class IngestResult:
    catalog: str
    ledgers: list[Ledger] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


# --------------------------------------------------------------------------------------------
# tables
# --------------------------------------------------------------------------------------------
def silver_ddl(catalog: Catalog) -> str:
    c = catalog.contract
    cols = [f"`{col.name}` {col.type.upper()} COMMENT {sql_string(col.comment())}" for col in c.columns]
    cols.append("catalog STRING COMMENT 'catalog name (a contract applied to one data release)'")
    cols.append("data_release STRING COMMENT 'survey data release'")
    if c.position:
        cols.append(
            f"{HEALPIX_COLUMN} BIGINT COMMENT 'nested HEALPix index at order {HEALPIX_ORDER} "
            f"(coarser order k: {HEALPIX_COLUMN} >> 2*(29-k))'"
        )
    if SOURCE_NAME in c.key:
        cols.append(f"{SOURCE_NAME} STRING COMMENT 'landing file name (part of the key)'")
    cols += [
        "_source_file STRING COMMENT 'landing file the current values came from'",
        f"{ROW_NUMBER} BIGINT COMMENT '1-based data row number in the file, where known exactly'",
        "_row_hash STRING COMMENT '64-bit xxHash of the typed values and nulls, 16 hex digits (change detection)'",
        "_batch_id BIGINT COMMENT 'batch that last inserted or updated the row'",
        "_first_batch_id BIGINT COMMENT 'batch that inserted the row'",
        "_ingested_at TIMESTAMP",
        retraction_ddl(),
    ]
    return ",\n".join(cols)


def _add_contract_columns(lake: Lake, catalog: Catalog) -> list[str]:
    """Before a re-validation: add to silver the columns a changed contract gained (schema
    auto-merge is off), with their comments; a contract that drops or retypes a silver column is
    refused, since silver's history and every reader would disagree with it."""
    silver = catalog.silver_table
    have = {f.name: f.dataType.simpleString() for f in lake.read(silver).schema.fields}
    spark_type = {
        "double": "double",
        "float": "float",
        "int": "int",
        "long": "bigint",
        "string": "string",
        "date": "date",
        "timestamp": "timestamp",
        "boolean": "boolean",
    }
    added, clash = [], []
    for col in catalog.contract.columns:
        if col.name not in have:
            added.append(f"`{col.name}` {col.type.upper()} COMMENT {sql_string(col.comment())}")
        elif spark_type.get(col.type, have[col.name]) != have[col.name]:
            clash.append(f"{col.name} ({have[col.name]} in silver, {col.type} in the contract)")
    if clash:
        raise ContractError(
            f"{silver}: the contract retypes column(s) {', '.join(clash)}: add a new column instead, "
            "or drop the silver table and ingest again"
        )
    if added:
        lake.sql(f"ALTER TABLE {{t}} ADD COLUMNS ({', '.join(added)})", t=silver)
        log.warning(f"{silver}: the contract gained column(s); added {', '.join(a.split()[0] for a in added)}")
    return added


def migrate(lake: Lake) -> list[str]:
    """Add the columns of :data:`ADDED_COLUMNS` that an older lake's shared tables lack (existing
    rows read null there); return what was added, as ``table.column``."""
    added = []
    for table in dict.fromkeys(t for t, _, _ in ADDED_COLUMNS):
        if not lake.exists(table):
            continue
        have = set(lake.read(table).columns)
        missing = [(c, ddl) for t, c, ddl in ADDED_COLUMNS if t == table and c not in have]
        if missing:  # one commit per table
            cols = ", ".join(f"`{c}` {ddl}" for c, ddl in missing)
            lake.sql(f"ALTER TABLE {{t}} ADD COLUMNS ({cols})", t=table)
            added += [f"{table}.{c}" for c, _ in missing]
    if added:
        log.info(f"migrated: added column(s) {', '.join(added)}")
    return added


def add_retraction_columns(lake: Lake, table: str) -> bool:
    """Give a silver, gold or predictions table written before retractions their soft-delete
    columns (null: every row live); True when they were added."""
    if RETRACTION_COLUMNS[0][0] in lake.read(table).columns:
        return False
    lake.sql(f"ALTER TABLE {{t}} ADD COLUMNS ({retraction_ddl()})", t=table)
    log.info(f"migrated: {table} has the retraction columns now")
    return True


def ensure_tables(lake: Lake, catalog: Catalog) -> None:
    """Create the catalog's bronze and silver tables and the shared ones, if missing; bring the
    shared tables of an older lake up to date (:func:`migrate`)."""
    migrate(lake)
    if all(lake.exists(t) for t in (MANIFEST, QUARANTINE, LEDGER, catalog.bronze_table, catalog.silver_table)):
        add_retraction_columns(lake, catalog.silver_table)
        return
    c = catalog.contract
    lake.create(MANIFEST, MANIFEST_DDL, comment="landing files planned per batch")
    lake.create(
        QUARANTINE,
        QUARANTINE_DDL,
        cluster_by=["catalog", "_batch_id"],
        comment="rejected rows, raw, with every rule they broke",
    )
    lake.create(
        LEDGER,
        LEDGER_DDL,
        comment="per batch: read = inserted + updated + duplicates + quarantined + skipped + continuation",
    )
    props = {
        "astrolake.catalog": catalog.name,
        "astrolake.contract": c.name,
        "astrolake.data_release": catalog.data_release,
        "astrolake.citation": catalog.citation,
    }
    lake.create(
        catalog.bronze_table,
        BRONZE_DDL,
        properties=props,
        comment=f"bronze: raw rows of {catalog.name} with provenance",
    )
    lake.create(
        catalog.silver_table,
        silver_ddl(catalog),
        cluster_by=[HEALPIX_COLUMN] if c.position else None,
        properties={
            **props,
            "astrolake.key": ",".join(c.key),
            "delta.enableChangeDataFeed": "true",  # gold refreshes from the feed
            "astrolake.healpix": f"nested, order {HEALPIX_ORDER}" if c.position else "none",
        },
        comment=f"silver: {c.title}; {catalog.data_release}",
    )


# --------------------------------------------------------------------------------------------
# planning
# --------------------------------------------------------------------------------------------
@dataclass
class CatalogState:
    """What the manifest and the ledger say about a catalog (both small tables)."""

    planned: list[dict]
    done: set[int]
    failed: dict[int, int] = field(default_factory=dict)  # batch -> ledger rows that did not close

    @classmethod
    def read(cls, lake: Lake, catalog: Catalog) -> CatalogState:
        mine = F.col("catalog") == catalog.name
        planned = [r.asDict() for r in lake.read(MANIFEST).where(mine).collect()]
        done: set[int] = set()
        failed: dict[int, int] = {}
        for batch, closes in lake.read(LEDGER).where(mine).select("batch_id", "closes").collect():
            if closes is False:  # a batch that did not close was rolled back, to be replayed
                failed[batch] = failed.get(batch, 0) + 1
            else:
                done.add(batch)
        return cls(planned, done, failed)

    def pending(self) -> tuple[int | None, list[dict]]:
        """The unfinished batch (planned, no ledger row) and its files, if any."""
        open_ = [r for r in self.planned if r["batch_id"] not in self.done]
        if not open_:
            return None, []
        batch = min(r["batch_id"] for r in open_)
        return batch, [r for r in open_ if r["batch_id"] == batch]

    def next_batch_id(self) -> int:
        """One more than any batch id the catalog has used (planned files or ledger rows)."""
        return max([r["batch_id"] for r in self.planned] + list(self.done), default=0) + 1


def drift_notes(path: str, header: Sequence[str], contract) -> list[str]:
    """What a file's columns change against the contract, when it is still ingested: columns the
    contract does not know (kept in bronze, ignored by silver) and absent optional columns (null).

    >>> from astrolake.catalogs.contract import get_catalog
    >>> c = get_catalog("sdss_dr14_skyserver").contract
    >>> names = [n for n in c.source_columns if n != "redshift"] + ["flux_w1"]
    >>> for line in drift_notes("f.csv", names, c):
    ...     print(line)
    f.csv: column(s) flux_w1 not in contract skyserver_csv: kept in bronze, ignored by silver
    f.csv: optional column(s) redshift absent: null in silver for its rows
    """
    known = set(contract.source_columns)
    extra = [n for n in header if n not in known]
    absent = [n for n in contract.source_columns if n not in set(header)]
    notes = []
    if extra:
        notes.append(
            f"{path}: column(s) {', '.join(extra)} not in contract {contract.name}: kept in bronze, ignored by silver"
        )
    if absent:
        notes.append(f"{path}: optional column(s) {', '.join(absent)} absent: null in silver for its rows")
    return notes


def new_files(
    catalog: Catalog, surveyed: list[landing.Surveyed], state: CatalogState, data: bool = True
) -> tuple[list[dict], IngestResult]:
    """The files among ``surveyed`` whose content the catalog has not taken in, in arrival order
    (modification time, then path), with the notices about them; nothing is written.  ``data``:
    the files are data files, whose columns are compared with the contract (not retraction lists)."""
    result = IngestResult(catalog.name)
    c = catalog.contract
    known = {r["sha256"]: r["path"] for r in state.planned if r["sha256"]}
    known_paths = set(known.values())
    rows, seen = [], set()
    for s in surveyed:
        info, path = s.file, s.file.path
        if info.sha256 in known or info.sha256 in seen:
            result.skipped.append(path)
            log.info(f"skip {path}: already ingested (same content as {known.get(info.sha256, path)})")
            continue
        if path in known_paths:
            note = f"{path} was re-delivered with new content: ingested as a new version (rows update silver by key)"
            result.notices.append(note)
            log.info(note)
        header, header_line = s.header.names, s.header.line
        if data and c.header != "by_position":
            for note in drift_notes(path, header, c):
                result.notices.append(note)
                log.warning(note)
        if data and c.format == "fits":
            missing = [col.source for col in c.required if col.source not in header]
            if missing:
                raise landing.LandingError(
                    f"{path}: missing required column(s) {', '.join(missing)} (contract {c.name})"
                )
        seen.add(info.sha256)
        rows.append(
            dict(
                path=path,
                name=info.name,
                sha256=info.sha256,
                size=info.size,
                header=header,
                header_line=header_line,
                mtime=info.mtime,
            )
        )
    rows.sort(key=lambda r: (r["mtime"], r["path"]))
    return rows, result


def plan_batch(
    lake: Lake, catalog: Catalog, surveyed: list[landing.Surveyed], operation: str, state: CatalogState
) -> tuple[int | None, list[dict], IngestResult]:
    """Register the new files among ``surveyed`` (see :func:`~astrolake.sources.files.survey_all`)
    as the next batch; skip content already ingested."""
    rows, result = new_files(catalog, surveyed, state)
    if not rows:
        return None, [], result
    batch, plan = write_plan(lake, catalog, rows, operation, state)
    return batch, plan, result


def write_plan(
    lake: Lake, catalog: Catalog, rows: list[dict], operation: str, state: CatalogState
) -> tuple[int, list[dict]]:
    """Append ``rows`` (from :func:`new_files`) to ``_manifest`` as the catalog's next batch."""
    batch = state.next_batch_id()
    planned_at = now()
    plan = [
        dict(
            catalog=catalog.name,
            batch_id=batch,
            operation=operation,
            path=r["path"],
            name=r["name"],
            sha256=r["sha256"],
            size=r["size"],
            header=r["header"],
            planned_at=planned_at,
            header_line=r["header_line"],
        )
        for r in rows
    ]
    lake.append(
        lake.spark.createDataFrame(plan, schema=_schema(MANIFEST_DDL)),
        MANIFEST,
        txn=(f"astrolake.plan.{catalog.name}", batch),
    )
    return batch, plan


# --------------------------------------------------------------------------------------------
# one batch
# --------------------------------------------------------------------------------------------
def read_raw(spark: SparkSession, catalog: Catalog, plan: list[dict]) -> DataFrame:
    files = [p["path"] for p in plan]
    c = catalog.contract
    if c.format == "fits":
        return read_fits(spark, c, files)
    parquet = [f for f in files if landing.is_parquet(f)]
    text = [f for f in files if not landing.is_parquet(f)]
    parts = ([read_text(spark, c, text, order=files)] if text else []) + (
        [read_parquet(spark, c, parquet, order=files)] if parquet else []
    )
    raw = parts[0]
    for more in parts[1:]:
        raw = raw.unionByName(more)
    return raw


def text_files(lake: Lake, catalog: Catalog, plan: list[dict] | None) -> list[dict]:
    """What :func:`~astrolake.sources.readers.classify` needs to know of each text file: its
    header and the header's line, from the batch's plan, or from the manifest for every batch of
    the catalog (re-validation).  A plan written before header lines were recorded is completed
    by reading the file's header again."""
    if catalog.contract.format == "fits":
        return []
    if plan is None:
        plan = [
            r.asDict()
            for r in lake.read(MANIFEST).where((F.col("catalog") == catalog.name) & F.col("path").isNotNull()).collect()
        ]
    out = []
    for p in plan:
        if landing.is_parquet(p["path"]):
            continue  # Parquet rows carry their fields
        line = p.get("header_line")
        if line is None:
            if not landing.os.path.isfile(p["path"]):
                continue  # an older batch, whose bronze rows carry their parsed fields
            line = landing.read_header(p["path"], catalog.contract).line
        out.append(dict(batch_id=p["batch_id"], path=p["path"], header=list(p["header"]), header_line=line))
    return out


def to_silver_rows(valid: DataFrame, catalog: Catalog, batch_id: int, extra: Sequence[str] = ()) -> DataFrame:
    """Typed silver columns plus catalog, release, HEALPix index, row hash and batch ids."""
    c = catalog.contract
    cols = [F.col(f"`{col.name}`") for col in c.columns]
    if c.position:
        valid = with_healpix(valid, *c.position, name=HEALPIX_COLUMN)
    out = valid.select(
        *cols,
        F.lit(catalog.name).alias("catalog"),
        F.lit(catalog.data_release).alias("data_release"),
        *([HEALPIX_COLUMN] if c.position else []),
        *([F.col(SOURCE_NAME)] if SOURCE_NAME in c.key else []),
        "_source_file",
        ROW_NUMBER,
        row_hash(cols).alias("_row_hash"),
        F.lit(batch_id).cast("long").alias("_batch_id"),
        F.lit(batch_id).cast("long").alias("_first_batch_id"),
        "_ingested_at",
        *[F.lit(None).cast(kind.lower()).alias(name) for name, kind, _ in RETRACTION_COLUMNS],
        *extra,
    )
    return out


def row_hash(cols: Sequence[Column]) -> Column:
    """The change hash of a row's typed values: 64-bit xxHash as 16 hex digits, over the values
    and which of them are null (Spark's hash skips nulls, so without the flags ``(null, 5)`` and
    ``(5, null)`` would hash alike).  It is compared only between versions of the same key, so 64
    bits are plenty; rows written before it carry a SHA-256 and are seen as changed once."""
    return F.lpad(F.hex(F.xxhash64(*cols, *[col.isNull() for col in cols])), 16, "0")


#: the order in which rows of the same key supersede each other: the last one wins
ARRIVAL = ("_batch_id", "_file_index", "_block", "_row_order")
#: above this many repeated keys the winners are found with a shuffle join instead of a broadcast
BROADCAST_REPEATS = 2_000_000


def last_occurrences(valid: DataFrame, key: Sequence[str]) -> tuple[DataFrame, int]:
    """The last occurrence of every key (by :data:`ARRIVAL`) and how many rows it supersedes.

    Only the key and the arrival order are shuffled, to find the keys that repeat (partial
    aggregation keeps that small); when none repeats, ``valid`` is returned as it is.  Otherwise
    the repeated keys, with their winner, are joined back (broadcast unless there are very many).
    """
    arrival = F.struct(*[F.col(c) for c in ARRIVAL])
    repeats = (
        valid.groupBy(*[F.col(f"`{k}`") for k in key])
        .agg(F.count(F.lit(1)).alias("_n"), F.max(arrival).alias("_last"))
        .where(F.col("_n") > 1)
    )
    tally = repeats.agg(F.count(F.lit(1)).alias("keys"), F.sum(F.col("_n") - 1).alias("superseded")).collect()[0]
    superseded, keys = int(tally["superseded"] or 0), int(tally["keys"] or 0)
    if not superseded:
        return valid, 0
    renamed = repeats.select(*[F.col(f"`{k}`").alias(f"_r_{i}") for i, k in enumerate(key)], "_last")
    if keys <= BROADCAST_REPEATS:
        renamed = F.broadcast(renamed)
    on = [F.col(f"`{k}`").eqNullSafe(F.col(f"_r_{i}")) for i, k in enumerate(key)]
    cond = on[0]
    for more in on[1:]:
        cond = cond & more
    joined = valid.join(renamed, cond, "left")
    winners = joined.where(F.col("_last").isNull() | (arrival == F.col("_last")))
    return winners.drop("_last", *[f"_r_{i}" for i in range(len(key))]), superseded


def _write_silver(
    lake: Lake, catalog: Catalog, src: DataFrame, batch_id: int, rebuild: bool = False, retry: str = ""
) -> tuple[int, dict[str, int] | None]:
    """Write the batch's winning rows into silver: replace it (``rebuild``), append them (an
    empty table) or MERGE them on the key, updating a row only when its hash changed.

    Returns the unchanged rows (matched with an equal hash: duplicates of what silver holds) and
    the commit's own counts (``inserted``, ``updated``), or None when the write was skipped
    because a replay had already committed it.
    """
    key = list(catalog.contract.key)
    silver_name = catalog.silver_table
    tag = _commit_tag(catalog, batch_id, "silver", retry)
    before = lake.version(silver_name)
    if rebuild:
        _add_contract_columns(lake, catalog)
        # the retractions of the silver being replaced stay (bronze does not know them)
        retracted = [name for name, _, _ in RETRACTION_COLUMNS]
        kept = lake.read(silver_name).where(F.col(retracted[0]).isNotNull()).select(*key, *retracted)
        src = src.drop(*retracted).join(kept, key, "left").select(*src.columns)
        lake.replace(src, silver_name, user_metadata=tag)
        return 0, lake.commit_metrics(silver_name, tag, after=before)
    silver = lake.read(silver_name)
    if lake.is_empty(silver_name):
        lake.append(src, silver_name, txn=(f"astrolake.silver.{catalog.name}{retry}", batch_id), user_metadata=tag)
        return 0, lake.commit_metrics(silver_name, tag, after=before)
    src = src.persist(StorageLevel.MEMORY_AND_DISK)
    try:

        def unchanged_rows() -> int:
            """Batch rows matched by a live silver row of an earlier batch with the same values
            (true before the batch's MERGE and after it, where its own rows carry its id)."""
            existing = silver.where(F.col(RETRACTION_COLUMNS[0][0]).isNull()).select(
                *key, F.col("_row_hash").alias("_t_hash"), F.col("_batch_id").alias("_t_batch")
            )
            return (
                src.join(existing, key, "inner")
                .where((F.col("_t_hash") == F.col("_row_hash")) & (F.col("_t_batch") != batch_id))
                .count()
            )

        if lake.commit_metrics(silver_name, tag, after=None) is not None:
            return unchanged_rows(), None  # a replay: the merge was committed before the interruption
        cond = " AND ".join(f"t.`{k}` = s.`{k}`" for k in key)
        update: dict[str, str | Column] = {f"`{col}`": f"s.`{col}`" for col in src.columns if col != "_first_batch_id"}
        with lake.commit_tag(tag):
            (
                lake.delta(silver_name)
                .alias("t")
                .merge(src.alias("s"), cond)
                # a changed row, or a retracted one delivered again (revived)
                .whenMatchedUpdate(
                    condition=f"t._row_hash <> s._row_hash OR t.{RETRACTION_COLUMNS[0][0]} IS NOT NULL", set=update
                )
                .whenNotMatchedInsertAll()
                .execute()
            )
        metrics = lake.commit_metrics(silver_name, tag, after=before)
        source = metrics.pop("source", -1) if metrics else -1
        if metrics is None or source < 0:
            return unchanged_rows(), metrics
        # keys are unique in src: a source row is inserted, updates its match, or is unchanged
        return source - metrics["inserted"] - metrics["updated"], metrics
    finally:
        src.unpersist()


def _commit_tag(catalog: Catalog, batch_id: int, table: str, retry: str = "", operation: str = "") -> str:
    """The user metadata of the commit a batch makes to a table: how its counts are found again."""
    return f"astrolake {catalog.name} batch {int(batch_id)}{retry} {table}{' ' + operation if operation else ''}"


def checked_columns(catalog: Catalog, after_reasons: Sequence[Column] = ()) -> list[str | Column]:
    """What a batch keeps of its validated lines: the kind, the typed columns (and the file name
    where it is part of the key), the reasons (then ``after_reasons``), provenance and arrival order."""
    c = catalog.contract
    return [
        KIND,
        *[F.col(f"`{col.name}`") for col in c.columns],
        *([SOURCE_NAME] if SOURCE_NAME in c.key else []),
        REASONS,
        *after_reasons,
        "_source_file",
        ROW_NUMBER,
        "_ingested_at",
        "_batch_id",
        "_file_index",
        "_block",
        "_row_order",
    ]


def process_batch(
    lake: Lake,
    catalog: Catalog,
    batch_id: int,
    plan: list[dict] | None,
    operation: str,
    from_bronze: DataFrame | None = None,
    failed: int | None = None,
) -> Ledger:
    """Run bronze (unless ``from_bronze`` is given), validation, quarantine, silver, ledger.

    With ``from_bronze`` (re-validation) silver and the catalog's quarantine rows are replaced
    atomically instead of appended to, so a replay gives the same result.
    """
    rebuild = from_bronze is not None
    spark, c = lake.spark, catalog.contract
    ledger = Ledger(catalog.name, batch_id, operation, [p["path"] for p in plan or []], now())
    # a batch rolled back after its ledger did not close is written again under txn ids of its own
    # (Delta would skip a write whose txn id it has seen); the first attempt keeps the plain ids.
    # ``failed``: how many such ledger rows the batch has, when the caller has read the ledger
    if failed is None:
        failed = (
            lake.read(LEDGER)
            .where((F.col("catalog") == catalog.name) & (F.col("batch_id") == batch_id) & ~F.col("closes"))
            .count()
        )
    retry = f".retry{failed}" if failed else ""
    steps = Steps(f"{catalog.name} batch {batch_id}", total=3 if rebuild else 4, logger=log, spark=spark)
    if from_bronze is None:
        assert plan is not None, "a batch that does not replay bronze reads the files of its plan"
        with steps.step(f"bronze <- {len(plan)} file(s)"):
            shas = spark.createDataFrame(
                [(p["path"], p["sha256"]) for p in plan], "_source_file STRING, _source_sha256 STRING"
            )
            raw = read_raw(spark, catalog, plan).join(F.broadcast(shas), "_source_file", "left")
            bronze = raw.select(
                *RAW_COLUMNS,
                "_source_sha256",
                F.lit(ledger.started_at).alias("_ingested_at"),
                F.lit(batch_id).cast("long").alias("_batch_id"),
            )
            lake.append(bronze, catalog.bronze_table, txn=(f"astrolake.bronze.{catalog.name}{retry}", batch_id))
        faults.point("batch.bronze")
        batch_rows = lake.read(catalog.bronze_table).where(F.col("_batch_id") == batch_id)
    else:
        batch_rows = from_bronze

    # Cache the validated batch, narrowed: raw text is kept only for rejected rows.  The cache is
    # also a boundary that keeps the optimizer from inlining the staged validation into filters.
    # Lines up to the header are not read; blank, comment and continuation lines are read and
    # counted under their own ledger terms, but never validated.
    lines = classify(batch_rows, c, text_files(lake, catalog, plan)).where(F.col(KIND).isin(DATA, *COUNTED_KINDS))
    is_data = F.col(KIND) == DATA
    is_bad = is_data & (F.size(REASONS) > 0)
    checked = (
        validate(lines, c)
        .select(
            *checked_columns(
                catalog,
                [F.when(is_bad, F.col("_raw")).alias("_raw"), F.when(is_bad, F.col("_fields")).alias("_fields")],
            )
        )
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    try:
        quarantine_before = lake.version(QUARANTINE)
        with steps.step(f"validate against contract {c.name}, quarantine") as step:
            # One pass fills the cache and counts the batch's rows as read back from bronze.
            tally = checked.agg(
                F.count(F.lit(1)).alias("read"),
                F.count_if(is_bad).alias("bad"),
                F.count_if(F.col(KIND) == SKIPPED).alias("skipped"),
                F.count_if(F.col(KIND) == CONTINUATION).alias("continuation"),
            ).collect()[0]
            ledger.read, rejected = int(tally["read"]), int(tally["bad"] or 0)
            ledger.skipped, ledger.continuation = int(tally["skipped"] or 0), int(tally["continuation"] or 0)
            bad = checked.where(is_bad).select(
                F.lit(catalog.name).alias("catalog"),
                F.lit(batch_id).cast("long").alias("_batch_id"),
                key_text(c).alias("_key"),
                F.col(REASONS).alias("_reasons"),
                "_raw",
                "_fields",
                "_source_file",
                ROW_NUMBER,
                F.lit(now()).alias("_quarantined_at"),
            )
            q_tag = _commit_tag(catalog, batch_id, QUARANTINE, retry, operation)
            if rebuild:
                lake.replace(bad, QUARANTINE, f"catalog = {sql_string(catalog.name)}", user_metadata=q_tag)
            else:
                lake.append(
                    bad,
                    QUARANTINE,
                    txn=(f"astrolake.quarantine.{catalog.name}.{operation}{retry}", batch_id),
                    user_metadata=q_tag,
                )
            q_metrics = lake.commit_metrics(QUARANTINE, q_tag, after=quarantine_before)
            faults.point("batch.quarantine")
            step.detail = f"{ledger.read:,} rows read, {rejected:,} to quarantine" + "".join(
                f", {n:,} {name}" for name, n in ledger.other_lines()
            )
        with steps.step("silver") as step:
            before = {"silver": lake.version(catalog.silver_table), "quarantine": quarantine_before}
            ledger.duplicates, s_metrics = _write_valid_rows(lake, catalog, checked, batch_id, rebuild, retry)
            faults.point("batch.silver")
            valid = ledger.read - rejected - ledger.skipped - ledger.continuation
            step.detail = f"{valid:,} valid rows, {ledger.duplicates:,} duplicates"
    finally:
        checked.unpersist()

    with steps.step("ledger") as step:
        from_commits = q_metrics is not None and s_metrics is not None
        if from_commits:  # every write happened in this run: the terms are the commits' own counts
            assert q_metrics is not None and s_metrics is not None
            ledger.quarantined = q_metrics["inserted"]
            ledger.inserted, ledger.updated = s_metrics["inserted"], s_metrics["updated"]
            step.detail = "counts from the batch's commits"
        else:  # a replay whose writes Delta skipped (or found done): count what the batch wrote
            step.detail = "counts recounted by _batch_id (replay)"
        if not from_commits or not ledger.balance():  # and before any LedgerError, from the tables
            _count_written(lake, catalog, ledger)
        ledger.closes = ledger.balance()
        ledger.silver_version = lake.version(catalog.silver_table)
        ledger.finished_at = now()
        append_ledger(lake, catalog, ledger, retry)
        step.detail += f", silver v{ledger.silver_version}"
    log.info("%s in %.1f s", ledger.line(), steps.seconds)
    if not ledger.closes:
        _roll_back(lake, catalog, batch_id, rebuild, before)
        raise LedgerError(
            f"{ledger.line()}: the batch's rows were taken out of bronze, silver and quarantine and its "
            "ledger row marks it as not closing; find what wrote the extra or missing rows, then run again "
            "to replay the batch"
        )
    return ledger


def append_ledger(lake: Lake, catalog: Catalog, ledger: Ledger, retry: str = "") -> None:
    """Append the batch's ledger row (idempotent: a replay's second append is skipped)."""
    lake.append(
        lake.spark.createDataFrame([ledger.as_dict()], schema=_schema(LEDGER_DDL)),
        LEDGER,
        txn=(f"astrolake.ledger.{catalog.name}.{ledger.operation}{retry}", ledger.batch_id),
    )


def _count_written(lake: Lake, catalog: Catalog, ledger: Ledger) -> None:
    """Count the batch's quarantined, inserted and updated rows from the tables, by ``_batch_id``."""
    batch_id = ledger.batch_id
    ledger.quarantined = (
        lake.read(QUARANTINE).where((F.col("catalog") == catalog.name) & (F.col("_batch_id") == batch_id)).count()
    )
    counts = (
        lake.read(catalog.silver_table)
        .where(F.col("_batch_id") == batch_id)
        .agg(
            F.count_if(F.col("_first_batch_id") == batch_id).alias("ins"),
            F.count_if(F.col("_first_batch_id") != batch_id).alias("upd"),
        )
        .collect()[0]
    )
    ledger.inserted, ledger.updated = int(counts["ins"] or 0), int(counts["upd"] or 0)


def _roll_back(lake: Lake, catalog: Catalog, batch_id: int, rebuild: bool, before: dict) -> None:
    """Take a batch whose ledger does not close out of every table it wrote, by ``_batch_id``:
    rows it inserted are deleted, rows it updated get their values from silver's version before
    the batch back, its quarantine and bronze rows are deleted.  Never RESTORE, which would also
    undo other writers' commits; a re-validation (which replaced silver and the catalog's
    quarantine rows) puts back their content as of before it."""
    silver, mine = catalog.silver_table, F.col("_batch_id") == batch_id
    log.warning(f"{catalog.name} batch {batch_id}: the ledger does not close; rolling the batch back")
    if rebuild:
        lake.replace(lake.read(silver, version=before["silver"]), silver)
        old = lake.read(QUARANTINE, version=before["quarantine"]).where(F.col("catalog") == catalog.name)
        lake.replace(old, QUARANTINE, f"catalog = {sql_string(catalog.name)}")
        return
    lake.delta(silver).delete(mine & (F.col("_first_batch_id") == batch_id))
    if lake.read(silver).where(mine).limit(1).count():  # rows this batch updated: their values before it
        cond = " AND ".join(f"t.`{k}` = o.`{k}`" for k in catalog.contract.key)
        (
            lake.delta(silver)
            .alias("t")
            .merge(lake.read(silver, version=before["silver"]).alias("o"), cond)
            .whenMatchedUpdateAll(condition=f"t._batch_id = {int(batch_id)}")
            .execute()
        )
    lake.delta(QUARANTINE).delete((F.col("catalog") == catalog.name) & mine)
    lake.delta(catalog.bronze_table).delete(mine)


def _write_valid_rows(
    lake: Lake, catalog: Catalog, checked: DataFrame, batch_id: int, rebuild: bool, retry: str = ""
) -> tuple[int, dict[str, int] | None]:
    """Keep the last occurrence of every key among the cached batch's valid rows and write silver;
    return the duplicates (superseded in the batch + unchanged in silver) and the commit's counts."""
    valid = checked.where((F.col(KIND) == DATA) & (F.size(REASONS) == 0)).drop(REASONS, "_raw", "_fields", KIND)
    winners, superseded = last_occurrences(valid, catalog.contract.key)
    unchanged, metrics = _write_silver(
        lake, catalog, to_silver_rows(winners, catalog, batch_id), batch_id, rebuild, retry
    )
    return superseded + unchanged, metrics


# --------------------------------------------------------------------------------------------
# entry points
# --------------------------------------------------------------------------------------------
def check_planned_files(lake: Lake, catalog: Catalog, batch_id: int, plan: list[dict]) -> None:
    """Before an unfinished batch re-reads its landing files: each must still be there with the
    content it had when planned (its SHA-256), or the replay would ingest other rows than the plan
    says.  A batch whose bronze rows were already committed does not read its files again."""
    if lake.exists(catalog.bronze_table) and (
        lake.read(catalog.bronze_table).where(F.col("_batch_id") == batch_id).limit(1).count()
    ):
        return
    for p in plan:
        path, planned = p["path"], p["sha256"]
        if planned is None:
            continue
        how = (
            f"restore it, or give up the batch: DELETE FROM {lake.sql_ident(MANIFEST)} "
            f"WHERE catalog = {sql_string(catalog.name)} AND batch_id = {batch_id}"
        )
        local = landing.strip_scheme(path)
        if not os.path.isfile(local):
            raise landing.LandingError(
                f"{path}: planned for unfinished batch {batch_id} of {catalog.name} but deleted since; {how}"
            )
        codec = landing.compression(local) if landing.has_suffix(local, landing.TEXT_SUFFIXES) else None
        current = landing.sha256_of(local, codec=codec)
        if current != planned:
            raise landing.LandingError(
                f"{path}: changed since it was planned for unfinished batch {batch_id} of {catalog.name} "
                f"(SHA-256 {planned[:12]}... then, {current[:12]}... now); {how}"
            )


def resume(lake: Lake, catalog: Catalog, result: IngestResult) -> CatalogState:
    """Finish an interrupted batch, if any; return the catalog's state afterwards."""
    state = CatalogState.read(lake, catalog)
    pending, plan = state.pending()
    if pending is not None:
        log.info(f"{catalog.name}: resuming unfinished batch {pending} ({len(plan)} file(s))")
        if plan[0]["operation"] != "revalidate":
            check_planned_files(lake, catalog, pending, plan)
        if plan[0]["operation"] == "revalidate":
            led = _rebuild(lake, catalog, pending, failed=state.failed.get(pending, 0))
        elif plan[0]["operation"] == "retract":
            from astrolake.lake import retract

            led = retract.process(lake, catalog, pending, plan)
        else:
            led = process_batch(lake, catalog, pending, plan, plan[0]["operation"], failed=state.failed.get(pending, 0))
        result.ledgers.append(led)
        state.done.add(led.batch_id)
    return state


def ingest(lake: Lake, catalog_name: str, paths: list[str] | str, operation: str = "ingest") -> IngestResult:
    """Ingest landing files into the catalog's bronze and silver tables (see module docstring).

    Returns the ledgers of the batches run; content already ingested is skipped, so running the
    same command twice changes nothing the second time.  Two runs at once on the same catalog:
    the one whose commit loses waits and runs again (:func:`retrying_conflicts`).
    """
    with catalog_lock(lake, catalog_name):
        return retrying_conflicts(f"{operation} {catalog_name}", lambda: _ingest(lake, catalog_name, paths, operation))


def survey_landing(catalog: Catalog, paths: list[str]) -> tuple[list[landing.Surveyed], list[landing.Surveyed]]:
    """The data files and the retraction lists (``*.retract.csv``) among ``paths``, each checked
    and hashed: what an ingest, a refresh or their dry run works from."""
    from astrolake.lake import retract

    found = landing.expand(paths, landing.suffixes_for(catalog.contract) + (RETRACT_SUFFIX,))
    lists = [p for p in found if retract.is_retraction(p)]
    data = [p for p in found if not retract.is_retraction(p)]
    return landing.survey_all(data, catalog.contract), retract.survey(lists, catalog)


def _ingest(lake: Lake, catalog_name: str, paths: list[str] | str, operation: str) -> IngestResult:
    catalog = get_catalog(catalog_name)
    if isinstance(paths, str):
        paths = [paths]
    from astrolake.lake import retract

    # one pass over each file (format, header, SHA-256), several files at a time, before any
    # table is touched: a bad file is refused here
    surveyed, surveyed_lists = survey_landing(catalog, paths)
    ensure_tables(lake, catalog)
    result = IngestResult(catalog.name)
    state = resume(lake, catalog, result)
    batch, plan, planned = plan_batch(lake, catalog, surveyed, operation, state)
    result.skipped += planned.skipped
    result.notices += planned.notices
    if batch is None:
        log.info(f"{catalog.name}: nothing new to ingest")
    else:
        result.ledgers.append(process_batch(lake, catalog, batch, plan, operation, failed=0))  # a new batch id
        state.done.add(batch)
        state.planned += plan
    if surveyed_lists:  # after the data: a list retracts what the folder's files delivered
        rows, known = new_files(catalog, surveyed_lists, state, data=False)
        result.skipped += known.skipped
        if rows:
            batch, plan = write_plan(lake, catalog, rows, "retract", state)
            result.ledgers.append(retract.process(lake, catalog, batch, plan))
    return result


def refresh(lake: Lake, catalog_name: str, landing_dir: str) -> IngestResult:
    """Ingest only the files of ``landing_dir`` that no earlier run took in.

    Exactly once: a batch is planned (its files written to ``_manifest``) before any data is
    written, every write of the batch is idempotent, and its ledger row marks it done, so a run
    killed at any point is finished by the next one with exactly the planned files.
    """
    if not landing.os.path.isdir(landing.strip_scheme(landing_dir)):
        raise landing.LandingError(f"landing folder not found: {landing_dir}")
    return ingest(lake, catalog_name, [landing_dir], operation="refresh")


def revalidate(lake: Lake, catalog_name: str) -> Ledger:
    """Rebuild silver and the catalog's quarantine rows from bronze under the current contract.

    Rows quarantined under an older contract that now pass are released into silver; the
    rebuild gets a batch id and a ledger row of its own.  It is planned in ``_manifest`` first
    and replaces both tables atomically, so an interrupted re-validation is finished by the
    next ``ingest``, ``refresh`` or ``revalidate``.
    """
    with catalog_lock(lake, catalog_name):
        return retrying_conflicts(f"revalidate {catalog_name}", lambda: _revalidate(lake, catalog_name))


def _revalidate(lake: Lake, catalog_name: str) -> Ledger:
    catalog = get_catalog(catalog_name)
    ensure_tables(lake, catalog)
    result = IngestResult(catalog.name)
    batch = resume(lake, catalog, result).next_batch_id()
    _add_contract_columns(lake, catalog)  # a retyping contract is refused here, before the plan
    plan = [
        dict(
            catalog=catalog.name,
            batch_id=batch,
            operation="revalidate",
            path=None,
            name=None,
            sha256=None,
            size=None,
            header=None,
            planned_at=now(),
            header_line=None,
        )
    ]
    lake.append(
        lake.spark.createDataFrame(plan, schema=_schema(MANIFEST_DDL)),
        MANIFEST,
        txn=(f"astrolake.plan.{catalog.name}", batch),
    )
    return _rebuild(lake, catalog, batch)


def _rebuild(lake: Lake, catalog: Catalog, batch: int, failed: int | None = None) -> Ledger:
    before = lake.read(QUARANTINE).where(F.col("catalog") == catalog.name).count()
    bronze = lake.read(catalog.bronze_table)
    ledger = process_batch(lake, catalog, batch, None, "revalidate", from_bronze=bronze, failed=failed)
    log.info(f"{catalog.name}: quarantine held {before:,} rows before, {ledger.quarantined:,} now")
    return ledger


def last_quarantine_rate(lake: Lake, catalog_name: str) -> tuple[int | None, float, int, int]:
    """(batch id, quarantined / read, quarantined, read) of the catalog's newest batch."""
    rows = (
        (
            lake.read(LEDGER)
            .where(F.col("catalog") == catalog_name)
            .orderBy(F.desc("batch_id"), F.desc("finished_at"))
            .limit(1)
            .collect()
        )
        if lake.exists(LEDGER)
        else []
    )
    if not rows:
        return None, 0.0, 0, 0
    r = rows[0]
    return r["batch_id"], (r["quarantined"] / r["read"]) if r["read"] else 0.0, r["quarantined"], r["read"]
