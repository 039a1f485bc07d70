"""The end-to-end demo: the shipped SDSS DR14 sample -> bronze -> silver (+ quarantine) -> gold ->
a star/galaxy/QSO classifier tracked and registered in MLflow -> champion -> predictions in Delta
-> the HTML reports of the gold table and of the champion model."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from pyspark.sql import functions as F

from astrolake.lake import pipeline
from astrolake.lake.tables import Lake
from astrolake.sky.healpix import HEALPIX_COLUMN

DEMO_CATALOG = "sdss_dr14_skyserver"


def demo_file() -> str:
    """Path of the shipped sample (see astrolake/data/PROVENANCE.md)."""
    return str(resources.files("astrolake") / "data" / "sdss_dr14_skyserver_10k.csv")


def summarise(lake: Lake, catalog: str) -> dict:
    """Per-class counts and median magnitudes/colours, sky coverage, quarantine reasons, ledger."""
    silver = lake.read(f"silver_{catalog}")
    per_class = (
        silver.groupBy("class")
        .agg(
            F.count("*").alias("rows"),
            F.percentile_approx("r", 0.5).alias("median_r"),
            F.percentile_approx(F.col("u") - F.col("g"), 0.5).alias("median_u_g"),
            F.percentile_approx(F.col("g") - F.col("r"), 0.5).alias("median_g_r"),
            F.percentile_approx("redshift", 0.5).alias("median_redshift"),
        )
        .orderBy("class")
        .collect()
    )
    cells = silver.select(F.shiftright(HEALPIX_COLUMN, 2 * (29 - 3)).alias("c")).distinct().count()
    reasons = (
        lake.read(pipeline.QUARANTINE)
        .where(F.col("catalog") == catalog)
        .select(F.explode("_reasons").alias("reason"))
        .groupBy("reason")
        .count()
        .orderBy(F.desc("count"))
        .limit(10)
        .collect()
    )
    ledger = lake.read(pipeline.LEDGER).where(F.col("catalog") == catalog).orderBy("batch_id").collect()
    return {
        "per_class": [r.asDict() for r in per_class],
        "healpix3_cells": cells,
        "quarantine_reasons": [r.asDict() for r in reasons],
        "ledger": [r.asDict() for r in ledger],
    }


def run_demo(lake: Lake) -> int:
    result = pipeline.ingest(lake, DEMO_CATALOG, [demo_file()])
    s = summarise(lake, DEMO_CATALOG)
    print(f"\nastrolake demo: {DEMO_CATALOG} (SDSS DR14 SkyServer sample, 10,000 spectra)")
    print(f"tables under {lake.settings.base_path}")
    for led in s["ledger"]:
        print(
            f"  batch {led['batch_id']}: read {led['read']:,} = inserted {led['inserted']:,} + updated "
            f"{led['updated']:,} + duplicates {led['duplicates']:,} + quarantined {led['quarantined']:,}"
            f"  ({'closes' if led['closes'] else 'DOES NOT CLOSE'})"
        )
    if not result.ledgers:
        print("  (already ingested: this run added nothing)")
    print(f"\n  {'class':8s} {'rows':>7s} {'med r':>7s} {'med u-g':>8s} {'med g-r':>8s} {'med z':>8s}")
    for r in s["per_class"]:
        print(
            f"  {r['class']:8s} {r['rows']:7,d} {r['median_r']:7.2f} {r['median_u_g']:8.2f} "
            f"{r['median_g_r']:8.2f} {r['median_redshift']:8.4f}"
        )
    print(f"\n  sky coverage: {s['healpix3_cells']} HEALPix order-3 cells (of 768)")
    if s["quarantine_reasons"]:
        print("  quarantine reasons:")
        for q in s["quarantine_reasons"]:
            print(f"    {q['count']:6,d}  {q['reason']}")
    else:
        print("  quarantine: empty (every row passed the contract)")
    ok = all(led["closes"] for led in s["ledger"])
    model_name = learn_demo(lake)
    write_reports(lake, model_name)
    return 0 if ok else 1


def learn_demo(lake: Lake) -> str:
    """gold features -> a random forest on photometry -> registry -> champion -> scored table;
    returns the registered model's name."""
    from astrolake.ml import registry, scoring, tracking
    from astrolake.ml.features import build_gold
    from astrolake.ml.train import train

    build_gold(lake, DEMO_CATALOG)
    result = train(lake, DEMO_CATALOG, family="rf", params={"numTrees": 50, "maxDepth": 10})
    model_name = result.model_name or tracking.model_name(lake.settings, "classification", DEMO_CATALOG)
    promo = registry.promote(lake, model_name)
    scored = scoring.score(
        lake,
        f"models:/{model_name}@{tracking.CHAMPION}",
        f"gold_{DEMO_CATALOG}",
        f"predictions_{DEMO_CATALOG}",
    )
    m = result.metrics
    print(
        f"\n  classifier: random forest on {len(result.features)} photometric features "
        f"(gold v{result.table_version}), MLflow run {result.run_id[:8]}"
    )
    print(f"  test split: macro F1 {m['test_macro_f1']:.3f}, accuracy {m['test_accuracy']:.3f}")
    print(f"  {'class':8s} {'purity':>7s} {'complete':>9s}")
    for c in ("GALAXY", "QSO", "STAR"):
        print(f"  {c:8s} {m[f'test_precision_{c}']:7.3f} {m[f'test_recall_{c}']:9.3f}")
    print(f"  registry: {result.model_name} v{result.version}; champion is v{promo.champion_after}")
    print(
        f"  predictions: {scored.scored:,} rows written to predictions_{DEMO_CATALOG} "
        f"({scored.skipped:,} already scored)"
    )
    print("  plots and metrics: `mlflow ui --backend-store-uri " + tracking.tracking_uri() + "`")
    return model_name


def write_reports(lake: Lake, model_name: str, out: str | Path = "reports") -> tuple[Path, Path]:
    """The HTML reports of the demo's gold table and of the champion model, under ``out``;
    prints the two files to open."""
    from astrolake.ml import tracking
    from astrolake.report.build import HTML_NAME, model_report, table_report

    table = f"gold_{DEMO_CATALOG}"
    table_html = table_report(lake, table, write=False).write(Path(out) / table).absolute()
    model_dir = Path(out) / f"{model_name}_champion"
    model_report(lake, f"models:/{model_name}@{tracking.CHAMPION}", out=model_dir)  # also logged to its run
    model_html = (model_dir / HTML_NAME).absolute()
    print("\n  reports (self-contained HTML; open in a browser):")
    print(f"    table {table}: {table_html}")
    print(f"    model {model_name}@{tracking.CHAMPION}: {model_html}")
    return table_html, model_html
