"""Stacked ensembles: the top models of a search combined by a meta-learner, as one Spark pipeline.

The AutoML pattern (auto-sklearn, H2O's StackedEnsemble): each member is a fitted classification
pipeline from :func:`astrolake.ml.train.fit`, trained on the **train** split; a multinomial logistic
regression (the meta-learner) learns, on the **validation** split, how much to trust each
member's class probabilities.  The members never see a validation row, so the meta-learner fits
honest, out-of-sample probabilities.

The result is one ``PipelineModel``, so it is logged, registered, promoted and scored like any
other model (``astrolake score`` needs nothing new)::

    member 0 stages -> rename the columns they wrote to _m0_<col> -> ... member k-1 (_m<k-1>_<col>)
    -> VectorAssembler(_m0_probability, ..., _m<k-1>_probability -> _stack_features)
    -> LogisticRegression (meta) -> IndexToString(prediction -> predicted_class)
    -> DropColumns (the members' columns)

Selecting the stack over the best single model must not use rows the meta-learner was fitted on:
:func:`cross_fitted_metrics` fits the meta-learner on one half of the validation rows and scores
the other half, then the reverse, so the stack's validation value is as honest as a single
trial's.  The stack registered is then refitted on the whole validation split.

Classification only: a photo-z pipeline ends in an error model calibrated on validation, which a
meta-learner fitted on the same rows would spoil.
"""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from typing import Any

from pyspark import keyword_only
from pyspark.ml import PipelineModel, Transformer
from pyspark.ml.classification import LogisticRegression
from pyspark.ml.feature import IndexToString, VectorAssembler
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.util import DefaultParamsReadable, DefaultParamsWritable
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from astrolake.ml import models, tracking

log = logging.getLogger(__name__)

__all__ = ["DropColumns", "RenameColumns", "cross_fitted_metrics", "member_stages", "stack", "stack_and_cross_fit"]

#: the parameters that name a column a pipeline stage writes (renamed per member)
_WRITES = ("outputCol", "predictionCol", "probabilityCol", "rawPredictionCol")
META_FEATURES = "_stack_features"
META_PARAMS: dict[str, float | int] = {"regParam": 0.001, "maxIter": 200}


class RenameColumns(Transformer, DefaultParamsReadable, DefaultParamsWritable):
    """Renames ``existing[i]`` to ``new[i]`` (a stacked ensemble's member hands on its columns)."""

    existing = Param(Params._dummy(), "existing", "columns to rename", typeConverter=TypeConverters.toListString)
    new = Param(Params._dummy(), "new", "their new names", typeConverter=TypeConverters.toListString)
    _input_kwargs: dict[str, Any]  # set by @keyword_only

    @keyword_only
    def __init__(self, existing: list[str] | None = None, new: list[str] | None = None):
        super().__init__()
        self._setDefault(existing=[], new=[])
        self._set(**self._input_kwargs)

    def _transform(self, df: DataFrame) -> DataFrame:
        existing: list[str] = self.getOrDefault(self.existing)
        new: list[str] = self.getOrDefault(self.new)
        pairs = dict(zip(existing, new, strict=True))
        return df.withColumnsRenamed({old: new for old, new in pairs.items() if old in df.columns})


class DropColumns(Transformer, DefaultParamsReadable, DefaultParamsWritable):
    """Drops the named columns (those a stacked ensemble's members wrote) where present."""

    cols = Param(Params._dummy(), "cols", "columns to drop", typeConverter=TypeConverters.toListString)
    _input_kwargs: dict[str, Any]  # set by @keyword_only

    @keyword_only
    def __init__(self, cols: list[str] | None = None):
        super().__init__()
        self._setDefault(cols=[])
        self._set(**self._input_kwargs)

    def _transform(self, df: DataFrame) -> DataFrame:
        return df.drop(*[c for c in self.getOrDefault(self.cols) if c in df.columns])


def member_stages(model: PipelineModel, index: int) -> tuple[list, str, list[str]]:
    """A fitted classification pipeline's stages, without its final ``IndexToString``, then one stage
    that renames every column they wrote to ``_m<index>_<col>``; returns (stages, probability column,
    columns written).

    The member's own stages are not changed (their parameters need not survive a save and load:
    ``OneVsRestModel`` forgets a renamed ``rawPredictionCol``); each member writes the usual names and
    hands them on under its own, so the next member starts from a clean slate."""
    prefix = f"_m{index}_"
    written: list[str] = []
    stages = []
    for stage in model.stages:
        if isinstance(stage, IndexToString):
            continue  # the ensemble names its own class
        stages.append(stage)
        for name in _WRITES:
            if stage.hasParam(name) and stage.isDefined(name) and stage.getOrDefault(name):
                if stage.getOrDefault(name) not in written:
                    written.append(stage.getOrDefault(name))
    if "probability" not in written:
        raise tracking.ModelError(f"member {index} ({type(model.stages[-1]).__name__}) gives no class probabilities")
    new = [prefix + c for c in written]
    return [*stages, RenameColumns(existing=written, new=new)], prefix + "probability", new


