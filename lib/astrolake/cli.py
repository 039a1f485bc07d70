"""``astrolake <command>``: the command-line door.  Each command is a thin call into the library.

The arguments are declared in :mod:`astrolake.cli_args`; :data:`COMMANDS` maps each command to
the function that runs it.  Exit status (see :mod:`astrolake.errors`):

* 0: done.
* 1: a :class:`~astrolake.errors.UserError`: the request cannot be done as asked (unknown catalog
  or table, missing file, rejected batch, quarantine gate exceeded).  One ``error:`` line.
* 2: bad command-line arguments: argparse's usage and error line, or one line for a
  :class:`~astrolake.errors.UsageError` found after parsing (a value out of range, a malformed
  ``--param``).
* 3: a bug: the traceback, then one closing line.
* 4: an :class:`~astrolake.errors.EnvError`: the environment is broken (disk full, unwritable
  folder, Delta jars missing, MLflow store locked).  One line naming the cause.

``--debug`` shows the whole exception chain for every branch.
"""

from __future__ import annotations

import json
import math
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

from astrolake.cli_args import build_parser
from astrolake.errors import EXIT_BUG, UsageError, UserError, classify, describe
from astrolake.layout import live

__all__ = ["COMMANDS", "build_parser", "main", "run"]


def _params(pairs: list[str]) -> dict:
    """``NAME=VALUE`` pairs -> dict, values parsed as JSON where they can be (numbers, lists)."""
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"--param {pair!r} must look like NAME=VALUE")
        try:
            out[name.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[name.strip()] = value
    return out


def _at_least(value: int | float | None, low: int | float, option: str) -> None:
    if value is not None and value < low:
        raise UsageError(f"{option} must be at least {low}, got {value}")


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
        catalogs_path=os.pathsep.join(args.catalogs) if getattr(args, "catalogs", None) else None,
    )


def _lake(args):
    from astrolake.lake.tables import Lake
    from astrolake.spark import get_spark

    settings = _settings(args)
    return Lake(get_spark(settings), settings)


def _catalog(name: str):
    """The catalog, or a :class:`~astrolake.errors.UserError` before Spark starts."""
    from astrolake.catalogs.contract import get_catalog

    return get_catalog(name)


def _check_table(lake, table: str) -> None:
    if not lake.exists(table):
        raise UserError(f"no table {table!r} at {lake.location(table)}")


def _print_json(value: dict) -> None:
    print(json.dumps(value))


def _print_ledgers(ledgers) -> None:
    for led in ledgers:
        _print_json({k: (str(v) if k.endswith("_at") else v) for k, v in led.as_dict().items()})


def _refresh_gold(lake, catalog: str) -> None:
    """Once a catalog has a gold table, every ingest/refresh brings it up to date (change feed)."""
    from astrolake.ml.features import build_gold

    if lake.exists(_catalog(catalog).gold_table):
        print(build_gold(lake, catalog).line())


# ------------------------------------------------------------------------------------ the lake
def cmd_catalogs(args) -> int:
    from astrolake.catalogs.contract import catalogs

    for name, cat in sorted(catalogs().items()):
        key = ", ".join(cat.contract.key)
        print(f"{name:22s} {cat.contract.name:18s} {cat.data_release:12.12s} key=({key})  [{cat.origin}]")
    return 0


def cmd_contract(args) -> int:
    from astrolake.catalogs.draft import draft

    text = draft(args.file, name=args.name)
    if args.out:
        Path(args.out).write_text(text)
        print(f"contract draft written to {args.out}", file=sys.stderr)
    else:
        print(text, end="")
    return 0


def cmd_ingest(args) -> int:
    from astrolake.lake import pipeline
    from astrolake.sources.files import LANDING_SUFFIXES, expand

    _catalog(args.catalog)  # unknown catalog -> clear error before Spark starts
    expand(args.paths, LANDING_SUFFIXES)  # missing file -> clear error before Spark starts
    lake = _lake(args)
    if args.dry_run:
        return _dry_run(lake, args.catalog, args.paths)
    result = pipeline.ingest(lake, args.catalog, args.paths)
    _print_ledgers(result.ledgers)
    _refresh_gold(lake, args.catalog)
    return 0


