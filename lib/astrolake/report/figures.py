"""Matplotlib figures of the binned statistics (Agg backend; no global pyplot state).

Every function takes what :mod:`astrolake.report.stats` returns (bins, counts, small frames)
and returns a ``matplotlib.figure.Figure``; nothing here touches Spark.  In a notebook,
``astrolake.notebook.show(fig)`` displays one inline; :func:`png_bytes` encodes one for the
HTML report.
"""

from __future__ import annotations

import io

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

DPI = 100


def _fig(size) -> Figure:
    fig = Figure(figsize=size)
    FigureCanvasAgg(fig)
    return fig


def png_bytes(fig: Figure, dpi: int = DPI) -> bytes:
    """The figure as PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def message_figure(text: str, title: str = "", size=(6, 2.2)) -> Figure:
    """A small figure that says why there is nothing to draw (kept so every section has its figure)."""
    fig = _fig(size)
    ax = fig.subplots()
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=11, wrap=True)
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return fig


# --------------------------------------------------------------------------------------------
# the figures of notebooks/02_exploration.py (signatures kept)
# --------------------------------------------------------------------------------------------
def class_balance_figure(counts) -> Figure:
    fig = _fig((5, 3.5))
    ax = fig.subplots()
    ax.bar(counts.index.astype(str), counts.values, color="tab:blue")
    ax.set(ylabel="objects", title=f"class balance ({int(counts.sum()):,} objects)")
    for i, v in enumerate(counts.values):
        ax.annotate(f"{v:,} ({v / max(counts.sum(), 1):.1%})", (i, v), ha="center", va="bottom", fontsize=8)
    ax.margins(y=0.12)
    fig.tight_layout()
    return fig


def sky_figure(cells, order: int, width: int = 360) -> Figure:
    """Mollweide map of the object density per HEALPix cell (objects per square degree, log scale).

    ``cells`` is :func:`astrolake.report.stats.healpix_counts`' Series (nested index at ``order``
    -> objects).  The map is a ``width`` x ``width/2`` grid of sky positions, each coloured by
    the density of the cell it falls in; right ascension increases to the left.
    """
    import astropy.units as u
    from astropy.coordinates import Latitude, Longitude
    from cdshealpix.nested import lonlat_to_healpix

    fig = _fig((8, 4.6))
    ax = fig.add_subplot(projection="mollweide")
    height = width // 2
    x_edges = np.linspace(-np.pi, np.pi, width + 1)
    y_edges = np.linspace(-np.pi / 2, np.pi / 2, height + 1)
    xc, yc = np.meshgrid((x_edges[:-1] + x_edges[1:]) / 2, (y_edges[:-1] + y_edges[1:]) / 2)
    ra = np.degrees(-xc) % 360.0  # astronomical convention: east (larger RA) to the left
    pix = lonlat_to_healpix(
        Longitude(ra.ravel(), unit=u.deg), Latitude(np.degrees(yc.ravel()), unit=u.deg), order
    ).astype(np.int64)
    index = np.asarray(cells.index, dtype=np.int64)
    values = np.asarray(cells.values, dtype=float)
    pos = np.clip(np.searchsorted(index, pix), 0, max(len(index) - 1, 0))
    found = (index[pos] == pix) if len(index) else np.zeros(pix.shape, bool)
    area = 4 * np.pi * (180 / np.pi) ** 2 / (12 * 4**order)  # square degrees per cell
    density = np.where(found, values[pos] if len(index) else 0.0, 0.0).reshape(xc.shape) / area
    shown = np.ma.masked_equal(density, 0)
    if shown.count():
        mesh = ax.pcolormesh(
            x_edges,
            y_edges,
            shown,
            cmap="viridis",
            rasterized=True,
            norm=LogNorm(vmin=max(shown.min(), 1e-3), vmax=max(shown.max(), shown.min() * 2)),
        )
        fig.colorbar(
            mesh,
            ax=ax,
            orientation="horizontal",
            fraction=0.05,
            pad=0.08,
            label=f"objects per deg² (HEALPix order {order}, {area:.2f} deg² cells)",
        )
    ax.set_xticklabels(["150°", "120°", "90°", "60°", "30°", "0°", "330°", "300°", "270°", "240°", "210°"], fontsize=7)
    ax.grid(True, alpha=0.3)
    ax.set_title(
        f"sky density: {int(values.sum()):,} objects in {len(index):,} cells (RA increases to the left)", fontsize=10
    )
    return fig


def density_grid_figure(hists: dict, x_edges, y_edges, xlabel: str, ylabel: str, title: str) -> Figure:
    """One 2-D density panel per class (log colour scale)."""
    n = max(len(hists), 1)
    fig = _fig((4 * n, 3.6))
    axes = np.atleast_1d(fig.subplots(1, n, sharex=True, sharey=True))
    for ax, (name, h) in zip(axes, hists.items(), strict=False):  # one empty panel when no class
        if h.sum():
            ax.pcolormesh(
                x_edges, y_edges, h.T, norm=LogNorm(vmin=1, vmax=max(2, h.max())), cmap="magma_r", rasterized=True
            )
        ax.set(title=f"{name} ({h.sum():,})", xlabel=xlabel)
    axes[0].set_ylabel(ylabel)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def histograms_figure(hists: dict, edges, xlabel: str, title: str, log: bool = False, ax=None) -> Figure:
    """Normalised histograms, one line per class (``ax``: draw into an existing panel)."""
    fig = None
    if ax is None:
        fig = _fig((6, 3.8))
        ax = fig.subplots()
    for name, h in hists.items():
        ax.stairs(h / max(h.sum(), 1), edges, label=f"{name} ({h.sum():,})")
    ax.set(xlabel=xlabel, ylabel="fraction per bin", title=title, yscale="log" if log else "linear")
    if hists:
        ax.legend(fontsize=8)
    if fig is not None:
        fig.tight_layout()
    return fig if fig is not None else ax.figure


# --------------------------------------------------------------------------------------------
# report figures
# --------------------------------------------------------------------------------------------
def magnitudes_figure(hists: dict, edges: dict, title: str = "magnitude distributions per class") -> Figure:
    """One panel per band: ``hists[band]`` is ``{class: counts}`` over ``edges[band]``."""
    bands = list(hists)
    n = max(len(bands), 1)
    fig = _fig((3.4 * n, 3.4))
    axes = np.atleast_1d(fig.subplots(1, n, sharey=True))
    for ax, b in zip(axes, bands, strict=False):  # one empty panel when no band
        histograms_figure(hists[b], edges[b], f"{b} [mag]", b, ax=ax)
        if ax is not axes[0]:
            ax.set_ylabel("")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def layers_figure(layers) -> Figure:
    """Rows in bronze, silver, gold and quarantine (log scale), each bar annotated."""
    fig = _fig((6, 3.2))
    ax = fig.subplots()
    values = layers["rows"].fillna(0).astype(float)
    ax.bar(layers.index, values, color=["tab:brown", "tab:gray", "gold", "tab:red"][: len(values)])
    for i, v in enumerate(values):
        ax.annotate(f"{int(v):,}", (i, v), ha="center", va="bottom", fontsize=8)
    ax.set(ylabel="rows", title="rows per layer", yscale="log" if values.max() > 0 else "linear")
    ax.margins(y=0.2)
    fig.tight_layout()
    return fig


def ledger_figure(ledger) -> Figure:
    """Per batch (oldest left): inserted, updated, duplicate and quarantined rows stacked; the
    line is rows read so far.  ``ledger`` is :func:`~astrolake.report.stats.ledger_history`'s frame."""
    if ledger is None or len(ledger) == 0:
        return message_figure("no ledger rows for this catalog yet", "ingest ledger")
    width = max(6.0, min(14.0, 0.8 * len(ledger) + 3))
    fig = _fig((width, 4.6))
    ax = fig.subplots()
    x = np.arange(len(ledger))
    bottom = np.zeros(len(ledger))
    for col, colour in (
        ("inserted", "tab:green"),
        ("updated", "tab:blue"),
        ("duplicates", "tab:gray"),
        ("quarantined", "tab:red"),
    ):
        v = ledger[col].fillna(0).to_numpy(float)
        ax.bar(x, v, bottom=bottom, color=colour, label=col)
        bottom += v
    ax2 = ax.twinx()
    ax2.plot(x, ledger["read"].fillna(0).cumsum().to_numpy(float), "k.-", label="rows read (cumulative)")
    ax2.set_ylabel("rows read, cumulative")
    ax.set_ylim(0, max(float(bottom.max()), 1.0) * 1.1)
    ax2.set_ylim(0, max(float(ledger["read"].fillna(0).sum()), 1.0) * 1.1)
    labels = [
        f"{b}\n{t:%Y-%m-%d}\n{t:%H:%M}" if t is not None and t == t else str(b)
        for b, t in zip(ledger["batch_id"], ledger["finished_at"], strict=True)
    ]
    step = max(1, int(np.ceil(len(x) / ((width - 3) / 0.8))))  # about 0.8 inch per readable label
    ax.set_xticks(x[::step])
    ax.set_xticklabels(labels[::step], fontsize=7)
    not_closing = (~ledger["closes"].astype(bool)).sum()
    ax.set(xlabel="batch (finished at, UTC)", ylabel="rows per batch")
    ax.set_title(
        f"ingest ledger: {len(ledger)} batch(es)"
        + (f", {not_closing} DO NOT CLOSE" if not_closing else ", every one closes"),
        fontsize=10,
    )
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    # below the axes: inside, it would hide the bars of a ledger with few batches
    ax.legend(h1 + h2, l1 + l2, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.27), ncol=3, frameon=False)
    fig.tight_layout()
    return fig


