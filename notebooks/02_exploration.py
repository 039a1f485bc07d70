# Databricks notebook source
# MAGIC %md
# MAGIC # 02 · Exploratory analysis
# MAGIC Class balance, sky density, colour-colour diagrams and magnitude / redshift distributions of a gold
# MAGIC table. Every statistic is an aggregation in Spark: only the bins reach the driver.

# COMMAND ----------

from astrolake.notebook import lake_from_widgets, show, widget
from astrolake.report import figures, stats, table_report

catalog = widget("catalog", "sdss_dr14_skyserver", "Catalog")
report_dir = widget("report_dir", "reports", "Folder for the HTML report (a Volume path on Databricks)")
lake = lake_from_widgets()
gold = lake.read(f"gold_{catalog}").cache()
figs = {}

# COMMAND ----------

balance = stats.class_balance(gold)
figs["class_balance"] = figures.class_balance_figure(balance)
show(figs["class_balance"])
balance

# COMMAND ----------

# MAGIC %md
# MAGIC ## Sky density (HEALPix order 5, Mollweide)

# COMMAND ----------

cells = stats.healpix_counts(gold, order=5)
figs["sky"] = figures.sky_figure(cells, order=5)
show(figs["sky"])

# COMMAND ----------

# MAGIC %md
# MAGIC ## Colour-colour diagrams per class

# COMMAND ----------

ug, gr, ri = (stats.edges_for(gold, c, 60) for c in ("u_g", "g_r", "r_i"))
figs["ug_gr"] = figures.density_grid_figure(
    stats.hist2d(gold, "g_r", "u_g", gr, ug, by="class"), gr, ug, "g - r", "u - g", "u-g vs g-r"
)
figs["gr_ri"] = figures.density_grid_figure(
    stats.hist2d(gold, "r_i", "g_r", ri, gr, by="class"), ri, gr, "r - i", "g - r", "g-r vs r-i"
)
show(figs["ug_gr"])
show(figs["gr_ri"])

# COMMAND ----------

r_edges = stats.edges_for(gold, "r", 40)
figs["r_mag"] = figures.histograms_figure(
    stats.hist1d(gold, "r", r_edges, by="class"), r_edges, "r [mag]", "r magnitude per class"
)
z_edges = stats.edges_for(gold, "redshift", 40)
figs["redshift"] = figures.histograms_figure(
    stats.hist1d(gold, "redshift", z_edges, by="class"), z_edges, "redshift", "redshift per class", log=True
)
show(figs["r_mag"])
show(figs["redshift"])
gold.unpersist()

# COMMAND ----------

# MAGIC %md
# MAGIC ## The whole report in one file
# MAGIC The figures above plus row counts per layer, the ingest ledger, quarantine rules with examples, missing
# MAGIC values, the correlation matrix and the data dictionary, as one self-contained HTML file (the same as
# MAGIC `astrolake report --table` on the command line).

# COMMAND ----------

report = table_report(lake, f"gold_{catalog}", out=f"{report_dir}/gold_{catalog}")
print(report.html_path)
show(report)
