"""MLlib pipelines for the three tasks: classification, photometric redshift and clustering.

Every model is one ``pyspark.ml`` Pipeline that starts from gold columns, so it is saved, logged
to MLflow and scored as one object:

    VectorAssembler(features -> features_raw) -> StandardScaler (-> features)
    estimator [-> OneVsRestProbability] -> IndexToString(prediction -> predicted_class)

Labels are indexed outside the pipeline (``index_labels``: class -> label_index in a fixed,
alphabetical class order), so a logged model needs only the feature columns.

Class imbalance, per family (see ``FAMILIES``): estimators that take ``weightCol`` get a
``class_weight`` column, n / (k * n_class), computed on the training rows; the multilayer
perceptron has no ``weightCol``, so its training rows are resampled (each class drawn with
replacement up to the size of the largest).

Photo-z uncertainty: after the point model, an error model (a small random forest on the same
features) is fitted to |z_phot - z_spec| on the validation rows and scaled so that 68.3 % of the
validation rows fall within it; ``z_phot_err`` is thus a calibrated per-object 1-sigma.  Its
coverage on the test rows is reported (``coverage_1sigma``, ideally 0.683).
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass
from typing import Any

from pyspark import StorageLevel, keyword_only
from pyspark.ml import Pipeline, PipelineModel, Transformer
from pyspark.ml import classification as C
from pyspark.ml import clustering as K
from pyspark.ml import regression as R
from pyspark.ml.evaluation import Evaluator
from pyspark.ml.feature import IndexToString, SQLTransformer, StandardScaler, StringIndexerModel, VectorAssembler
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.param.shared import HasInputCol, HasOutputCol
from pyspark.ml.tuning import CrossValidator, ParamGridBuilder, TrainValidationSplit
from pyspark.ml.util import DefaultParamsReadable, DefaultParamsWritable
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from astrolake.log import VERBOSE, verbosity
from astrolake.ml import metrics
from astrolake.ml.tracking import ModelError

LABEL_INDEX = "label_index"
WEIGHT = "class_weight"
Z_PHOT, Z_ERR = "z_phot", "z_phot_err"


@dataclass(frozen=True)
class Family:
    name: str
    task: str
    description: str
    imbalance: str  # how class imbalance is handled
    scale: bool = False


_FAMILY_LIST = [
    Family("logreg", "classification", "multinomial logistic regression", "class weights (weightCol)", True),
    Family("tree", "classification", "decision tree", "class weights (weightCol)"),
    Family("rf", "classification", "random forest", "class weights (weightCol)"),
    Family("gbt", "classification", "gradient-boosted trees, one-vs-rest", "class weights (weightCol of OneVsRest)"),
    Family("svc", "classification", "linear SVM, one-vs-rest", "class weights (weightCol of OneVsRest)", True),
    Family("mlp", "classification", "multilayer perceptron", "resampling to balanced classes (no weightCol)", True),
    Family(
        "xgb",
        "classification",
        "distributed gradient boosting (xgboost.spark.SparkXGBClassifier)",
        "class weights (weight_col)",
    ),
    Family("rf", "photoz", "random forest regression", "-"),
    Family("gbt", "photoz", "gradient-boosted trees regression", "-"),
    Family("xgb", "photoz", "distributed gradient boosting (xgboost.spark.SparkXGBRegressor)", "-"),
    Family("linear", "photoz", "linear regression", "-", True),
    Family("kmeans", "clustering", "k-means on colours", "-", True),
    Family("gmm", "clustering", "Gaussian mixture on colours", "-", True),
]
FAMILIES = {(f.task, f.name): f for f in _FAMILY_LIST}
TASK_FAMILIES = {t: [f.name for f in _FAMILY_LIST if f.task == t] for t in ("classification", "photoz", "clustering")}


def family(task: str, name: str) -> Family:
    if task not in TASK_FAMILIES:
        raise ModelError(f"unknown task {task!r}; choose one of {', '.join(TASK_FAMILIES)}")
    if name not in TASK_FAMILIES[task]:
        raise ModelError(f"unknown {task} family {name!r}; choose from {', '.join(TASK_FAMILIES[task])}")
    return FAMILIES[(task, name)]


# --------------------------------------------------------------------------------------------
# estimators and grids
# --------------------------------------------------------------------------------------------
XGB_LOGGER = "XGBoost-PySpark"  # xgboost.spark's driver and worker logger


def xgb_output() -> dict:
    """xgboost's own output follows astrolake's verbosity: below ``VERBOSE`` no per-round
    evaluation lines (``[42] training-mlogloss:...``), no booster messages (``verbosity=0``) and
    no INFO lines from xgboost.spark (its logger set to WARNING, a level its workers inherit)."""
    if verbosity() >= VERBOSE:
        return {"verbose": True, "verbosity": 1}
    logging.getLogger(XGB_LOGGER).setLevel(logging.WARNING)
    return {"verbose": False, "verbosity": 0}


def estimator(task: str, name: str, n_features: int, n_classes: int, seed: int = 42, **params):
    """The bare MLlib (or xgboost.spark) estimator of a family, reading ``features``."""
    family(task, name)
    common: dict[str, Any] = dict(featuresCol="features")
    if task == "classification":
        common |= dict(labelCol=LABEL_INDEX, predictionCol="prediction")
        if name == "logreg":
            return C.LogisticRegression(
                **common, weightCol=WEIGHT, family="multinomial", maxIter=params.pop("maxIter", 100), **params
            )
        if name == "tree":
            return C.DecisionTreeClassifier(**common, weightCol=WEIGHT, seed=seed, **params)
        if name == "rf":
            return C.RandomForestClassifier(**common, weightCol=WEIGHT, seed=seed, **params)
        if name == "gbt":
            return C.OneVsRest(classifier=C.GBTClassifier(seed=seed, **params), weightCol=WEIGHT, **common)
        if name == "svc":
            return C.OneVsRest(classifier=C.LinearSVC(**params), weightCol=WEIGHT, **common)
        if name == "mlp":
            hidden = list(params.pop("hidden", [32, 16]))
            return C.MultilayerPerceptronClassifier(
                **common,
                layers=[n_features, *hidden, n_classes],
                seed=seed,
                maxIter=params.pop("maxIter", 200),
                **params,
            )
        if name == "xgb":
            from xgboost.spark import SparkXGBClassifier

            return SparkXGBClassifier(
                features_col="features",
                label_col=LABEL_INDEX,
                weight_col=WEIGHT,
                num_workers=params.pop("num_workers", 1),
                random_state=seed,
                **{**xgb_output(), **params},
            )
    if task == "photoz":
        common |= dict(labelCol="redshift", predictionCol=Z_PHOT)
        if name == "rf":
            return R.RandomForestRegressor(**common, seed=seed, **params)
        if name == "gbt":
            return R.GBTRegressor(**common, seed=seed, **params)
        if name == "linear":
            return R.LinearRegression(**common, **params)
        if name == "xgb":
            from xgboost.spark import SparkXGBRegressor

            return SparkXGBRegressor(
                features_col="features",
                label_col="redshift",
                prediction_col=Z_PHOT,
                num_workers=params.pop("num_workers", 1),
                random_state=seed,
                **{**xgb_output(), **params},
            )
    if task == "clustering":
        if name == "kmeans":
            return K.KMeans(featuresCol="features", predictionCol="cluster", seed=seed, **params)
        if name == "gmm":
            return K.GaussianMixture(
                featuresCol="features",
                predictionCol="cluster",
                probabilityCol="cluster_probability",
                seed=seed,
                **params,
            )
    raise AssertionError((task, name))


# Grids: "small" for tests and quick searches, "default" for real work.  Keys are estimator params
# (for one-vs-rest families, params of the inner binary classifier).
GRIDS: dict[tuple[str, str], dict[str, dict[str, list[Any]]]] = {
    ("classification", "logreg"): {
        "small": {"regParam": [0.0, 0.01]},
        "default": {"regParam": [0.0, 0.001, 0.01], "elasticNetParam": [0.0, 0.5]},
    },
    ("classification", "tree"): {
        "small": {"maxDepth": [5, 10]},
        "default": {"maxDepth": [6, 10, 14], "minInstancesPerNode": [1, 5]},
    },
    ("classification", "rf"): {
        "small": {"numTrees": [20], "maxDepth": [6, 10]},
        "default": {"numTrees": [100, 200], "maxDepth": [12, 16]},
    },
    ("classification", "gbt"): {
        "small": {"maxIter": [10], "maxDepth": [4]},
        "default": {"maxIter": [50, 100], "maxDepth": [5, 7]},
    },
    ("classification", "svc"): {"small": {"regParam": [0.0, 0.01]}, "default": {"regParam": [0.0, 0.001, 0.01]}},
    ("classification", "mlp"): {"small": {"hidden": [[16]]}, "default": {"hidden": [[32, 16], [64, 32], [64, 64, 32]]}},
    ("classification", "xgb"): {
        "small": {"n_estimators": [50], "max_depth": [4, 6]},
        "default": {"n_estimators": [300, 600], "max_depth": [6, 8], "learning_rate": [0.05, 0.1]},
    },
    ("photoz", "rf"): {
        "small": {"numTrees": [20], "maxDepth": [8]},
        "default": {"numTrees": [100, 200], "maxDepth": [12, 16]},
    },
    ("photoz", "gbt"): {
        "small": {"maxIter": [20], "maxDepth": [4]},
        "default": {"maxIter": [100, 200], "maxDepth": [5, 7]},
    },
    ("photoz", "xgb"): {
        "small": {"n_estimators": [50], "max_depth": [4]},
        "default": {"n_estimators": [300, 600], "max_depth": [6, 8], "learning_rate": [0.05, 0.1]},
    },
    ("photoz", "linear"): {"small": {"regParam": [0.0]}, "default": {"regParam": [0.0, 0.001, 0.01]}},
    ("clustering", "kmeans"): {"small": {"k": [3]}, "default": {"k": [3, 4, 5, 6]}},
    ("clustering", "gmm"): {"small": {"k": [3]}, "default": {"k": [3, 4, 5]}},
}


def grid_points(task: str, name: str, size: str = "default") -> list[dict]:
    """Every parameter combination of a family's grid, as plain dicts (for model search)."""
    spec = GRIDS[(task, name)][size]
    return [dict(zip(spec, values, strict=True)) for values in itertools.product(*spec.values())]


