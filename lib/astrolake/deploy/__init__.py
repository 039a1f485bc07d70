"""Deployment: Databricks asset bundle validation without a workspace.

Public names load lazily: importing the package imports none of its modules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from astrolake._lazy import exports

_EXPORTS = {
    "Problem": "astrolake.deploy.bundle",
    "validate": "astrolake.deploy.bundle",
}
__all__ = ["Problem", "validate"]
__getattr__, __dir__ = exports(__name__, _EXPORTS)

if TYPE_CHECKING:
    from astrolake.deploy.bundle import Problem, validate
