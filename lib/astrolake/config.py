"""One settings object: where tables live, where MLflow tracks, how Spark starts.

Precedence, lowest to highest: built-in defaults < YAML file < environment variables < explicit
overrides (CLI flags).  Locally tables are Delta folders under ``base_path``; on Databricks with
Unity Catalog, set ``uc_catalog`` and ``uc_schema`` and tables become ``catalog.schema.name``.

Environment variables: ``ASTROLAKE_CONFIG`` (YAML path), ``ASTROLAKE_BASE_PATH``,
``ASTROLAKE_UC_CATALOG``, ``ASTROLAKE_UC_SCHEMA``, ``ASTROLAKE_TRACKING_URI``,
``ASTROLAKE_REGISTRY_URI``, ``ASTROLAKE_EXPERIMENT``, ``ASTROLAKE_SPARK_MASTER``, ``ASTROLAKE_DRIVER_MEMORY``,
``ASTROLAKE_SHUFFLE_PARTITIONS``, ``ASTROLAKE_JARS`` (folder holding the Delta jars),
``ASTROLAKE_CATALOGS_PATH`` (folders of user contracts and catalogs; ``$ASTROLAKE_CATALOGS`` is read
as well, by :mod:`astrolake.catalogs.contract` itself).
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from astrolake.errors import UserError
from astrolake.names import check_delta_path, check_identifier, is_delta_path

ENV_PREFIX = "ASTROLAKE_"
_JVM_UNSAFE = re.compile(r"[\s'\"\x00-\x1f\x7f]")


class SettingsError(UserError, ValueError):
    """A settings file that is missing or not a mapping of known options."""


@dataclass(frozen=True)
class Settings:
    """Where astrolake keeps its tables and how it starts Spark.

    Examples
    --------
    >>> s = Settings(base_path="/tmp/lake")
    >>> s.table("silver_sdss_dr14")
    '/tmp/lake/silver_sdss_dr14'
    >>> Settings(uc_catalog="main", uc_schema="astro").table("silver_sdss_dr14")
    'main.astro.silver_sdss_dr14'

    Table names, ``uc_catalog`` and ``uc_schema`` are identifiers (:mod:`astrolake.names`), so none
    of them can change a SQL statement or leave ``base_path``:

    >>> Settings(base_path="/tmp/lake").table("../etc")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    astrolake.names.IdentifierError: table name '../etc' refused: it holds '.' ...
    """

    base_path: str = "lakehouse"
    uc_catalog: str | None = None
    uc_schema: str | None = None
    tracking_uri: str | None = None  # default: sqlite:///<working folder>/mlflow.db; "databricks" there
    registry_uri: str | None = None  # default: the tracking store; "databricks-uc" with Unity Catalog
    experiment: str = "astrolake"  # an absolute workspace path (/Shared/astrolake) on Databricks
    spark_master: str = "local[*]"
    driver_memory: str = "4g"
    shuffle_partitions: int = 4
    jars: str | None = None
    catalogs_path: str | None = None  # folders of user contracts + catalogs.yaml, os.pathsep-separated
    extra_spark_conf: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # set from a file, a variable, a flag or a notebook widget, they become SQL identifiers
        for option in ("uc_catalog", "uc_schema"):
            value = getattr(self, option)
            if value not in (None, ""):
                check_identifier(value, option)
        # a local session passes base_path on the JVM's command line (-Dderby.system.home), which
        # Spark splits at blanks and quotes: such a path would start no JVM, or add JVM options
        bad = _JVM_UNSAFE.search(str(self.base_path))
        if bad:
            raise SettingsError(
                f"base_path {str(self.base_path)[:80]!r} refused: it holds {bad.group()!r} "
                "(blanks, quotes and control characters cannot reach the JVM's options)"
            )

    @property
    def uses_unity_catalog(self) -> bool:
        return bool(self.uc_catalog and self.uc_schema)

    def table(self, name: str) -> str:
        """The location of table ``name``: a Delta path locally, a three-part name on Unity Catalog.

        ``name`` is an identifier (:func:`astrolake.names.check_identifier`), or, locally, an
        absolute path to a Delta folder of the user's choosing (:func:`astrolake.names.check_delta_path`).
        """
        if self.uses_unity_catalog:
            return f"{self.uc_catalog}.{self.uc_schema}.{check_identifier(name, 'table name')}"
        if is_delta_path(name):
            return str(Path(check_delta_path(name)))
        return str(Path(self.base_path).absolute() / check_identifier(name, "table name"))

    @property
    def checkpoint_root(self) -> str:
        """Folder for streaming checkpoints (a Volume path or local folder)."""
        return str(Path(self.base_path).absolute() / "_checkpoints")

    def with_overrides(self, **overrides: Any) -> Settings:
        clean = {k: v for k, v in overrides.items() if v is not None}
        return dataclasses.replace(self, **clean)

    @classmethod
    def load(cls, config_file: str | os.PathLike | None = None, **overrides: Any) -> Settings:
        """Build settings from defaults, an optional YAML file, ``ASTROLAKE_*`` variables and overrides."""
        names = {f.name: f for f in fields(cls)}
        values: dict[str, Any] = {}
        config_file = config_file or os.environ.get(ENV_PREFIX + "CONFIG")
        if config_file:
            path = Path(config_file)
            if not path.is_file():
                raise SettingsError(f"settings file not found: {path}")
            loaded = yaml.safe_load(path.read_text()) or {}
            if not isinstance(loaded, dict):
                raise SettingsError(f"settings file {path} must hold a mapping of option: value")
            unknown = sorted(set(loaded) - set(names))
            if unknown:
                raise SettingsError(f"unknown option(s) {unknown} in {path}; known: {sorted(names)}")
            values.update(loaded)
        for name in names:
            env = os.environ.get(ENV_PREFIX + name.upper())
            if env not in (None, ""):
                values[name] = int(env) if name == "shuffle_partitions" else env
        values.update({k: v for k, v in overrides.items() if v is not None})
        if "shuffle_partitions" in values:
            values["shuffle_partitions"] = int(values["shuffle_partitions"])
        return cls(**values)
