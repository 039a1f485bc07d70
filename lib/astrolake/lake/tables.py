"""Delta table access that works with both local paths and Unity Catalog names.

Every table is addressed by a short name (``silver_sdss_dr14_skyserver``); :class:`Lake` turns it
into a location through :class:`astrolake.config.Settings` and offers the few operations the rest
of the library needs.  Nothing else in astrolake builds table paths.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from astrolake.config import Settings
from astrolake.errors import UserError
from astrolake.names import quote_identifier

#: the session setting whose value Delta keeps in each commit's ``userMetadata``
USER_METADATA = "spark.databricks.delta.commitInfo.userMetadata"


class TableNotFoundError(UserError, FileNotFoundError):
    """The table asked for does not exist (yet): a wrong name, or a step not run before."""


@dataclass
class Lake:
    spark: SparkSession
    settings: Settings

    def __post_init__(self) -> None:
        from astrolake.catalogs.contract import use_catalog_folders

        use_catalog_folders(self.settings.catalogs_path)  # the user's contracts and catalogs

    # --- names -------------------------------------------------------------------------------
    def location(self, name: str) -> str:
        """The table's folder, or its ``catalog.schema.name`` on Unity Catalog; ``name`` (and the
        Unity Catalog parts) checked by :mod:`astrolake.names`."""
        return self.settings.table(name)

    def sql_ident(self, name: str) -> str:
        """How SQL refers to the table: ``delta.`/path``` locally (a backtick of the path doubled),
        ```catalog`.`schema`.`name``` on UC: quoted, so that no name or folder can end the identifier."""
        loc = self.location(name)  # checks the name
        if self.settings.uses_unity_catalog:
            return self._uc_name(name)
        return "delta." + quote_identifier(loc)

    def _uc_name(self, name: str) -> str:
        """The table's three-part Unity Catalog name, each part backtick-quoted (after the checks
        of :meth:`location`): what ``forName``, ``table``, ``saveAsTable`` and SQL are given."""
        self.location(name)
        s = self.settings
        return ".".join(quote_identifier(str(part)) for part in (s.uc_catalog, s.uc_schema, name))

    # --- state -------------------------------------------------------------------------------
    def exists(self, name: str) -> bool:
        if self.settings.uses_unity_catalog:
            return self.spark.catalog.tableExists(self._uc_name(name))
        loc = self.location(name)
        if "://" not in loc:  # local folder: look for the transaction log without a Spark job
            return os.path.isdir(os.path.join(loc, "_delta_log"))
        return DeltaTable.isDeltaTable(self.spark, loc)

    def delta(self, name: str) -> DeltaTable:
        if self.settings.uses_unity_catalog:
            return DeltaTable.forName(self.spark, self._uc_name(name))
        return DeltaTable.forPath(self.spark, self.location(name))

    def is_empty(self, name: str) -> bool:
        """True when the table holds no row: no data file in its current version (Delta drops a
        file once all of its rows are deleted).  Read from the table's metadata, without a scan."""
        return int(self.delta(name).detail().select("numFiles").collect()[0][0]) == 0

    def version(self, name: str) -> int:
        return int(self.delta(name).history(1).select("version").collect()[0][0])

    @contextmanager
    def commit_tag(self, user_metadata: str) -> Iterator[None]:
        """Commits made inside the block (MERGE, DELETE: operations without writer options)
        carry ``user_metadata``."""
        conf = self.spark.conf
        before = conf.get(USER_METADATA, None)
        conf.set(USER_METADATA, user_metadata)
        try:
            yield
        finally:
            if before is None:
                conf.unset(USER_METADATA)
            else:
                conf.set(USER_METADATA, before)

    def commit_metrics(self, name: str, user_metadata: str, after: int | None) -> dict[str, int] | None:
        """Rows inserted and updated by the commit tagged ``user_metadata``, from its own
        ``operationMetrics`` (a MERGE: ``numTargetRowsInserted`` and ``numTargetRowsUpdated``; a
        write: ``numOutputRows``); None when no such commit is newer than version ``after`` (a
        write Delta skipped as already done), or among the last 100 when ``after`` is None."""
        history = self.delta(name).history(100)
        if after is not None:
            history = history.where(F.col("version") > int(after))
        rows = history.where(F.col("userMetadata") == user_metadata).select("operation", "operationMetrics").collect()
        if len(rows) != 1:
            return None
        operation, metrics = rows[0][0], rows[0][1] or {}
        if operation == "MERGE":
            return {
                "inserted": int(metrics.get("numTargetRowsInserted", 0)),
                "updated": int(metrics.get("numTargetRowsUpdated", 0)),
                "source": int(metrics.get("numSourceRows", -1)),
            }
        return {"inserted": int(metrics.get("numOutputRows", 0)), "updated": 0}

    # --- read / write ------------------------------------------------------------------------
    def read(self, name: str, version: int | None = None, timestamp: str | None = None) -> DataFrame:
        """Read a table, optionally as of a version or a timestamp (time travel)."""
        reader = self.spark.read.format("delta")
        if version is not None:
            reader = reader.option("versionAsOf", int(version))
        if timestamp is not None:
            reader = reader.option("timestampAsOf", timestamp)
        if self.settings.uses_unity_catalog:
            return reader.table(self._uc_name(name))
        return reader.load(self.location(name))

    def _save(self, writer, name: str) -> None:
        if self.settings.uses_unity_catalog:
            writer.saveAsTable(self._uc_name(name))
        else:
            writer.save(self.location(name))

    def append(
        self, df: DataFrame, name: str, txn: tuple[str, int] | None = None, user_metadata: str | None = None
    ) -> None:
        """Append ``df``; with ``txn=(app_id, version)`` the write is idempotent (Delta skips a
        version it has already committed for that app id, so a replay after a crash adds nothing).
        ``user_metadata`` is kept in the commit (see :meth:`commit_metrics`)."""
        writer = df.write.format("delta").mode("append")
        if txn is not None:
            writer = writer.option("txnAppId", txn[0]).option("txnVersion", int(txn[1]))
        if user_metadata is not None:
            writer = writer.option("userMetadata", user_metadata)
        self._save(writer, name)

    def replace(
        self,
        df: DataFrame,
        name: str,
        where: str | None = None,
        overwrite_schema: bool = False,
        user_metadata: str | None = None,
    ) -> None:
        """Atomically replace the table's rows (or those matching the SQL predicate ``where``);
        ``overwrite_schema`` also replaces its schema with ``df``'s."""
        writer = df.write.format("delta").mode("overwrite")
        if user_metadata is not None:
            writer = writer.option("userMetadata", user_metadata)
        if where is not None:
            writer = writer.option("replaceWhere", where)
        if overwrite_schema:
            writer = writer.option("overwriteSchema", "true")
        self._save(writer, name)

    def create(
        self,
        name: str,
        ddl_columns: str,
        cluster_by: list[str] | None = None,
        properties: dict[str, str] | None = None,
        comment: str | None = None,
    ) -> None:
        """``CREATE TABLE IF NOT EXISTS`` with column comments, liquid clustering and properties."""
        sql = f"CREATE TABLE IF NOT EXISTS {self.sql_ident(name)} ({ddl_columns}) USING DELTA"
        if cluster_by:
            sql += " CLUSTER BY (" + ", ".join(quote_identifier(c) for c in cluster_by) + ")"
        if comment:
            sql += " COMMENT " + sql_string(comment)
        if properties:
            sql += (
                " TBLPROPERTIES ("
                + ", ".join(f"{sql_string(k)} = {sql_string(v)}" for k, v in properties.items())
                + ")"
            )
        self.spark.sql(sql)

    def sql(self, statement: str, **names: str) -> DataFrame:
        """Run SQL where ``{name}`` placeholders are replaced by table identifiers (:meth:`sql_ident`:
        checked and quoted; ``statement`` itself is the caller's text, never user input)."""
        return self.spark.sql(statement.format(**{k: self.sql_ident(v) for k, v in names.items()}))


def sql_string(value: str) -> str:
    """A SQL string literal: backslashes and single quotes escaped (Spark SQL's escapes)."""
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"
