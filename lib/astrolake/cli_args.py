"""The ``astrolake`` command line: every command, its arguments and their help.

Kept apart from :mod:`astrolake.cli` (which runs the commands) so that whatever needs to check
an ``astrolake`` argument list without running it, such as :mod:`astrolake.deploy.bundle`
validating a job's entry-point arguments, imports the parser alone.
"""

from __future__ import annotations

import argparse

__all__ = ["EXAMPLES", "XMATCH_MODES", "build_parser", "command_names"]

#: ``astrolake xmatch --mode`` choices: the modes of :func:`astrolake.sky.xmatch.crossmatch`
#: (spelled out here so that the parser imports nothing heavy; a test keeps the two equal)
XMATCH_MODES = ("all", "nearest", "n_nearest", "left", "anti", "best")

EXAMPLES = """examples:
  astrolake catalogs
  astrolake ingest sdss_dr14_skyserver data/sdss_dr14_skyserver_10k.csv
  astrolake refresh sdss_dr17_stellar --landing /data/landing/dr17
  astrolake revalidate sdss_dr14_skyserver
  astrolake optimize silver_sdss_dr14_skyserver
  astrolake history silver_sdss_dr14_skyserver
  astrolake show silver_sdss_dr14_skyserver --version 0 --limit 5
  astrolake cone --table silver_sdss_dr14_skyserver --ra 185.0 --dec 0.5 --radius 30arcmin --limit 5
  astrolake xmatch --left gold_sdss_dr14_skyserver --left-key _key --right silver_sdss_dr7_galaxies \
      --radius 1arcsec --mode best --out xmatch_dr14_dr7
  astrolake xmatch --left silver_sdss_dr7_galaxies --self --radius 30arcsec --mode nearest --out pairs_dr7
  astrolake demo
  astrolake features sdss_dr17_stellar
  astrolake train sdss_dr17_stellar --family rf --param numTrees=100 --param maxDepth=12
  astrolake train sdss_dr17_stellar --family logreg --tune cv --folds 3
  astrolake train mlz_sdss_mgs --task photoz --family gbt
  astrolake search sdss_dr17_stellar --budget-minutes 20 --metric macro_f1
  astrolake search sdss_dr17_stellar --family dnn --budget-minutes 20 --epochs 15
  astrolake train-dnn sdss_dr17_stellar --backend horovod --num-proc 2 --param epochs=20
  astrolake train-dnn sdss_dr17_stellar --backend tf-distribute --num-proc 2
  astrolake promote astrolake_classification_sdss_dr17_stellar
  astrolake score --model models:/astrolake_classification_sdss_dr17_stellar@champion \
      --table gold_sdss_dr17_stellar --out predictions_sdss_dr17_stellar
  astrolake report --table gold_sdss_dr14_skyserver
  astrolake report --model models:/astrolake_classification_sdss_dr17_stellar@champion --out reports/champion

exit status:
  0  done
  1  the request cannot be done as asked (unknown catalog or table, missing file, rejected batch)
  2  bad command-line arguments
  3  a bug in astrolake (the traceback is shown)
  4  the environment is broken (disk full, unwritable folder, Delta jars missing, MLflow store locked)
"""


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, not {text}")
    return value


def _confidence(text: str) -> float:
    value = _non_negative_float(text)
    if not 0.5 <= value < 1:
        raise argparse.ArgumentTypeError(f"a confidence is in [0.5, 1), not {text}")
    return value


def _at_least(low: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"at least {low}, not {value}")
        return value

    parse.__name__ = f"integer >= {low}"
    return parse


def _dry_run(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="list the files it would read and the rows it would add, change and quarantine; write nothing",
    )


