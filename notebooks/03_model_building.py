# Databricks notebook source
# MAGIC %md
# MAGIC # 03 · MLlib model building and tuning
# MAGIC A budgeted search over MLlib / xgboost families on the gold table's photometric features: every trial
# MAGIC is a nested MLflow run scored on validation rows; the best is scored once on the test split and
# MAGIC registered as the challenger. A cross-validated logistic regression shows the tuning API.

# COMMAND ----------

from astrolake.ml import plots, search, train
from astrolake.ml.features import training_data
from astrolake.notebook import lake_from_widgets, show, widget

catalog = widget("catalog", "sdss_dr14_skyserver", "Catalog")
budget_minutes = float(widget("budget_minutes", "5", "Search budget (minutes)"))
max_trials = int(widget("max_trials", "0", "At most this many trials (0: no limit)")) or None
grid = widget("grid", "default", "Grid size (small / default)")
lake = lake_from_widgets()

# COMMAND ----------

result = search.search(lake, catalog, budget_minutes=budget_minutes, max_trials=max_trials, grid_size=grid)
result.line()

# COMMAND ----------

# MAGIC %md
# MAGIC ## Tuning with cross-validation

# COMMAND ----------

data = training_data(lake, catalog)
tuned = train.fit(data, "classification", "logreg", tune="cv", folds=3, grid_size="small")
tuned.tuning

# COMMAND ----------

# MAGIC %md
# MAGIC ## The selected model on the test split

# COMMAND ----------

import mlflow  # noqa: E402

best = mlflow.spark.load_model(f"runs:/{result.run_id}/model")
metrics = train.evaluate(best, data.split("test"), "classification", tuned.classes)
figs = {
    "confusion": plots.confusion_matrix_plot(metrics),
    "roc_pr": plots.roc_pr_plot(metrics),
    "reliability": plots.reliability_plot(metrics),
}
for f in figs.values():
    show(f)
metrics.per_class
