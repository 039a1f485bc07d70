"""Champion / challenger: promote a registered model version only when it wins on the same data.

``promote`` re-scores the ``challenger`` and the ``champion`` on the test split of one pinned
Delta version of the gold table (by default the version the challenger was trained on), keeping
only rows that both models can score, and moves ``champion`` to the challenger only when it is
strictly better by the chosen metric (``macro_f1`` for classifiers, ``sigma_nmad`` for photo-z).
The comparison is recorded as tags on the challenger's model version.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pyspark.sql import functions as F

from astrolake.lake.tables import Lake
from astrolake.ml import tracking
from astrolake.ml.features import complete_rows
from astrolake.ml.metrics import better, primary_metric

log = logging.getLogger(__name__)


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
    test_rows: int

    @property
    def promoted(self) -> bool:
        return self.champion_after == self.challenger and self.champion_before != self.challenger

    def line(self) -> str:
        verdict = "promoted" if self.promoted else "kept the champion"
        versus = (
            "no champion yet"
            if self.champion_value is None
            else f"champion v{self.champion_before} {self.metric}={self.champion_value:.5f}"
        )
        return (
            f"promote {self.model_name}: challenger v{self.challenger} {self.metric}={self.challenger_value:.5f} "
            f"vs {versus} on {self.table} v{self.table_version} test ({self.test_rows} rows): {verdict}; "
            + (f"champion is v{self.champion_after}" if self.champion_after else "no champion")
        )


def _metric_value(ref: tracking.ModelRef, rows, metric: str) -> float:
    from astrolake.ml import scoring
    from astrolake.ml.models import index_labels
    from astrolake.ml.train import evaluate_predictions, metric_dict

    if ref.task == "classification":
        rows = index_labels(rows, ref.classes)
    values = metric_dict(evaluate_predictions(scoring.predict(ref, rows), ref.task, ref.classes))
    if metric not in values:
        raise tracking.ModelError(
            f"unknown metric {metric!r} for a {ref.task} model; known: {', '.join(sorted(values))}"
        )
    return values[metric]


def promote(
    lake: Lake,
    name: str,
    metric: str | None = None,
    table_version: int | None = None,
    version: str | None = None,
    dry_run: bool = False,
) -> Promotion:
    """Compare challenger and champion of ``name`` on one pinned test split; move ``champion`` if won.

    ``version`` compares that version instead of the ``challenger`` alias (a deployment job's
    model_version); ``dry_run`` records the comparison without moving the alias.
    """
    from mlflow import MlflowClient

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
    label = "redshift" if challenger.task == "photoz" else "class"
    rows = lake.read(table, version=table_v).where((F.col("split") == "test") & F.col(label).isNotNull())
    needed = set(challenger.features) | set(champion.features if champion else [])
    rows = complete_rows(rows, sorted(needed))  # the same rows for both: those every model can score
    if challenger.task == "classification":
        rows = rows.where(F.col("class").isin(challenger.classes))
    rows = rows.cache()
    n = rows.count()
    if n == 0:
        raise tracking.ModelError(f"{table} v{table_v} has no test rows both models can score")
    ch_value = _metric_value(challenger, rows, metric)
    champ_value = _metric_value(champion, rows, metric) if champion else None
    rows.unpersist()
    client = MlflowClient()
    after = champion_v
    wins = champion_v is None or (challenger.version != champion_v and better(metric, ch_value, champ_value))
    if wins and not dry_run:
        client.set_registered_model_alias(name, tracking.CHAMPION, challenger.version)
        after = challenger.version
    result = Promotion(name, challenger.version, champion_v, after, metric, ch_value, champ_value, table, table_v, n)
    t = tracking.TAG + "promotion."
    tags = {
        t + "metric": metric,
        t + "challenger_value": repr(ch_value),
        t + "table": table,
        t + "table_version": str(table_v),
        t + "test_rows": str(n),
        t + "champion_version": str(champion_v),
        t + "champion_value": repr(champ_value),
        t + "result": ("wins" if wins else "loses") if dry_run else ("promoted" if result.promoted else "rejected"),
    }
    for k, v in tags.items():
        client.set_model_version_tag(name, challenger.version, k, v)
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
