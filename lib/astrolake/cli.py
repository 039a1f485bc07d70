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
"""


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
    g.add_argument("--quiet", action="store_true", help="no progress output")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="astrolake",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Survey-catalog analytics on Spark and Delta Lake: ingest catalogs into "
        "bronze/silver Delta tables with quarantine and a closing ledger.",
        epilog=EXAMPLES,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("catalogs", help="list the catalogs and their contracts")
    _common(p)

    p = sub.add_parser(
        "ingest",
        help="ingest landing files into bronze, silver and quarantine",
        description="Ingest files (or folders, or globs) for one catalog. Content "
        "already ingested is skipped, so a re-run changes nothing.",
    )
    p.add_argument("catalog", help="catalog name (see `astrolake catalogs`)")
    p.add_argument("paths", nargs="+", help="landing files, folders or globs")
    _common(p)

    p = sub.add_parser(
        "refresh",
        help="ingest only the files new in a landing folder since the last run",
        description="Exactly-once refresh of a landing folder: safe to kill and re-run.",
    )
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
    p.add_argument("--feature-set", choices=["photometry", "full"], default="photometry")
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
    p.add_argument("--feature-set", choices=["photometry", "full"], default="photometry")
    p.add_argument("--budget-minutes", type=float, default=20.0, help="stop starting trials after this (default 20)")
    p.add_argument("--max-trials", type=int, help="at most this many trials")
    p.add_argument("--metric", help="validation metric to select by (default macro_f1 / sigma_nmad)")
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

    p = sub.add_parser("promote", help="make the challenger champion only if it wins on the same test rows")
    p.add_argument("model_name", help="registered model name")
    p.add_argument("--metric", help="metric to compare by (default macro_f1 / sigma_nmad)")
    p.add_argument("--table-version", type=int, metavar="V", help="gold version whose test split is used")
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

    p = sub.add_parser("families", help="list model families per task and how each handles class imbalance")
    _common(p)
    return parser


def _params(pairs: list[str]) -> dict:
    """``NAME=VALUE`` pairs -> dict, values parsed as JSON where they can be (numbers, lists)."""
    out = {}
    for pair in pairs:
        if "=" not in pair:
            raise ValueError(f"--param {pair!r} must look like NAME=VALUE")
        k, v = pair.split("=", 1)
        try:
            out[k.strip()] = json.loads(v)
        except json.JSONDecodeError:
            out[k.strip()] = v
    return out


def _settings(args):
    from astrolake.config import Settings

    return Settings.load(
        args.config,
        base_path=args.base_path,
        spark_master=args.master,
        uc_catalog=args.uc_catalog,
        uc_schema=args.uc_schema,
        driver_memory=args.driver_memory,
        shuffle_partitions=args.shuffle_partitions,
    )


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
    if args.command == "validate-bundle":
        from astrolake.deploy.bundle import validate

        problems = validate(args.path, args.target)
        for prob in problems:
            print(prob)
        if problems:
            raise ValueError(f"{len(problems)} problem(s) in the bundle at {args.path}")
        print(f"bundle at {args.path}: valid for every target")
        return 0
    if args.command == "check-quarantine":
        if not 0 <= args.max_rate <= 1:
            raise ValueError("--max-rate must be between 0 and 1")
        get_catalog(args.catalog)
        batch, rate, bad, read = pipeline.last_quarantine_rate(_lake(args), args.catalog)
        if batch is None:
            raise LookupError(f"no batch of {args.catalog} in the ledger yet")
        print(
            f"{args.catalog} batch {batch}: {bad:,} of {read:,} rows quarantined ({rate:.2%}; limit {args.max_rate:.2%})"
        )
        if rate > args.max_rate:
            raise RuntimeError(
                f"quarantine rate {rate:.2%} of batch {batch} exceeds {args.max_rate:.2%}: "
                "see the quarantine table's _reasons"
            )
        return 0
    if args.command in ("ingest", "refresh", "revalidate"):
        get_catalog(args.catalog)  # unknown catalog -> clear error before Spark starts
    if args.command == "ingest":
        from astrolake.sources.files import FITS_SUFFIXES, TEXT_SUFFIXES, expand

        expand(args.paths, FITS_SUFFIXES + TEXT_SUFFIXES)  # missing file -> clear error before Spark starts
        lake = _lake(args)
        result = pipeline.ingest(lake, args.catalog, args.paths, quiet=args.quiet)
        _print_ledgers(result.ledgers)
        _refresh_gold(lake, args.catalog, args.quiet)
        return 0
    if args.command == "refresh":
        if not Path(args.landing).is_dir():
            raise FileNotFoundError(f"landing folder not found: {args.landing}")
        lake = _lake(args)
        result = pipeline.refresh(lake, args.catalog, args.landing, quiet=args.quiet)
        _print_ledgers(result.ledgers)
        _refresh_gold(lake, args.catalog, args.quiet)
        return 0
    if args.command == "revalidate":
        _print_ledgers([pipeline.revalidate(_lake(args), args.catalog, quiet=args.quiet)])
        return 0
    if args.command == "demo":
        from astrolake.demo import run_demo

        return run_demo(_lake(args), quiet=args.quiet)
    if args.command in ("features", "train", "search", "promote", "score", "families", "train-dnn", "report"):
        return run_learning(args)
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


def _refresh_gold(lake, catalog: str, quiet: bool) -> None:
    """Once a catalog has a gold table, every ingest/refresh brings it up to date (change feed)."""
    from astrolake.catalogs.contract import get_catalog
    from astrolake.ml.features import build_gold

    if lake.exists(get_catalog(catalog).gold_table):
        print(build_gold(lake, catalog, quiet=quiet).line())


def run_learning(args) -> int:
    from astrolake.ml import models

    if args.command == "families":
        for task, names in models.TASK_FAMILIES.items():
            for n in names:
                f = models.family(task, n)
                print(f"{task:15s} {n:7s} {f.description:62s} imbalance: {f.imbalance}")
        return 0
    if args.command in ("train", "search"):
        fams = [args.family] if args.command == "train" else [f for f in (args.family or []) if f != "dnn"]
        for f in fams:  # bad family -> clear error before Spark starts
            models.family(args.task, f)
    if args.command == "features":
        from astrolake.catalogs.contract import get_catalog
        from astrolake.ml.features import build_gold

        get_catalog(args.catalog)
        print(build_gold(_lake(args), args.catalog, rebuild=args.rebuild, quiet=args.quiet).line())
    elif args.command == "train":
        from astrolake.ml.train import train

        params = _params(args.param)
        features = [c.strip() for c in args.features.split(",")] if args.features else None
        r = train(
            _lake(args),
            args.catalog,
            task=args.task,
            family=args.family,
            feature_set=args.feature_set,
            features=features,
            params=params,
            tune=args.tune,
            grid_size=args.grid,
            folds=args.folds,
            table_version=args.table_version,
            register=not args.no_register,
            name=args.model_name,
            quiet=args.quiet,
        )
        print(
            json.dumps(
                {
                    "run_id": r.run_id,
                    "model_name": r.model_name,
                    "version": r.version,
                    "table": r.table,
                    "table_version": r.table_version,
                    "metrics": r.metrics,
                }
            )
        )
    elif args.command == "search" and args.family and "dnn" in args.family:
        from astrolake.dl.search import search_dnn

        if args.family != ["dnn"]:
            raise ValueError("--family dnn searches network architectures; give it alone")
        r = search_dnn(
            _lake(args),
            args.catalog,
            task=args.task,
            budget_minutes=args.budget_minutes,
            max_trials=args.max_trials,
            epochs=args.epochs,
            backend=args.backend,
            num_proc=args.num_proc,
            name=args.model_name,
            table_version=args.table_version,
            quiet=args.quiet,
        )
        print(
            json.dumps(
                {
                    "run_id": r.run_id,
                    "trials": len(r.trials),
                    "best": r.best,
                    "hand_set": r.hand_set,
                    "model_name": r.refit.model_name,
                    "version": r.refit.version,
                }
            )
        )
    elif args.command == "search":
        from astrolake.ml.search import search

        r = search(
            _lake(args),
            args.catalog,
            task=args.task,
            families=args.family,
            feature_set=args.feature_set,
            budget_minutes=args.budget_minutes,
            max_trials=args.max_trials,
            metric=args.metric,
            grid_size=args.grid,
            name=args.model_name,
            table_version=args.table_version,
            quiet=args.quiet,
        )
        print(
            json.dumps(
                {
                    "run_id": r.run_id,
                    "model_name": r.model_name,
                    "version": r.version,
                    "trials": len(r.trials),
                    "stopped_by": r.stopped_by,
                    "best_family": r.best.family,
                    "best_params": r.best.params,
                    f"validation_{r.metric}": r.best.value,
                    "test_metrics": r.test_metrics,
                }
            )
        )
    elif args.command == "train-dnn":
        from astrolake.dl.train import train_dnn

        if args.num_proc < 1:
            raise ValueError("--num-proc must be at least 1")
        r = train_dnn(
            _lake(args),
            args.catalog,
            task=args.task,
            backend=args.backend,
            num_proc=args.num_proc,
            feature_set=args.feature_set,
            params=_params(args.param),
            table_version=args.table_version,
            register=not args.no_register,
            name=args.model_name,
            launcher=args.launcher,
            hosts=args.hosts,
            threads_per_rank=args.threads_per_rank,
            quiet=args.quiet,
        )
        print(
            json.dumps(
                {
                    "run_id": r.run_id,
                    "model_name": r.model_name,
                    "version": r.version,
                    "table": r.table,
                    "table_version": r.table_version,
                    "metrics": r.metrics,
                    "workers": len(r.ranks),
                    "samples_per_second": r.ranks[0]["samples_per_second"],
                }
            )
        )
    elif args.command == "promote":
        from astrolake.ml.registry import promote

        r = promote(
            _lake(args), args.model_name, metric=args.metric, table_version=args.table_version, quiet=args.quiet
        )
        print(
            json.dumps(
                {
                    "model_name": r.model_name,
                    "promoted": r.promoted,
                    "champion": r.champion_after,
                    "challenger": r.challenger,
                    "metric": r.metric,
                    "challenger_value": r.challenger_value,
                    "champion_value": r.champion_value,
                    "table_version": r.table_version,
                }
            )
        )
    elif args.command == "score":
        from astrolake.ml.scoring import score

        r = score(
            _lake(args),
            args.model,
            args.table,
            args.out,
            rescore=args.rescore,
            table_version=args.table_version,
            quiet=args.quiet,
        )
        print(json.dumps(r.__dict__))
    elif args.command == "report":
        from astrolake.report.build import model_report, table_report

        if args.model:
            if args.version is not None:
                raise ValueError(
                    "--version applies to --table; a model report uses the table version the model was trained on"
                )
            r = model_report(_lake(args), args.model, out=args.out, quiet=args.quiet, log_artifact=not args.no_log)
        else:
            r = table_report(_lake(args), args.table, out=args.out, version=args.version, quiet=args.quiet)
        print(json.dumps(r.summary()))
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
