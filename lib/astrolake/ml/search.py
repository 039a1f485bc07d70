"""Model search (``astrolake search``): several algorithm families and their grids within a budget.

Every trial fits one family with one parameter set on the training split and is scored on the
validation split only, as a nested MLflow run under one parent ``search`` run.  Trials take the
families in turn (round robin), so a short budget still sees every family.  The best trial by
the named validation metric (macro F1 by default) is then scored once on the test split, logged
with its plots and registered as the challenger.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field

from astrolake import layout
from astrolake.lake.tables import Lake
from astrolake.log import Steps, timed
from astrolake.ml import models, tracking
from astrolake.ml.features import training_data
from astrolake.ml.metrics import better, primary_metric
from astrolake.ml.train import evaluate, fit, log_evaluation, log_model, metric_dict, run_tags

log = logging.getLogger(__name__)


@dataclass
class Trial:
    number: int
    family: str
    params: dict
    run_id: str
    value: float
    fit_seconds: float


@dataclass
class SearchResult:
    run_id: str
    metric: str
    best: Trial
    trials: list[Trial]
    test_metrics: dict[str, float]
    model_name: str | None
    version: str | None
    stopped_by: str
    table: str
    table_version: int
    features: list[str] = field(default_factory=list)

    def line(self) -> str:
        reg = f"; registered {self.model_name} v{self.version} @challenger" if self.version else ""
        test = self.test_metrics.get(f"test_{self.metric}")
        return (
            f"search: {len(self.trials)} trials ({self.stopped_by}); best {self.best.family} {self.best.params} "
            f"validation {self.metric}={self.best.value:.4f}, test {self.metric}={test:.4f}{reg}"
        )


def trial_plan(task: str, families: list[str], grid_size: str) -> list[tuple[str, dict]]:
    """Grid points of all families, interleaved: (f1, p1), (f2, p1), ..., (f1, p2), ..."""
    grids = [[(f, p) for p in models.grid_points(task, f, grid_size)] for f in families]
    plan = []
    for i in range(max(len(g) for g in grids)):
        plan += [g[i] for g in grids if i < len(g)]
    return plan


def search(
    lake: Lake,
    table: str,
    task: str = "classification",
    families: list[str] | None = None,
    feature_set: str = "photometry",
    budget_minutes: float = 20.0,
    max_trials: int | None = None,
    metric: str | None = None,
    grid_size: str = "default",
    register: bool = True,
    name: str | None = None,
    table_version: int | None = None,
) -> SearchResult:
    import mlflow

    if task not in ("classification", "photoz"):
        raise tracking.ModelError(f"search covers classification and photoz, not {task!r}")
    families = families or [f for f in models.TASK_FAMILIES[task] if f not in ("svc", "tree")]
    for f in families:
        models.family(task, f)
    metric = metric or primary_metric(task)
    if budget_minutes <= 0:
        raise tracking.ModelError("--budget-minutes must be positive")
    if max_trials is not None and max_trials < 1:
        raise tracking.ModelError("--max-trials must be at least 1")
    tracking.configure(lake.settings)
    data = training_data(lake, table, task, feature_set, version=table_version)
    data.frame = data.frame.cache()
    plan = trial_plan(task, families, grid_size)
    if max_trials:
        plan = plan[:max_trials]
    log.info(
        f"search: {task} on {data.table} v{data.version}: {len(plan)} planned trials over "
        f"{', '.join(families)}; budget {budget_minutes:g} min; selecting by validation {metric}"
    )
    steps = Steps("search", total=len(plan), logger=log)
    t0 = time.perf_counter()
    trials: list[Trial] = []
    best_fit, best = None, None
    stopped = "all trials run"
    with mlflow.start_run(run_name=f"search-{task}") as parent:
        mlflow.set_tags(run_tags(data, lake, task, "search", feature_set, []))
        mlflow.log_params(
            {
                "families": ",".join(families),
                "budget_minutes": budget_minutes,
                "max_trials": max_trials or 0,
                "metric": metric,
                "grid_size": grid_size,
            }
        )
        for number, (family, params) in enumerate(plan, 1):
            elapsed = (time.perf_counter() - t0) / 60
            if elapsed >= budget_minutes:
                stopped = f"budget of {budget_minutes:g} min reached"
                break
            with steps.step(f"{family} {params}") as step:
                with mlflow.start_run(run_name=f"trial-{number}-{family}", nested=True) as run:
                    fitted = fit(data, task, family, params)
                    values = metric_dict(evaluate(fitted.model, data.split("validation"), task, fitted.classes))
                    mlflow.set_tags(run_tags(data, lake, task, family, feature_set, fitted.classes))
                    mlflow.log_params(
                        {
                            k: json.dumps(v) if isinstance(v, (list, dict)) else v
                            for k, v in {**params, "family": family}.items()
                        }
                    )
                    mlflow.log_metrics(
                        {f"validation_{k}": v for k, v in values.items()} | {"fit_seconds": fitted.fit_seconds}
                    )
                trial = Trial(number, family, params, run.info.run_id, values[metric], fitted.fit_seconds)
                trials.append(trial)
                if best is None or better(metric, trial.value, best.value):
                    best, best_fit = trial, fitted
                step.detail = (
                    f"validation {metric}={trial.value:.4f}, best {best.value:.4f} ({best.family}); "
                    f"{(time.perf_counter() - t0) / 60:.1f} min so far"
                )
        if max_trials and len(trials) == max_trials and len(plan) == max_trials:
            stopped = f"max trials ({max_trials}) reached"
        assert best is not None and best_fit is not None  # the first trial always runs (budget > 0)
        # the test split is scored once, for the selected model only
        with timed(log, f"search: best trial ({best.family}) scored on the test split"):
            test = log_evaluation(evaluate(best_fit.model, data.split("test"), task, best_fit.classes), "test")
        mlflow.log_metric(f"validation_{metric}", best.value)
        mlflow.set_tags(
            {
                tracking.TAG + "best_trial_run": best.run_id,
                tracking.TAG + "best_family": best.family,
                tracking.TAG + "best_params": json.dumps(best.params),
                tracking.TAG + "family": best.family,
                tracking.TAG + "classes": json.dumps(best_fit.classes),
            }
        )
        mlflow.log_dict(
            {"metric": metric, "stopped_by": stopped, "trials": [t.__dict__ for t in trials]}, "leaderboard.json"
        )
        log_model(best_fit, data)
        version = model_name = None
        if register:
            model_name = name or tracking.model_name(lake.settings, task, layout.catalog_of(data.table))
            version = tracking.register(parent.info.run_id, "model", model_name)
    data.frame.unpersist()
    result = SearchResult(
        parent.info.run_id,
        metric,
        best,
        trials,
        test,
        model_name,
        version,
        stopped,
        data.table,
        data.version,
        data.features,
    )
    log.info(result.line())
    return result
