"""Evaluation plots (matplotlib, Agg backend, no pyplot state) from :mod:`astrolake.ml.evaluate` objects.

Every function returns the matplotlib ``Figure`` and, when ``path`` is given, also saves it as
a PNG (dpi 110).  :func:`save_all` writes the standard set for a metrics object.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

from astrolake.ml.evaluate import ClassificationMetrics, RegressionMetrics

DPI = 110
FILES = {
    "confusion": "confusion_matrix.png",
    "roc_pr": "roc_pr.png",
    "purity": "purity_completeness.png",
    "reliability": "reliability.png",
    "photoz": "photoz.png",
}


def _figure(ncols: int = 1, nrows: int = 1, size=(6, 5), **kw):
    fig = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.subplots(nrows, ncols, squeeze=False, **kw)


def _done(fig: Figure, path) -> Figure:
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=DPI, format="png")
    return fig


def _colours(classes):
    return {c: f"C{i % 10}" for i, c in enumerate(classes)}


def confusion_matrix_plot(m: ClassificationMetrics, path=None, normalised: bool = True) -> Figure:
    """Heatmap of the confusion matrix (rows true, columns predicted), each cell annotated."""
    k = len(m.classes)
    fig, ax = _figure(size=(2.2 + 1.1 * k, 1.8 + 1.0 * k))
    ax = ax[0, 0]
    values = m.confusion_normalised if normalised else m.confusion
    im = ax.imshow(values, cmap="Blues", vmin=0, vmax=1 if normalised else max(values.max(), 1))
    fig.colorbar(im, ax=ax, label="fraction of true class" if normalised else "count")
    for i in range(k):
        for j in range(k):
            count = m.confusion[i, j]
            text = f"{m.confusion_normalised[i, j]:.3f}\n({count})" if normalised else str(count)
            dark = values[i, j] > 0.6 * (1 if normalised else values.max())
            ax.text(j, i, text, ha="center", va="center", fontsize=9, color="white" if dark else "black")
    ax.set(
        xticks=range(k),
        yticks=range(k),
        xlabel="predicted class",
        ylabel="true class",
        title=f"confusion matrix (n={m.n}, accuracy {m.accuracy:.3f})",
    )
    ax.set_xticklabels(m.classes, rotation=30, ha="right")
    ax.set_yticklabels(m.classes)
    return _done(fig, path)


def roc_pr_plot(m: ClassificationMetrics, path=None) -> Figure:
    """One-vs-rest ROC (AUC in the legend, chance diagonal) and precision-recall curves (AP in the legend)."""
    fig, axes = _figure(2, size=(11, 4.8))
    roc_ax, pr_ax = axes[0]
    col = _colours(m.classes)
    for c in m.classes:
        roc_ax.plot(m.roc[c]["fpr"], m.roc[c]["tpr"], color=col[c], label=f"{c} (AUC {m.roc_auc[c]:.3f})")
        pr_ax.plot(
            m.pr[c]["recall"],
            m.pr[c]["precision"],
            color=col[c],
            drawstyle="steps-pre",
            label=f"{c} (AP {m.pr_auc[c]:.3f})",
        )
        pr_ax.axhline(m.per_class["support"][c] / m.n, color=col[c], lw=0.8, ls=":")
    roc_ax.plot([0, 1], [0, 1], "k--", lw=0.8, label="chance")
    roc_ax.set(
        xlabel="false positive rate",
        ylabel="true positive rate (completeness)",
        xlim=(0, 1),
        ylim=(0, 1.01),
        title=f"ROC, one vs rest (macro AUC {m.macro_roc_auc:.3f})",
    )
    pr_ax.set(
        xlabel="recall (completeness)",
        ylabel="precision (purity)",
        xlim=(0, 1),
        ylim=(0, 1.01),
        title="precision-recall (dotted: class fraction)",
    )
    roc_ax.legend(loc="lower right")
    pr_ax.legend(loc="lower left")
    return _done(fig, path)


def purity_completeness_plot(m: ClassificationMetrics, path=None) -> Figure:
    """Purity (solid) and completeness (dashed) per class vs magnitude, and vs redshift when present."""
    panels = [
        (t, label)
        for t, label in ((m.by_magnitude, m.mag_col or "magnitude"), (m.by_redshift, m.z_col or "redshift"))
        if t is not None
    ]
    if not panels:
        raise ValueError("no binned metrics: call classification_metrics with mag_col and/or z_col")
    fig, axes = _figure(len(panels), size=(1.8 + 5 * len(panels), 4.5), sharey=True)
    col = _colours(m.classes)
    for ax, (t, label) in zip(axes[0], panels, strict=True):
        x = (t["bin_lo"] + t["bin_hi"]) / 2
        for c in m.classes:
            ax.plot(x, t[f"purity_{c}"], "o-", color=col[c], label=f"{c} purity")
            ax.plot(x, t[f"completeness_{c}"], "s--", color=col[c], mfc="none", label=f"{c} completeness")
        ax.set(xlabel=label, ylim=(0, 1.02), title=f"purity and completeness vs {label}")
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("fraction")
    fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="outside right upper", fontsize=8)
    return _done(fig, path)


def reliability_plot(m: ClassificationMetrics, path=None) -> Figure:
    """Reliability diagram per class (observed fraction vs mean predicted probability) and bin counts."""
    fig, axes = _figure(1, 2, size=(6, 6.5), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    top, bottom = axes[0, 0], axes[1, 0]
    col = _colours(m.classes)
    cal = m.calibration
    width = float((cal["bin_hi"] - cal["bin_lo"]).iloc[0])
    for i, c in enumerate(m.classes):
        t = cal[cal["class"] == c]
        top.plot(t["mean_predicted"], t["observed_fraction"], "o-", color=col[c], label=c)
        step = width / (len(m.classes) + 1)
        bottom.bar(t["bin_lo"] + step * (i + 0.5), t["count"], width=step, color=col[c], align="edge")
    top.plot([0, 1], [0, 1], "k--", lw=0.8, label="perfectly calibrated")
    top.set(ylabel="observed fraction", xlim=(0, 1), ylim=(0, 1.01), title="reliability (one vs rest)")
    top.legend(loc="upper left")
    bottom.set(xlabel="predicted probability", ylabel="rows", yscale="log")
    return _done(fig, path)


def photoz_plot(m_or_pred_hist, path=None) -> Figure:
    """z_spec vs z_phot density (log colour, 1:1 and outlier lines), and dz/(1+z) vs magnitude when binned.

    ``m_or_pred_hist`` is a :class:`RegressionMetrics` or a ``(counts, edges)`` pair from
    :func:`~astrolake.ml.evaluate.photoz_density`.
    """
    m = m_or_pred_hist if isinstance(m_or_pred_hist, RegressionMetrics) else None
    if m is None:
        counts, edges = m_or_pred_hist
    elif m.density is None:
        raise ValueError("these metrics carry no photo-z density (regression_metrics computes one)")
    else:
        counts, edges = m.density
    thr = m.outlier_threshold if m is not None else 0.15
    by_mag = m.by_magnitude if m is not None else None
    mag_label = (m.mag_col if m is not None else None) or "magnitude"
    fig, axes = _figure(2 if by_mag is not None else 1, size=(11 if by_mag is not None else 5.8, 5))
    ax = axes[0, 0]
    shown = np.ma.masked_equal(counts.T, 0)
    if shown.count():
        im = ax.pcolormesh(edges, edges, shown, norm=LogNorm(vmin=1, vmax=max(int(counts.max()), 2)), cmap="viridis")
        fig.colorbar(im, ax=ax, label="objects")
    z = np.linspace(edges[0], edges[-1], 200)
    ax.plot(z, z, "r-", lw=1, label="1:1")
    for s in (1, -1):
        ax.plot(z, z + s * thr * (1 + z), "r--", lw=0.8, label=f"±{thr}(1+z)" if s == 1 else None)
    ax.set(xlabel="z_spec", ylabel="z_phot", xlim=(edges[0], edges[-1]), ylim=(edges[0], edges[-1]), aspect="equal")
    if m is not None:
        stats = f"σ_NMAD {m.sigma_nmad:.4f}  bias {m.bias:+.4f}  outliers {m.outlier_fraction:.3f}"
        ax.set_title(f"photo-z (n={m.n})\n{stats}", fontsize=10)
    ax.legend(loc="upper left")
    if by_mag is not None:
        ax2 = axes[0, 1]
        x = (by_mag["bin_lo"] + by_mag["bin_hi"]) / 2
        ax2.errorbar(x, by_mag["bias"], yerr=by_mag["sigma_nmad"], fmt="o-", capsize=3, label="bias ± σ_NMAD")
        for s in (1, -1):
            ax2.axhline(s * thr, color="r", ls="--", lw=0.8)
        ax2.axhline(0, color="k", lw=0.6)
        ax2.set(xlabel=mag_label, ylabel="dz / (1 + z_spec)", title="photo-z vs magnitude")
        twin = ax2.twinx()
        twin.plot(x, by_mag["outlier_fraction"], "s:", color="C3", label="outlier fraction")
        twin.set_ylabel("outlier fraction", color="C3")
        ax2.legend(loc="upper left")
        twin.legend(loc="upper right")
    return _done(fig, path)


def save_all(metrics, folder) -> list[Path]:
    """Write the standard plots of a metrics object into ``folder``; returns the files written.

    Classification: ``confusion_matrix.png``, ``roc_pr.png``, ``reliability.png`` and
    ``purity_completeness.png`` (when binned metrics exist).  Photo-z: ``photoz.png``.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    jobs: list[tuple[Callable[..., Figure], str]]
    if isinstance(metrics, ClassificationMetrics):
        jobs = [(confusion_matrix_plot, "confusion"), (roc_pr_plot, "roc_pr"), (reliability_plot, "reliability")]
        if metrics.by_magnitude is not None or metrics.by_redshift is not None:
            jobs.append((purity_completeness_plot, "purity"))
    elif isinstance(metrics, RegressionMetrics):
        jobs = [(photoz_plot, "photoz")] if metrics.density is not None else []
    else:
        raise TypeError(f"no standard plots for {type(metrics).__name__}")
    written = []
    for plot, key in jobs:
        plot(metrics, folder / FILES[key])
        written.append(folder / FILES[key])
    return written
