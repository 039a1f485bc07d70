"""Gold features: silver rows -> magnitudes, colours, errors, label and a stable split.

``gold_<catalog>`` holds every silver column (so a request for ``ra`` or ``plate`` can be refused
by name), the derived photometric features, ``_key`` and ``split``.  Three feature sets:

``photometry``
    an allow-list: ugriz magnitudes, every band-pair colour (u_g, u_r, ..., i_z), the differences
    of adjacent colours (ug_gr = (u-g)-(g-r), ...) and the errors of all of these where the
    catalog has them.  Position, date/mjd, plate, fiberid, run/camcol/field, redshift and ids are
    not in it.
``full``
    ``photometry`` plus ``redshift``.
``dereddened``
    ``photometry`` plus the magnitudes corrected for Galactic extinction (``u0`` = u - A_u, ...)
    and their band-pair colours (``u0_g0``, ...).  Gold has them for catalogs with a sky position
    (ra, dec): E(B-V) from the SFD map at that position (``ebv_sfd``, :mod:`astrolake.ml.extinction`)
    times the SDSS coefficients of Schlafly & Finkbeiner 2011.  ``ebv_sfd`` itself is not a
    feature: like ra and dec it tells where the survey pointed, not what the object is.

The split is a hash of the key: 70 % train, 10 % validation, 10 % hold-out (promotion), 10 % test,
so a row keeps its split when the table grows (:mod:`astrolake.layout`).  A catalog that ships its
own test file (``test_files`` in catalogs.yaml, e.g. the MLZ train/test files) keeps it, and
validation and hold-out are carved out of its training file.  A gold table written under an older
split rule has its ``split`` column rewritten once, on its next refresh.

Gold refreshes incrementally from silver's change data feed: only rows inserted, updated or
deleted in silver since the version gold last saw are merged (re-running is a no-op).
"""

from __future__ import annotations

import fnmatch
import itertools
import logging
from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.utils import AnalysisException
from pyspark.sql.window import Window

from astrolake import faults, layout
from astrolake.catalogs.contract import SOURCE_NAME, Catalog, get_catalog
from astrolake.errors import UserError
from astrolake.lake.tables import Lake, TableNotFoundError, sql_string
from astrolake.layout import SPLITS
from astrolake.log import Steps
from astrolake.ml import extinction

log = logging.getLogger(__name__)

BANDS = ("u", "g", "r", "i", "z")
FEATURE_SETS = ("photometry", "full", "dereddened")
LABELS = {"classification": "class", "photoz": "redshift"}
SILVER_VERSION_PROPERTY = "astrolake.silver_version"
_SILVER_INTERNAL = ("_source_file", "_row_hash", "_batch_id", "_first_batch_id", "_ingested_at")


class FeatureError(UserError, ValueError):
    """A feature request outside the allow-list, or a table without the needed columns."""


# --------------------------------------------------------------------------------------------
# feature definitions (pure functions of column names)
# --------------------------------------------------------------------------------------------
def _bands(columns) -> list[str]:
    return [b for b in BANDS if b in columns]


def colour_pairs(columns) -> list[tuple[str, str]]:
    """Every band pair (blue, red) present, in wavelength order: (u, g), (u, r), ..., (i, z)."""
    return list(itertools.combinations(_bands(columns), 2))


def adjacent_colours(columns) -> list[tuple[str, str]]:
    b = _bands(columns)
    return [(x, y) for x, y in itertools.pairwise(b) if BANDS.index(y) == BANDS.index(x) + 1]


def photometry_features(columns) -> list[str]:
    """The photometric allow-list for a table with ``columns`` (gold or silver)."""
    cols = set(columns)
    bands = _bands(cols)
    adj = adjacent_colours(cols)
    out = list(bands)
    out += [f"{a}_{b}" for a, b in colour_pairs(cols)]
    out += [f"{a}{b}_{c}{d}" for (a, b), (c, d) in itertools.pairwise(adj) if b == c]
    errs = [f"err_{b}" for b in bands if f"err_{b}" in cols]
    out += errs
    if len(errs) == len(bands):
        out += [f"err_{a}_{b}" for a, b in colour_pairs(cols)]
    return out


