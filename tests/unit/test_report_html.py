"""The HTML report page (Jinja2 template, autoescaped), rendered without Spark."""

from __future__ import annotations

import base64
import re
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from astrolake.catalogs.contract import get_catalog
from astrolake.report.build import Report, Section, _examples_table, dictionary_frame
from astrolake.report.html import Cell, Table, frame_table, render

HOSTILE = '<script>alert("x")</script> & <img src=x onerror=alert(1)>'


def _figure(seed: int) -> Figure:
    fig = Figure(figsize=(2, 1.5))
    fig.add_subplot().plot(np.random.default_rng(seed).normal(size=20))
    return fig


@pytest.fixture
def report() -> Report:
    catalog = get_catalog("sdss_dr14_skyserver")
    hostile_catalog = replace(catalog, name=f"cat{HOSTILE}", citation=f"Someone et al. {HOSTILE}")
    r = Report("table", f"silver_{HOSTILE}", f"astrolake report: silver_{HOSTILE}")
    r.meta = {"table": f"silver_{HOSTILE}", "version": 3, HOSTILE: "key too"}
    r.footer = f"footer {HOSTILE}"
    a = Section("sec-a", f"Section {HOSTILE}", f"text {HOSTILE}")
    b = Section(f"sec-{HOSTILE}", "Second")
    r.sections += [a, b]
    r.add_figure(a, "fig-one", _figure(1), f"caption {HOSTILE}")
    r.add_figure(b, "fig-two", _figure(2))
    a.blocks.append(
        ("table", frame_table(pd.DataFrame({"x": [1, 2_000], HOSTILE: [0.5, float("nan")]}, index=["a", HOSTILE])))
    )
    a.blocks.append(("note", f"note {HOSTILE}"))
    rules = pd.Series({f"rule {HOSTILE}": 7})
    examples = pd.DataFrame(
        {
            "rule": [f"rule {HOSTILE}"] * 2,
            "reason": [f"ra: {HOSTILE}", "ra: 400 outside [0, 360)"],
            "_key": [HOSTILE, "1|2|3"],
            "_source_file": ["/landing/a.csv", f"/landing/{HOSTILE}.csv"],
            "_row_number": [5, None],
            "_raw": [f"1,2,{HOSTILE}", "x,y"],
        }
    )
    b.blocks.append(("table", _examples_table(rules, examples)))
    b.blocks.append(("catalog", catalog))
    b.blocks.append(("catalog", hostile_catalog))
    b.blocks.append(("table", frame_table(dictionary_frame(catalog, ["ra", "dec", "u_g", "split"]))))
    return r


def test_hostile_text_is_escaped_everywhere(report):
    page = render(report)
    assert "<script" not in page and "onerror=alert(1)>" not in page and "<img src=x" not in page
    escaped = "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;img src=x onerror=alert(1)&gt;"
    # title, heading, meta (key and value), section title/text/id, caption, table header/cells, note, rule,
    # raw text, file name, catalog name and citation, footer
    assert page.count(escaped) >= 18
    assert f"<title>astrolake report: silver_{escaped}</title>" in page
    assert f"<b>Citation:</b> Someone et al. {escaped}</p>" in page
    assert f'<section id="sec-{escaped}">' in page and f'<a href="#sec-{escaped}">' in page


def test_every_figure_is_embedded_with_its_id(report):
    page = render(report)
    for fig_id, png in report.pngs.items():
        m = re.search(rf'<img id="{fig_id}" alt="[^"]*" src="data:image/png;base64,([A-Za-z0-9+/=]+)">', page)
        assert m, fig_id
        assert base64.b64decode(m.group(1)) == png and png[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(re.findall(r"<img ", page)) == len(report.pngs) == 2


def test_page_is_self_contained(report):
    page = render(report)
    assert "http://" not in page and "https://" not in page and "//" not in re.sub(r"data:[^\"]*", "", page)
    assert "<script" not in page and '<link rel="stylesheet"' not in page and "@import" not in page
    srcs = re.findall(r'(?:src|href)="([^"]*)"', page)
    assert srcs and all(s.startswith(("data:", "#")) for s in srcs), srcs


def test_tables_citation_and_dictionary_render(report):
    page = render(report)
    assert '<td class="num">2,000</td>' in page and '<td class="num">–</td>' in page  # numbers, NaN
    assert '<td rowspan="2">rule ' in page and '<td class="num" rowspan="2">7</td>' in page  # examples
    assert "<td><code>1|2|3</code></td>" in page and '<td class="raw">x,y</td>' in page
    assert "Abolfathi et al. 2018" in page and "Right ascension (J2000)" in page  # citation, dictionary
    assert "Contract <code>skyserver_csv</code>" in page and "key (plate, mjd, fiberid)" in page


def test_report_html_and_write_use_the_template(report, tmp_path):
    path = report.write(tmp_path / "out")
    assert path.read_text(encoding="utf-8") == report.html() == report._repr_html_()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["fig-one.png", "fig-two.png", "report.html"]


def test_a_table_is_data_not_markup():
    t = frame_table(pd.Series({"a": 1, "b": True}, name="v"))
    assert isinstance(t, Table) and t.head == ["", "v"]
    assert t.rows[0] == [Cell("a", "th"), Cell("1", "num")] and t.rows[1][1] == Cell("yes")
