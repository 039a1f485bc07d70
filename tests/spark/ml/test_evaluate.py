"""astrolake.ml.evaluate / plots against scikit-learn and numpy, on real SDSS DR17 rows and real MLlib models.

The rows are the 5,000-row DR17 sample of tests/data, so every check runs in a plain clone too.
"""

from __future__ import annotations

import numpy as np
import pytest
from pyspark.sql import functions as F

from conftest import TESTS_DATA

SDSS = TESTS_DATA / "sdss_dr17_stellar_5k.csv"  # the StellarObjs table: 5,000 of its 99,999 rows
BANDS = {
    "u": "ultraviolet_filter",
    "g": "green_filter",
    "r": "red_filter",
    "i": "near_infrared_filter",
    "z": "infrared_filter",
}
COLOURS = ["u_g", "g_r", "r_i", "i_z"]
CLASSES = ["GALAXY", "QSO", "STAR"]  # StringIndexer alphabetAsc


def _bin(x, edges):
    """np.histogram's bin index (last bin closed), -1 outside."""
    idx = np.searchsorted(edges, x, side="right") - 1
    idx[x == edges[-1]] = len(edges) - 2
    return np.where((x >= edges[0]) & (x <= edges[-1]), idx, -1)


@pytest.fixture(scope="module")
def sdss(spark):
    df = spark.read.csv(str(SDSS), header=True, inferSchema=True)
    df = df.select("class", "redshift", *[F.col(c).cast("double").alias(b) for b, c in BANDS.items()])
    df = df.where(" AND ".join(f"{b} IS NOT NULL AND {b} > -100" for b in BANDS))
    df = df.withColumns({f"{a}_{b}": F.col(a) - F.col(b) for a, b in zip("ugri", "griz", strict=True)}).cache()
    assert df.count() == 5000  # tests/data/PROVENANCE.md: no sentinels, no nulls
    yield df
    df.unpersist()


@pytest.fixture(scope="module")
def classified(sdss):
    """A real logistic-regression classifier's predictions on held-out rows, cached, and collected for sklearn."""
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.feature import StringIndexer, VectorAssembler
    from pyspark.ml.functions import vector_to_array

    train, test = sdss.randomSplit([0.25, 0.75], seed=7)
    pipe = Pipeline(
        stages=[
            StringIndexer(inputCol="class", outputCol="label", stringOrderType="alphabetAsc"),
            VectorAssembler(inputCols=COLOURS + ["r"], outputCol="features"),
            LogisticRegression(maxIter=15, family="multinomial"),
        ]
    )
    model = pipe.fit(train)
    assert list(model.stages[0].labels) == CLASSES
    pred = model.transform(test).select("label", "prediction", "probability", "r", "redshift").cache()
    local = pred.withColumn("p", vector_to_array("probability")).drop("probability").toPandas()
    assert len(local) >= 3500 and set(local["label"].astype(int)) == {0, 1, 2}
    yield pred, local
    pred.unpersist()


@pytest.fixture(scope="module")
def cls_metrics(classified):
    from astrolake.ml.evaluate import classification_metrics

    return classification_metrics(
        classified[0], CLASSES, mag_col="r", z_col="redshift", z_bins=[0, 0.1, 0.3, 0.6, 1.0, 2.0, 7.0]
    )


