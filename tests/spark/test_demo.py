"""`make demo`'s main job, end to end, as a user runs it: a subprocess in a new folder."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from conftest import SMALL_SESSION


def test_demo_runs_end_to_end_from_a_fresh_folder(tmp_path):
    """`make demo`'s command: ingest -> gold -> classifier -> champion -> predictions, in a new folder."""
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "astrolake.cli",
            "demo",
            "--base-path",
            "lake",
            *SMALL_SESSION,
            "--quiet",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=900,
        env={k: v for k, v in os.environ.items() if not k.startswith("ASTROLAKE_")},
    )
    assert r.returncode == 0, r.stderr
    assert "(closes)" in r.stdout
    f1 = float(re.search(r"macro F1 (\d\.\d+)", r.stdout).group(1))
    assert f1 > 0.8  # DR14 bright sample: stars, galaxies and QSOs separate well in colour
    assert "champion is v1" in r.stdout and "10,000 rows written" in r.stdout
    assert (tmp_path / "mlflow.db").is_file() and (tmp_path / "lake" / "predictions_sdss_dr14_skyserver").is_dir()
    # it ends with the two reports, and prints where they are
    table_html = tmp_path / "reports" / "gold_sdss_dr14_skyserver" / "report.html"
    model = "astrolake_classification_sdss_dr14_skyserver"
    model_html = tmp_path / "reports" / f"{model}_champion" / "report.html"
    tail = r.stdout[r.stdout.index("reports (self-contained HTML; open in a browser):") :].splitlines()
    assert tail[1:] == [
        f"    table gold_sdss_dr14_skyserver: {table_html}",
        f"    model {model}@champion: {model_html}",
    ]
    for html, fig in ((table_html, "fig-sky"), (model_html, "fig-confusion")):
        text = html.read_text(encoding="utf-8")
        assert f'<img id="{fig}"' in text and "data:image/png;base64," in text
    assert "gold_sdss_dr14_skyserver v" in model_html.read_text(encoding="utf-8")