# --------------------------------------------------------------------------------------------
# pipelines
# --------------------------------------------------------------------------------------------
def feature_stages(features: list[str], scale: bool) -> list:
    if not scale:
        return [VectorAssembler(inputCols=list(features), outputCol="features", handleInvalid="skip")]
    return [
        VectorAssembler(inputCols=list(features), outputCol="features_raw", handleInvalid="skip"),
        StandardScaler(inputCol="features_raw", outputCol="features", withMean=True, withStd=True),
    ]


def build_pipeline(
    task: str, name: str, features: list[str], classes: list[str] | None = None, seed: int = 42, **params
) -> Pipeline:
    """An unfitted Pipeline from gold feature columns to predictions for one family and its params.

    The pipeline reads features only (labels are indexed outside it, see :func:`index_labels`), so
    the logged model scores any table that has the feature columns.
    """
    fam = family(task, name)
    if task == "classification" and not classes:
        raise ValueError("a classifier needs its class names")
    classes = list(classes or [])
    stages: list = feature_stages(features, fam.scale)
    stages.append(estimator(task, name, len(features), len(classes), seed=seed, **dict(params)))
    if task == "classification":
        if name in ("gbt", "svc"):  # one-vs-rest gives scores, not probabilities
            stages.append(
                OneVsRestProbability(
                    scale=2.0 if name == "gbt" else 1.0, method="logistic" if name == "gbt" else "softmax"
                )
            )
        stages.append(IndexToString(inputCol="prediction", outputCol="predicted_class", labels=classes))
    return Pipeline(stages=stages)


