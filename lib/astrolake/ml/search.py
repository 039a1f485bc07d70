"""Model search (``astrolake search``): several algorithm families and their grids within a budget.

Every trial fits one family with one parameter set on the training split and is scored on the
validation split only, as a nested MLflow run under one parent ``search`` run.  The best trial by
the named validation metric (macro F1 by default) is then scored once on the test split, logged
with its plots and registered as the challenger.

The search spends its budget (:class:`Budget`):

* **first round**: the first grid point of every family, in turn, so a short budget still sees
  every family;
* **cost estimates**: each trial's cost is estimated from the seconds per work unit (trees x
  depth for forests and boosting, one unit otherwise, :func:`work_units`) that the family's
  finished trials took on this data; a trial whose estimate exceeds the time left is skipped
  and a cheaper one runs instead;
* **where the gains are**: after the first round, trials of families whose best validation value
  is within ``tolerance`` of the leader go first, cheapest first; families further behind get
  what is left;
* **no overrun**: a trial still running when the budget ends is cancelled (its Spark jobs are
  cancelled by job group), and a reserve is kept for the final test scoring and model logging.

**Stacking** (``stack=k``, classification): the best trial of each of the ``k`` best families is
combined by a meta-learner fitted on the validation split (:mod:`astrolake.ml.ensemble`).  Its
validation value is cross-fitted (the meta-learner never scores a row it was fitted on), so it
competes with the single trials on equal terms; the stack is selected only when it beats the
best of them, and is then registered like any model.

``leaderboard.json`` of the parent run lists every planned trial with its estimate, the ones run,
skipped or cancelled, and why.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from astrolake import layout
from astrolake.lake.tables import Lake
from astrolake.log import Steps, timed
from astrolake.ml import models, tracking
from astrolake.ml.features import training_data
from astrolake.ml.metrics import better, lower_is_better, primary_metric
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


def work_units(family: str, params: dict) -> float:
    """A trial's relative cost: trees (or boosting rounds) x depth for tree ensembles, else 1.

    >>> work_units("rf", {"numTrees": 100, "maxDepth": 12}), work_units("xgb", {"n_estimators": 300, "max_depth": 6})
    (1200.0, 1800.0)
    >>> work_units("logreg", {"regParam": 0.01})
    1.0
    """
    trees = params.get("numTrees", params.get("n_estimators", params.get("maxIter") if family == "gbt" else None))
    depth = params.get("maxDepth", params.get("max_depth"))
    if trees is None and depth is None:
        return 1.0
    return float(trees or 1) * float(depth or 1)


@dataclass
class Planned:
    family: str
    params: dict
    estimate: float | None = None  # seconds, once the family has a finished trial
    status: str = "planned"  # planned | run | skipped | cancelled | not reached
    reason: str = ""

    @property
    def units(self) -> float:
        return work_units(self.family, self.params)


class Budget:
    """Which trial next, and whether it still fits: see the module docstring."""

    def __init__(self, plan: list[tuple[str, dict]], seconds: float, metric: str, tolerance: float = 0.01):
        self.queue = [Planned(f, p) for f, p in plan]
        self.all = list(self.queue)
        self.seconds, self.metric, self.tolerance = seconds, metric, tolerance
        self.rate: dict[str, list[float]] = {}  # family -> seconds per work unit of its trials
        self.best: dict[str, float] = {}  # family -> best validation value
        self.t0 = time.perf_counter()
        self.trial_seconds = 0.0

    def left(self) -> float:
        return self.seconds - (time.perf_counter() - self.t0)

    def estimate(self, p: Planned) -> float | None:
        rates = self.rate.get(p.family)
        return None if not rates else p.units * sum(rates) / len(rates)

    def record(self, p: Planned, seconds: float, value: float | None) -> None:
        self.trial_seconds += seconds
        if value is None:  # cancelled: the seconds spent are a lower bound of its cost
            return
        self.rate.setdefault(p.family, []).append(seconds / p.units)
        old = self.best.get(p.family)
        if old is None or better(self.metric, value, old):
            self.best[p.family] = value

    def _behind(self, family: str) -> float:
        """How far a family's best is behind the leader (0 for the leader; inf when untried)."""
        if family not in self.best:
            return float("inf")
        values = list(self.best.values())
        lead = min(values) if lower_is_better(self.metric) else max(values)
        return abs(self.best[family] - lead)

    def next(self, reserve: float) -> Planned | None:
        """The next trial to run, or None; skips (and records) trials that no longer fit."""
        while self.queue:
            untried = [p for p in self.queue if p.family not in self.rate]
            if untried:  # first round: every family once, in plan order
                pick = untried[0]
            else:
                for p in self.queue:
                    p.estimate = self.estimate(p)
                close = [p for p in self.queue if self._behind(p.family) <= self.tolerance]
                pool = close or self.queue
                pick = min(pool, key=lambda p: (p.estimate or 0.0, self.queue.index(p)))
            pick.estimate = self.estimate(pick)
            room = self.left() - reserve
            if pick.estimate is not None and pick.estimate > room:
                pick.status = "skipped"
                pick.reason = f"estimated {pick.estimate:.0f} s > {max(room, 0):.0f} s left"
                self.queue.remove(pick)
                log.info(f"search: skip {pick.family} {pick.params}: {pick.reason}")
                continue
            if room <= 0:
                break
            self.queue.remove(pick)
            return pick
        for p in self.queue:
            p.status, p.reason = "not reached", "budget spent"
        self.queue = []
        return None

    def table(self) -> list[dict]:
        return [
            {
                "family": p.family,
                "params": p.params,
                "estimate_seconds": p.estimate,
                "status": p.status,
                "reason": p.reason,
            }
            for p in self.all
        ]