def cmd_refresh(args) -> int:
    from astrolake.lake import pipeline

    _catalog(args.catalog)
    if not Path(args.landing).is_dir():
        raise UserError(f"landing folder not found: {args.landing}")
    lake = _lake(args)
    if args.dry_run:
        return _dry_run(lake, args.catalog, [args.landing])
    result = pipeline.refresh(lake, args.catalog, args.landing)
    _print_ledgers(result.ledgers)
    _refresh_gold(lake, args.catalog)
    return 0


def _dry_run(lake, catalog: str, paths: list[str]) -> int:
    from astrolake.lake.preview import preview

    result = preview(lake, catalog, paths)
    for line in result.notices:
        print(line, file=sys.stderr)
    print("\n".join(result.lines()))
    return 0


def cmd_retract(args) -> int:
    from astrolake.lake.retract import retract
    from astrolake.layout import RETRACT_SUFFIX
    from astrolake.sources.files import expand

    _catalog(args.catalog)
    expand(args.paths, (RETRACT_SUFFIX,))  # a missing list -> clear error before Spark starts
    lake = _lake(args)
    result = retract(lake, args.catalog, args.paths, reason=args.reason)
    for path in result.skipped:
        print(f"skipped {path}: applied before", file=sys.stderr)
    _print_ledgers(result.ledgers)
    _refresh_gold(lake, args.catalog)
    return 0


def cmd_revalidate(args) -> int:
    from astrolake.lake import pipeline

    _catalog(args.catalog)
    _print_ledgers([pipeline.revalidate(_lake(args), args.catalog)])
    return 0


def cmd_check_quarantine(args) -> int:
    from astrolake.lake import pipeline

    if not 0 <= args.max_rate <= 1:
        raise UsageError(f"--max-rate must be between 0 and 1, got {args.max_rate}")
    _catalog(args.catalog)
    batch, rate, bad, read = pipeline.last_quarantine_rate(_lake(args), args.catalog)
    if batch is None:
        raise UserError(f"no batch of {args.catalog} in the ledger yet")
    print(f"{args.catalog} batch {batch}: {bad:,} of {read:,} rows quarantined ({rate:.2%}; limit {args.max_rate:.2%})")
    if rate > args.max_rate:
        raise UserError(
            f"quarantine rate {rate:.2%} of batch {batch} exceeds {args.max_rate:.2%}: "
            "see the quarantine table's _reasons"
        )
    return 0


def _table_lake(args):
    lake = _lake(args)
    _check_table(lake, args.table)
    return lake


def cmd_optimize(args) -> int:
    from astrolake.lake import maintenance

    lake = _table_lake(args)
    maintenance.optimize(lake, args.table).show(truncate=False)
    return 0


def cmd_vacuum(args) -> int:
    from astrolake.lake import maintenance

    lake = _table_lake(args)
    maintenance.vacuum(lake, args.table, args.retain_hours).show(truncate=False)
    return 0


def cmd_history(args) -> int:
    from astrolake.lake import maintenance

    _at_least(args.limit, 1, "--limit")
    lake = _table_lake(args)
    maintenance.history(lake, args.table, args.limit).show(args.limit, truncate=80)
    return 0


def cmd_show(args) -> int:
    _at_least(args.limit, 1, "--limit")
    if args.version is not None and args.timestamp is not None:
        raise UsageError("give --version or --timestamp, not both")
    lake = _table_lake(args)
    lake.read(args.table, version=args.version, timestamp=args.timestamp).show(args.limit, truncate=40)
    return 0


# --------------------------------------------------------------------------------------- sky
def _angle(text: str, option: str, unit: str, positive: bool = True) -> float:
    """An angle typed as ``1arcsec``, ``2.5arcmin``, ``0.1deg`` (astropy's unit syntax), or as a bare
    number in ``unit``, converted to ``unit``; a :class:`UsageError` for anything else."""
    import astropy.units as u

    try:
        q = u.Quantity(text)
    except (TypeError, ValueError):
        raise UsageError(
            f"{option} {text!r} is not an angle: give a number and a unit, e.g. 1arcsec, 2.5arcmin, 0.1deg"
        ) from None
    if q.unit == u.dimensionless_unscaled:
        q = q.value * u.Unit(unit)
    try:
        value = float(q.to_value(unit))
    except u.UnitConversionError:
        raise UsageError(f"{option} {text!r} is not an angle (unit {q.unit}): use arcsec, arcmin or deg") from None
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        raise UsageError(f"{option} must be a {'positive' if positive else 'non-negative'} angle, got {text!r}")
    return value