def _hbar(series, row_height: float, color, fmt, label_size: int, label_width: int | None = None):
    """Horizontal bars of a pandas Series, first entry on top, each annotated with ``fmt(value)``."""
    fig = _fig((8, 1.2 + row_height * len(series)))
    ax = fig.subplots()
    y = np.arange(len(series))[::-1]
    values = np.asarray(series.values, dtype=float)
    ax.barh(y, values, color=color(values) if callable(color) else color)
    ax.set_yticks(y)
    ax.set_yticklabels([str(r)[:label_width] for r in series.index], fontsize=8)
    for yi, v in zip(y, values, strict=True):
        ax.annotate(fmt(v), (v, yi), xytext=(3, 0), textcoords="offset points", va="center", fontsize=label_size)
    return fig, ax, values


def quarantine_figure(rules) -> Figure:
    """Horizontal bars: rows per broken rule (most frequent on top)."""
    if rules is None or len(rules) == 0:
        return message_figure("no quarantined rows for this catalog", "quarantine")
    fig, ax, _ = _hbar(rules, 0.4, "tab:red", lambda v: f"{int(v):,}", 8, label_width=60)
    ax.set(xlabel="quarantined rows breaking the rule", title="quarantine: top rules")
    ax.margins(x=0.15)
    fig.tight_layout()
    return fig


