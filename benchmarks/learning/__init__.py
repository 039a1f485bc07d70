"""The learning benchmark's parts (``benchmarks/bench_learning.py`` drives them).

``lake``: the Spark session, lake and MLflow store of a run, the catalogs it ingests;
``metrics``: the numpy metrics the peers are scored with (and astrolake's numbers cross-checked);
``peers``: the single-node scikit-learn, LightGBM and XGBoost peers; ``classification``,
``photoz``, ``speed``: the three parts, each a ``run(bench) -> dict`` made of small named steps.
"""