def _not_an_input(args, out: str | None, tables: list[str]) -> None:
    """Refuse an ``--out`` that is one of the tables read: replacing it would lose its rows."""
    if out is None:
        return
    settings = _settings(args)
    if any(settings.table(out) == settings.table(t) for t in tables):
        raise UsageError(f"--out {out!r} is a table the command reads: write the result to another table")


def _sky_catalog(table: str):
    """The catalog whose silver table ``table`` (a name or a path ending in one) is, else None."""
    from astrolake import layout
    from astrolake.catalogs.contract import catalogs

    name = table.rstrip("/").rsplit("/", 1)[-1]
    if layout.layer_of(name) != "silver":
        return None
    return catalogs().get(layout.catalog_of(name))


def _position(table: str) -> tuple[str, str]:
    """The position columns of ``table``: its contract's for a silver table, else ``ra``, ``dec``."""
    cat = _sky_catalog(table)
    position = cat.contract.position if cat is not None else None
    return position or ("ra", "dec")


def _xmatch_key(table: str, given: str | None, option: str) -> str:
    """``given``, else the one-column contract key of the silver table ``table``."""
    if given:
        return given
    cat = _sky_catalog(table)
    if cat is None:
        raise UsageError(
            f"give {option}: {table!r} is not the silver table of a known catalog, so it has no default key "
            "(a unique, non-null column; _key for a gold table)"
        )
    key = cat.contract.key
    if len(key) != 1:
        raise UsageError(
            f"give {option}: the key of {table} is ({', '.join(key)}), several columns; "
            "name one unique, non-null column"
        )
    return key[0]


def _columns(text: str | None) -> list[str] | None:
    return None if text is None else [c.strip() for c in text.split(",") if c.strip()]


def _partners(args) -> int | None:
    """``--n``: 1 when not given, ``None`` (every partner) for ``all``."""
    if args.n is None:
        return 1
    if args.mode not in ("n_nearest", "left"):
        raise UsageError(f"--n applies to --mode n_nearest or left, not {args.mode}")
    if args.n == "all":
        if args.mode != "left":
            raise UsageError("--n all applies to --mode left (every partner of each left row)")
        return None
    try:
        n = int(args.n)
    except ValueError:
        raise UsageError(f"--n must be a whole number or 'all', got {args.n!r}") from None
    _at_least(n, 1, "--n")
    return n


def cmd_cone(args) -> int:
    from astrolake.sky.cone import check_cone, cone_files, cone_search

    radius = _angle(args.radius, "--radius", "deg")
    check_cone(args.ra, args.dec, radius)
    _at_least(args.limit, 1, "--limit")
    _not_an_input(args, args.out, [args.table])
    ra_col, dec_col = _position(args.table)
    lake = _table_lake(args)
    found = cone_search(live(lake.read(args.table)), args.ra, args.dec, radius, ra_col=ra_col, dec_col=dec_col)
    files = cone_files(lake, args.table, args.ra, args.dec, radius, ra_col=ra_col, dec_col=dec_col)
    shown = found.select("sep_arcsec", *[c for c in found.columns if c != "sep_arcsec"]).orderBy("sep_arcsec")
    shown.show(args.limit, truncate=40)
    print(
        f"{files.rows:,} rows within {args.radius} of ra {args.ra:g}, dec {args.dec:g}; "
        f"files read {files.files_read} of {files.files_total}"
    )
    if args.out:
        lake.replace(found, args.out, overwrite_schema=True)
        print(f"{files.rows:,} rows written to {args.out}")
    return 0


