"""Where rows live: the names of astrolake's tables, and the split every gold row belongs to.

One place for both, so that the lake, the learning code, the deep-learning readers and the
reports agree.  Names are short names; :class:`astrolake.lake.tables.Lake` turns them into paths
or Unity Catalog names.

============================= =====================================================================
table                         what
============================= =====================================================================
``bronze_<catalog>``          raw rows as read, append-only (:func:`bronze_table`)
``silver_<catalog>``          typed, validated rows, MERGEd on the key (:func:`silver_table`)
``gold_<catalog>``            silver + features, ``_key`` and ``split`` (:func:`gold_table`)
``predictions_<catalog>``     model outputs for the rows of ``gold_<catalog>`` (:func:`predictions_table`)
``quarantine``                rejected rows of every catalog (:data:`QUARANTINE`)
``ledger``                    the row accounting of every batch (:data:`LEDGER`)
``_manifest``                 the landing files planned for each batch (:data:`MANIFEST`)
============================= =====================================================================

>>> gold_table("sdss_dr14_skyserver"), catalog_of("gold_sdss_dr14_skyserver")
('gold_sdss_dr14_skyserver', 'sdss_dr14_skyserver')

A catalog name is an identifier (:mod:`astrolake.names`): ``gold_table("x; DROP TABLE y")`` raises.

**Split.** A row's bucket is ``xxhash64(_key) mod 100``; it never changes as the table grows, so a
test row never becomes training data.  :data:`SPLIT_BOUNDS` maps buckets to four splits: below 70
``train`` (fitting), below 80 ``validation`` (choosing among models: tuning, search), below 90
``holdout`` (champion against challenger in :func:`astrolake.ml.registry.promote`), the rest
``test`` (reported once per model, never used to decide anything).  A catalog that ships its own
test file (or images with their own split) keeps it as ``test``; of its training rows, buckets
below :data:`CARVED_VALIDATION_END` become ``validation`` and those below
:data:`CARVED_HOLDOUT_END` ``holdout``.

>>> [split_of(b) for b in (0, 69, 70, 79, 80, 89, 90, 99)]
['train', 'train', 'validation', 'validation', 'holdout', 'holdout', 'test', 'test']
>>> split_of(5, shipped_test=False), split_of(20, shipped_test=False), split_of(50, shipped_test=False)
('validation', 'holdout', 'train')
>>> split_of(50, shipped_test=True)
'test'

**Split blocked by sky cell.** Neighbouring objects share a plate, a targeting program and a dust
column, so a hash split puts near-twins in train and test.  :func:`sky_split_column` buckets whole
HEALPix cells of order :data:`SKY_BLOCK_ORDER` (about 7.3 deg; 768 cells) instead of single rows, with
the same bounds: every object of a cell is in one split.  Models that use position-like features
(E(B-V), galactic latitude) are reported on it; it is computed when training data is read
(``split_by="sky"``), never stored, and models trained on it are not registered (promotion compares
on the hash split's hold-out).

Gold tables written before the hold-out existed said ``test`` for buckets 80-89;
:func:`astrolake.ml.features.build_gold` rewrites their ``split`` column once (train and validation
rows of hash-split catalogs do not move).
"""

from __future__ import annotations

from astrolake.names import IdentifierError, check_identifier

MANIFEST, QUARANTINE, LEDGER = "_manifest", "quarantine", "ledger"
LAYERS = ("bronze", "silver", "gold")
_PREFIXES = tuple(f"{layer}_" for layer in LAYERS) + ("predictions_",)

SPLITS = ("train", "validation", "holdout", "test")
BUCKETS = 100  # bucket = xxhash64(_key) mod BUCKETS
# (split, first bucket *not* in it), in bucket order; the last one ends at BUCKETS
SPLIT_BOUNDS = (("train", 70), ("validation", 80), ("holdout", 90), ("test", BUCKETS))
# a shipped test file: of the other rows, buckets below 12 -> validation, 12..23 -> holdout
CARVED_VALIDATION_END = 12
CARVED_HOLDOUT_END = 24
#: HEALPix order of the cells a sky-blocked split keeps whole (order 3: 768 cells of about 7.3 deg)
SKY_BLOCK_ORDER = 3
SPLIT_BY = ("hash", "sky")


# --------------------------------------------------------------------------------------------
# table names
# --------------------------------------------------------------------------------------------
def _check(catalog: str) -> str:
    """A catalog name becomes part of table names, hence of folders and SQL: an identifier
    (:func:`astrolake.names.check_identifier`)."""
    if not catalog or not isinstance(catalog, str):
        raise IdentifierError(f"a catalog name is a non-empty string, not {catalog!r}")
    return check_identifier(catalog, "catalog name")


def bronze_table(catalog: str) -> str:
    return f"bronze_{_check(catalog)}"


def silver_table(catalog: str) -> str:
    return f"silver_{_check(catalog)}"


def gold_table(catalog: str) -> str:
    return f"gold_{_check(catalog)}"


def predictions_table(catalog: str) -> str:
    """The default predictions table of a catalog's models (``astrolake score --out``)."""
    return f"predictions_{_check(catalog)}"


def is_gold(table: str) -> bool:
    return table.startswith("gold_") and len(table) > len("gold_")


