"""``astrolake <command>``: the command-line door.  Each command is a thin call into the library.

Exit status: 0 on success; 2 for bad arguments (argparse); 1 with one clear ``error:`` line for
a missing file, an unknown catalog, a rejected file or a failed batch.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

EXAMPLES = """examples:
  astrolake catalogs
  astrolake ingest sdss_dr14_skyserver data/sdss_dr14_skyserver_10k.csv
  astrolake refresh sdss_dr17_stellar --landing /data/landing/dr17
  astrolake revalidate sdss_dr14_skyserver
  astrolake optimize silver_sdss_dr14_skyserver
  astrolake history silver_sdss_dr14_skyserver
  astrolake show silver_sdss_dr14_skyserver --version 0 --limit 5
  astrolake demo
"""


def _common(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("settings (override ASTROLAKE_* variables and --config)")
    g.add_argument("--config", metavar="YAML", help="settings file (base_path, uc_catalog, uc_schema, ...)")
    g.add_argument("--base-path", metavar="DIR", help="folder holding the Delta tables (default: ./lakehouse)")
    g.add_argument("--uc-catalog", metavar="NAME", help="Unity Catalog catalog (with --uc-schema: tables are catalog.schema.name)")
    g.add_argument("--uc-schema", metavar="NAME", help="Unity Catalog schema")
    g.add_argument("--master", metavar="URL", help="Spark master for a local session (default: local[*])")
    g.add_argument("--driver-memory", metavar="SIZE", help="Spark driver memory, e.g. 4g (default: 4g)")
    g.add_argument("--shuffle-partitions", type=int, metavar="N", help="spark.sql.shuffle.partitions (default: 4)")
    g.add_argument("--quiet", action="store_true", help="no progress output")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="astrolake", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Survey-catalog analytics on Spark and Delta Lake: ingest catalogs into "
                    "bronze/silver Delta tables with quarantine and a closing ledger.",
        epilog=EXAMPLES)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("catalogs", help="list the catalogs and their contracts")
    _common(p)

    p = sub.add_parser("ingest", help="ingest landing files into bronze, silver and quarantine",
                       description="Ingest files (or folders, or globs) for one catalog. Content "
                                   "already ingested is skipped, so a re-run changes nothing.")
    p.add_argument("catalog", help="catalog name (see `astrolake catalogs`)")
    p.add_argument("paths", nargs="+", help="landing files, folders or globs")
    _common(p)

    p = sub.add_parser("refresh", help="ingest only the files new in a landing folder since the last run",
                       description="Exactly-once refresh of a landing folder: safe to kill and re-run.")
    p.add_argument("catalog", help="catalog name")
    p.add_argument("--landing", required=True, metavar="DIR", help="landing folder to pick new files from")
    _common(p)

    p = sub.add_parser("revalidate", help="rebuild silver and quarantine from bronze under the current contract")
    p.add_argument("catalog", help="catalog name")
    _common(p)

    p = sub.add_parser("optimize", help="OPTIMIZE a table (liquid clustering by HEALPix for silver)")
    p.add_argument("table", help="table name, e.g. silver_sdss_dr14_skyserver")
    _common(p)

    p = sub.add_parser("vacuum", help="VACUUM a table; refuses to cut into the time-travel window")
    p.add_argument("table", help="table name")
    p.add_argument("--retain-hours", type=float, default=168.0, metavar="H",
                   help="keep files younger than H hours (minimum and default 168 = 7 days)")
    _common(p)

    p = sub.add_parser("history", help="show a table's versions and operation metrics")
    p.add_argument("table", help="table name")
    p.add_argument("--limit", type=int, default=20, metavar="N", help="newest N versions (default 20)")
    _common(p)

    p = sub.add_parser("show", help="print rows of a table, optionally as of a version or timestamp")
    p.add_argument("table", help="table name")
    p.add_argument("--version", type=int, metavar="V", help="read the table as of version V")
    p.add_argument("--timestamp", metavar="TS", help="read the table as of a timestamp, e.g. '2026-11-25 12:00:00'")
    p.add_argument("--limit", type=int, default=10, metavar="N", help="rows to print (default 10)")
    _common(p)

    p = sub.add_parser("demo", help="ingest the shipped SDSS sample end to end and summarise it")
    _common(p)
    return parser


def _settings(args):
    from astrolake.config import Settings

    return Settings.load(args.config, base_path=args.base_path, spark_master=args.master,
                         uc_catalog=args.uc_catalog, uc_schema=args.uc_schema,
                         driver_memory=args.driver_memory, shuffle_partitions=args.shuffle_partitions)


def _lake(args):
    from astrolake.lake.tables import Lake
    from astrolake.spark import get_spark

    settings = _settings(args)
    return Lake(get_spark(settings), settings)


def _check_table(lake, table: str) -> None:
    if not lake.exists(table):
        raise FileNotFoundError(f"no table {table!r} at {lake.location(table)}")


def run(args) -> int:
    from astrolake.catalogs.contract import catalogs, get_catalog
    from astrolake.lake import maintenance, pipeline

    if args.command == "catalogs":
        for name, cat in sorted(catalogs().items()):
            print(f"{name:22s} {cat.contract.name:18s} {cat.data_release:12.12s} key=({', '.join(cat.contract.key)})")
        return 0
    if args.command in ("ingest", "refresh", "revalidate"):
        get_catalog(args.catalog)  # unknown catalog -> clear error before Spark starts
    if args.command == "ingest":
        from astrolake.sources.files import expand, FITS_SUFFIXES, TEXT_SUFFIXES

        expand(args.paths, FITS_SUFFIXES + TEXT_SUFFIXES)  # missing file -> clear error before Spark starts
        result = pipeline.ingest(_lake(args), args.catalog, args.paths, quiet=args.quiet)
        _print_ledgers(result.ledgers)
        return 0
    if args.command == "refresh":
        if not Path(args.landing).is_dir():
            raise FileNotFoundError(f"landing folder not found: {args.landing}")
        result = pipeline.refresh(_lake(args), args.catalog, args.landing, quiet=args.quiet)
        _print_ledgers(result.ledgers)
        return 0
    if args.command == "revalidate":
        _print_ledgers([pipeline.revalidate(_lake(args), args.catalog, quiet=args.quiet)])
        return 0
    if args.command == "demo":
        from astrolake.demo import run_demo

        return run_demo(_lake(args), quiet=args.quiet)
    lake = _lake(args)
    _check_table(lake, args.table)
    if args.command == "optimize":
        maintenance.optimize(lake, args.table).show(truncate=False)
    elif args.command == "vacuum":
        maintenance.vacuum(lake, args.table, args.retain_hours).show(truncate=False)
    elif args.command == "history":
        maintenance.history(lake, args.table, args.limit).show(args.limit, truncate=80)
    elif args.command == "show":
        lake.read(args.table, version=args.version, timestamp=args.timestamp).show(args.limit, truncate=40)
    return 0


def _print_ledgers(ledgers) -> None:
    for led in ledgers:
        print(json.dumps({k: (str(v) if k.endswith("_at") else v) for k, v in led.as_dict().items()}))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except Exception as exc:  # one clear line, non-zero exit
        from astrolake.errors import describe

        print(f"astrolake {args.command}: error: {describe(exc)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
