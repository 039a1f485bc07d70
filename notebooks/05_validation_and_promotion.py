# Databricks notebook source
# MAGIC %md
# MAGIC # 05 · Validation and registry promotion
# MAGIC The three steps of the deployment job (evaluation -> approval -> promotion), one per `step`, or all
# MAGIC three with `step=all`. A model version becomes champion only when it beats the current champion
# MAGIC beyond the noise (a paired bootstrap) on the hold-out split of the same pinned Delta version.

# COMMAND ----------

from astrolake.ml import registry, tracking
from astrolake.notebook import lake_from_widgets, show, widget
from astrolake.report import model_report

model_name = widget("model_name", "astrolake_classification_sdss_dr14_skyserver", "Registered model")
model_version = widget("model_version", "", "Model version (default: the challenger)") or None
step = widget("step", "all", "evaluate / approve / promote / all")
report_dir = widget("report_dir", "reports", "Folder for the evaluation report (a Volume path on Databricks)")
require_human = widget("require_human_approval", "false", "Wait for the astrolake.approval tag") == "true"
lake = lake_from_widgets()
tracking.configure(lake.settings)
version = model_version or tracking.alias_version(model_name, tracking.CHALLENGER)

# COMMAND ----------

if step in ("evaluate", "all"):
    evaluation = registry.promote(lake, model_name, version=version, dry_run=True)
    print(evaluation.line())
    # the challenger's evaluation report (figures + importances), also logged to its MLflow run
    report = model_report(lake, f"models:/{model_name}/{version}", out=f"{report_dir}/{model_name}_v{version}")
    show(report)

# COMMAND ----------

if step in ("approve", "all"):
    registry.approve(lake, model_name, version, require_human=require_human)

# COMMAND ----------

if step in ("promote", "all"):
    promotion = registry.promote(lake, model_name, version=version)
    print(promotion.line())
