"""Champion / challenger: promote a registered model version only when it wins beyond the noise.

``promote`` scores the ``challenger`` and the ``champion`` on the **hold-out** split of one pinned
Delta version of the gold table (by default the version the challenger was trained on), keeping
only rows that both models can score.  The hold-out (buckets 80-89, :mod:`astrolake.layout`) is
used for nothing else: train fits, validation selects (tuning, search), test is reported once per
model.  So promotion decisions do not slowly turn the test rows into a selection set.

The challenger wins when a **paired bootstrap** on those rows puts the whole interval of its gain
(at ``confidence``, 95 % by default) above ``min_gain``: each resample draws the same rows for
both models, so the noise of the rows cancels and only the models' disagreement counts.  A
near-tie keeps the champion.  The metric is ``macro_f1`` (or ``accuracy``) for classifiers,
``sigma_nmad`` (or ``outlier_fraction``, ``rmse``, ``mae``) for photo-z.  The comparison, with its
interval, is recorded as tags on the challenger's model version.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

from pyspark.sql import functions as F

from astrolake import faults
from astrolake.lake.tables import Lake
from astrolake.layout import live
from astrolake.ml import tracking
from astrolake.ml.features import complete_rows
from astrolake.ml.metrics import (
    BOOTSTRAP_METRICS,
    Gain,
    check_bootstrap,
    paired_bootstrap_classes,
    paired_bootstrap_redshift,
    primary_metric,
)

log = logging.getLogger(__name__)

SPLIT = "holdout"
MIN_ROWS = 100  # fewer hold-out rows than this decide nothing: promote refuses
MAX_REDSHIFT_ROWS = 1_000_000  # photo-z residuals are resampled on the driver: a seeded sample beyond


@dataclass
class Promotion:
    model_name: str
    challenger: str
    champion_before: str | None
    champion_after: str | None  # None: a dry run with no champion yet
    metric: str
    challenger_value: float
    champion_value: float | None
    table: str
    table_version: int
    rows: int  # hold-out rows both models scored
    gain: Gain | None = None  # None: no champion to compare with
    min_gain: float = 0.0
    dry_run: bool = False

    @property
    def promoted(self) -> bool:
        return self.champion_after == self.challenger and self.champion_before != self.challenger

    @property
    def wins(self) -> bool:
        """The challenger beats the champion beyond the noise, or there is no champion yet."""
        if self.gain is None:
            return self.champion_before is None
        return self.gain.significant(self.min_gain)

    def line(self) -> str:
        if self.dry_run:
            verdict = "would win (dry run)" if self.wins else "would lose (dry run)"
        else:
            verdict = "promoted" if self.promoted else "kept the champion"
        versus = (
            "no champion yet"
            if self.champion_value is None
            else f"champion v{self.champion_before} {self.metric}={self.champion_value:.5f}"
        )
        gain = f", {self.gain.line()}" if self.gain else ""
        return (
            f"promote {self.model_name}: challenger v{self.challenger} {self.metric}={self.challenger_value:.5f} "
            f"vs {versus} on {self.table} v{self.table_version} {SPLIT} ({self.rows:,} rows){gain}: {verdict}; "
            + (f"champion is v{self.champion_after}" if self.champion_after else "no champion")
        )


def _outputs(ref: tracking.ModelRef, rows, column: str):
    """``_key`` and the model's ``column`` output (``predicted_class`` or ``z_phot``) for ``rows``."""
    from astrolake.ml import scoring

    return scoring.predict(ref, rows).select("_key", F.col(column).alias("_out"))


