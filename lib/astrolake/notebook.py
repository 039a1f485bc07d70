"""Notebook helpers: widgets that work on Databricks (dbutils) and locally (defaults)."""

from __future__ import annotations


def widget(name: str, default: str, label: str | None = None) -> str:
    """A text widget's value on Databricks; ``default`` (or ``$ASTROLAKE_WIDGET_<NAME>``) elsewhere."""
    import os

    try:  # dbutils exists only on Databricks
        dbutils = __import__("IPython").get_ipython().user_ns["dbutils"]  # type: ignore[union-attr]
    except Exception:
        dbutils = None
    if dbutils is not None:
        dbutils.widgets.text(name, default, label or name)
        return dbutils.widgets.get(name)
    return os.environ.get(f"ASTROLAKE_WIDGET_{name.upper()}", default)
