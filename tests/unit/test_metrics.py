"""astrolake.ml.metrics against scikit-learn and numpy on random data; no JVM."""

from __future__ import annotations

import doctest

import numpy as np
import pytest
from sklearn.metrics import confusion_matrix as sk_confusion
from sklearn.metrics import f1_score

from astrolake.ml import metrics


@pytest.mark.parametrize("seed", range(8))
def test_macro_f1_equals_scikit_learn(seed):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 7))
    n = int(rng.integers(1, 400))
    y = rng.integers(0, k, n)
    p = np.where(rng.random(n) < 0.6, y, rng.integers(0, k, n))  # mostly right, some confusion
    cm = metrics.confusion_matrix(y, p, k)
    np.testing.assert_array_equal(cm, sk_confusion(y, p, labels=list(range(k))))
    labels = list(range(k))
    expected = f1_score(y, p, labels=labels, average=None, zero_division=0)
    np.testing.assert_allclose(metrics.f1_per_class(cm), expected, rtol=0, atol=1e-12)
    assert metrics.macro_f1(cm) == pytest.approx(f1_score(y, p, labels=labels, average="macro", zero_division=0))


def test_a_class_never_seen_nor_predicted_counts_as_zero_like_scikit_learn():
    y, p = np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1])
    cm = metrics.confusion_matrix(y, p, 3)  # class 2: no rows, no predictions
    assert metrics.f1_per_class(cm)[2] == 0.0
    assert metrics.macro_f1(cm) == pytest.approx(f1_score(y, p, labels=[0, 1, 2], average="macro", zero_division=0))


def test_confusion_from_spark_style_counts():
    rng = np.random.default_rng(3)
    y, p = rng.integers(0, 4, 300), rng.integers(0, 4, 300)
    pairs, counts = np.unique(np.stack([y, p], axis=1), axis=0, return_counts=True)
    rows = [(float(a), float(b), int(c)) for (a, b), c in zip(pairs, counts, strict=True)]
    np.testing.assert_array_equal(metrics.confusion_from_counts(rows, 4), metrics.confusion_matrix(y, p, 4))
    np.testing.assert_array_equal(metrics.confusion_from_counts(rows), metrics.confusion_matrix(y, p, 4))


@pytest.mark.parametrize("seed", range(5))
def test_sigma_nmad_equals_the_numpy_definition(seed):
    rng = np.random.default_rng(seed)
    z = rng.uniform(0.01, 0.6, 1001)
    zp = z + rng.normal(0, 0.02, z.size) * (1 + z) + np.where(rng.random(z.size) < 0.05, 0.3, 0.0)
    dz = metrics.normalized_residuals(zp, z)
    np.testing.assert_allclose(dz, (zp - z) / (1 + z))
    expected = 1.4826 * np.median(np.abs(dz - np.median(dz)))
    assert metrics.sigma_nmad(dz) == pytest.approx(expected, rel=1e-12)
    # robust: the 5 % outliers barely move it, and it estimates the Gaussian sigma of the core
    assert metrics.sigma_nmad(dz) == pytest.approx(0.02, rel=0.15)


def test_sigma_nmad_ignores_nan_and_is_nan_when_empty():
    assert metrics.sigma_nmad([0.1, np.nan, -0.1, 0.0]) == pytest.approx(1.4826 * 0.1)
    assert np.isnan(metrics.sigma_nmad([]))


def test_direction_and_primary_metrics():
    assert metrics.NMAD == 1.4826
    assert metrics.primary_metric("classification") == "macro_f1"
    assert metrics.primary_metric("photoz") == "sigma_nmad"
    assert metrics.primary_metric("clustering") == "silhouette"
    for name in ("sigma_nmad", "test_sigma_nmad", "validation_outlier_fraction", "rmse", "mae"):
        assert metrics.lower_is_better(name) and metrics.better(name, 0.01, 0.02)
        assert not metrics.better(name, 0.02, 0.02)  # a tie is no win
    for name in ("macro_f1", "validation_macro_f1", "accuracy", "silhouette"):
        assert not metrics.lower_is_better(name) and metrics.better(name, 0.9, 0.8)
    assert metrics.better("macro_f1", 0.1, None)  # nothing to beat
    assert not metrics.better("macro_f1", float("nan"), 0.5) and metrics.better("macro_f1", 0.5, float("nan"))


def test_rejections():
    with pytest.raises(ValueError, match="unknown task 'regression'"):
        metrics.primary_metric("regression")
    with pytest.raises(ValueError, match="k x k"):
        metrics.f1_per_class([[1, 2, 3]])
    with pytest.raises(ValueError, match="negative"):
        metrics.f1_per_class([[1, -1], [0, 1]])
    with pytest.raises(ValueError, match=r"0\.\.2"):
        metrics.confusion_matrix([0, 3], [0, 1], 3)
    with pytest.raises(ValueError, match="differ in length"):
        metrics.confusion_matrix([0, 1], [0], 2)
    with pytest.raises(ValueError, match="outside 0..1"):
        metrics.confusion_from_counts([(0, 2, 1)], 2)


def test_docstring_examples():
    result = doctest.testmod(metrics)
    assert result.attempted >= 6 and result.failed == 0