def _common(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("settings (override ASTROLAKE_* variables and --config)")
    g.add_argument("--config", metavar="YAML", help="settings file (base_path, uc_catalog, uc_schema, ...)")
    g.add_argument("--base-path", metavar="DIR", help="folder holding the Delta tables (default: ./lakehouse)")
    g.add_argument(
        "--uc-catalog", metavar="NAME", help="Unity Catalog catalog (with --uc-schema: tables are catalog.schema.name)"
    )
    g.add_argument("--uc-schema", metavar="NAME", help="Unity Catalog schema")
    g.add_argument("--master", metavar="URL", help="Spark master for a local session (default: local[*])")
    g.add_argument("--driver-memory", metavar="SIZE", help="Spark driver memory, e.g. 4g (default: 4g)")
    g.add_argument("--shuffle-partitions", type=int, metavar="N", help="spark.sql.shuffle.partitions (default: 4)")
    g.add_argument(
        "--catalogs",
        action="append",
        metavar="DIR",
        help="folder of your own contracts and catalogs.yaml (repeatable; also $ASTROLAKE_CATALOGS)",
    )
    _output(p)


def _output(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("output")
    level = g.add_mutually_exclusive_group()
    level.add_argument("--quiet", action="store_true", help="warnings and errors only, no progress lines")
    level.add_argument(
        "--verbose", action="store_true", help="debug lines, and Spark/MLflow/py4j warnings (Spark's log at WARN)"
    )
    g.add_argument("--debug", action="store_true", help="on an error, show the whole traceback (exception chain)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="astrolake",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Survey-catalog analytics on Spark and Delta Lake: ingest catalogs into "
        "bronze/silver Delta tables with quarantine and a closing ledger.",
        epilog=EXAMPLES,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("catalogs", help="list the catalogs, their contracts and where each comes from")
    _common(p)

    p = sub.add_parser(
        "contract",
        help="draft a contract for your own files",
        description="`astrolake contract draft FILE` prints a contract drafted from a CSV or ECSV header "
        "or a FITS binary table, to complete (key, ranges, required columns) and save in a catalogs folder.",
    )
    p.add_argument("action", choices=["draft"], help="draft: write a contract draft")
    p.add_argument("file", help="a CSV (plain, .gz, .bz2), ECSV or FITS file")
    p.add_argument("--name", metavar="NAME", help="contract name (default: from the file name)")
    p.add_argument("--out", metavar="YAML", help="write the draft here instead of printing it")
    _common(p)

    p = sub.add_parser(
        "ingest",
        help="ingest landing files into bronze, silver and quarantine",
        description="Ingest files (or folders, or globs) for one catalog. Content "
        "already ingested is skipped, so a re-run changes nothing.",
    )
    p.add_argument("catalog", help="catalog name (see `astrolake catalogs`)")
    p.add_argument("paths", nargs="+", help="landing files, folders or globs")
    _dry_run(p)
    _common(p)

    p = sub.add_parser(
        "refresh",
        help="ingest only the files new in a landing folder since the last run",
        description="Exactly-once refresh of a landing folder: safe to kill and re-run.",
    )
    p.add_argument("catalog", help="catalog name")
    p.add_argument("--landing", required=True, metavar="DIR", help="landing folder to pick new files from")
    _dry_run(p)
    _common(p)

    p = sub.add_parser(
        "retract",
        help="soft-delete withdrawn objects listed in *.retract.csv files (silver, then gold and predictions)",
        description="Apply retraction lists: CSV files named *.retract.csv whose header names the catalog's key "
        "columns and optionally 'reason'. Listed rows are marked retracted (never deleted) with the reason and "
        "the batch; `astrolake features` and `astrolake score` carry the retraction on. A refresh applies the "
        "lists it finds in its landing folder.",
    )
    p.add_argument("catalog", help="catalog name")
    p.add_argument("paths", nargs="+", help="retraction lists (*.retract.csv), folders or globs")
    p.add_argument("--reason", metavar="TEXT", help="the reason for rows whose list gives none")
    _common(p)

    p = sub.add_parser("revalidate", help="rebuild silver and quarantine from bronze under the current contract")
    p.add_argument("catalog", help="catalog name")
    _common(p)

    p = sub.add_parser("optimize", help="OPTIMIZE a table (liquid clustering by HEALPix for silver)")
    p.add_argument("table", help="table name, e.g. silver_sdss_dr14_skyserver")
    _common(p)

    p = sub.add_parser("vacuum", help="VACUUM a table; refuses to cut into the time-travel window")
    p.add_argument("table", help="table name")
    p.add_argument(
        "--retain-hours",
        type=float,
        default=168.0,
        metavar="H",
        help="keep files younger than H hours (minimum and default 168 = 7 days)",
    )
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

    p = sub.add_parser(
        "cone",
        help="rows of a table within a radius of a position (HEALPix data skipping)",
        description="Cone search on a table with positions in degrees (silver's healpix_29 lets Delta "
        "skip the files that cannot hold an answer). Prints the nearest rows, sorted by sep_arcsec, "
        "and how many of the table's files were read; --out writes every row found.",
    )
    p.add_argument("--table", required=True, metavar="TABLE", help="table name or Delta path")
    p.add_argument("--ra", required=True, type=float, metavar="DEG", help="right ascension of the centre, degrees")
    p.add_argument("--dec", required=True, type=float, metavar="DEG", help="declination of the centre, degrees")
    p.add_argument(
        "--radius",
        required=True,
        metavar="R",
        help="1arcsec, 2.5arcmin, 0.1deg ...; a bare number is in degrees (at most 10 degrees)",
    )
    p.add_argument("--limit", type=int, default=20, metavar="N", help="rows to print, nearest first (default 20)")
    p.add_argument("--out", metavar="TABLE", help="also write every row found to this Delta table (replaced)")
    _common(p)

    p = sub.add_parser(
        "export-hats",
        help="write a table as a HATS catalog (LSDB's HEALPix-partitioned Parquet) with its margin",
        description="Write a table with positions as a HATS collection: the catalog <name>/ "
        "(dataset/Norder=K/Dir=D/Npix=N.parquet, partition_info.csv, hats.properties, _metadata) and "
        "its margin catalog <name>_<margin>arcs/, so that LSDB's cross-match is complete at pixel edges.",
    )
    p.add_argument("--table", required=True, metavar="TABLE", help="table name or Delta path")
    p.add_argument("--out", required=True, metavar="DIR", help="folder of the HATS collection (local or shared)")
    p.add_argument("--name", metavar="NAME", help="catalog name (default: the table's name)")
    p.add_argument("--max-rows", type=int, default=1_000_000, metavar="N", help="rows per partition at most")
    p.add_argument("--margin", default="10arcsec", metavar="R", help="margin width: 10arcsec, 1arcmin ...; 0 for none")
    p.add_argument("--max-order", type=int, default=10, metavar="K", help="finest partition order (default 10)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing collection in --out")
    _common(p)

    p = sub.add_parser(
        "xmatch",
        help="cross-match two tables by position; the pairs to a Delta table",
        description="Positional cross-match on HEALPix cells (see docs/sky.md). The key of a silver "
        "table of a known catalog defaults to its contract's key when that is one column; "
        "otherwise give --left-key / --right-key (unique, not null).",
    )
    p.add_argument("--left", required=True, metavar="TABLE", help="left table name or Delta path")
    p.add_argument("--right", metavar="TABLE", help="right table name or Delta path (default with --self: --left)")
    p.add_argument(
        "--radius",
        required=True,
        metavar="R",
        help="largest separation: 1arcsec, 0.5arcmin, 0.001deg ...; a bare number is in arcseconds",
    )
    p.add_argument(
        "--mode",
        choices=XMATCH_MODES,
        default="all",
        help="all: every pair (default); nearest; n_nearest: the --n nearest; left: like n_nearest plus "
        "the left rows without a partner; anti: the left rows without a partner; best: mutual nearest",
    )
    p.add_argument(
        "--n",
        metavar="N",
        help="partners per left row for --mode n_nearest and left (default 1; 'all' for left: every partner)",
    )
    p.add_argument("--min-radius", metavar="R", help="ignore pairs closer than this (same units as --radius)")
    p.add_argument("--left-key", metavar="COL", help="unique key column of the left table")
    p.add_argument("--right-key", metavar="COL", help="unique key column of the right table")
    p.add_argument("--left-cols", metavar="A,B", help="left columns to carry (default: its ra, dec)")
    p.add_argument("--right-cols", metavar="C,D", help="right columns to carry (default: its ra, dec)")
    p.add_argument(
        "--self",
        dest="self_match",
        action="store_true",
        help="match a table with itself, leaving out each row's pair with itself",
    )
    p.add_argument("--out", required=True, metavar="TABLE", help="Delta table to write the matches to (replaced)")
    _common(p)

    p = sub.add_parser("demo", help="ingest the shipped SDSS sample end to end and summarise it")
    _common(p)

    p = sub.add_parser(
        "features",
        help="build or refresh gold_<catalog> (features, label, split) from silver",
        description="Incremental: only silver rows changed since the last run are merged.",
    )
    p.add_argument("catalog", help="catalog name")
    p.add_argument("--rebuild", action="store_true", help="rebuild gold from a silver snapshot")
    _common(p)

    p = sub.add_parser("train", help="train one model family, evaluate it, log and register it in MLflow")
    p.add_argument("catalog", help="catalog (or gold table) to train on")
    p.add_argument("--task", choices=["classification", "photoz", "clustering"], default="classification")
    p.add_argument("--family", default="rf", help="model family (see `astrolake families`; default rf)")
    p.add_argument("--feature-set", choices=["photometry", "full", "dereddened"], default="photometry")
    p.add_argument("--features", metavar="A,B,...", help="only these columns (must be in the feature set)")
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="estimator parameter (repeatable), e.g. --param maxDepth=12",
    )
    p.add_argument(
        "--tune", choices=["cv", "tvs"], help="tune over the family's grid: cross-validation or train/validation split"
    )
    p.add_argument("--grid", choices=["small", "default"], default="small", help="grid size for --tune")
    p.add_argument("--folds", type=int, default=3, help="folds for --tune cv (default 3)")
    p.add_argument("--table-version", type=int, metavar="V", help="train on this gold version (default: latest)")
    p.add_argument("--model-name", metavar="NAME", help="registered model name (default astrolake_<task>_<catalog>)")
    p.add_argument("--no-register", action="store_true", help="log the run without registering the model")
    p.add_argument(
        "--split-by",
        choices=["hash", "sky"],
        default="hash",
        help="hash: the gold table's split (default); sky: whole HEALPix order-3 cells go to one split "
        "(evaluation only: needs --no-register)",
    )
    _common(p)

    p = sub.add_parser(
        "search",
        help="search model families and grids within a budget; register the best",
        description="Every trial is a nested MLflow run scored on the validation split; the "
        "best by --metric is scored once on the test split and registered.",
    )
    p.add_argument("catalog", help="catalog (or gold table) to train on")
    p.add_argument("--task", choices=["classification", "photoz"], default="classification")
    p.add_argument("--family", action="append", metavar="NAME", help="families to search (repeatable; default: all)")
    p.add_argument("--feature-set", choices=["photometry", "full", "dereddened"], default="photometry")
    p.add_argument(
        "--budget-minutes",
        type=float,
        default=20.0,
        help="time for the whole search: trials that no longer fit are skipped, "
        "one still running at the end is cancelled (default 20)",
    )
    p.add_argument("--max-trials", type=int, help="at most this many trials")
    p.add_argument("--metric", help="validation metric to select by (default macro_f1 / sigma_nmad)")
    p.add_argument(
        "--stack",
        type=int,
        default=0,
        metavar="K",
        help="also try a stacked ensemble of the best trial of each of the K best families, its meta-learner "
        "fitted on validation; selected only when it beats the best trial (classification; default 0: none)",
    )
    p.add_argument("--grid", choices=["small", "default"], default="default", help="grid size (default: default)")
    p.add_argument("--table-version", type=int, metavar="V", help="search on this gold version")
    p.add_argument("--model-name", metavar="NAME", help="registered model name")
    g = p.add_argument_group("--family dnn (Optuna over network architectures)")
    g.add_argument("--epochs", type=int, default=15, help="epochs per trial and for the refit (default 15)")
    g.add_argument(
        "--backend",
        choices=["horovod", "tf-distribute", "local"],
        default="horovod",
        help="launcher of the refit of the best network (default horovod)",
    )
    g.add_argument("--num-proc", type=int, default=2, help="workers of the refit (default 2)")
    _common(p)

    p = sub.add_parser(
        "promote", help="make the challenger champion only if it wins beyond the noise on the hold-out rows"
    )
    p.add_argument("model_name", help="registered model name")
    p.add_argument(
        "--metric",
        help="metric to compare by: macro_f1 (default) or accuracy; sigma_nmad (default), "
        "outlier_fraction, rmse or mae for photo-z",
    )
    p.add_argument("--table-version", type=int, metavar="V", help="gold version whose hold-out split is used")
    p.add_argument(
        "--min-gain",
        type=_non_negative_float,
        default=0.0,
        metavar="X",
        help="the whole bootstrap interval of the gain must exceed X, in the metric's units (default 0)",
    )
    p.add_argument(
        "--confidence",
        type=_confidence,
        default=0.95,
        metavar="P",
        help="confidence of the paired-bootstrap interval (default 0.95)",
    )
    p.add_argument(
        "--bootstrap", type=_at_least(100), default=1000, metavar="N", help="bootstrap resamples (default 1000)"
    )
    _common(p)

    p = sub.add_parser("score", help="score a Delta table with a registered model; predictions to Delta")
    p.add_argument("--model", required=True, metavar="URI", help="models:/NAME@champion or models:/NAME/VERSION")
    p.add_argument("--table", required=True, help="table to score (a gold table)")
    p.add_argument("--out", required=True, help="predictions table to append to")
    p.add_argument(
        "--rescore", action="store_true", help="score rows already scored by another version of the model again"
    )
    p.add_argument("--table-version", type=int, metavar="V", help="score this version of the table")
    _common(p)

    p = sub.add_parser(
        "report",
        help="HTML report of a table (exploration) or of a registered model (evaluation)",
        description="Self-contained HTML (figures embedded) plus the PNGs. Every statistic is "
        "computed in Spark; only bins reach the driver. A model report is also "
        "logged to the model's MLflow run under report/.",
    )
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--table", help="silver or gold table, e.g. gold_sdss_dr14_skyserver")
    what.add_argument(
        "--model", metavar="URI", help="models:/NAME@champion, models:/NAME@challenger or models:/NAME/VERSION"
    )
    p.add_argument(
        "--out", metavar="DIR", help="output folder (default ./reports/<table> or ./reports/<model>_v<version>)"
    )
    p.add_argument("--version", type=int, metavar="V", help="--table: report on this version of the table")
    p.add_argument("--no-log", action="store_true", help="--model: do not log the report as an MLflow artifact")
    _common(p)

    p = sub.add_parser(
        "train-dnn",
        help="train a deep Keras MLP with Horovod or tf.distribute; register it",
        description="One training function, several launchers: Horovod ranks started by Spark "
        "(default) or by horovodrun, tf.distribute workers in a Spark barrier stage, "
        "or one local process. A killed run resumes from its last checkpoint.",
    )
    p.add_argument("catalog", help="catalog (or gold table) to train on")
    p.add_argument("--task", choices=["classification", "photoz"], default="classification")
    p.add_argument("--backend", choices=["horovod", "tf-distribute", "local"], default="horovod")
    p.add_argument("--num-proc", type=int, default=2, help="number of workers (default 2)")
    p.add_argument(
        "--launcher",
        choices=["spark", "horovodrun"],
        default="spark",
        help="how Horovod ranks start (default: Spark tasks)",
    )
    p.add_argument("--hosts", help="horovodrun -H value, e.g. host1:2,host2:2 (default localhost:N)")
    p.add_argument("--feature-set", choices=["photometry"], default="photometry")
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="depth, width, dropout, batch_size, learning_rate, epochs, patience, warmup_epochs, seed",
    )
    p.add_argument("--threads-per-rank", type=int, default=1, help="TF/OMP threads per worker (default 1)")
    p.add_argument("--table-version", type=int, metavar="V")
    p.add_argument("--model-name", metavar="NAME")
    p.add_argument("--no-register", action="store_true")
    _common(p)

    p = sub.add_parser(
        "check-quarantine",
        help="fail when the newest batch quarantined too many rows",
        description="Exit 1 when quarantined / read of the catalog's newest batch exceeds --max-rate.",
    )
    p.add_argument("catalog", help="catalog name")
    p.add_argument("--max-rate", type=float, default=0.05, help="highest acceptable fraction (default 0.05)")
    _common(p)

    p = sub.add_parser(
        "validate-bundle",
        help="check the Databricks asset bundle offline",
        description="Variables, typed job models, notebooks and their widgets, entry-point "
        "arguments, Quartz crons, wheels, secrets. Exit 1 on any problem.",
    )
    p.add_argument("--path", default="deploy/databricks", help="bundle folder (default deploy/databricks)")
    p.add_argument("--target", action="append", help="target(s) to check (default: all)")
    _output(p)

    p = sub.add_parser("families", help="list model families per task and how each handles class imbalance")
    _common(p)
    return parser


def command_names(parser: argparse.ArgumentParser | None = None) -> list[str]:
    """The sub-commands ``parser`` (by default :func:`build_parser`'s) accepts, in help order."""
    parser = parser or build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return list(sub.choices)
