"""Matplotlib figures of the binned statistics (Agg backend; no global pyplot state)."""

from __future__ import annotations

import numpy as np
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure


def class_balance_figure(counts) -> Figure:
    fig = Figure(figsize=(5, 3.5))
    ax = fig.subplots()
    ax.bar(counts.index.astype(str), counts.values, color="tab:blue")
    ax.set(ylabel="objects", title="class balance")
    for i, v in enumerate(counts.values):
        ax.annotate(f"{v:,}", (i, v), ha="center", va="bottom", fontsize=8)
    fig.tight_layout()
    return fig


def sky_figure(cells, order: int) -> Figure:
    """Mollweide map of objects per HEALPix cell (cell centres, coloured by count)."""
    import astropy.units as u
    from cdshealpix.nested import healpix_to_lonlat

    lon, lat = healpix_to_lonlat(np.asarray(cells.index, dtype=np.uint64), order)
    ra = np.asarray(lon.to_value(u.deg))
    x = -np.radians(np.where(ra > 180, ra - 360, ra))  # astronomical convention: east to the left
    fig = Figure(figsize=(8, 4.5))
    ax = fig.add_subplot(projection="mollweide")
    sc = ax.scatter(x, np.asarray(lat.to_value(u.rad)), c=cells.values, s=4, cmap="viridis",
                    norm=LogNorm(vmin=max(1, cells.min()), vmax=max(2, cells.max())))
    fig.colorbar(sc, ax=ax, orientation="horizontal", fraction=0.05, pad=0.08, label=f"objects per order-{order} cell")
    ax.set_xticklabels(["150°", "120°", "90°", "60°", "30°", "0°", "330°", "300°", "270°", "240°", "210°"], fontsize=7)
    ax.grid(True, alpha=0.3)
    ax.set_title("sky density (RA increases to the left)")
    return fig


def density_grid_figure(hists: dict, x_edges, y_edges, xlabel: str, ylabel: str, title: str) -> Figure:
    """One 2-D density panel per class (log colour scale)."""
    n = len(hists)
    fig = Figure(figsize=(4 * n, 3.6))
    axes = np.atleast_1d(fig.subplots(1, n, sharex=True, sharey=True))
    for ax, (name, h) in zip(axes, hists.items()):
        if h.sum():
            ax.pcolormesh(x_edges, y_edges, h.T, norm=LogNorm(vmin=1, vmax=max(2, h.max())), cmap="magma_r")
        ax.set(title=f"{name} ({h.sum():,})", xlabel=xlabel)
    axes[0].set_ylabel(ylabel)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def histograms_figure(hists: dict, edges, xlabel: str, title: str, log: bool = False) -> Figure:
    fig = Figure(figsize=(6, 3.8))
    ax = fig.subplots()
    for name, h in hists.items():
        ax.stairs(h / max(h.sum(), 1), edges, label=f"{name} ({h.sum():,})")
    ax.set(xlabel=xlabel, ylabel="fraction per bin", title=title, yscale="log" if log else "linear")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
