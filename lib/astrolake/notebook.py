"""Notebook helpers: widgets that work on Databricks (dbutils) and locally (defaults)."""

from __future__ import annotations


def widget(name: str, default: str, label: str | None = None) -> str:
    """A text widget's value on Databricks; ``default`` (or ``$ASTROLAKE_WIDGET_<NAME>``) elsewhere."""
    import os

    try:  # dbutils exists only on Databricks
        dbutils = __import__("IPython").get_ipython().user_ns["dbutils"]
    except Exception:
        dbutils = None
    if dbutils is not None:
        dbutils.widgets.text(name, default, label or name)
        return dbutils.widgets.get(name)
    return os.environ.get(f"ASTROLAKE_WIDGET_{name.upper()}", default)


LAKE_WIDGETS = ("base_path", "uc_catalog", "uc_schema")  # the widgets lake_from_widgets() declares


def lake_from_widgets(base_path_default: str = "lakehouse"):
    """The notebook's :class:`~astrolake.lake.tables.Lake` from the ``base_path``, ``uc_catalog``
    and ``uc_schema`` widgets (Unity Catalog names when both are set, local folders otherwise).

    Also sends astrolake's progress lines to the cell output (:func:`astrolake.log.configure`)."""
    from astrolake.config import Settings
    from astrolake.lake.tables import Lake
    from astrolake.log import configure
    from astrolake.spark import get_spark

    configure()

    base_path = widget("base_path", base_path_default, "Table folder (local runs)")
    uc_catalog = widget("uc_catalog", "", "Unity Catalog catalog") or None
    uc_schema = widget("uc_schema", "", "Unity Catalog schema") or None
    settings = Settings.load(base_path=base_path, uc_catalog=uc_catalog, uc_schema=uc_schema)
    return Lake(get_spark(settings), settings)


def show(fig) -> None:
    """Display a matplotlib figure inline (Databricks and Jupyter); a no-op in plain Python."""
    try:
        from IPython.display import display

        display(fig)
    except ImportError:
        pass
