# Databricks notebook source
# MAGIC %md
# MAGIC # 04 · Deep learning: Horovod or tf.distribute
# MAGIC The deep MLP classifier trained across workers by one training function. On Databricks' Spark 4 ML
# MAGIC runtimes use `tf-distribute` (no Horovod there); locally and on clusters with Horovod, `horovod`.

# COMMAND ----------

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

from astrolake.dl.train import train_dnn  # noqa: E402
from astrolake.notebook import lake_from_widgets, widget  # noqa: E402

catalog = widget("catalog", "sdss_dr14_skyserver", "Catalog")
backend = widget("backend", "tf-distribute", "horovod / tf-distribute / local")
num_proc = int(widget("num_proc", "2", "Workers"))
epochs = int(widget("epochs", "10", "Epochs"))
lake = lake_from_widgets()

# COMMAND ----------

result = train_dnn(lake, catalog, backend=backend, num_proc=num_proc, params={"epochs": epochs})
print(result.line())

# COMMAND ----------

# MAGIC %md
# MAGIC ## Learning curves (rank 0)

# COMMAND ----------

from matplotlib.figure import Figure  # noqa: E402

from astrolake.notebook import show  # noqa: E402

history = result.ranks[0]["history"]
fig = Figure(figsize=(6, 3.5))
ax = fig.subplots()
for key in ("loss", "val_loss"):
    ax.plot(range(1, len(history[key]) + 1), history[key], label=key)
ax.set(xlabel="epoch", ylabel="loss", title=f"{backend} x{num_proc}")
ax.legend()
figs = {"learning_curve": fig}
show(fig)