class TrialCancelled(tracking.ModelError):
    """A trial was still running when the search's budget ended."""


def _run_within(spark, seconds: float, work):
    """Run ``work()`` with its Spark jobs cancelled after ``seconds`` (raises TrialCancelled)."""
    sc = spark.sparkContext
    tag = f"astrolake-search-{uuid.uuid4().hex[:8]}"
    fired = threading.Event()

    def cancel():
        fired.set()
        sc.cancelJobsWithTag(tag)

    sc.addJobTag(tag)
    sc.setInterruptOnCancel(True)
    timer = threading.Timer(max(seconds, 0.0), cancel)
    timer.daemon = True
    timer.start()
    try:
        return work()
    except Exception as exc:
        if fired.is_set():
            raise TrialCancelled(f"cancelled after {seconds:.0f} s: the budget ended") from exc
        raise
    finally:
        timer.cancel()
        sc.removeJobTag(tag)
        sc.setInterruptOnCancel(False)


def trial_plan(task: str, families: list[str], grid_size: str) -> list[tuple[str, dict]]:
    """Grid points of all families, interleaved: (f1, p1), (f2, p1), ..., (f1, p2), ..."""
    grids = [[(f, p) for p in models.grid_points(task, f, grid_size)] for f in families]
    plan = []
    for i in range(max(len(g) for g in grids)):
        plan += [g[i] for g in grids if i < len(g)]
    return plan