def cmd_export_hats(args) -> int:
    from astrolake.sky.hats import export_hats

    _at_least(args.max_rows, 1, "--max-rows")
    if not 0 <= args.max_order <= 29:
        raise UsageError(f"--max-order must be in [0, 29], got {args.max_order}")
    margin = _angle(args.margin, "--margin", "arcsec", positive=False)
    ra_col, dec_col = _position(args.table)
    lake = _table_lake(args)
    name = args.name or Path(lake.location(args.table).rstrip("/")).name
    done = export_hats(
        live(lake.read(args.table)),
        args.out,
        name,
        ra_col=ra_col,
        dec_col=dec_col,
        max_rows=args.max_rows,
        margin_arcsec=margin or None,
        max_order=args.max_order,
        overwrite=args.overwrite,
    )
    orders = sorted({k for k, _, _ in done.partitions})
    print(
        f"{done.rows:,} rows in {len(done.partitions)} partition(s) (orders {orders[0]}-{orders[-1]}) at {done.catalog}"
        if orders
        else f"no rows with a position: nothing written at {done.catalog}"
    )
    if done.margin is not None:
        print(f"{done.margin_rows:,} margin rows ({margin:g} arcsec) at {done.margin}")
    if done.dropped_rows:
        print(f"{done.dropped_rows:,} rows without a valid position left out")
    return 0


def cmd_xmatch(args) -> int:
    import time

    from astrolake.sky.xmatch import crossmatch, max_radius_arcsec

    right = args.right or (args.left if args.self_match else None)
    if right is None:
        raise UsageError("give --right, or --self to match --left with itself")
    radius = _angle(args.radius, "--radius", "arcsec")
    if radius > max_radius_arcsec(0):
        raise UsageError(f"--radius must be at most {max_radius_arcsec(0) / 3600:.2f} deg, got {args.radius!r}")
    min_radius = _angle(args.min_radius, "--min-radius", "arcsec", positive=False) if args.min_radius else 0.0
    if min_radius >= radius:
        raise UsageError(f"--min-radius ({args.min_radius}) must be below --radius ({args.radius})")
    n = _partners(args)
    left_key = _xmatch_key(args.left, args.left_key, "--left-key")
    right_key = _xmatch_key(right, args.right_key, "--right-key")
    _not_an_input(args, args.out, [args.left, right])
    (left_ra, left_dec), (right_ra, right_dec) = _position(args.left), _position(right)

    lake = _lake(args)
    for table in dict.fromkeys([args.left, right]):
        _check_table(lake, table)
    left_df = live(lake.read(args.left))
    start = time.perf_counter()
    pairs = crossmatch(
        left_df,
        live(lake.read(right)),
        radius,
        args.mode,
        left_key=left_key,
        right_key=right_key,
        n=n,
        min_radius_arcsec=min_radius,
        left_cols=_columns(args.left_cols),
        right_cols=_columns(args.right_cols),
        left_ra=left_ra,
        left_dec=left_dec,
        right_ra=right_ra,
        right_dec=right_dec,
        self_match=args.self_match,
    )
    lake.replace(pairs, args.out, overwrite_schema=True)
    elapsed = time.perf_counter() - start

    left_rows = left_df.count()
    written = lake.read(args.out)
    if args.mode == "anti":  # the left rows without a partner
        rows = written.count()
        matched, n_pairs = left_rows - rows, 0
    else:
        from pyspark.sql import functions as F

        lk, rk = F.col(f"{left_key}_l"), F.col(f"{right_key}_r")
        counted = written.agg(F.count("*"), F.countDistinct(F.when(rk.isNotNull(), lk)), F.count(rk)).first()
        rows, matched, n_pairs = int(counted[0]), int(counted[1]), int(counted[2])
    _print_json(
        {
            "left": args.left,
            "right": right,
            "mode": args.mode,
            "radius_arcsec": radius,
            "out": args.out,
            "left_rows": left_rows,
            "matched": matched,
            "pairs": n_pairs,
            "rows": rows,
            "elapsed_s": round(elapsed, 2),
        }
    )
    return 0


def cmd_demo(args) -> int:
    from astrolake.demo import run_demo

    return run_demo(_lake(args))


def cmd_validate_bundle(args) -> int:
    from astrolake.deploy.bundle import validate

    if not (Path(args.path) / "databricks.yml").is_file():
        raise UserError(f"no bundle at {args.path}: it has no databricks.yml")
    problems = validate(args.path, args.target)
    for prob in problems:
        print(prob)
    if problems:
        raise UserError(f"{len(problems)} problem(s) in the bundle at {args.path}")
    print(f"bundle at {args.path}: valid for every target")
    return 0


