"""A self-contained HTML page from a :class:`~astrolake.report.build.Report`.

Images are embedded as base64 PNG ``data:`` URIs (each ``<img>`` with the figure's stable id),
tables are plain HTML, styling is one inline ``<style>``; there is no script and nothing is
fetched, so the file opens anywhere (a browser, an MLflow artifact view, an e-mail) as it is.
"""

from __future__ import annotations

import base64
import html

STYLE = """
body { font-family: -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; margin: 2em auto;
       max-width: 1200px; padding: 0 1em; color: #222; line-height: 1.45; }
h1 { margin-bottom: .2em; } h2 { border-bottom: 1px solid #ddd; padding-bottom: .2em; margin-top: 2em; }
.meta { color: #666; font-size: .9em; }
nav ol { columns: 2; font-size: .95em; }
figure { margin: 1em 0; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #555; font-size: .9em; }
table { border-collapse: collapse; font-size: .85em; margin: .8em 0; }
th, td { border: 1px solid #ddd; padding: .25em .6em; text-align: left; vertical-align: top; }
th { background: #f4f4f4; } td.num, th.num { text-align: right; }
code, .raw { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: .9em; }
.raw { white-space: pre-wrap; word-break: break-all; color: #444; }
.note { background: #f8f8f0; border-left: 3px solid #cc9; padding: .4em .8em; }
"""


def esc(value) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def img(fig_id: str, png: bytes, alt: str, caption: str = "") -> str:
    cap = f"<figcaption>{esc(caption)}</figcaption>" if caption else ""
    return f'<figure><img id="{esc(fig_id)}" alt="{esc(alt)}" src="{data_uri(png)}">{cap}</figure>'


def frame_table(df, index: bool = True, float_format: str = "{:,.4g}") -> str:
    """A pandas DataFrame or Series as an escaped HTML table (numbers right-aligned)."""
    import numbers

    import pandas as pd

    if isinstance(df, pd.Series):
        df = df.to_frame()
    head = ([esc(df.index.name or "")] if index else []) + [esc(c) for c in df.columns]
    out = ["<table><thead><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr></thead><tbody>"]
    for idx, row in df.iterrows():
        cells = [f"<th>{esc(idx)}</th>"] if index else []
        for v in row.values:
            if v is None or (isinstance(v, float) and v != v):
                cells.append('<td class="num">–</td>')
            elif isinstance(v, bool):
                cells.append(f"<td>{'yes' if v else 'no'}</td>")
            elif isinstance(v, numbers.Integral):
                cells.append(f'<td class="num">{int(v):,}</td>')
            elif isinstance(v, numbers.Real):
                cells.append(f'<td class="num">{esc(float_format.format(float(v)))}</td>')
            else:
                cells.append(f"<td>{esc(v)}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def render(report) -> str:
    """The report as one HTML document (str)."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<link rel="icon" href="data:,">',  # no favicon request
        f"<title>{esc(report.title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{esc(report.title)}</h1>",
    ]
    meta = " · ".join(f"{esc(k)}: {esc(v)}" for k, v in report.meta.items())
    parts.append(f'<p class="meta">{meta}</p>')
    parts.append(
        "<nav><ol>"
        + "".join(f'<li><a href="#{esc(s.id)}">{esc(s.title)}</a></li>' for s in report.sections)
        + "</ol></nav>"
    )
    for s in report.sections:
        parts.append(f'<section id="{esc(s.id)}"><h2>{esc(s.title)}</h2>')
        if s.text:
            parts.append(f"<p>{esc(s.text)}</p>")
        for block in s.blocks:
            kind = block[0]
            if kind == "figure":
                _, fig_id, caption = block
                parts.append(img(fig_id, report.pngs[fig_id], caption or fig_id, caption))
            elif kind == "html":  # already escaped by the builder (frame_table, esc)
                parts.append(block[1])
            elif kind == "note":
                parts.append(f'<p class="note">{esc(block[1])}</p>')
        parts.append("</section>")
    parts.append(f'<p class="meta">{esc(report.footer)}</p></body></html>')
    return "\n".join(parts)