def _front(fitted: list) -> tuple[list, list[str]]:
    """The stages before the meta-learner: every member (its columns renamed), then the assembler of
    their probabilities into the meta-learner's input; and the members' renamed columns."""
    _check(fitted)
    stages: list = []
    probs: list[str] = []
    written: list[str] = []
    for i, f in enumerate(fitted):
        s, p, w = member_stages(f.model, i)
        stages += s
        probs.append(p)
        written += w
    return [*stages, VectorAssembler(inputCols=probs, outputCol=META_FEATURES)], written


def _meta() -> LogisticRegression:
    return LogisticRegression(
        featuresCol=META_FEATURES,
        labelCol=models.LABEL_INDEX,
        family="multinomial",
        regParam=float(META_PARAMS["regParam"]),
        maxIter=int(META_PARAMS["maxIter"]),
    )


@contextmanager
def _member_probabilities(fitted: list, rows: DataFrame, front: list, written: list[str]):
    """``rows`` (labels indexed) with the meta-learner's input vector, persisted while in use: the
    members run once however many times the meta-learner is fitted on them."""
    labelled = models.index_labels(rows, fitted[0].classes)
    frame = PipelineModel(front).transform(labelled).drop(*written).cache()
    try:
        yield frame
    finally:
        frame.unpersist()


def _stacked_model(fitted: list, frame: DataFrame, front: list, written: list[str], started: float):
    from astrolake.ml.train import Fitted

    classes = fitted[0].classes
    model = PipelineModel(
        [
            *front,
            _meta().fit(frame),
            IndexToString(inputCol="prediction", outputCol="predicted_class", labels=classes),
            DropColumns(cols=[*written, META_FEATURES]),
        ]
    )
    params = {"members": [{"family": f.family, **f.params} for f in fitted], "meta": "logreg", **META_PARAMS}
    seconds = sum(f.fit_seconds for f in fitted) + time.perf_counter() - started
    return Fitted(model, "classification", "stack", params, list(fitted[0].features), classes, seconds)


def _cross_fitted(fitted: list, frame: DataFrame, seed: int):
    from astrolake.ml.train import evaluate_predictions

    half = F.pmod(F.xxhash64(F.col("_key"), F.lit(seed)), F.lit(2))
    parts = [_meta().fit(frame.where(half == k)).transform(frame.where(half != k)) for k in (0, 1)]
    return evaluate_predictions(parts[0].unionByName(parts[1]), "classification", fitted[0].classes)


def stack(fitted: list, validation: DataFrame):
    """One :class:`astrolake.ml.train.Fitted` whose model is the stacked ensemble of ``fitted``
    (classification pipelines on the same features and classes), its meta-learner fitted on
    ``validation``."""
    started = time.perf_counter()
    front, written = _front(fitted)
    with _member_probabilities(fitted, validation, front, written) as frame:
        return _stacked_model(fitted, frame, front, written, started)


def cross_fitted_metrics(fitted: list, validation: DataFrame, seed: int = 42):
    """The stack's classification metrics on ``validation`` with the meta-learner never scoring a row it
    was fitted on: fitted on one half (by a hash of ``_key``), scored on the other, and the reverse."""
    front, written = _front(fitted)
    with _member_probabilities(fitted, validation, front, written) as frame:
        return _cross_fitted(fitted, frame, seed)


def stack_and_cross_fit(fitted: list, validation: DataFrame, seed: int = 42):
    """(:func:`stack`, :func:`cross_fitted_metrics`) with the members run once over ``validation``."""
    started = time.perf_counter()
    front, written = _front(fitted)
    with _member_probabilities(fitted, validation, front, written) as frame:
        return _stacked_model(fitted, frame, front, written, started), _cross_fitted(fitted, frame, seed)


def _check(fitted: list) -> None:
    if len(fitted) < 2:
        raise tracking.ModelError(f"a stacked ensemble needs at least 2 members, not {len(fitted)}")
    first = fitted[0]
    for f in fitted:
        if f.task != "classification":
            raise tracking.ModelError(f"stacked ensembles combine classifiers, not {f.task} models")
        if f.classes != first.classes or list(f.features) != list(first.features):
            raise tracking.ModelError("the members of a stacked ensemble must share their features and classes")
    log.debug("stack: %d members (%s)", len(fitted), ", ".join(f.family for f in fitted))