def dereddened_name(band: str) -> str:
    """The extinction-corrected magnitude of ``band``: ``u`` -> ``u0``."""
    return f"{band}0"


def dereddened_features(columns) -> list[str]:
    """The dereddened magnitudes (u0, ...) and band-pair colours (u0_g0, ...) present in ``columns``."""
    cols = set(columns)
    bands = [b for b in _bands(cols) if dereddened_name(b) in cols]
    out = [dereddened_name(b) for b in bands]
    out += [n for a, b in itertools.combinations(bands, 2) if (n := f"{a}0_{b}0") in cols]
    return out


def position_columns(catalog: Catalog, columns) -> tuple[str, str] | None:
    """The catalog's (ra, dec) columns when ``columns`` has both, else None."""
    pos = catalog.contract.position
    return pos if pos and all(c in set(columns) for c in pos) else None


def feature_columns(columns, feature_set: str = "photometry", include: list[str] | None = None) -> list[str]:
    """The features of ``feature_set`` available in ``columns``; ``include`` restricts them.

    Raises :class:`FeatureError` when ``include`` names a column outside the set, e.g. ``ra`` or
    ``redshift`` for the photometric classifier.
    """
    if feature_set not in FEATURE_SETS:
        raise FeatureError(f"unknown feature set {feature_set!r}; choose one of {', '.join(FEATURE_SETS)}")
    allowed = photometry_features(columns)
    if feature_set == "full" and "redshift" in columns:
        allowed.append("redshift")
    if not allowed:
        raise FeatureError("the table has no ugriz magnitudes: nothing to build features from")
    if feature_set == "dereddened":
        dered = dereddened_features(columns)
        if not dered:
            why = (
                "it has ra and dec, so it was built before this feature set existed: refresh it "
                "(astrolake features CATALOG)"
                if {"ra", "dec"} <= set(columns)
                else "its catalog has no sky position (ra, dec), so there is no E(B-V) to correct with; "
                "use 'photometry'"
            )
            raise FeatureError(f"the 'dereddened' feature set needs u0, g0, ... and the table has none: {why}")
        allowed += dered
    if include is None:
        return allowed
    outside = [c for c in include if c not in allowed]
    if outside:
        why = {
            "photometry": "position (and ebv_sfd, which depends only on it), dates, plate/fiber/run "
            "identifiers, ids and redshift are not photometric",
            "full": "only photometry and redshift are features",
            "dereddened": "position and what depends only on it (ebv_sfd, Galactic l/b), dates, "
            "plate/fiber/run identifiers, ids and redshift are not features",
        }[feature_set]
        raise FeatureError(
            f"column(s) {', '.join(outside)} not in the {feature_set!r} feature set ({why}); "
            f"allowed: {', '.join(allowed)}"
        )
    return list(include)


def label_column(task: str) -> str:
    if task not in LABELS:
        raise FeatureError(f"unknown task {task!r}; choose one of {', '.join(LABELS)}")
    return LABELS[task]


# --------------------------------------------------------------------------------------------
# silver -> gold rows
# --------------------------------------------------------------------------------------------
def split_column(catalog: Catalog) -> F.Column:
    """``train``/``validation``/``test`` from a hash of the key (stable as the table grows)."""
    if catalog.test_files and SOURCE_NAME in catalog.contract.key:
        pattern = fnmatch.translate(catalog.test_files)
        return layout.split_column("_key", shipped_test=F.col(SOURCE_NAME).rlike(pattern))
    return layout.split_column("_key")