def index_labels(df: DataFrame, classes: list[str], label: str = "class") -> DataFrame:
    """``label_index`` from the class name in the fixed class order (rows of other classes dropped)."""
    return StringIndexerModel.from_labels(
        list(classes), inputCol=label, outputCol=LABEL_INDEX, handleInvalid="skip"
    ).transform(df)


class OneVsRestProbability(Transformer, HasInputCol, HasOutputCol, DefaultParamsReadable, DefaultParamsWritable):
    """Per-class probabilities from one-vs-rest scores (``rawPrediction``), normalised to sum to 1.

    ``logistic``: p_c = 1 / (1 + exp(-scale * score_c)) (GBT margins, scale 2); ``softmax``: exp(scale *
    score_c) (uncalibrated SVM margins).
    """

    scale = Param(Params._dummy(), "scale", "multiplier of the scores", typeConverter=TypeConverters.toFloat)
    method = Param(Params._dummy(), "method", "logistic or softmax", typeConverter=TypeConverters.toString)
    _input_kwargs: dict[str, Any]  # set by @keyword_only

    @keyword_only
    def __init__(self, scale: float = 1.0, method: str = "softmax"):
        super().__init__()
        self._setDefault(inputCol="rawPrediction", outputCol="probability", scale=1.0, method="softmax")
        self._set(**self._input_kwargs)

    def _transform(self, df: DataFrame) -> DataFrame:
        from pyspark.ml.functions import array_to_vector, vector_to_array

        s = float(self.getOrDefault(self.scale))
        raw = vector_to_array(F.col(self.getInputCol()))
        if self.getOrDefault(self.method) == "logistic":
            p = F.transform(raw, lambda x: 1 / (1 + F.exp(-s * x)))
        else:
            top = F.array_max(raw)
            p = F.transform(raw, lambda x: F.exp(s * (x - top)))
        total = F.aggregate(p, F.lit(0.0), lambda a, x: a + x)
        return df.withColumn(self.getOutputCol(), array_to_vector(F.transform(p, lambda x: x / total)))