# --------------------------------------------------------------------------------------------
# paired bootstrap (the promotion rule)
# --------------------------------------------------------------------------------------------
def _three_classes(n: int, seed: int):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    good = np.where(rng.random(n) < 0.9, y, rng.integers(0, 3, n))
    return rng, y, good


def test_bootstrap_point_values_are_the_metrics_of_each_model():
    rng, y, a = _three_classes(3000, 0)
    b = np.where(rng.random(y.size) < 0.8, y, rng.integers(0, 3, y.size))
    g = metrics.paired_bootstrap_classes(y, a, b, 3)
    assert g.challenger == pytest.approx(metrics.macro_f1(metrics.confusion_matrix(y, a, 3)))
    assert g.champion == pytest.approx(metrics.macro_f1(metrics.confusion_matrix(y, b, 3)))
    assert g.gain == pytest.approx(g.challenger - g.champion) and g.n == 3000
    assert g.low < g.gain < g.high and g.significant()
    # the interval is about the bootstrap's standard error: nowhere near the whole [-1, 1]
    assert 0.005 < g.high - g.low < 0.06


def test_bootstrap_of_cell_counts_equals_the_bootstrap_of_rows():
    """groupBy(label, a, b).count() fed in as cells gives the same answer as the rows themselves."""
    rng, y, a = _three_classes(2000, 1)
    b = np.where(rng.random(y.size) < 0.85, y, rng.integers(0, 3, y.size))
    per_row = metrics.paired_bootstrap_classes(y, a, b, 3, n_boot=400, seed=3)
    cells, counts = np.unique(np.stack([y, a, b]), axis=1, return_counts=True)
    grouped = metrics.paired_bootstrap_classes(*cells, 3, counts=counts, n_boot=400, seed=3)
    assert grouped.gain == pytest.approx(per_row.gain)
    # different draws (cells vs rows), same distribution: the intervals agree to their own noise
    assert grouped.low == pytest.approx(per_row.low, abs=0.01) and grouped.high == pytest.approx(per_row.high, abs=0.01)


def test_a_near_tie_does_not_win_although_its_point_gain_is_positive():
    rng, y, champion = _three_classes(5000, 2)
    challenger = champion.copy()
    wrong = np.flatnonzero(champion != y)
    challenger[wrong[:3]] = y[wrong[:3]]  # right on 3 more rows of 5,000
    g = metrics.paired_bootstrap_classes(y, challenger, champion, 3)
    assert g.gain > 0 and metrics.better("macro_f1", g.challenger, g.champion)  # a strict win, by a hair
    assert g.low <= 0 and not g.significant()
    challenger[wrong[:300]] = y[wrong[:300]]  # right on 300 more: a clear win
    assert metrics.paired_bootstrap_classes(y, challenger, champion, 3).significant()
    # ... unless the required gain is larger than the one seen
    clear = metrics.paired_bootstrap_classes(y, challenger, champion, 3)
    assert not clear.significant(min_gain=clear.gain + 0.01)


def test_bootstrap_accuracy_and_a_class_only_one_model_predicts():
    y = np.array([0, 1, 2] * 200)
    a = y.copy()
    b = np.where(np.arange(y.size) % 4 == 0, 3, y)  # the champion sometimes predicts a 4th class
    g = metrics.paired_bootstrap_classes(y, a, b, 4, metric="accuracy")
    assert g.challenger == 1.0 and g.champion == pytest.approx(0.75) and g.significant()


def test_photoz_bootstrap_is_signed_so_that_positive_means_better():
    rng = np.random.default_rng(4)
    z = rng.uniform(0.02, 0.4, 4000)
    good = z + (1 + z) * rng.normal(0, 0.015, z.size)
    bad = z + (1 + z) * rng.normal(0, 0.02, z.size)
    g = metrics.paired_bootstrap_redshift(z, good, bad)
    assert g.challenger == pytest.approx(metrics.sigma_nmad(metrics.normalized_residuals(good, z)))
    assert g.gain == pytest.approx(g.champion - g.challenger) and g.gain > 0 and g.significant()
    assert not metrics.paired_bootstrap_redshift(z, bad, good).significant()
    same = metrics.paired_bootstrap_redshift(z, good, good + 1e-9)
    assert not same.significant() and abs(same.gain) < 1e-6
    for m in ("outlier_fraction", "rmse", "mae"):
        assert metrics.paired_bootstrap_redshift(z, good, bad, metric=m, n_boot=200).gain >= 0


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: metrics.paired_bootstrap_classes([0], [0], [0], 2, metric="silhouette"), "no bootstrap for"),
        (lambda: metrics.paired_bootstrap_classes([0, 1], [0], [0], 2), "differ in length"),
        (lambda: metrics.paired_bootstrap_classes([0, 2], [0, 1], [0, 1], 2), r"0\.\.1"),
        (lambda: metrics.paired_bootstrap_classes([], [], [], 2), "no rows"),
        (lambda: metrics.paired_bootstrap_classes([0], [0], [0], 2, n_boot=10), "at least 100"),
        (lambda: metrics.paired_bootstrap_classes([0], [0], [0], 2, confidence=1.0), "confidence"),
        (lambda: metrics.paired_bootstrap_redshift([0.1], [0.1], [0.1], metric="macro_f1"), "no bootstrap for"),
        (lambda: metrics.paired_bootstrap_redshift([], [], [], n_boot=100), "no rows"),
    ],
)
def test_bootstrap_refuses_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()