def catalog_of(table: str) -> str:
    """The catalog of a ``bronze_``/``silver_``/``gold_``/``predictions_`` table name."""
    for prefix in _PREFIXES:
        if table.startswith(prefix) and len(table) > len(prefix):
            return table[len(prefix) :]
    raise ValueError(f"{table!r} is not a catalog table (bronze_, silver_, gold_ or predictions_ + catalog)")


def layer_of(table: str) -> str | None:
    """``bronze``, ``silver``, ``gold`` or ``predictions`` for a catalog table, else None."""
    for prefix in _PREFIXES:
        if table.startswith(prefix) and len(table) > len(prefix):
            return prefix[:-1]
    return None


# --------------------------------------------------------------------------------------------
# split
# --------------------------------------------------------------------------------------------
def split_of(bucket: int, shipped_test: bool | None = None) -> str:
    """The split of a row in ``bucket`` (0..99); ``shipped_test`` for catalogs with their own test rows
    (True: the row is one of them; False: it is a training row of such a catalog)."""
    if not 0 <= bucket < BUCKETS:
        raise ValueError(f"bucket {bucket} outside 0..{BUCKETS - 1}")
    if shipped_test is not None:
        if shipped_test:
            return "test"
        return "validation" if bucket < CARVED_VALIDATION_END else "holdout" if bucket < CARVED_HOLDOUT_END else "train"
    for name, end in SPLIT_BOUNDS:
        if bucket < end:
            return name
    raise AssertionError(bucket)  # SPLIT_BOUNDS ends at BUCKETS


def split_rule() -> str:
    """The split in words, as stored in a gold table's properties.

    >>> split_rule()
    'xxhash64(_key) % 100: <70 train, <80 validation, <90 holdout, else test'
    """
    parts = [f"<{end} {name}" for name, end in SPLIT_BOUNDS[:-1]]
    return f"xxhash64(_key) % {BUCKETS}: " + ", ".join(parts) + f", else {SPLIT_BOUNDS[-1][0]}"


def bucket_column(key: str = "_key"):
    """Spark column: ``xxhash64(key) mod 100``."""
    from pyspark.sql import functions as F

    return F.pmod(F.xxhash64(F.col(key)), F.lit(BUCKETS))


def _bucket_split(bucket):
    """Spark column: the split of a bucket column (0..99), by :data:`SPLIT_BOUNDS`."""
    from pyspark.sql import functions as F

    (first, end), *rest = SPLIT_BOUNDS
    out = F.when(bucket < end, first)
    for name, end in rest[:-1]:
        out = out.when(bucket < end, name)
    return out.otherwise(rest[-1][0])


def split_column(key: str = "_key", shipped_test=None):
    """Spark column with the split of each row (see :func:`split_of`).

    ``shipped_test``: a boolean Spark column, true for the rows of a shipped test set; with it the
    other rows are split into train and a carved validation and hold-out.
    """
    from pyspark.sql import functions as F

    bucket = bucket_column(key)
    if shipped_test is not None:
        return (
            F.when(shipped_test, "test")
            .when(bucket < CARVED_VALIDATION_END, "validation")
            .when(bucket < CARVED_HOLDOUT_END, "holdout")
            .otherwise("train")
        )
    return _bucket_split(bucket)


def sky_split_column(healpix: str = "healpix_29", order: int = SKY_BLOCK_ORDER):
    """Spark column: the split of each row's sky cell (order ``order``), with :data:`SPLIT_BOUNDS`.

    The cell is ``healpix_29 >> 2 (29 - order)`` (:func:`astrolake.sky.healpix.degrade`); the bucket is
    ``xxhash64(cell) mod 100``, so a cell's split never changes as the table grows."""
    from pyspark.sql import functions as F

    if not 0 <= order <= 29:
        raise ValueError(f"HEALPix order {order} outside 0..29")
    bucket = F.pmod(F.xxhash64(F.shiftright(F.col(healpix), 2 * (29 - order))), F.lit(BUCKETS))
    return _bucket_split(bucket)


# --------------------------------------------------------------------------------------------
# retractions
# --------------------------------------------------------------------------------------------
#: the soft-delete columns of silver, gold and predictions rows: (name, SQL type, comment); a row
#: is live while ``_retracted_batch`` is null (see :mod:`astrolake.lake.retract`)
RETRACTION_COLUMNS = (
    ("_retracted_batch", "BIGINT", "batch that retracted the row (null: the row is live)"),
    ("_retracted_at", "TIMESTAMP", "when the row was retracted"),
    ("_retraction_reason", "STRING", "why the row was retracted (from the retraction list)"),
)
RETRACTED = RETRACTION_COLUMNS[0][0]

#: a landing file whose name ends so is a retraction list, not data: a CSV header naming the
#: catalog's key columns (silver or source names) and an optional ``reason`` column
RETRACT_SUFFIX = ".retract.csv"


def retraction_ddl() -> str:
    """The soft-delete columns as DDL, for CREATE TABLE and ALTER TABLE ... ADD COLUMNS."""
    return ", ".join(f"{name} {kind} COMMENT '{comment}'" for name, kind, comment in RETRACTION_COLUMNS)


def live(df):
    """The rows of ``df`` that are not retracted (all of them for a table without the columns).

    Training, scoring and sky queries read live rows; the retracted ones stay in the tables with
    their reason and batch, for audit and time travel."""
    from pyspark.sql import functions as F

    return df.where(F.col(RETRACTED).isNull()) if RETRACTED in df.columns else df