def with_class_weights(df: DataFrame, label: str = "class") -> tuple[DataFrame, dict[str, float]]:
    """Add ``class_weight`` = n / (k * n_class) from the class counts of ``df``."""
    counts = {r[0]: r[1] for r in df.groupBy(label).count().collect()}
    n, k = sum(counts.values()), len(counts)
    weights = {c: n / (k * m) for c, m in counts.items()}
    mapping = F.create_map(*[x for c, w in weights.items() for x in (F.lit(c), F.lit(float(w)))])
    return df.withColumn(WEIGHT, mapping[F.col(label)]), weights


def balanced_resample(df: DataFrame, label: str = "class", seed: int = 42) -> DataFrame:
    """Each class drawn with replacement up to the size of the largest (for estimators without weights)."""
    counts = {r[0]: r[1] for r in df.groupBy(label).count().collect()}
    biggest = max(counts.values())
    parts = [
        df.where(F.col(label) == c).sample(withReplacement=m < biggest, fraction=biggest / m, seed=seed)
        if m < biggest
        else df.where(F.col(label) == c)
        for c, m in counts.items()
    ]
    out = parts[0]
    for p in parts[1:]:
        out = out.unionByName(p)
    return out


def prepare_training_rows(task: str, name: str, df: DataFrame, label: str = "class") -> DataFrame:
    """Training rows with the family's imbalance treatment applied (weights or resampling)."""
    if task != "classification":
        return df
    weighted, _ = with_class_weights(df, label)
    if name == "mlp":
        return balanced_resample(weighted, label)
    return weighted


