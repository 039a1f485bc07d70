"""Train one model family on a pinned gold version, evaluate it, track and register it in MLflow.

This is what ``astrolake train`` runs, and what every trial of ``astrolake search`` runs.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from dataclasses import dataclass, field

from pyspark.ml import PipelineModel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from astrolake import layout
from astrolake.lake.tables import Lake
from astrolake.log import Steps
from astrolake.ml import models, tracking
from astrolake.ml.features import FeatureError, TrainingData, training_data

log = logging.getLogger(__name__)

CLUSTER_FEATURES = ["u_g", "g_r", "r_i", "i_z"]


@dataclass
class Fitted:
    model: PipelineModel
    task: str
    family: str
    params: dict
    features: list[str]
    classes: list[str]
    fit_seconds: float
    tuning: dict = field(default_factory=dict)


def fit(
    data: TrainingData,
    task: str,
    family: str,
    params: dict | None = None,
    tune: str | None = None,
    grid_size: str = "small",
    folds: int = 3,
    parallelism: int = 2,
    seed: int = 42,
) -> Fitted:
    """Fit one family on the training split (optionally tuned by CV/TVS over its grid)."""
    models.family(task, family)
    params = dict(params or {})
    seed = int(params.pop("seed", seed))  # a seed given among the family's params wins
    train = data.split("train")
    classes = sorted(r[0] for r in train.select(data.label).distinct().collect()) if task == "classification" else []
    if task == "classification" and len(classes) < 2:
        raise tracking.ModelError(f"the training split of {data.table} has {len(classes)} class(es); need at least 2")
    if task == "classification":
        train = models.index_labels(train, classes, data.label)
    rows = models.prepare_training_rows(task, family, train, data.label)
    pipe = models.build_pipeline(task, family, data.features, classes, seed=seed, **params)
    t0 = time.perf_counter()
    tuning: dict = {}
    if tune:
        grid = models.GRIDS[(task, family)][grid_size]
        model, scores = models.tune(
            pipe,
            grid,
            rows,
            models.tuning_evaluator(task),
            method=tune,
            folds=folds,
            parallelism=parallelism,
            seed=seed,
        )
        tuning = {"method": tune, "grid": grid, "scores": scores}
    else:
        model = pipe.fit(rows)
    if task == "photoz":
        model = models.add_error_model(model, data.split("validation"), seed=seed)
    return Fitted(model, task, family, params, data.features, classes, time.perf_counter() - t0, tuning)


def evaluate(model: PipelineModel, df: DataFrame, task: str, classes: list[str]):
    """Score ``df`` and compute the task's metrics object (in Spark; only aggregates are collected)."""
    if task == "classification":
        df = models.index_labels(df, classes)
    return evaluate_predictions(model.transform(df), task, classes)


def evaluate_predictions(pred: DataFrame, task: str, classes: list[str]):
    """The task's metrics object for a frame of predictions (labels included)."""
    from astrolake.ml import evaluate as ev

    mag = "r" if "r" in pred.columns else None
    if task == "classification":
        return ev.classification_metrics(
            pred,
            classes,
            label_col=models.LABEL_INDEX,
            mag_col=mag,
            z_col="redshift" if "redshift" in pred.columns else None,
        )
    if task == "photoz":
        return ev.regression_metrics(
            pred,
            label_col="redshift",
            prediction_col=models.Z_PHOT,
            error_col=models.Z_ERR if models.Z_ERR in pred.columns else None,
            mag_col=mag,
        )
    return ev.clustering_metrics(pred)


def metric_dict(metrics) -> dict[str, float]:
    d = metrics if isinstance(metrics, dict) else metrics.to_dict()
    return {k: float(v) for k, v in d.items() if isinstance(v, (int, float)) and v == v}


@dataclass
class TrainResult:
    run_id: str
    model_name: str | None
    version: str | None
    family: str
    params: dict
    table: str
    table_version: int
    features: list[str]
    metrics: dict[str, float]
    fit_seconds: float
    model: PipelineModel | None = None

    def line(self) -> str:
        shown = {
            k: round(v, 4)
            for k, v in self.metrics.items()
            if k.split("_", 1)[-1]
            in ("macro_f1", "accuracy", "sigma_nmad", "outlier_fraction", "coverage_1sigma", "silhouette", "bias")
        }
        reg = f" registered {self.model_name} v{self.version} @challenger" if self.version else ""
        return f"{self.family} {self.params or ''} fit {self.fit_seconds:.1f}s {shown}{reg}"


def run_tags(
    data: TrainingData, lake: Lake, task: str, family: str, feature_set: str, classes: list[str]
) -> dict[str, str]:
    """Tags that let anyone retrain from exactly the same rows."""
    t = tracking.TAG
    return {
        t + "table": data.table,
        t + "table_location": lake.location(data.table),
        t + "table_version": str(data.version),
        t + "task": task,
        t + "family": family,
        t + "feature_set": feature_set,
        t + "features": json.dumps(data.features),
        t + "label": data.label,
        t + "classes": json.dumps(classes),
        t + "split_by": data.split_by,
    }