def missing_figure(missing) -> Figure:
    """Fraction of missing values (null or NaN) per column."""
    if missing is None or len(missing) == 0:
        return message_figure("no columns", "missing values")
    fig, ax, values = _hbar(
        missing, 0.28, lambda v: np.where(v > 0, "tab:orange", "tab:green"), lambda v: f"{v:.2%}", 7
    )
    ax.set(
        xlim=(0, max(1e-3, values.max() * 1.25)),
        xlabel="fraction missing (null or NaN)",
        title=f"missing values per column ({missing.attrs.get('rows', 0):,} rows)",
    )
    fig.tight_layout()
    return fig


def correlation_figure(corr) -> Figure:
    """Heatmap of a correlation matrix (annotated when small enough to read)."""
    k = len(corr)
    fig = _fig((1.5 + 0.5 * max(k, 4), 1.0 + 0.45 * max(k, 4)))
    ax = fig.subplots()
    im = ax.imshow(corr.to_numpy(float), cmap="RdBu_r", vmin=-1, vmax=1)
    fig.colorbar(im, ax=ax, label="Pearson r")
    ax.set_xticks(range(k))
    ax.set_yticks(range(k))
    ax.set_xticklabels(corr.columns, rotation=60, ha="right", fontsize=8)
    ax.set_yticklabels(corr.index, fontsize=8)
    if k <= 16:
        for i in range(k):
            for j in range(k):
                v = corr.iat[i, j]
                ax.text(
                    j,
                    i,
                    "" if v != v else f"{v:.2f}",
                    ha="center",
                    va="center",
                    fontsize=6,
                    color="white" if abs(v) > 0.6 else "black",
                )
    ax.set_title("correlation matrix")
    fig.tight_layout()
    return fig


def importance_figure(importance, title: str, xlabel: str) -> Figure:
    """Horizontal bars of feature importances (largest on top); ``importance`` a pandas Series."""
    s = importance.sort_values(ascending=True)
    fig = _fig((7, 1.2 + 0.3 * len(s)))
    ax = fig.subplots()
    ax.barh(np.arange(len(s)), s.values, color=np.where(s.values >= 0, "tab:blue", "tab:gray"))
    ax.set_yticks(np.arange(len(s)))
    ax.set_yticklabels(list(s.index), fontsize=8)
    ax.axvline(0, color="k", lw=0.6)
    ax.set(xlabel=xlabel, title=title)
    fig.tight_layout()
    return fig


def residuals_figure(
    h, x_edges, y_edges, xlabel: str, ylabel: str, title: str, threshold: float | None = None
) -> Figure:
    """2-D density of residuals against a magnitude (log colour), with the outlier limits."""
    fig = _fig((6.5, 4.2))
    ax = fig.subplots()
    if h.sum():
        mesh = ax.pcolormesh(
            x_edges,
            y_edges,
            np.ma.masked_equal(h.T, 0),
            cmap="viridis",
            rasterized=True,
            norm=LogNorm(vmin=1, vmax=max(2, h.max())),
        )
        fig.colorbar(mesh, ax=ax, label="objects")
    ax.axhline(0, color="k", lw=0.8)
    if threshold:
        for s in (1, -1):
            ax.axhline(s * threshold, color="r", ls="--", lw=0.8)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=f"{title} (n={int(h.sum()):,})")
    fig.tight_layout()
    return fig