def gold_rows(silver: DataFrame, catalog: Catalog) -> DataFrame:
    """Silver rows -> gold rows: silver columns + colours, colour differences, errors, E(B-V) and
    dereddened magnitudes and colours (catalogs with a position), key, split."""
    cols = set(silver.columns)
    out = silver.drop(*[c for c in _SILVER_INTERNAL if c in cols])
    pos = position_columns(catalog, cols)
    if pos and _bands(cols):
        out = out.withColumn(extinction.EBV_COLUMN, extinction.ebv_sfd_column(*pos))
    key = [F.col(k).cast("string") for k in catalog.contract.key]
    derived = {"_key": F.concat_ws("|", *key)}
    for a, b in colour_pairs(cols):
        derived[f"{a}_{b}"] = F.col(a) - F.col(b)
    adj = adjacent_colours(cols)
    for (a, b), (c, d) in itertools.pairwise(adj):
        derived[f"{a}{b}_{c}{d}"] = (F.col(a) - F.col(b)) - (F.col(c) - F.col(d))
    if all(f"err_{b}" in cols for b in _bands(cols)) and _bands(cols):
        for a, b in colour_pairs(cols):
            name = f"err_{a}_{b}"
            if name not in cols:  # the catalog's own colour error wins when it has one
                derived[name] = F.sqrt(F.col(f"err_{a}") ** 2 + F.col(f"err_{b}") ** 2)
    if pos and _bands(cols):
        ebv = F.col(extinction.EBV_COLUMN)
        for b in _bands(cols):
            derived[dereddened_name(b)] = F.col(b) - F.lit(extinction.R_SDSS[b]) * ebv
        for a, b in colour_pairs(cols):
            a0 = F.col(a) - F.lit(extinction.R_SDSS[a]) * ebv
            derived[f"{a}0_{b}0"] = a0 - (F.col(b) - F.lit(extinction.R_SDSS[b]) * ebv)
    out = out.withColumns(derived)
    return out.withColumn("split", split_column(catalog))


def _gold_ddl_props(catalog: Catalog) -> dict[str, str]:
    return {
        "astrolake.catalog": catalog.name,
        "astrolake.key": "_key",
        "astrolake.split": layout.split_rule()
        + (f"; files {catalog.test_files} are test" if catalog.test_files else ""),
    }


@dataclass
class GoldResult:
    table: str
    mode: str  # "full" | "incremental" | "unchanged"
    silver_version: int
    upserted: int
    deleted: int
    rows: int

    def line(self) -> str:
        return (
            f"{self.table}: {self.mode} from silver v{self.silver_version}: "
            f"{self.upserted} upserted, {self.deleted} deleted, {self.rows} rows"
        )


def _silver_version_seen(lake: Lake, gold: str) -> int | None:
    props = lake.sql(f"SHOW TBLPROPERTIES {{t}} ('{SILVER_VERSION_PROPERTY}')", t=gold).collect()
    if not props or props[0]["value"] is None or "does not have" in str(props[0]["value"]):
        return None
    try:
        return int(props[0]["value"])
    except ValueError:
        return None


def _record_version(lake: Lake, gold: str, version: int, extra: dict[str, str] | None = None) -> None:
    props = {SILVER_VERSION_PROPERTY: str(version), **(extra or {})}
    body = ", ".join(f"{sql_string(k)} = {sql_string(v)}" for k, v in props.items())
    lake.sql(f"ALTER TABLE {{t}} SET TBLPROPERTIES ({body})", t=gold)


def _migrate_split(lake: Lake, gold: str, catalog: Catalog) -> int:
    """Rewrite ``split`` of a gold table written under another split rule; returns the rows moved.

    Gold tables from before the hold-out said ``test`` for buckets 80-89 (``holdout`` now); for a
    catalog with a shipped test file, buckets 12-23 of its training rows become ``holdout``.
    """
    rule = _gold_ddl_props(catalog)["astrolake.split"]
    props = {r["key"]: r["value"] for r in lake.sql("SHOW TBLPROPERTIES {t}", t=gold).collect()}
    if props.get("astrolake.split") == rule:
        return 0
    new = split_column(catalog)
    moved = lake.read(gold).where(~F.col("split").eqNullSafe(new))
    counts = {r["split"]: r["count"] for r in moved.groupBy("split").count().collect()}
    if counts:
        lake.delta(gold).update(condition=~F.col("split").eqNullSafe(new), set={"split": new})
    lake.sql(f"ALTER TABLE {{t}} SET TBLPROPERTIES ('astrolake.split' = {sql_string(rule)})", t=gold)
    n = sum(counts.values())
    log.warning(
        f"{gold}: split rule is now '{rule}'; {n:,} rows moved"
        + (" (from " + ", ".join(f"{k}: {v:,}" for k, v in sorted(counts.items())) + ")" if counts else "")
    )
    return n


