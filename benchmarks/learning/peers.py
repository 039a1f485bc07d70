"""Single-node peers: scikit-learn, LightGBM and XGBoost with balanced class weights; in-process
for the quality parts, in a child process under a time cap for the speed part."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from _common import ROOT, loadavg, say
from learning.metrics import macro_f1

DRIVER = ROOT / "benchmarks" / "bench_learning.py"  # its --peer-worker runs peer_worker in a child process
LGBM_GRID = {"num_leaves": [15, 31, 63, 127], "learning_rate": [0.05, 0.1]}
XGB_GRID = {"max_depth": [4, 6, 8], "learning_rate": [0.05, 0.1]}
EARLY_STOP, MAX_ROUNDS = 50, 2000


def peer_estimator(kind: str, params: dict, seed: int):
    if kind == "sklearn_rf":
        from sklearn.ensemble import RandomForestClassifier

        return RandomForestClassifier(n_jobs=2, class_weight="balanced", random_state=seed, **params)
    if kind == "sklearn_hgb":
        from sklearn.ensemble import HistGradientBoostingClassifier

        return HistGradientBoostingClassifier(class_weight="balanced", random_state=seed, **params)
    if kind == "lightgbm":
        import lightgbm as lgb

        return lgb.LGBMClassifier(n_jobs=2, class_weight="balanced", random_state=seed, verbose=-1, **params)
    if kind == "xgboost":
        import xgboost as xgb

        return xgb.XGBClassifier(n_jobs=2, tree_method="hist", random_state=seed, **params)
    raise ValueError(kind)


def peer_fit(kind: str, params: dict, X, y, seed: int):
    """Fit a peer with balanced class weights (XGBoost through sample weights)."""
    from sklearn.utils.class_weight import compute_sample_weight

    est = peer_estimator(kind, params, seed)
    if kind == "xgboost":
        est.fit(X, y, sample_weight=compute_sample_weight("balanced", y), verbose=False)
    else:
        est.fit(X, y)
    return est


def peer_worker(spec_path: str) -> int:
    """Child process: load X / y, time one peer fit, write the result JSON."""
    import numpy as np

    spec = json.loads(Path(spec_path).read_text())
    X, y = np.load(spec["X"]), np.load(spec["y"])
    t0 = time.perf_counter()
    peer_fit(spec["kind"], spec["params"], X, y, spec["seed"])
    fit_s = time.perf_counter() - t0
    Path(spec["out"]).write_text(json.dumps({"fit_s": fit_s, "rows": int(len(y))}))
    return 0


def timed_peer(kind: str, params: dict, X_path: Path, y_path: Path, cap_s: float, seed: int, work: Path) -> dict:
    """Time one peer fit in a child process; "over cap" when it runs past ``cap_s``."""
    spec = {
        "kind": kind,
        "params": params,
        "X": str(X_path),
        "y": str(y_path),
        "seed": seed,
        "out": str(work / f"peer_{kind}_{os.getpid()}_{time.time_ns()}.json"),
    }
    spec_path = Path(spec["out"]).with_suffix(".spec.json")
    spec_path.write_text(json.dumps(spec))
    load = {"loadavg_before": loadavg()}
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(
            [sys.executable, str(DRIVER), "--peer-worker", str(spec_path)],
            capture_output=True,
            text=True,
            timeout=cap_s + 60,
        )  # + time to load the arrays
    except subprocess.TimeoutExpired:
        return {"status": "over cap", "fit_s": None, "killed_after_s": round(time.perf_counter() - t0, 1), **load}
    if proc.returncode != 0:
        tail = (proc.stderr or "").strip().splitlines()[-3:]
        oom = proc.returncode in (-9, 137) or any("MemoryError" in ln for ln in tail)
        return {
            "status": "out of memory" if oom else "failed",
            "fit_s": None,
            "returncode": proc.returncode,
            "error": " / ".join(tail),
        }
    res = json.loads(Path(spec["out"]).read_text())
    status = "ok" if res["fit_s"] <= cap_s else "over cap"
    return {"status": status, "fit_s": round(res["fit_s"], 3), "rows": res["rows"], **load, "loadavg_after": loadavg()}


def tune_peer(kind: str, grid: dict, Xtr, ytr, Xva, yva, k: int, seed: int) -> dict:
    """Grid over ``grid`` with early stopping on the validation rows; select by validation macro F1."""
    import itertools

    import lightgbm as lgb
    from sklearn.utils.class_weight import compute_sample_weight

    wva = compute_sample_weight("balanced", yva)
    trials, best = [], None
    for values in itertools.product(*grid.values()):
        params = dict(zip(grid, values, strict=True))
        t0 = time.perf_counter()
        if kind == "lightgbm":
            est = peer_estimator("lightgbm", {**params, "n_estimators": MAX_ROUNDS}, seed)
            est.fit(
                Xtr,
                ytr,
                eval_X=(Xva,),
                eval_y=(yva,),
                eval_sample_weight=[wva],
                callbacks=[lgb.early_stopping(EARLY_STOP, verbose=False)],
            )
            rounds = int(est.best_iteration_ or MAX_ROUNDS)
        else:
            est = peer_estimator(
                "xgboost",
                {**params, "n_estimators": MAX_ROUNDS, "early_stopping_rounds": EARLY_STOP, "eval_metric": "mlogloss"},
                seed,
            )
            est.fit(
                Xtr,
                ytr,
                sample_weight=compute_sample_weight("balanced", ytr),
                eval_set=[(Xva, yva)],
                sample_weight_eval_set=[wva],
                verbose=False,
            )
            rounds = int(est.best_iteration) + 1
        fit_s = time.perf_counter() - t0
        val = macro_f1(yva, est.predict(Xva).astype(int), k)
        trials.append(
            {"params": params, "rounds": rounds, "validation_macro_f1": round(val, 5), "fit_s": round(fit_s, 2)}
        )
        say(f"  {kind} {params}: {rounds} rounds, validation macro F1 {val:.4f} ({fit_s:.1f} s)")
        if best is None or val > best[0]:
            best = (val, params, rounds, est)
    return {
        "trials": trials,
        "best_params": best[1],
        "best_rounds": best[2],
        "validation_macro_f1": best[0],
        "model": best[3],
        "tuning_s": round(sum(t["fit_s"] for t in trials), 2),
    }