def problems(
    features: list[str],
    signature_inputs: list[str] | None,
    columns: list[str],
    value: float | None = None,
    silent: int = 0,
    rows: int = 0,
) -> list[str]:
    """Why a model version must not become champion (empty: it may).

    ``signature_inputs``: the column names of its MLflow signature ([] for a tensor signature,
    None for no signature at all); ``columns``: the gold table's; ``value``: its metric on the
    hold-out; ``silent``: hold-out rows (of ``rows``) it gave no prediction for.

    >>> problems(["u_g"], ["u_g"], ["u_g", "class"], 0.8, 0, 500)
    []
    >>> problems(["u_g", "w1"], ["u_g"], ["u_g"], float("nan"), 3, 500)  # doctest: +NORMALIZE_WHITESPACE
    ['its signature lacks feature(s) w1', 'feature(s) w1 missing from the table',
     'no prediction for 3 of 500 hold-out rows', 'its metric is not a number']
    """
    out = []
    if signature_inputs is None:
        out.append("it has no MLflow signature")
    elif signature_inputs:  # a column signature (a tensor signature names no columns)
        if not features:
            out.append("it records no features")
        lacking = [f for f in features if f not in signature_inputs]
        if lacking:
            out.append(f"its signature lacks feature(s) {', '.join(lacking)}")
    absent = [f for f in features if f not in columns]
    if absent:
        out.append(f"feature(s) {', '.join(absent)} missing from the table")
    if silent:
        out.append(f"no prediction for {silent} of {rows} hold-out rows")
    if value is not None and not math.isfinite(value):
        out.append("its metric is not a number")
    return out


def signature_inputs(ref: tracking.ModelRef) -> list[str] | None:
    """Column names of the model's MLflow signature; [] for a tensor signature; None without one."""
    from mlflow.models import get_model_info

    sig = get_model_info(ref.source).signature
    if sig is None or sig.inputs is None:
        return None
    return list(sig.inputs.input_names()) if sig.inputs.has_input_names() else []


def _refuse(client, ref: tracking.ModelRef, found: list[str]) -> None:
    t = tracking.TAG + "promotion."
    client.set_model_version_tag(ref.name, ref.version, t + "result", "invalid")
    client.set_model_version_tag(ref.name, ref.version, t + "problems", "; ".join(found))
    raise tracking.ModelError(f"{ref.uri} cannot become champion: {'; '.join(found)}")


def compare(
    challenger: tracking.ModelRef,
    champion: tracking.ModelRef | None,
    rows,
    metric: str,
    n_boot: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, Gain | None, int, int]:
    """Challenger's value, its paired-bootstrap gain over ``champion`` (None without one), rows used,
    and the rows the challenger gave no prediction for (null, NaN or dropped).

    ``rows`` hold the label (``class`` or ``redshift``) and every feature both models need.
    """
    from astrolake.ml.models import Z_PHOT

    task = challenger.task
    if metric not in BOOTSTRAP_METRICS.get(task, ()):
        raise tracking.ModelError(
            f"promotion compares {task} models by {', '.join(BOOTSTRAP_METRICS.get(task, ())) or 'nothing'}, "
            f"not {metric!r}"
        )
    column, label = ("predicted_class", "class") if task == "classification" else (Z_PHOT, "redshift")
    truth = rows.select("_key", F.col(label).alias("_truth"))
    a = _outputs(challenger, rows, column).withColumnRenamed("_out", "_a")
    # without a champion the challenger is paired with itself (its gain is 0 and not used)
    b = (
        a.withColumnRenamed("_a", "_b")
        if champion is None
        else _outputs(champion, rows, column).withColumnRenamed("_out", "_b")
    )
    paired = truth.join(a, "_key", "left").join(b, "_key", "left")
    if task == "photoz":
        paired = paired.withColumn("_a", F.nanvl("_a", F.lit(None))).withColumn("_b", F.nanvl("_b", F.lit(None)))
    cached = paired.cache()  # each model scores each row once: counted here, resampled below
    total = rows.count()
    silent = cached.where(F.col("_a").isNull()).count()  # rows the challenger does not predict
    paired = cached.where(F.col("_a").isNotNull() & F.col("_b").isNotNull())
    if silent == total:
        cached.unpersist()
        return float("nan"), None, 0, silent
    if task == "classification":
        cells = paired.groupBy("_truth", "_a", "_b").count().collect()
        names = list(challenger.classes) + sorted(
            {c for r in cells for c in (r["_a"], r["_b"])} - set(challenger.classes)
        )
        index = {c: i for i, c in enumerate(names)}
        gain = paired_bootstrap_classes(
            [index[r["_truth"]] for r in cells],
            [index[r["_a"]] for r in cells],
            [index[r["_b"]] for r in cells],
            k=len(names),
            counts=[r["count"] for r in cells],
            metric=metric,
            n_boot=n_boot,
            confidence=confidence,
            seed=seed,
        )
    else:
        n = paired.count()
        if n > MAX_REDSHIFT_ROWS:
            log.info(f"promote: resampling a seeded sample of {MAX_REDSHIFT_ROWS:,} of {n:,} hold-out rows")
            paired = paired.sample(fraction=MAX_REDSHIFT_ROWS / n, seed=seed)
        pdf = paired.select("_truth", "_a", "_b").toPandas()
        gain = paired_bootstrap_redshift(
            pdf["_truth"], pdf["_a"], pdf["_b"], metric=metric, n_boot=n_boot, confidence=confidence, seed=seed
        )
    cached.unpersist()
    return gain.challenger, (gain if champion is not None else None), gain.n, silent