def _missing_gold_columns(lake: Lake, catalog: Catalog) -> list[str]:
    """Columns that :func:`gold_rows` makes from silver now and the gold table lacks (a table built
    by an older astrolake, e.g. before ``ebv_sfd`` and ``u0``...); only schemas are read."""
    expected = gold_rows(lake.read(catalog.silver_table), catalog).columns
    have = set(lake.read(catalog.gold_table).columns)
    return [c for c in expected if c not in have]


def _enable_cdf(lake: Lake, silver: str) -> None:
    props = {r["key"]: r["value"] for r in lake.sql("SHOW TBLPROPERTIES {t}", t=silver).collect()}
    if props.get("delta.enableChangeDataFeed", "false").lower() != "true":
        lake.sql("ALTER TABLE {t} SET TBLPROPERTIES ('delta.enableChangeDataFeed' = 'true')", t=silver)


def build_gold(lake: Lake, catalog_name: str, rebuild: bool = False) -> GoldResult:
    """Create or refresh ``gold_<catalog>`` from ``silver_<catalog>``.

    The first run (or ``rebuild=True``) writes gold from a silver snapshot; later runs read
    silver's change data feed since the version recorded on gold and MERGE only those rows.
    """
    catalog = get_catalog(catalog_name)
    silver, gold = catalog.silver_table, catalog.gold_table
    if not lake.exists(silver):
        raise TableNotFoundError(
            f"no silver table for {catalog_name!r} at {lake.location(silver)}: "
            f"ingest the catalog first (astrolake ingest {catalog_name} FILES)"
        )
    seen = None if rebuild or not lake.exists(gold) else _silver_version_seen(lake, gold)
    if seen is not None and (missing := _missing_gold_columns(lake, catalog)):
        # MERGE ... UPDATE SET * / INSERT * with schema auto-merge off would leave them out
        log.warning(
            f"{gold}: lacks the column(s) {', '.join(missing)} that gold rows now have; rebuilding it "
            f"from a snapshot of {silver}"
        )
        seen = None
    if seen is not None:
        _migrate_split(lake, gold, catalog)
    if seen is None:
        _enable_cdf(lake, silver)
        version = lake.version(silver)
        rows = gold_rows(lake.read(silver, version=version), catalog)
        with Steps("gold", total=1, logger=log, spark=lake.spark).step(
            f"build {gold} from {silver} v{version}"
        ) as step:
            lake.replace(rows, gold, overwrite_schema=True)
            faults.point("gold.written")
            _record_version(lake, gold, version, _gold_ddl_props(catalog))
            n = lake.read(gold).count()
            step.detail = f"{n:,} rows written"
        result = GoldResult(gold, "full", version, n, 0, n)
        log.info(result.line())
        return result
    latest = lake.version(silver)
    if latest <= seen:
        result = GoldResult(gold, "unchanged", latest, 0, 0, lake.read(gold).count())
        log.info(result.line())
        return result
    steps = Steps("gold", total=2, logger=log, spark=lake.spark)
    try:
        with steps.step(f"read the change feed of {silver} v{seen + 1}..v{latest}") as step:
            reader = (
                lake.spark.read.format("delta")
                .option("readChangeFeed", "true")
                .option("startingVersion", seen + 1)
                .option("endingVersion", latest)
            )
            changes = (
                reader.table(lake.location(silver))
                if lake.settings.uses_unity_catalog
                else reader.load(lake.location(silver))
            )
            changes = changes.where(F.col("_change_type") != "update_preimage")
            # the newest change of each key wins (a row inserted then updated in the range -> update)
            key = catalog.contract.key
            order = Window.partitionBy(*key).orderBy(
                F.col("_commit_version").desc(), (F.col("_change_type") == "delete").cast("int")
            )
            newest = (
                changes.withColumn("_n", F.row_number().over(order))
                .where("_n = 1")
                .drop("_n", "_commit_timestamp")
                .cache()
            )
            deleted = newest.where(F.col("_change_type") == "delete")
            upserts = gold_rows(
                newest.where(F.col("_change_type") != "delete").drop("_change_type", "_commit_version"), catalog
            )
            n_up, n_del = upserts.count(), deleted.count()
            step.detail = f"{n_up:,} to upsert, {n_del:,} to delete"
        with steps.step(f"merge into {gold}"):
            deleted_keys = gold_rows(deleted.drop("_change_type", "_commit_version"), catalog).select("_key")
            target = lake.delta(gold)
            if n_del:
                target.alias("g").merge(deleted_keys.alias("d"), "g._key = d._key").whenMatchedDelete().execute()
            if n_up:
                (
                    target.alias("g")
                    .merge(upserts.alias("s"), "g._key = s._key")
                    .whenMatchedUpdateAll()
                    .whenNotMatchedInsertAll()
                    .execute()
                )
            newest.unpersist()
    except AnalysisException as exc:  # change files vacuumed or feed not enabled for the range
        log.warning(
            f"gold: change feed of {silver} unavailable from v{seen + 1} ({str(exc).splitlines()[0][:120]}); "
            "rebuilding from a snapshot"
        )
        return build_gold(lake, catalog_name, rebuild=True)
    faults.point("gold.merged")
    _record_version(lake, gold, latest)
    result = GoldResult(gold, "incremental", latest, n_up, n_del, lake.read(gold).count())
    log.info(result.line())
    return result