def test_classification_matches_sklearn(classified, cls_metrics):
    from sklearn import metrics as skm

    _, local = classified
    m = cls_metrics
    y, yhat = local["label"].astype(int).to_numpy(), local["prediction"].astype(int).to_numpy()
    proba = np.stack(local["p"].to_numpy())
    n = len(y)
    assert m.n == n

    cm = skm.confusion_matrix(y, yhat, labels=[0, 1, 2])
    np.testing.assert_array_equal(m.confusion, cm)
    np.testing.assert_allclose(m.confusion_normalised, cm / cm.sum(1, keepdims=True))
    assert m.accuracy == pytest.approx(skm.accuracy_score(y, yhat), abs=1e-12)

    p, r, f, s = skm.precision_recall_fscore_support(y, yhat, labels=[0, 1, 2], zero_division=0)
    np.testing.assert_allclose(m.per_class["precision"], p, atol=1e-6)
    np.testing.assert_allclose(m.per_class["recall"], r, atol=1e-6)
    np.testing.assert_allclose(m.per_class["f1"], f, atol=1e-6)
    np.testing.assert_array_equal(m.per_class["support"], s)
    fp, tn = cm.sum(0) - np.diag(cm), n - cm.sum(0) - cm.sum(1) + np.diag(cm)
    np.testing.assert_allclose(m.per_class["fpr"], fp / (fp + tn), atol=1e-6)
    for avg in ("macro", "weighted"):
        ap, ar, af, _ = skm.precision_recall_fscore_support(y, yhat, average=avg, zero_division=0)
        got = getattr(m, avg)
        assert (got["precision"], got["recall"], got["f1"]) == pytest.approx((ap, ar, af), abs=1e-6)
    assert m.macro["fpr"] == pytest.approx(np.mean(fp / (fp + tn)), abs=1e-6)

    errors = {}
    for i, c in enumerate(CLASSES):
        auc, ap = skm.roc_auc_score(y == i, proba[:, i]), skm.average_precision_score(y == i, proba[:, i])
        errors[c] = (m.roc_auc[c] - auc, m.pr_auc[c] - ap)
        assert m.roc_auc[c] == pytest.approx(auc, abs=1e-3), c
        assert m.pr_auc[c] == pytest.approx(ap, abs=1e-3), c
        roc, pr = m.roc[c], m.pr[c]
        assert roc["fpr"].is_monotonic_increasing and roc["tpr"].is_monotonic_increasing
        assert (roc["fpr"].iloc[-1], roc["tpr"].iloc[-1]) == (1.0, 1.0)
        assert pr["recall"].is_monotonic_increasing and pr["recall"].iloc[-1] == 1.0
        assert pr["precision"].between(0, 1).all() and pr["precision"].iloc[-1] == pytest.approx(np.mean(y == i))
    assert m.macro_roc_auc == pytest.approx(skm.roc_auc_score(y, proba, multi_class="ovr", average="macro"), abs=1e-3)
    print("binned AUC/AP - sklearn:", errors)

    # calibration: counts and mean predicted probability per bin, by hand
    for i, c in enumerate(CLASSES):
        t = m.calibration[m.calibration["class"] == c]
        assert t["count"].sum() == n
        b = np.minimum((proba[:, i] * 10).astype(int), 9)
        np.testing.assert_array_equal(t["count"], np.bincount(b, minlength=10))
        for _, row in t.iterrows():
            sel = b == row["bin"]
            if sel.any():
                assert row["mean_predicted"] == pytest.approx(proba[sel, i].mean(), abs=1e-9)
                assert row["observed_fraction"] == pytest.approx((y[sel] == i).mean(), abs=1e-12)
            else:
                assert np.isnan(row["mean_predicted"])

    # purity / completeness by r magnitude (default: 8 equal-count bins, min to max) and given redshift bins
    r_edges = np.r_[m.by_magnitude["bin_lo"], m.by_magnitude["bin_hi"].iloc[-1]]
    assert len(r_edges) == 9 and (r_edges[0], r_edges[-1]) == (local["r"].min(), local["r"].max())
    np.testing.assert_allclose(m.by_magnitude["n"] / n, 1 / 8, atol=0.01)
    np.testing.assert_allclose(m.by_redshift["bin_hi"], [0.1, 0.3, 0.6, 1.0, 2.0, 7.0])
    for table, x, edges in (
        (m.by_magnitude, local["r"].to_numpy(), r_edges),
        (m.by_redshift, local["redshift"].to_numpy(), np.array([0, 0.1, 0.3, 0.6, 1.0, 2.0, 7.0])),
    ):
        idx = _bin(x, edges)
        np.testing.assert_array_equal(table["n"], [(idx == k).sum() for k in range(len(edges) - 1)])
        for k, row in table.iterrows():
            yk, pk = y[idx == k], yhat[idx == k]
            for i, c in enumerate(CLASSES):
                tp, nt, npred = ((yk == i) & (pk == i)).sum(), (yk == i).sum(), (pk == i).sum()
                assert (row[f"n_true_{c}"], row[f"n_pred_{c}"]) == (nt, npred)
                for col, den in ((f"purity_{c}", npred), (f"completeness_{c}", nt)):
                    assert np.isnan(row[col]) if den == 0 else row[col] == pytest.approx(tp / den, abs=1e-12)

    d = m.to_dict()
    for key in (
        "macro_f1",
        "weighted_f1",
        "accuracy",
        "macro_roc_auc",
        "f1_GALAXY",
        "precision_QSO",
        "recall_STAR",
        "fpr_STAR",
        "roc_auc_QSO",
        "pr_auc_QSO",
        "support_GALAXY",
    ):
        assert isinstance(d[key], float), key
    assert d["f1_QSO"] == pytest.approx(f[1], abs=1e-6)