def _stacked(data, leaders: dict, k: int, metric: str, best: Trial, best_fit, number: int):
    """The stack of the best trial of each of the ``k`` best families, logged as a nested run, and
    (best, best_fit) replaced by it when its cross-fitted validation value beats ``best``'s."""
    import mlflow

    from astrolake.ml import ensemble

    ranked = sorted(leaders.values(), key=lambda tf: tf[0].value, reverse=not lower_is_better(metric))[:k]
    if len(ranked) < 2:
        log.info(f"search: no stack: {len(ranked)} family finished a trial (2 needed)")
        return best, best_fit
    members = [f for _, f in ranked]
    label = " + ".join(f"{t.family} (trial {t.number})" for t, _ in ranked)
    with timed(log, f"search: stack of {label}"):
        with mlflow.start_run(run_name=f"trial-{number}-stack", nested=True) as run:
            validation = data.split("validation")
            fitted, honest = ensemble.stack_and_cross_fit(members, validation)
            values = metric_dict(honest)
            mlflow.log_params({"family": "stack", "members": json.dumps([t.number for t, _ in ranked])})
            mlflow.set_tags({tracking.TAG + "family": "stack", tracking.TAG + "members": label})
            mlflow.log_metrics({f"validation_{k}": v for k, v in values.items()})
    trial = Trial(number, "stack", fitted.params, run.info.run_id, values[metric], fitted.fit_seconds)
    wins = better(metric, trial.value, best.value)
    log.info(
        f"search: stack validation {metric}={trial.value:.4f} (cross-fitted) against the best trial's "
        f"{best.value:.4f}: {'selected' if wins else 'not selected'}"
    )
    return (trial, fitted) if wins else (best, best_fit)


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
    tolerance: float = 0.01,
    stack: int = 0,
) -> SearchResult:
    """Search ``families`` x their grids on the gold table within ``budget_minutes`` (see the module).

    ``tolerance``: after the first round, families whose best validation value is within it of
    the leader's get the next trials.  ``stack``: combine the best trial of each of the ``stack``
    best families into a stacked ensemble (0: no stacking; classification only).
    """
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
    if stack and (stack < 2 or task != "classification"):
        raise tracking.ModelError(f"--stack combines at least 2 classifiers (got {stack} for {task})")
    tracking.configure(lake.settings)
    data = training_data(lake, table, task, feature_set, version=table_version)
    data.frame = data.frame.cache()
    plan = trial_plan(task, families, grid_size)
    log.info(
        f"search: {task} on {data.table} v{data.version}: {len(plan)} planned trials over "
        f"{', '.join(families)}; budget {budget_minutes:g} min; selecting by validation {metric}"
    )
    steps = Steps("search", total=len(plan), logger=log)
    budget = Budget(plan, budget_minutes * 60, metric, tolerance)
    reserve = min(0.05 * budget.seconds, 60.0)  # for the test scoring and the model logging at the end
    trials: list[Trial] = []
    best_fit, best = None, None
    leaders: dict[str, tuple[Trial, Any]] = {}  # family -> its best trial and fitted model (for stacking)
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
                "tolerance": tolerance,
            }
        )
        number = 0
        while (planned := budget.next(reserve if trials else 0.0)) is not None:
            if max_trials and len(trials) >= max_trials:
                budget.queue.insert(0, planned)
                for p in budget.queue:
                    p.status, p.reason = "not reached", f"max trials ({max_trials})"
                budget.queue = []
                stopped = f"max trials ({max_trials}) reached"
                break
            number += 1
            family, params = planned.family, planned.params
            est = f" (estimated {planned.estimate:.0f} s)" if planned.estimate is not None else ""
            with steps.step(f"{family} {params}{est}") as step:
                started = time.perf_counter()

                def run_trial(family=family, params=params):
                    fitted = fit(data, task, family, params)
                    values = metric_dict(evaluate(fitted.model, data.split("validation"), task, fitted.classes))
                    return fitted, values

                with mlflow.start_run(run_name=f"trial-{number}-{family}", nested=True) as run:
                    mlflow.log_params(
                        {
                            k: json.dumps(v) if isinstance(v, (list, dict)) else v
                            for k, v in {**params, "family": family}.items()
                        }
                    )
                    try:
                        # the first trial always finishes: the search needs one model
                        limit = budget.left() - reserve if trials else float("inf")
                        fitted, values = (
                            run_trial() if limit == float("inf") else _run_within(lake.spark, limit, run_trial)
                        )
                    except TrialCancelled as exc:
                        planned.status, planned.reason = "cancelled", str(exc)
                        budget.record(planned, time.perf_counter() - started, None)
                        mlflow.set_tag(tracking.TAG + "trial_status", "cancelled")
                        step.detail = str(exc)
                        stopped = f"budget of {budget_minutes:g} min reached"
                        break
                    mlflow.set_tags(run_tags(data, lake, task, family, feature_set, fitted.classes))
                    mlflow.log_metrics(
                        {f"validation_{k}": v for k, v in values.items()} | {"fit_seconds": fitted.fit_seconds}
                    )
                planned.status = "run"
                budget.record(planned, time.perf_counter() - started, values[metric])
                trial = Trial(number, family, params, run.info.run_id, values[metric], fitted.fit_seconds)
                trials.append(trial)
                if best is None or better(metric, trial.value, best.value):
                    best, best_fit = trial, fitted
                if stack and (family not in leaders or better(metric, trial.value, leaders[family][0].value)):
                    leaders[family] = (trial, fitted)
                step.detail = (
                    f"validation {metric}={trial.value:.4f}, best {best.value:.4f} ({best.family}); "
                    f"{budget.left() / 60:.1f} min left"
                )
        if stopped == "all trials run" and any(p.status != "run" for p in budget.all):
            stopped = f"budget of {budget_minutes:g} min reached"
        assert best is not None and best_fit is not None  # the first trial always runs (budget > 0)
        if stack:
            best, best_fit = _stacked(data, leaders, stack, metric, best, best_fit, number + 1)
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
            {
                "metric": metric,
                "stopped_by": stopped,
                "budget_seconds": budget.seconds,
                "trial_seconds": round(budget.trial_seconds, 1),
                "trials": [t.__dict__ for t in trials],
                "plan": budget.table(),
            },
            "leaderboard.json",
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
