# Databricks notebook source
# MAGIC %md
# MAGIC # 02 · Exploratory analysis
# MAGIC Class balance, sky density, colour-colour diagrams and magnitude / redshift distributions of a gold
# MAGIC table. Every statistic is an aggregation in Spark: only the bins reach the driver.

# COMMAND ----------

import numpy as np

from astrolake.notebook import lake_from_widgets, show, widget
from astrolake.report import figures, stats, table_report
from astrolake.sky import cone_search, crossmatch

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
# MAGIC ## Sky queries: a cone search and a cross-match
# MAGIC A cone of half a degree around the brightest object (in r) of the table: the HEALPix cells covering
# MAGIC the cone become ranges of `healpix_29`, so Delta reads only the files that can hold an answer. Then
# MAGIC every object's nearest neighbour within an arcminute, in another catalog's gold table when
# MAGIC `match_with` names one (e.g. `sdss_dr17_stellar`), else in the same table (the object itself left
# MAGIC out): the separation histogram shows the matching radius a survey's astrometry allows. See docs/sky.md.

# COMMAND ----------

match_with = widget("match_with", "", "Catalog to cross-match with (its gold table); empty: the catalog itself")
left = lake.read(f"gold_{catalog}")
target = left.orderBy("r").select("_key", "ra", "dec").first()
near = cone_search(left, target["ra"], target["dec"], radius_deg=0.5)
near.orderBy("sep_arcsec").select("sep_arcsec", "_key", "class", "r", "redshift").show(10)

right = lake.read(f"gold_{match_with}") if match_with else left
pairs = crossmatch(
    left, right, radius_arcsec=60.0, mode="nearest", left_key="_key", right_key="_key", self_match=not match_with
).cache()
sep_edges = np.linspace(0.0, 60.0, 61)
figs["separation"] = figures.histograms_figure(
    {"nearest": stats.hist1d(pairs, "sep_arcsec", sep_edges)["all"]},
    sep_edges,
    "separation [arcsec]",
    f"nearest neighbour of {catalog} in {match_with or 'itself'}",
)
show(figs["separation"])
print(f"{pairs.count():,} of {left.count():,} objects have a neighbour within 60 arcsec")
pairs.unpersist()

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
