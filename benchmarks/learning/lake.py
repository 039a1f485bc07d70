"""One run's Spark session, lake and MLflow store, and the real catalogs it ingests (once each)."""

from __future__ import annotations

from pathlib import Path

from _common import Timed, say

DR17 = "sdss_dr17_stellar"
DR17_FILE = "sdss_dr17_StellarObjs_99999.csv"
PHOTOZ_SETS = {  # catalog -> landing files
    "mlz_sdss_mgs": ["mlz_sdss_mgs_train.txt", "mlz_sdss_mgs_test.txt"],
    "sdss_colours": ["ddastro_sdss_galaxy_colors_50k.csv"],
}
PART_FILES = {  # the files of --data each part reads
    "classification": [DR17_FILE],
    "photoz": [f for files in PHOTOZ_SETS.values() for f in files],
    "speed": [DR17_FILE],
}


def blas_info() -> list[dict]:
    """Which BLAS / OpenMP libraries are loaded and which OpenBLAS kernel they run (threadpoolctl)."""
    import lightgbm  # noqa: F401 - load their thread pools too
    import numpy  # noqa: F401
    import scipy.linalg  # noqa: F401
    import sklearn.ensemble  # noqa: F401
    import xgboost  # noqa: F401
    from threadpoolctl import threadpool_info

    keep = ("user_api", "internal_api", "version", "architecture", "num_threads", "threading_layer", "prefix")
    return [{k: i.get(k) for k in keep} for i in threadpool_info()]


def versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for p in (
        "pyspark",
        "delta-spark",
        "mlflow",
        "scikit-learn",
        "lightgbm",
        "xgboost-cpu",
        "xgboost",
        "pandas",
        "numpy",
        "scipy",
        "pyarrow",
        "threadpoolctl",
    ):
        try:
            out[p] = version(p)
        except PackageNotFoundError:
            pass
    return out


class Bench:
    def __init__(self, args, work: Path):
        from astrolake.config import Settings
        from astrolake.lake.tables import Lake
        from astrolake.spark import get_spark

        self.args, self.work = args, work
        self.settings = Settings(
            base_path=str(work / "lake"),
            spark_master=args.master,
            shuffle_partitions=args.shuffle_partitions,
            driver_memory=args.driver_memory,
            tracking_uri=f"sqlite:///{work / 'mlflow.db'}",
            experiment="bench_learning",
        )
        self.spark = get_spark(self.settings, app_name="astrolake-bench-learning")
        self.lake = Lake(self.spark, self.settings)
        self.ingested: dict[str, dict] = {}
        self.checkpoint = lambda part, partial: None  # main() sets it: saves a part's partial results

    def catalog(self, name: str, files: list[str]) -> dict:
        """Ingest the catalog's files and build gold, once per run (timed)."""
        if name in self.ingested:
            return self.ingested[name]
        from astrolake.lake import pipeline
        from astrolake.ml import features

        paths = [str(Path(self.args.data) / f) for f in files]
        say(f"ingest {name} <- {', '.join(files)}")
        with Timed() as t_ing:
            res = pipeline.ingest(self.lake, name, paths)
        with Timed() as t_gold:
            gold = features.build_gold(self.lake, name)
        info = {
            "files": files,
            "ingest_s": round(t_ing.s, 2),
            "gold_s": round(t_gold.s, 2),
            "ledgers": [
                dict(
                    read=lg.read,
                    inserted=lg.inserted,
                    quarantined=lg.quarantined,
                    duplicates=lg.duplicates,
                    closes=lg.closes,
                )
                for lg in res.ledgers
            ],
            "gold_rows": gold.rows,
            "gold_version": None,
        }
        info["gold_version"] = self.lake.version(gold.table)
        say(f"ingest {name}: {info['ledgers']}; gold {gold.rows} rows ({t_ing.s:.0f} s + {t_gold.s:.0f} s)")
        self.ingested[name] = info
        return info


def split_counts(data) -> dict:
    return {r["split"]: int(r["count"]) for r in data.frame.groupBy("split").count().collect()}


def collect_splits(data, extra: list[str] = ()):
    """The complete rows of every split as pandas (benchmark only: astrolake itself never collects)."""
    cols = ["_key", "split", data.label, *extra, *data.features]
    pdf = data.frame.select(*dict.fromkeys(cols)).toPandas()
    return {s: pdf[pdf["split"] == s].reset_index(drop=True) for s in ("train", "validation", "test")}