# ---------------------------------------------------------------------------------- learning
def cmd_families(args) -> int:
    from astrolake.ml import models

    for task, names in models.TASK_FAMILIES.items():
        for n in names:
            f = models.family(task, n)
            print(f"{task:15s} {n:7s} {f.description:62s} imbalance: {f.imbalance}")
    return 0


def cmd_features(args) -> int:
    from astrolake.ml.features import build_gold

    _catalog(args.catalog)
    print(build_gold(_lake(args), args.catalog, rebuild=args.rebuild).line())
    return 0


def cmd_train(args) -> int:
    from astrolake.ml import models
    from astrolake.ml.train import train

    models.family(args.task, args.family)  # unknown family -> clear error before Spark starts
    params = _params(args.param)
    _at_least(args.folds, 2, "--folds")
    if args.split_by == "sky" and not args.no_register:
        raise UsageError("--split-by sky trains a model for evaluation only: add --no-register")
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
        split_by=args.split_by,
    )
    _print_json(
        {
            "run_id": r.run_id,
            "model_name": r.model_name,
            "version": r.version,
            "table": r.table,
            "table_version": r.table_version,
            "metrics": r.metrics,
        }
    )
    return 0


def cmd_search(args) -> int:
    from astrolake.ml import models

    if args.budget_minutes <= 0:
        raise UsageError(f"--budget-minutes must be positive, got {args.budget_minutes}")
    _at_least(args.max_trials, 1, "--max-trials")
    if args.stack and (args.stack < 2 or args.task != "classification"):
        raise UsageError("--stack combines at least 2 classifiers: give K >= 2 with --task classification")
    if args.family and "dnn" in args.family:
        if args.family != ["dnn"]:
            raise UsageError("--family dnn searches network architectures; give it alone")
        return _search_dnn(args)
    for f in args.family or []:  # unknown family -> clear error before Spark starts
        models.family(args.task, f)
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
        stack=args.stack,
    )
    _print_json(
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
    return 0


def _search_dnn(args) -> int:
    from astrolake.dl.search import search_dnn

    _at_least(args.epochs, 1, "--epochs")
    _at_least(args.num_proc, 1, "--num-proc")
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
    )
    _print_json(
        {
            "run_id": r.run_id,
            "trials": len(r.trials),
            "best": r.best,
            "hand_set": r.hand_set,
            "model_name": r.refit.model_name,
            "version": r.refit.version,
        }
    )
    return 0


