# Databricks notebook source
# MAGIC %md
# MAGIC # 01 · Data access and ingestion
# MAGIC Ingest a survey catalog into bronze and silver Delta tables, with quarantine and a closing ledger,
# MAGIC then bring its gold feature table up to date. Parameters come from widgets on Databricks and from
# MAGIC defaults (or `ASTROLAKE_WIDGET_*`) locally.

# COMMAND ----------

from astrolake.demo import demo_file, summarise
from astrolake.lake import pipeline
from astrolake.ml.features import build_gold
from astrolake.notebook import lake_from_widgets, widget

catalog = widget("catalog", "sdss_dr14_skyserver", "Catalog")
source = widget("source", demo_file(), "Landing file or folder")
lake = lake_from_widgets()

# COMMAND ----------

result = pipeline.ingest(lake, catalog, [source])
for ledger in result.ledgers:
    print(ledger.line())
gold = build_gold(lake, catalog)
print(gold.line())

# COMMAND ----------

# MAGIC %md
# MAGIC ## Summary: classes, sky coverage, quarantine reasons

# COMMAND ----------

summary = summarise(lake, catalog)
summary["per_class"], summary["healpix3_cells"], summary["quarantine_reasons"]