def test_array_probabilities_give_the_same_result(classified, cls_metrics):
    from pyspark.ml.functions import vector_to_array

    from astrolake.ml.evaluate import classification_metrics

    as_array = classified[0].withColumn("probability", vector_to_array("probability"))
    m = classification_metrics(as_array, CLASSES)
    np.testing.assert_array_equal(m.confusion, cls_metrics.confusion)
    assert m.roc_auc == cls_metrics.roc_auc and m.pr_auc == cls_metrics.pr_auc
    assert m.by_magnitude is None and m.by_redshift is None


def test_zero_predictions_and_rejections(spark):
    from astrolake.ml.evaluate import classification_metrics

    rows = [
        (0.0, 0.0, [0.8, 0.1, 0.1]),
        (1.0, 1.0, [0.2, 0.7, 0.1]),
        (2.0, 1.0, [0.1, 0.5, 0.4]),
        (2.0, 0.0, [0.5, 0.1, 0.4]),
    ]
    df = spark.createDataFrame(rows, "label double, prediction double, probability array<double>")
    m = classification_metrics(df, CLASSES)  # STAR is never predicted
    assert m.per_class.loc["STAR", "precision"] == 0.0 and m.per_class.loc["STAR", "f1"] == 0.0
    assert m.per_class.loc["STAR", "recall"] == 0.0 and m.confusion[2].tolist() == [1, 1, 0]

    with pytest.raises(ValueError, match="empty"):
        classification_metrics(df.limit(0), CLASSES)
    with pytest.raises(ValueError, match=r"label.*5\.0.*outside 0\.\.2"):
        classification_metrics(
            df.withColumn("label", F.when(F.col("label") == 2, 5.0).otherwise(F.col("label"))), CLASSES
        )
    with pytest.raises(ValueError, match="null"):
        classification_metrics(df.withColumn("label", F.lit(None).cast("double")), CLASSES)
    with pytest.raises(ValueError, match="3 probabilities"):
        classification_metrics(df.withColumn("probability", F.slice("probability", 1, 2)), CLASSES)


@pytest.fixture(scope="module")
def photoz(sdss):
    """A real linear-regression photo-z of galaxies (colours + r -> redshift) with a 3 % (1+z) error."""
    from pyspark.ml import Pipeline
    from pyspark.ml.feature import VectorAssembler
    from pyspark.ml.regression import LinearRegression

    gal = sdss.where("class = 'GALAXY'")
    train, test = gal.randomSplit([0.3, 0.7], seed=3)
    model = Pipeline(
        stages=[
            VectorAssembler(inputCols=COLOURS + ["r"], outputCol="features"),
            LinearRegression(labelCol="redshift", predictionCol="z_phot", maxIter=20),
        ]
    ).fit(train)
    pred = (
        model.transform(test)
        .withColumn("z_err", 0.03 * (1 + F.col("z_phot")))
        .select("redshift", "z_phot", "z_err", "r")
        .cache()
    )
    yield pred, pred.toPandas()
    pred.unpersist()


@pytest.fixture(scope="module")
def reg_metrics(photoz):
    from astrolake.ml.evaluate import regression_metrics

    return regression_metrics(photoz[0], error_col="z_err", mag_col="r", mag_bins=[14, 17, 18, 19, 20, 21, 22, 24])


def _photoz_numpy(z, zp, err):
    dz, d = (zp - z) / (1 + z), zp - z
    return {
        "n": len(z),
        "bias": dz.mean(),
        "sigma_nmad": 1.4826 * np.median(np.abs(dz - np.median(dz))),
        "outlier_fraction": np.mean(np.abs(dz) > 0.15),
        "rmse": np.sqrt(np.mean(d**2)),
        "mae": np.abs(d).mean(),
        "coverage_1sigma": np.mean(np.abs(d) <= err),
        "coverage_2sigma": np.mean(np.abs(d) <= 2 * err),
    }


def test_regression_matches_numpy(photoz, reg_metrics):
    _, local = photoz
    m = reg_metrics
    z, zp, err, r = (local[c].to_numpy() for c in ("redshift", "z_phot", "z_err", "r"))
    assert len(z) > 1800  # 70 % of the 2,955 galaxies
    want = _photoz_numpy(z, zp, err)
    got = m.to_dict()
    assert set(got) == set(want)
    for k, v in want.items():
        assert got[k] == pytest.approx(v, abs=1e-6), k

    edges = np.array([14, 17, 18, 19, 20, 21, 22, 24.0])
    idx = _bin(r, edges)
    for k, row in m.by_magnitude.iterrows():
        sel = idx == k
        assert row["n"] == sel.sum()
        if sel.sum():
            for key, v in _photoz_numpy(z[sel], zp[sel], err[sel]).items():
                assert row[key] == pytest.approx(v, abs=1e-6), (k, key)

    counts, dens_edges = m.density
    assert counts.shape == (100, 100) and dens_edges[0] == 0.0
    assert dens_edges[-1] == pytest.approx(max(z.max(), zp.max()))
    inside = (z >= 0) & (zp >= 0)
    assert counts.sum() == inside.sum()
    want_counts, _, _ = np.histogram2d(z[inside], zp[inside], bins=[dens_edges, dens_edges])
    assert np.abs(counts - want_counts).sum() <= 2 * 2  # floor vs numpy's edge rounding may move a rare row


