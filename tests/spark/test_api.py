"""docs/python-api.md's Python session runs as written, with only the names astrolake exports."""

from __future__ import annotations

import ast
import re

import mlflow

from conftest import ROOT

DOC = ROOT / "docs" / "python-api.md"


def documented_session() -> str:
    """The first ```python block after the marker comment of docs/python-api.md."""
    text = DOC.read_text(encoding="utf-8")
    m = re.search(
        r"<!-- this session is run as written by tests/spark/test_api.py -->\n```python\n(.*?)```", text, re.S
    )
    assert m, "docs/python-api.md lost its tested Python session"
    return m.group(1)


def test_documented_session_uses_only_the_public_api():
    import astrolake

    tree = ast.parse(documented_session())
    imports = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert [(n.module, n.level) for n in imports] == [("astrolake", 0)]
    names = {a.name for a in imports[0].names}
    assert names <= set(astrolake.__all__)
    assert len(tree.body) <= 6  # one import and five statements


def test_documented_session_runs_on_the_shipped_sample(spark, tmp_path, monkeypatch, capsys):
    for var in ("ASTROLAKE_CONFIG", "ASTROLAKE_UC_CATALOG", "ASTROLAKE_UC_SCHEMA", "ASTROLAKE_REGISTRY_URI"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("ASTROLAKE_BASE_PATH", str(tmp_path / "lake"))
    monkeypatch.setenv("ASTROLAKE_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    monkeypatch.setenv("ASTROLAKE_EXPERIMENT", "python-api")
    monkeypatch.chdir(ROOT)  # the session names the sample by its path in the repository
    before = {p.name for p in ROOT.iterdir()}

    exec(compile(documented_session(), str(DOC), "exec"), {"__name__": "__main__"})

    out = capsys.readouterr().out
    new = {p.name for p in ROOT.iterdir()} - before
    assert not new & {"lakehouse", "mlflow.db", "mlruns"}  # tables and MLflow went where the settings say
    f1 = re.search(r"'test_macro_f1': ([0-9.]+)", out)
    assert f1 and float(f1.group(1)) > 0.7, out  # stars, galaxies and QSOs separate well in colour
    m = re.search(r"registered (\S+) v1 @challenger", out)
    assert m and m.group(1) == "astrolake_classification_sdss_dr14_skyserver", out

    from astrolake import Lake, Settings

    lake = Lake(spark, Settings.load())
    assert lake.settings.base_path == str(tmp_path / "lake")
    silver = lake.read("silver_sdss_dr14_skyserver").count()
    assert 9_000 < silver <= 10_000
    assert 9_000 < lake.read("gold_sdss_dr14_skyserver").count() <= silver
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    assert str(client.get_model_version_by_alias(m.group(1), "challenger").version) == "1"