# --------------------------------------------------------------------------------------------
# reading gold for learning
# --------------------------------------------------------------------------------------------
@dataclass
class TrainingData:
    """The rows a model learns from, pinned to one gold version."""

    table: str
    version: int
    features: list[str]
    label: str
    frame: DataFrame  # all splits, rows with a label and every feature present
    split_by: str = "hash"  # "sky": the split column is blocked by HEALPix cell (not the stored one)

    def split(self, name: str) -> DataFrame:
        if name not in SPLITS:
            raise FeatureError(f"unknown split {name!r}; choose one of {', '.join(SPLITS)}")
        return self.frame.where(F.col("split") == name)


def complete_rows(df: DataFrame, columns) -> DataFrame:
    """Rows of ``df`` with every one of ``columns`` present (neither null nor NaN)."""
    for c in columns:
        df = df.where(F.col(c).isNotNull() & ~F.isnan(F.col(c)))
    return df


def training_data(
    lake: Lake,
    table: str,
    task: str = "classification",
    feature_set: str = "photometry",
    features: list[str] | None = None,
    version: int | None = None,
    classes: list[str] | None = None,
    split_by: str = "hash",
) -> TrainingData:
    """Gold rows with a label and complete features, from one pinned version of ``table``.

    ``table`` is a gold table name (``gold_sdss_dr17_stellar``) or a catalog name.  ``split_by``
    ``"sky"`` replaces the stored hash split with one blocked by HEALPix order-3 cell
    (:func:`astrolake.layout.sky_split_column`), for catalogs with positions.
    """
    if split_by not in layout.SPLIT_BY:
        raise FeatureError(f"unknown split_by {split_by!r}; choose one of {', '.join(layout.SPLIT_BY)}")
    if not layout.is_gold(table):
        table = get_catalog(table).gold_table
    if not lake.exists(table):
        raise TableNotFoundError(f"no gold table {table!r} at {lake.location(table)}: run `astrolake features` first")
    version = lake.version(table) if version is None else int(version)
    df = lake.read(table, version=version)
    label = label_column(task)
    if label not in df.columns:
        raise FeatureError(f"{table} has no {label!r} column: it cannot train a {task} model")
    if task == "photoz" and feature_set == "full":
        raise FeatureError("the 'full' feature set contains redshift, the photo-z target; use 'photometry'")
    cols = feature_columns(df.columns, feature_set, features)
    frame = complete_rows(layout.live(df).where(F.col(label).isNotNull()), cols)
    if classes:
        frame = frame.where(F.col(label).isin(list(classes)))
    if split_by == "sky":
        if "healpix_29" not in df.columns:
            raise FeatureError(f"{table} has no positions (healpix_29): it cannot be split by sky cell")
        frame = frame.withColumn("split", layout.sky_split_column())
    return TrainingData(table, version, cols, label, frame, split_by)