def cmd_train_dnn(args) -> int:
    from astrolake.dl.train import train_dnn

    _at_least(args.num_proc, 1, "--num-proc")
    _at_least(args.threads_per_rank, 1, "--threads-per-rank")
    params = _params(args.param)
    r = train_dnn(
        _lake(args),
        args.catalog,
        task=args.task,
        backend=args.backend,
        num_proc=args.num_proc,
        feature_set=args.feature_set,
        params=params,
        table_version=args.table_version,
        register=not args.no_register,
        name=args.model_name,
        launcher=args.launcher,
        hosts=args.hosts,
        threads_per_rank=args.threads_per_rank,
    )
    _print_json(
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
    return 0


def cmd_promote(args) -> int:
    from astrolake.ml.registry import promote

    r = promote(
        _lake(args),
        args.model_name,
        metric=args.metric,
        table_version=args.table_version,
        min_gain=args.min_gain,
        confidence=args.confidence,
        n_boot=args.bootstrap,
    )
    g = r.gain
    _print_json(
        {
            "model_name": r.model_name,
            "promoted": r.promoted,
            "champion": r.champion_after,
            "challenger": r.challenger,
            "metric": r.metric,
            "challenger_value": r.challenger_value,
            "champion_value": r.champion_value,
            "gain": g.gain if g else None,
            "gain_interval": [g.low, g.high] if g else None,
            "confidence": g.confidence if g else None,
            "min_gain": r.min_gain,
            "holdout_rows": r.rows,
            "table_version": r.table_version,
        }
    )
    return 0


def cmd_score(args) -> int:
    from astrolake.ml.scoring import score

    r = score(_lake(args), args.model, args.table, args.out, rescore=args.rescore, table_version=args.table_version)
    _print_json(r.__dict__)
    return 0


def cmd_report(args) -> int:
    from astrolake.report.build import model_report, table_report

    if args.model:
        if args.version is not None:
            raise UsageError(
                "--version applies to --table; a model report uses the table version the model was trained on"
            )
        r = model_report(_lake(args), args.model, out=args.out, log_artifact=not args.no_log)
    else:
        r = table_report(_lake(args), args.table, out=args.out, version=args.version)
    _print_json(r.summary())
    return 0


#: command name (as typed) -> the function that runs it; one entry per sub-command of the parser
COMMANDS: dict[str, Callable[..., int]] = {
    "catalogs": cmd_catalogs,
    "contract": cmd_contract,
    "ingest": cmd_ingest,
    "refresh": cmd_refresh,
    "retract": cmd_retract,
    "revalidate": cmd_revalidate,
    "optimize": cmd_optimize,
    "vacuum": cmd_vacuum,
    "history": cmd_history,
    "show": cmd_show,
    "cone": cmd_cone,
    "xmatch": cmd_xmatch,
    "export-hats": cmd_export_hats,
    "demo": cmd_demo,
    "features": cmd_features,
    "train": cmd_train,
    "search": cmd_search,
    "promote": cmd_promote,
    "score": cmd_score,
    "report": cmd_report,
    "train-dnn": cmd_train_dnn,
    "check-quarantine": cmd_check_quarantine,
    "validate-bundle": cmd_validate_bundle,
    "families": cmd_families,
}


#: command -> (argument, how the error names it) of each argument that names a table
_TABLE_ARGS: dict[str, tuple[tuple[str, str], ...]] = {
    "optimize": (("table", "table name"),),
    "vacuum": (("table", "table name"),),
    "history": (("table", "table name"),),
    "show": (("table", "table name"),),
    "cone": (("table", "--table"), ("out", "--out")),
    "export-hats": (("table", "--table"),),
    "xmatch": (("left", "--left"), ("right", "--right"), ("out", "--out")),
    "score": (("table", "--table"), ("out", "--out")),
    "report": (("table", "--table"),),
}


def _check_names(args, settings) -> None:
    """Refuse, before Spark starts, a catalog or table name that is not an identifier
    (:mod:`astrolake.names`: no SQL, quotes, paths or lookalikes); a table may also be an absolute
    Delta folder on a local lake.  ``uc_catalog`` / ``uc_schema`` were checked by the settings."""
    from astrolake.names import check_delta_path, check_identifier, is_delta_path

    if getattr(args, "catalog", None) is not None:
        check_identifier(args.catalog, "catalog name")
    for attr, what in _TABLE_ARGS.get(args.command, ()):
        value = getattr(args, attr, None)
        if value is None:
            continue
        if is_delta_path(value) and not settings.uses_unity_catalog:
            check_delta_path(value, what)
        else:
            check_identifier(value, what)


def run(args) -> int:
    """Run the parsed command: its exit status, or an :class:`~astrolake.errors.AstrolakeError`."""
    from astrolake.catalogs.contract import use_catalog_folders

    if hasattr(args, "config"):  # user contracts and catalogs, before any catalog name is looked up
        settings = _settings(args)  # checks uc_catalog / uc_schema
        _check_names(args, settings)
        use_catalog_folders(settings.catalogs_path)
    return COMMANDS[args.command](args)


def _as_error(exc: BaseException):
    """The :class:`~astrolake.errors.AstrolakeError` ``exc`` stands for, or ``None`` for a bug."""
    from astrolake.sources.fits import source_error

    return source_error(exc) or classify(exc)


def main(argv: list[str] | None = None) -> int:
    """``astrolake ARGS``: run one command; return the exit status (see the module's doc)."""
    from astrolake import log

    args = build_parser().parse_args(argv)
    log.configure(log.QUIET if args.quiet else log.VERBOSE if args.verbose else log.NORMAL)
    try:
        return run(args)
    except Exception as exc:
        err = _as_error(exc)
        bug = err is None or err.exit_code == EXIT_BUG
        if bug or args.debug:
            traceback.print_exc(file=sys.stderr)
        if bug:
            print(
                f"astrolake {args.command}: internal error (a bug in astrolake; the traceback is above): "
                f"{describe(err or exc)}",
                file=sys.stderr,
            )
            return EXIT_BUG
        print(f"astrolake {args.command}: error: {describe(err)}", file=sys.stderr)
        return err.exit_code


if __name__ == "__main__":
    sys.exit(main())
