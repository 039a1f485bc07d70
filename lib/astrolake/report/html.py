"""A self-contained HTML page from a :class:`~astrolake.report.build.Report`.

The page is rendered from the Jinja2 template ``templates/report.html.j2`` with autoescaping on,
so every value (table names, catalog descriptions, citations, raw quarantined text) is escaped
by the template and no Python code writes markup.  Images are embedded as base64 PNG ``data:``
URIs (each ``<img>`` with the figure's stable id), tables are plain HTML, styling is one inline
``<style>``; there is no script and nothing is fetched, so the file opens anywhere (a browser,
an MLflow artifact view, an e-mail) as it is.

A section's blocks are ``("figure", id, caption)``, ``("table", Table)``, ``("note", text)`` or
``("catalog", Catalog)`` (the catalog, its contract and its citation).
"""

from __future__ import annotations

import base64
import numbers
from dataclasses import dataclass, field
from functools import lru_cache

TEMPLATE = "report.html.j2"


@dataclass
class Cell:
    """One table cell: its text and how it is shown (``kind``: td, th, num, code or raw)."""

    text: str
    kind: str = "td"
    rowspan: int = 1


@dataclass
class Table:
    """A table for the template: header texts and rows of :class:`Cell`."""

    head: list[str]
    rows: list[list[Cell]] = field(default_factory=list)


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def value_cell(v, float_format: str = "{:,.4g}") -> Cell:
    """A value as a cell: numbers right-aligned (integers with thousands separators), NaN as –."""
    if v is None or (isinstance(v, float) and v != v):
        return Cell("–", "num")
    if isinstance(v, bool):
        return Cell("yes" if v else "no")
    if isinstance(v, numbers.Integral):
        return Cell(f"{int(v):,}", "num")
    if isinstance(v, numbers.Real):
        return Cell(float_format.format(float(v)), "num")
    return Cell(str(v))


def frame_table(df, index: bool = True, float_format: str = "{:,.4g}") -> Table:
    """A pandas DataFrame or Series as a :class:`Table` (the index as row headers)."""
    import pandas as pd

    if isinstance(df, pd.Series):
        df = df.to_frame()
    head = ([str(df.index.name or "")] if index else []) + [str(c) for c in df.columns]
    rows = []
    for idx, row in df.iterrows():
        cells = [Cell(str(idx), "th")] if index else []
        rows.append(cells + [value_cell(v, float_format) for v in row.values])
    return Table(head, rows)


@lru_cache(maxsize=1)
def environment():
    """The Jinja2 environment: the package's templates, autoescaping on, undefined names an error."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("astrolake.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["data_uri"] = data_uri
    return env


def render(report) -> str:
    """The report as one HTML document (str)."""
    return environment().get_template(TEMPLATE).render(report=report)
