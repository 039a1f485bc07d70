"""Lazy package exports: ``import astrolake`` (or a sub-package) imports nothing heavy.

A package lists its public names and the module each lives in; the first access imports that
module (and with it Spark, MLflow ...) and caches the object in the package's namespace.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from types import ModuleType
from typing import Any


def exports(package: str, names: dict[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package`` whose public ``names`` map to their modules."""

    def __getattr__(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(importlib.import_module(package), name, value)  # later lookups skip __getattr__
        return value

    def __dir__() -> list[str]:  # the public names, the version and the sub-modules loaded so far
        mod = vars(importlib.import_module(package))
        loaded = {
            k
            for k, v in mod.items()
            if not k.startswith("_") and isinstance(v, ModuleType) and v.__name__ == f"{package}.{k}"
        }
        return sorted(set(names) | loaded | ({"__version__"} & set(mod)))

    return __getattr__, __dir__
