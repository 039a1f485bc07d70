"""The search's budget (astrolake.ml.search.Budget): order, estimates, skips; no JVM."""

from __future__ import annotations

import time

import pytest

from astrolake.ml.search import Budget, work_units

PLAN = [
    ("logreg", {"regParam": 0.0}),
    ("rf", {"numTrees": 20, "maxDepth": 6}),
    ("xgb", {"n_estimators": 50, "max_depth": 4}),
    ("logreg", {"regParam": 0.01}),
    ("rf", {"numTrees": 100, "maxDepth": 12}),
    ("xgb", {"n_estimators": 300, "max_depth": 6}),
    ("rf", {"numTrees": 40, "maxDepth": 6}),
]


def _run(budget: Budget, seconds: float, value: float, reserve: float = 0.0):
    p = budget.next(reserve)
    assert p is not None
    p.status = "run"
    budget.record(p, seconds, value)
    return p


def test_first_round_tries_every_family_in_plan_order():
    b = Budget(PLAN, 3600, "macro_f1")
    seen = [_run(b, 1.0, v).family for v in (0.5, 0.85, 0.846)]
    assert seen == ["logreg", "rf", "xgb"]


def test_after_the_first_round_close_families_go_first_cheapest_first():
    b = Budget(PLAN, 3600, "macro_f1", tolerance=0.01)
    _run(b, 1.0, 0.50)  # logreg: far behind
    _run(b, 12.0, 0.85)  # rf 20x6: 0.1 s per unit
    _run(b, 2.0, 0.846)  # xgb 50x4: 0.01 s per unit, within 0.01 of the leader
    nxt = b.next(0.0)
    # of the close families' trials (rf 40x6: 24 s, rf 100x12: 120 s, xgb 300x6: 18 s) the cheapest;
    # logreg's second trial (1 s) is cheaper still, but logreg is far behind
    assert (nxt.family, nxt.params["n_estimators"]) == ("xgb", 300)
    assert nxt.estimate == pytest.approx(300 * 6 * 0.01)
    b.record(nxt, 18.0, 0.840)
    assert b.next(0.0).params == {"numTrees": 40, "maxDepth": 6}  # 24 s, then rf 100x12 (120 s)
    assert b.next(0.0).params == {"numTrees": 100, "maxDepth": 12}
    assert b.next(0.0).family == "logreg"  # the family far behind gets what is left


def test_a_trial_estimated_beyond_the_time_left_is_skipped_and_said_so():
    b = Budget(PLAN, 60, "macro_f1")
    _run(b, 1.0, 0.50)
    _run(b, 12.0, 0.85)
    _run(b, 2.0, 0.846)
    b.t0 = time.perf_counter() - 30  # 30 s of 60 spent
    picked = []
    while (p := b.next(reserve=3.0)) is not None:
        picked.append((p.family, p.params))
        p.status = "run"
    # left: 27 s -> rf 40x6 (24 s) fits, xgb 300x6 (18 s) fits, rf 100x12 (120 s) does not
    assert ("rf", {"numTrees": 100, "maxDepth": 12}) not in picked
    assert ("rf", {"numTrees": 40, "maxDepth": 6}) in picked
    skipped = [r for r in b.table() if r["status"] == "skipped"]
    assert [r["params"] for r in skipped] == [{"numTrees": 100, "maxDepth": 12}]
    assert "estimated 120 s >" in skipped[0]["reason"]


def test_when_the_budget_is_spent_the_rest_is_not_reached():
    b = Budget(PLAN, 10, "macro_f1")
    _run(b, 1.0, 0.5)
    b.t0 = time.perf_counter() - 11
    assert b.next(0.0) is None
    statuses = [r["status"] for r in b.table()]
    assert statuses[0] == "run" and set(statuses[1:]) == {"not reached"}


def test_lower_is_better_metrics_pick_the_family_with_the_smaller_error():
    b = Budget(
        [
            ("rf", {"numTrees": 10, "maxDepth": 4}),
            ("xgb", {"n_estimators": 10, "max_depth": 4}),
            ("rf", {"numTrees": 20, "maxDepth": 4}),
            ("xgb", {"n_estimators": 20, "max_depth": 4}),
        ],
        3600,
        "sigma_nmad",
        tolerance=0.001,
    )
    _run(b, 4.0, 0.013)  # rf
    _run(b, 4.0, 0.020)  # xgb: worse (larger error), beyond the tolerance
    assert b.next(0.0).family == "rf"


def test_work_units():
    assert work_units("gbt", {"maxIter": 50, "maxDepth": 5}) == 250
    assert work_units("rf", {"numTrees": 100}) == 100
    assert work_units("mlp", {"hidden": [16]}) == 1