def promote(
    lake: Lake,
    name: str,
    metric: str | None = None,
    table_version: int | None = None,
    version: str | None = None,
    dry_run: bool = False,
    min_gain: float = 0.0,
    confidence: float = 0.95,
    n_boot: int = 1000,
    min_rows: int = MIN_ROWS,
) -> Promotion:
    """Compare challenger and champion of ``name`` on one pinned hold-out split; move ``champion`` if won.

    ``version`` compares that version instead of the ``challenger`` alias (a deployment job's
    model_version); ``dry_run`` records the comparison without moving the alias.  The challenger
    wins when the lower end of the paired-bootstrap interval of its gain exceeds ``min_gain``
    (in the metric's units; positive means better, also for error-like metrics).
    """
    from mlflow import MlflowClient

    if min_gain < 0:
        raise tracking.ModelError(f"min_gain is a gain to exceed, >= 0, not {min_gain}")
    try:
        check_bootstrap(n_boot, confidence)
    except ValueError as exc:
        raise tracking.ModelError(str(exc)) from None
    tracking.configure(lake.settings)
    challenger = tracking.resolve(f"models:/{name}/{version}" if version else f"models:/{name}@{tracking.CHALLENGER}")
    champion_v = tracking.alias_version(name, tracking.CHAMPION)
    metric = metric or primary_metric(challenger.task)
    table = challenger.tags.get(tracking.TAG + "table")
    if not table:
        raise tracking.ModelError(f"{challenger.uri} has no {tracking.TAG}table tag: it was not trained by astrolake")
    table_v = int(table_version if table_version is not None else challenger.tags[tracking.TAG + "table_version"])
    champion = tracking.resolve(f"models:/{name}/{champion_v}") if champion_v else None
    if champion is not None and champion.task != challenger.task:
        raise tracking.ModelError(
            f"champion ({champion.task}) and challenger ({challenger.task}) solve different tasks"
        )
    if champion is not None and challenger.task == "classification" and champion.classes != challenger.classes:
        raise tracking.ModelError(
            f"champion (classes {champion.classes}) and challenger (classes {challenger.classes}) "
            "predict different classes: compare them by hand"
        )
    label = "redshift" if challenger.task == "photoz" else "class"
    client = MlflowClient()
    gold = live(lake.read(table, version=table_v))  # retracted rows never decide a promotion
    found = problems(challenger.features, signature_inputs(challenger), gold.columns)
    if found:  # checked before any scoring: a model that cannot be scored here never competes
        _refuse(client, challenger, found)
    rows = gold.where((F.col("split") == SPLIT) & F.col(label).isNotNull())
    needed = set(challenger.features) | set(champion.features if champion else [])
    rows = complete_rows(rows, sorted(needed))  # the same rows for both: those every model can score
    if challenger.task == "classification":
        rows = rows.where(F.col("class").isin(challenger.classes))
    rows = rows.cache()
    try:
        n = rows.count()
        if n < min_rows:
            raise tracking.ModelError(
                f"{table} v{table_v} has {n} {SPLIT} rows both models can score; at least {min_rows} are "
                "needed to decide (a gold table built before the hold-out existed is migrated by "
                "`astrolake features`)"
            )
        compared = champion if champion is not None and challenger.version != champion_v else None
        ch_value, gain, n, silent = compare(challenger, compared, rows, metric, n_boot, confidence)
        found = problems(challenger.features, [], gold.columns, ch_value, silent, n + silent)
        if found:
            _refuse(client, challenger, found)
    finally:
        rows.unpersist()
    champ_value = ch_value if champion is not None and compared is None else (gain.champion if gain else None)
    result = Promotion(
        name,
        challenger.version,
        champion_v,
        champion_v,
        metric,
        ch_value,
        champ_value,
        table,
        table_v,
        n,
        gain,
        min_gain,
        dry_run,
    )
    already = champion_v is not None and challenger.version == champion_v  # e.g. a promote killed mid-way
    wins = already or result.wins
    t = tracking.TAG + "promotion."
    if dry_run:
        outcome = "wins" if wins else "loses"
    else:
        outcome = "wins" if wins and not already else ("promoted" if already else "rejected")
    tags = {
        t + "metric": metric,
        t + "split": SPLIT,
        t + "challenger_value": repr(ch_value),
        t + "table": table,
        t + "table_version": str(table_v),
        t + "rows": str(n),
        t + "champion_version": str(champion_v),
        t + "champion_value": repr(champ_value),
        t + "min_gain": repr(min_gain),
        t + "result": outcome,
    }
    if gain is not None:
        tags |= {
            t + "gain": repr(gain.gain),
            t + "gain_low": repr(gain.low),
            t + "gain_high": repr(gain.high),
            t + "confidence": repr(gain.confidence),
            t + "bootstrap_resamples": str(gain.n_boot),
        }
    # Order: the comparison's tags (result "wins"), then the alias, then "promoted".  A process
    # killed between two steps leaves the aliases pointing at versions, and the next promote
    # finishes the job: a version already champion is marked promoted, never rejected.
    for k, v in tags.items():
        client.set_model_version_tag(name, challenger.version, k, v)
    faults.point("promote.tagged")
    if wins and not dry_run and not already:
        client.set_registered_model_alias(name, tracking.CHAMPION, challenger.version)
        result.champion_after = challenger.version
        faults.point("promote.moved")
        client.set_model_version_tag(name, challenger.version, t + "result", "promoted")
    log.info(result.line())
    return result


APPROVAL_TAG = tracking.TAG + "approval"


def approve(lake: Lake, name: str, version: str, require_human: bool = False) -> bool:
    """The approval step of a deployment: a version passes when it won its evaluation and, with
    ``require_human``, someone has set the tag ``astrolake.approval = approved`` on it."""
    from mlflow import MlflowClient

    tracking.configure(lake.settings)
    tags = MlflowClient().get_model_version(name, version).tags
    result = tags.get(tracking.TAG + "promotion.result")
    if result not in ("wins", "promoted"):
        raise PermissionError(f"{name} v{version} did not win its evaluation ({result or 'not evaluated'})")
    if require_human and tags.get(APPROVAL_TAG) != "approved":
        raise PermissionError(
            f"{name} v{version} waits for approval: set the model version tag "
            f"{APPROVAL_TAG}=approved, then repair the run"
        )
    log.info(f"approve {name} v{version}: approved")
    return True