def param_grid(pipeline: Pipeline, grid: dict) -> list:
    """ParamGridBuilder maps over the pipeline's estimator stage (the inner one for one-vs-rest)."""
    est = [
        s
        for s in pipeline.getStages()
        if not isinstance(s, (VectorAssembler, StandardScaler, IndexToString, OneVsRestProbability))
    ][0]
    target = est.getClassifier() if isinstance(est, C.OneVsRest) else est
    builder = ParamGridBuilder()
    for key, values in grid.items():
        if key == "hidden":
            if not isinstance(target, C.MultilayerPerceptronClassifier):
                raise ValueError(f"grid key 'hidden' applies to the mlp family, not {type(target).__name__}")
            layers = [target.getLayers()[0], target.getLayers()[-1]]
            builder = builder.addGrid(target.layers, [[layers[0], *h, layers[1]] for h in values])
        else:
            builder = builder.addGrid(target.getParam(key), list(values))
    return builder.build()


def tune(
    pipeline: Pipeline,
    grid: dict,
    train: DataFrame,
    evaluator: Evaluator,
    method: str = "cv",
    folds: int = 3,
    parallelism: int = 2,
    seed: int = 42,
) -> tuple[PipelineModel, list[float]]:
    """CrossValidator (``cv``) or TrainValidationSplit (``tvs``) over ``grid``; the best refitted model
    and the metric of every grid point."""
    maps = param_grid(pipeline, grid)
    if method == "cv":
        cv = CrossValidator(
            estimator=pipeline,
            estimatorParamMaps=maps,
            evaluator=evaluator,
            numFolds=folds,
            parallelism=parallelism,
            seed=seed,
        ).fit(train)
        best, metrics = cv.bestModel, cv.avgMetrics
    elif method == "tvs":
        tvs = TrainValidationSplit(
            estimator=pipeline,
            estimatorParamMaps=maps,
            evaluator=evaluator,
            trainRatio=0.8,
            parallelism=parallelism,
            seed=seed,
        ).fit(train)
        best, metrics = tvs.bestModel, tvs.validationMetrics
    else:
        raise ValueError(f"unknown tuning method {method!r}; choose cv or tvs")
    assert isinstance(best, PipelineModel)  # the estimator is a Pipeline
    return best, list(metrics)


# --------------------------------------------------------------------------------------------
# photo-z uncertainty
# --------------------------------------------------------------------------------------------
ONE_SIGMA = 0.6827


def add_error_model(point: PipelineModel, validation: DataFrame, seed: int = 42) -> PipelineModel:
    """Append a calibrated per-object 1-sigma (``z_phot_err``) to a fitted photo-z pipeline.

    A random forest learns |z_phot - z_spec| from the features on the validation rows; its output
    is scaled so that 68.3 % of those rows have |z_phot - z_spec| <= z_phot_err.
    """
    scored = point.transform(validation).withColumn("_abs_dz", F.abs(F.col(Z_PHOT) - F.col("redshift")))
    err = R.RandomForestRegressor(
        featuresCol="features", labelCol="_abs_dz", predictionCol="_err_raw", numTrees=30, maxDepth=8, seed=seed
    ).fit(scored)
    with_raw = err.transform(scored).withColumn("_ratio", F.col("_abs_dz") / F.greatest(F.col("_err_raw"), F.lit(1e-6)))
    scale = with_raw.select(F.percentile("_ratio", F.lit(ONE_SIGMA))).first()[0]
    scale = float(scale) if scale else 1.0
    calibrate = SQLTransformer(statement=f"SELECT *, GREATEST(_err_raw, 1e-6) * {scale!r} AS {Z_ERR} FROM __THIS__")
    drop = SQLTransformer(statement="SELECT * EXCEPT (_err_raw) FROM __THIS__")
    return PipelineModel(stages=[*point.stages, err, calibrate, drop])