def test_regression_rejects_empty(spark):
    from astrolake.ml.evaluate import regression_metrics

    df = spark.createDataFrame([(0.1, None)], "redshift double, z_phot double")
    with pytest.raises(ValueError, match="empty"):
        regression_metrics(df)
    with pytest.raises(ValueError, match="'r'.*empty"):  # default magnitude bins need rows too
        regression_metrics(df.withColumn("r", F.lit(18.0)), mag_col="r")


def test_clustering_matches_sklearn(spark):
    from pyspark.ml.linalg import Vectors
    from sklearn.metrics import silhouette_score

    from astrolake.ml.evaluate import clustering_metrics

    rng = np.random.default_rng(0)
    X = np.r_[rng.normal(0, 1, (30, 2)), rng.normal(5, 1, (20, 2))]
    labels = np.r_[np.zeros(30, int), np.ones(20, int)]
    df = spark.createDataFrame(
        [(Vectors.dense(x), int(c)) for x, c in zip(X, labels, strict=True)], ["features", "cluster"]
    )
    got = clustering_metrics(df)
    assert got["sizes"] == {0: 30, 1: 20} and got["n"] == 50 and got["n_clusters"] == 2
    assert got["silhouette"] == pytest.approx(silhouette_score(X, labels, metric="sqeuclidean"), abs=1e-6)


def test_plots_are_written_and_not_blank(tmp_path, cls_metrics, reg_metrics):
    from matplotlib.image import imread

    from astrolake.ml import plots

    written = plots.save_all(cls_metrics, tmp_path / "cls") + plots.save_all(reg_metrics, tmp_path / "reg")
    assert sorted(p.name for p in written) == sorted(
        ["confusion_matrix.png", "roc_pr.png", "purity_completeness.png", "reliability.png", "photoz.png"]
    )
    fig = plots.photoz_plot(reg_metrics.density, tmp_path / "density.png")  # a bare (counts, edges) pair
    assert len(fig.axes) >= 1
    for path in [*written, tmp_path / "density.png"]:
        assert path.stat().st_size > 5000, path
        assert imread(path).std() > 0.01, path


def test_grouped_macro_f1_and_sigma_nmad_match_each_group_alone(classified, photoz):
    """``models.macro_f1_by`` / ``sigma_nmad_by`` (the tuning evaluators, and permutation importance per
    shuffled copy): each group's value is scikit-learn's macro F1 / numpy's sigma_NMAD of its rows."""
    from sklearn.metrics import f1_score

    from astrolake.ml import models

    pred, local = classified
    group = (F.col("label") + F.col("prediction")) % 2  # groups that differ in their confusion
    scores = models.macro_f1_by(pred.withColumn("g", group.cast("int")), ["g"], label="label")
    y, p = local["label"].to_numpy(), local["prediction"].to_numpy()
    g = ((y + p) % 2).astype(int)
    assert set(scores) == {(0,), (1,)}
    for (k,), value in scores.items():
        want = f1_score(y[g == k], p[g == k], labels=range(3), average="macro", zero_division=0)
        assert value == pytest.approx(want, abs=1e-12), k
    whole = f1_score(y, p, average="macro")
    assert models.MacroF1Evaluator(labelCol="label").evaluate(pred) == pytest.approx(whole, abs=1e-12)

    zpred, zlocal = photoz
    halves = models.sigma_nmad_by(zpred.withColumn("h", (F.col("r") > 18).cast("int")), ["h"])
    z, zp, r = (zlocal[c].to_numpy() for c in ("redshift", "z_phot", "r"))
    for (h,), value in halves.items():
        sel = (r > 18) == bool(h)
        dz = (zp[sel] - z[sel]) / (1 + z[sel])
        assert value == pytest.approx(1.4826 * np.median(np.abs(dz - np.median(dz))), rel=1e-12), h
    assert len(halves) == 2
    dz = (zp - z) / (1 + z)
    whole = 1.4826 * np.median(np.abs(dz - np.median(dz)))
    assert models.SigmaNMADEvaluator().evaluate(zpred) == pytest.approx(whole, rel=1e-12)
