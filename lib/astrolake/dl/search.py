"""``astrolake search --family dnn``: Optuna over depth, width, dropout, batch size and learning rate.

Trials run one after another in this process (the ``local`` backend of the one training
function) on a one-shard snapshot, each a nested MLflow run scored on the validation split.  The
hand-set network (``astrolake.dl.train.DEFAULTS``) is always trial 0, so the leaderboard says
what the search found against it.  The best parameters are then refitted with the distributed
launcher (Horovod by default) and registered as the challenger.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from astrolake.lake.tables import Lake
from astrolake.ml import metrics, tracking

if TYPE_CHECKING:
    from astrolake.dl.train import DnnResult

log = logging.getLogger(__name__)

SPACE: dict[str, Any] = {  # a (low, high) range or a list of choices per hyper-parameter
    "depth": (1, 4),
    "width": [16, 32, 64, 128],
    "dropout": (0.0, 0.4),
    "batch_size": [64, 128, 256, 512],
    "learning_rate": (1e-4, 1e-2),
}


@dataclass
class DnnSearchResult:
    run_id: str
    metric: str
    trials: list[dict]
    best: dict
    hand_set: dict
    refit: DnnResult

    def line(self) -> str:
        return (
            f"search dnn: {len(self.trials)} trials; hand-set validation {self.metric}="
            f"{self.hand_set['value']:.4f}, best {self.best['value']:.4f} with {self.best['params']}; "
            f"refit {self.refit.line()}"
        )


def search_dnn(
    lake: Lake,
    table: str,
    task: str = "classification",
    budget_minutes: float = 20.0,
    max_trials: int | None = None,
    epochs: int = 15,
    backend: str = "horovod",
    num_proc: int = 2,
    register: bool = True,
    name: str | None = None,
    table_version: int | None = None,
    seed: int = 42,
) -> DnnSearchResult:
    import mlflow
    import optuna

    from astrolake.dl.snapshot import write_snapshot
    from astrolake.dl.train import DEFAULTS, train_dnn
    from astrolake.dl.trainer import train_worker

    metric = metrics.primary_metric(task)
    direction: Literal["maximize", "minimize"] = "minimize" if metrics.lower_is_better(metric) else "maximize"
    exp_id = tracking.configure(lake.settings)
    snap = write_snapshot(lake, table, task, version=table_version, num_shards=1)
    t = tracking.TAG
    base_tags = {
        t + "table": snap.table,
        t + "table_version": str(snap.version),
        t + "task": task,
        t + "family": "dnn",
        t + "features": json.dumps(snap.features),
        t + "classes": json.dumps(snap.classes),
    }
    trials: list[dict] = []
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    t0 = time.perf_counter()
    with mlflow.start_run(run_name=f"search-dnn-{task}", tags=base_tags) as parent:
        mlflow.log_params(
            {
                "budget_minutes": budget_minutes,
                "max_trials": max_trials or 0,
                "epochs": epochs,
                "metric": metric,
                "space": json.dumps(SPACE),
            }
        )

        def objective(trial: optuna.Trial) -> float:
            params = {
                "depth": trial.suggest_int("depth", *SPACE["depth"]),
                "width": trial.suggest_categorical("width", SPACE["width"]),
                "dropout": trial.suggest_float("dropout", *SPACE["dropout"]),
                "batch_size": trial.suggest_categorical("batch_size", SPACE["batch_size"]),
                "learning_rate": trial.suggest_float("learning_rate", *SPACE["learning_rate"], log=True),
            }
            ckpt = Path(lake.settings.checkpoint_root) / "dnn-search" / f"{parent.info.run_id}-{trial.number}"
            config = {
                **DEFAULTS,
                **params,
                "epochs": epochs,
                "backend": "local",
                "snapshot": snap.path,
                "checkpoint_dir": str(ckpt),
                "tracking_uri": mlflow.get_tracking_uri(),
                "experiment": mlflow.get_experiment(exp_id).name,
                "run_name": f"trial-{trial.number}-dnn",
                "tags": {**base_tags, "mlflow.parentRunId": parent.info.run_id},
                "params": params,
                "log_model": False,
                "seed": seed,
            }
            out = train_worker(config)
            value = out[f"validation_{metric}"]
            trials.append(
                {
                    "number": trial.number,
                    "params": params,
                    "value": value,
                    "run_id": out["run_id"],
                    "epochs_run": out["epochs_run"],
                    "seconds": out["train_seconds"],
                }
            )
            best = max if direction == "maximize" else min
            log.info(
                f"search-dnn: [trial {trial.number} {(time.perf_counter() - t0) / 60:.1f} min] {params}: validation "
                f"{metric}={value:.4f} (best {best(x['value'] for x in trials):.4f}), {out['epochs_run']} epochs "
                f"in {out['train_seconds']:.1f} s"
            )
            return value

        study = optuna.create_study(direction=direction, sampler=optuna.samplers.TPESampler(seed=seed))
        study.enqueue_trial({k: DEFAULTS[k] for k in SPACE})  # trial 0: the hand-set network
        study.optimize(objective, n_trials=max_trials, timeout=budget_minutes * 60)
        best = next(x for x in trials if x["number"] == study.best_trial.number)
        hand = next(x for x in trials if x["number"] == 0)
        mlflow.log_metrics({f"best_validation_{metric}": best["value"], f"hand_set_validation_{metric}": hand["value"]})
        mlflow.log_dict({"metric": metric, "trials": trials, "best": best, "hand_set": hand}, "leaderboard.json")
        mlflow.set_tags({t + "best_params": json.dumps(best["params"])})
        refit = train_dnn(
            lake,
            snap.table,
            task=task,
            backend=backend,
            num_proc=num_proc,
            params={**best["params"], "epochs": epochs},
            table_version=snap.version,
            register=register,
            name=name,
            extra_tags={"mlflow.parentRunId": parent.info.run_id},
        )
    result = DnnSearchResult(parent.info.run_id, metric, trials, best, hand, refit)
    log.info(result.line())
    return result