# --------------------------------------------------------------------------------------------
# evaluators for tuning (macro F1 is not among MLlib's metrics)
# --------------------------------------------------------------------------------------------
class MacroF1Evaluator(Evaluator):
    """Macro-averaged F1 of ``prediction`` against ``label_index`` (larger is better).

    From the (label, prediction) counts, by :func:`astrolake.ml.metrics.macro_f1` over classes
    0..k-1, k = the largest index seen + 1.
    """

    def __init__(self, labelCol: str = LABEL_INDEX, predictionCol: str = "prediction"):
        super().__init__()
        self.labelCol, self.predictionCol = labelCol, predictionCol

    def _evaluate(self, dataset: DataFrame) -> float:
        return macro_f1_by(dataset, [], self.labelCol, self.predictionCol)[()]

    def isLargerBetter(self) -> bool:
        return True


class SigmaNMADEvaluator(Evaluator):
    """sigma_NMAD of (z_phot - z_spec) / (1 + z_spec) (smaller is better)."""

    def __init__(self, labelCol: str = "redshift", predictionCol: str = Z_PHOT):
        super().__init__()
        self.labelCol, self.predictionCol = labelCol, predictionCol

    def _evaluate(self, dataset: DataFrame) -> float:
        return sigma_nmad_by(dataset, [], self.labelCol, self.predictionCol)[()]

    def isLargerBetter(self) -> bool:
        return False


def macro_f1_by(
    dataset: DataFrame, by: list[str], label: str = LABEL_INDEX, prediction: str = "prediction"
) -> dict[tuple, float]:
    """Macro F1 of each group of the ``by`` columns (``()`` alone when ``by`` is empty), from the
    (label, prediction) counts of its rows that have both, by :func:`astrolake.ml.metrics.macro_f1`
    over classes 0..k-1, k = the largest index seen in any group + 1 (at most groups x k x k rows reach
    the driver)."""
    scored = dataset.where(F.col(label).isNotNull() & F.col(prediction).isNotNull())
    rows = scored.groupBy(*by, label, prediction).count().collect()
    n = len(by)
    k = max((int(max(r[n], r[n + 1])) for r in rows), default=-1) + 1
    groups: dict[tuple, list] = {} if by else {(): []}
    for r in rows:
        groups.setdefault(tuple(r[:n]), []).append(tuple(r[n:]))
    return {g: metrics.macro_f1(metrics.confusion_from_counts(counts, k)) for g, counts in groups.items()}


def sigma_nmad_by(dataset: DataFrame, by: list[str], label: str = "redshift", prediction: str = Z_PHOT) -> dict:
    """sigma_NMAD of dz = (z_phot - z_spec) / (1 + z_spec) for each group of the ``by`` columns (``()``
    alone when ``by`` is empty; ``None`` for a group without a residual), with exact medians: two
    aggregations over the residuals, persisted in between so that the model runs once."""
    dz = dataset.select(*by, ((F.col(prediction) - F.col(label)) / (1 + F.col(label))).alias("dz"))
    dz = dz.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        med = F.broadcast(dz.groupBy(*by).agg(F.percentile("dz", F.lit(0.5)).alias("_med")))
        deviations = dz.join(med, by) if by else dz.crossJoin(med)
        mad = deviations.groupBy(*by).agg(F.percentile(F.abs(F.col("dz") - F.col("_med")), F.lit(0.5))).collect()
    finally:
        dz.unpersist()
    return {tuple(r[:-1]): None if r[-1] is None else metrics.NMAD * float(r[-1]) for r in mad}


def tuning_evaluator(task: str) -> Evaluator:
    if task == "classification":
        return MacroF1Evaluator()
    if task == "photoz":
        return SigmaNMADEvaluator()
    from pyspark.ml.evaluation import ClusteringEvaluator

    return ClusteringEvaluator(featuresCol="features", predictionCol="cluster")
