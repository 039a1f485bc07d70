"""Parquet landing files (LSST/Rubin data products, HATS catalogs): the schema, checked against the
contract on the driver from the file footer (pyarrow), before any table is written.

Columns are matched by source name.  A required contract column must be present; a column the
contract does not know is kept in bronze's JSON row and ignored by silver (as in a CSV header); a
present column's type must be able to hold the contract type (a ``double`` takes any number, an
``int``/``long`` any integer, a ``string`` anything: its text is kept).  Bronze keeps each row as
JSON with its provenance and the row's index in its file; there is no raw line to keep.
"""

from __future__ import annotations

from astrolake.catalogs.contract import Contract

PARQUET_SUFFIXES = (".parquet", ".parq")


def _kind(arrow_type) -> str:
    import pyarrow as pa

    if pa.types.is_floating(arrow_type):
        return "float64"
    if pa.types.is_integer(arrow_type):
        return "int64"
    if pa.types.is_boolean(arrow_type):
        return "bool"
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return "string"
    if pa.types.is_decimal(arrow_type):
        return "float64"
    if pa.types.is_date(arrow_type) or pa.types.is_timestamp(arrow_type):
        return "string"  # written as ISO text, which date/timestamp columns parse
    return str(arrow_type)


def columns(path: str, contract: Contract) -> list[str]:
    """The file's column names, after checking its schema against the contract (a
    :class:`~astrolake.sources.files.LandingError` that lists every disagreement)."""
    import pyarrow.parquet as pq

    from astrolake.sources.ecsv import COMPATIBLE
    from astrolake.sources.files import LandingError

    try:
        schema = pq.read_schema(path)
    except Exception as exc:  # pyarrow raises ArrowInvalid / OSError for a damaged footer
        raise LandingError(f"{path}: not a readable Parquet file ({exc})") from exc
    names = list(schema.names)
    problems = []
    missing = [c.source for c in contract.required if c.source not in names]
    if missing:
        problems.append(f"missing required column(s) {', '.join(missing)}")
    by_source = {c.source: c for c in contract.columns}
    for f in schema:
        want = by_source.get(f.name)
        if want is None:
            continue
        allowed = COMPATIBLE.get(want.type)
        kind = _kind(f.type)
        if (
            allowed is not None
            and kind not in allowed
            and kind not in ("string",) * (want.type in ("date", "timestamp"))
        ):
            problems.append(f"{f.name}: Parquet type {f.type} cannot hold contract type {want.type}")
    if problems:
        raise LandingError(
            f"{path}: the Parquet schema disagrees with contract {contract.name}: " + "; ".join(problems)
        )
    return names
