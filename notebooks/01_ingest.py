# Databricks notebook source
# MAGIC %md
# MAGIC # 01 · Data access and ingestion
# MAGIC Ingest a survey catalog into bronze and silver Delta tables, with quarantine and a closing ledger.
# MAGIC Parameters come from widgets on Databricks and from defaults (or `ASTROLAKE_WIDGET_*`) locally.

# COMMAND ----------

from astrolake.config import Settings
from astrolake.demo import demo_file, summarise
from astrolake.lake import pipeline
from astrolake.lake.tables import Lake
from astrolake.notebook import widget
from astrolake.spark import get_spark

catalog = widget("catalog", "sdss_dr14_skyserver", "Catalog")
source = widget("source", demo_file(), "Landing file or folder")
base_path = widget("base_path", "lakehouse", "Table folder (local runs)")

settings = Settings.load(base_path=base_path)
spark = get_spark(settings)
lake = Lake(spark, settings)

# COMMAND ----------

result = pipeline.ingest(lake, catalog, [source])
for ledger in result.ledgers:
    print(ledger.line())

# COMMAND ----------

# MAGIC %md
# MAGIC ## Summary: classes, sky coverage, quarantine reasons

# COMMAND ----------

summary = summarise(lake, catalog)
summary["per_class"], summary["healpix3_cells"], summary["quarantine_reasons"]
