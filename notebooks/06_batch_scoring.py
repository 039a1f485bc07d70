# Databricks notebook source
# MAGIC %md
# MAGIC # 06 · Batch scoring
# MAGIC The champion model scores the rows of a gold table that it has not scored yet and appends the
# MAGIC predictions (class name and class probabilities, or photo-z and its error) to a Delta table.
# MAGIC The last cell uses the same champion with plain MLflow, as any Python process can.

# COMMAND ----------

from pyspark.sql import functions as F

from astrolake.ml.scoring import score
from astrolake.notebook import lake_from_widgets, show, widget
from astrolake.report import figures

model = widget("model", "models:/astrolake_classification_sdss_dr14_skyserver@champion", "Model URI")
table = widget("table", "gold_sdss_dr14_skyserver", "Table to score")
out = widget("out", "predictions_sdss_dr14_skyserver", "Predictions table")
rescore = widget("rescore", "false", "Score again rows scored by another version") == "true"
lake = lake_from_widgets()

# COMMAND ----------

result = score(lake, model, table, out, rescore=rescore)
print(result.line())

# COMMAND ----------

predicted = (
    lake.read(out)
    .where(F.col("model_version") == result.model_version)
    .groupBy("predicted_class")
    .count()
    .toPandas()
    .set_index("predicted_class")["count"]
    .sort_index()
)
figs = {"predicted_classes": figures.class_balance_figure(predicted)}
show(figs["predicted_classes"])
predicted

# COMMAND ----------

# MAGIC %md
# MAGIC The champion in plain MLflow: `predict` takes the feature columns (by name) and returns the class
# MAGIC name and one `prob_<CLASS>` column per class (photo-z models: `z_phot`, `z_phot_err`).

# COMMAND ----------

import mlflow  # noqa: E402

sample = lake.read(table).limit(10).toPandas()
sample_predictions = mlflow.pyfunc.load_model(model).predict(sample)
sample_predictions