def log_model(fitted: Fitted, data: TrainingData, artifact_path: str = "model") -> None:
    """Log the Spark pipeline (``spark`` flavour) with named pyfunc outputs (:mod:`astrolake.ml.pyfunc`),
    its signature, an input example and explicit requirements."""
    import mlflow

    example = data.split("validation").select(*fitted.features).limit(5).toPandas()
    families = {fitted.family} | {m["family"] for m in fitted.params.get("members", [])}  # a stack's members
    extra = ["xgboost-cpu>=2.1"] if "xgb" in families else []
    tracking.log_model(
        mlflow.spark,
        fitted.model,
        fitted.task,
        fitted.classes,
        fitted.features,
        input_example=example,
        pip_requirements=tracking.pip_requirements(extra),
        name=artifact_path,
    )
    mlflow.log_dict({"features": fitted.features, "classes": fitted.classes}, "features.json")


def log_evaluation(metrics, prefix: str) -> dict[str, float]:
    """Log a metrics object's scalars (``prefix_name``) and its plots (under ``plots/prefix``)."""
    import mlflow

    values = {f"{prefix}_{k}": v for k, v in metric_dict(metrics).items()}
    mlflow.log_metrics(values)
    if not isinstance(metrics, dict):
        from astrolake.ml import plots

        with tempfile.TemporaryDirectory() as tmp:
            plots.save_all(metrics, tmp)
            mlflow.log_artifacts(tmp, f"plots/{prefix}")
    return values


def train(
    lake: Lake,
    table: str,
    task: str = "classification",
    family: str = "rf",
    feature_set: str = "photometry",
    features: list[str] | None = None,
    params: dict | None = None,
    tune: str | None = None,
    grid_size: str = "small",
    folds: int = 3,
    table_version: int | None = None,
    register: bool = True,
    name: str | None = None,
    score_test: bool = True,
    nested: bool = False,
    split_by: str = "hash",
) -> TrainResult:
    """Train, evaluate (validation and test), log to MLflow and register as challenger.

    ``split_by="sky"`` trains and scores on the split blocked by sky cell
    (:func:`astrolake.layout.sky_split_column`); such a model is logged, never registered: promotion
    compares models on the stored hash split's hold-out, which holds some of its training rows.
    """
    import mlflow

    if split_by == "sky" and register:
        raise FeatureError(
            "a model trained on the split blocked by sky cell is for evaluation and is not registered "
            "(promotion uses the stored split's hold-out, where some of its training rows are): "
            "train it with register=False (--no-register)"
        )
    tracking.configure(lake.settings)
    if task == "clustering":
        features = features or list(CLUSTER_FEATURES)
    data = training_data(
        lake,
        table,
        "photoz" if task == "photoz" else "classification",
        feature_set,
        features,
        version=table_version,
        split_by=split_by,
    )
    if task == "clustering":
        data.label = "class" if "class" in data.frame.columns else data.features[0]
    log.info(
        f"train: {task}/{family} on {data.table} v{data.version}, {len(data.features)} features "
        f"({', '.join(data.features)})"
    )
    steps = Steps("train", total=3, logger=log, spark=lake.spark)
    with mlflow.start_run(run_name=f"{task}-{family}", nested=nested) as run:
        with steps.step(f"fit {family}" + (f" ({tune} over the {grid_size} grid)" if tune else "")):
            fitted = fit(data, task, family, params, tune=tune, grid_size=grid_size, folds=folds)
        mlflow.set_tags(run_tags(data, lake, task, family, feature_set, fitted.classes))
        mlflow.log_params(
            {
                k: json.dumps(v) if isinstance(v, (list, dict)) else v
                for k, v in {
                    **fitted.params,
                    "family": family,
                    "tune": tune or "none",
                    "n_features": len(data.features),
                }.items()
            }
        )
        mlflow.log_metric("fit_seconds", fitted.fit_seconds)
        splits = ("validation", "test") if score_test else ("validation",)
        with steps.step("evaluate on " + " and ".join(splits)) as step:
            metrics: dict[str, float] = {}
            for split in splits:
                metrics |= log_evaluation(evaluate(fitted.model, data.split(split), task, fitted.classes), split)
            counted = [f"{int(metrics[f'{s}_n']):,} {s}" for s in splits if f"{s}_n" in metrics]
            step.detail = " + ".join(counted) + " rows" if counted else ""
        if fitted.tuning:
            mlflow.log_dict({k: v for k, v in fitted.tuning.items()}, "tuning.json")
        version = model_name = None
        with steps.step("log model" + (" and register it" if register else "")):
            log_model(fitted, data)
            if register:
                catalog = layout.catalog_of(data.table)
                model_name = name or tracking.model_name(lake.settings, task, catalog)
                version = tracking.register(
                    run.info.run_id, "model", model_name, tags={tracking.TAG + "table_version": str(data.version)}
                )
    result = TrainResult(
        run.info.run_id,
        model_name,
        version,
        family,
        fitted.params,
        data.table,
        data.version,
        data.features,
        metrics,
        fitted.fit_seconds,
        fitted.model,
    )
    log.info("train: " + result.line())
    return result


def probability_columns(pred: DataFrame, classes: list[str], col: str = "probability") -> DataFrame:
    """``prob_<CLASS>`` columns from MLlib's probability vector (or xgboost's)."""
    from pyspark.ml.functions import vector_to_array

    arr = vector_to_array(F.col(col))
    return pred.withColumns({f"prob_{c}": arr[i] for i, c in enumerate(classes)})
