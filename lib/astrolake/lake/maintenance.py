"""Table maintenance: OPTIMIZE (clustering), VACUUM with a retention guard, history, time travel."""

from __future__ import annotations

from pyspark.sql import DataFrame

from astrolake.errors import UserError
from astrolake.lake.tables import Lake

# Time-travel window that VACUUM must never cut into: reproducing a model trained on an older
# table version needs that version's files (VACUUM makes time travel fail, delta#174).
MIN_RETENTION_HOURS = 7 * 24


class RetentionError(UserError, ValueError):
    """VACUUM was asked to remove files still inside the protected time-travel window."""


def optimize(lake: Lake, table: str) -> DataFrame:
    """OPTIMIZE the table (liquid-clustered tables are clustered by their clustering keys)."""
    return lake.sql("OPTIMIZE {t}", t=table)


def vacuum(
    lake: Lake, table: str, retain_hours: float = MIN_RETENTION_HOURS, min_retention_hours: float = MIN_RETENTION_HOURS
) -> DataFrame:
    """VACUUM files older than ``retain_hours``; refuses anything below the guard.

    The guard (7 days by default) protects the time-travel window: every version younger than
    it stays readable with ``versionAsOf``.
    """
    if retain_hours < min_retention_hours:
        raise RetentionError(
            f"refusing VACUUM of {table} with {retain_hours:g} h retention: the time-travel window "
            f"is protected for {min_retention_hours:g} h (versions younger than that must stay readable)"
        )
    return lake.sql("VACUUM {t} RETAIN " + f"{float(retain_hours):g} HOURS", t=table)


def history(lake: Lake, table: str, limit: int = 20) -> DataFrame:
    """The table's commits, newest first: version, time, operation and its metrics."""
    return (
        lake.delta(table)
        .history(limit)
        .select("version", "timestamp", "operation", "operationParameters", "operationMetrics")
    )
