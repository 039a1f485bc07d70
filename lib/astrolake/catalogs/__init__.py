"""Declarative catalog contracts (``*.yaml``): columns, types, units, ranges, keys; one catalog
is a contract applied to one data release.

Public names load lazily: importing the package imports none of its modules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from astrolake._lazy import exports

_EXPORTS = {
    "Catalog": "astrolake.catalogs.contract",
    "Contract": "astrolake.catalogs.contract",
    "ContractError": "astrolake.catalogs.contract",
    "catalogs": "astrolake.catalogs.contract",
    "get_catalog": "astrolake.catalogs.contract",
    "load_contract": "astrolake.catalogs.contract",
}
__all__ = ["Catalog", "Contract", "ContractError", "catalogs", "get_catalog", "load_contract"]
__getattr__, __dir__ = exports(__name__, _EXPORTS)

if TYPE_CHECKING:
    from astrolake.catalogs.contract import Catalog, Contract, ContractError, catalogs, get_catalog, load_contract
