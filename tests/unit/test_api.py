"""The public API: ``import astrolake`` is cheap, and every exported name resolves."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import subprocess
import sys

import pytest

import astrolake

PACKAGES = ["astrolake"] + [f"astrolake.{m.name}" for m in pkgutil.iter_modules(astrolake.__path__) if m.ispkg]
VERBS = {
    "get_spark",
    "ingest",
    "refresh",
    "revalidate",
    "build_gold",
    "train",
    "search",
    "promote",
    "score",
    "table_report",
    "model_report",
    "cone_search",
    "crossmatch",
    "Lake",
    "Settings",
}


def test_import_astrolake_imports_no_spark_mlflow_or_tensorflow():
    code = (
        "import sys, astrolake, astrolake.lake, astrolake.ml, astrolake.report, astrolake.sources, astrolake.dl; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'pyspark', 'py4j', 'mlflow', 'tensorflow', "
        "'pandas', 'delta'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_verbs_are_the_public_api_and_dir_lists_them():
    assert set(astrolake.__all__) == VERBS
    assert VERBS <= set(dir(astrolake))
    others = {n for n in dir(astrolake) if not n.startswith("_") and not inspect.ismodule(getattr(astrolake, n))}
    assert others == VERBS  # plus sub-modules once imported, nothing else


def test_every_package_has_an_all():
    assert len(PACKAGES) >= 9  # astrolake and its sub-packages
    for name in PACKAGES:
        pkg = importlib.import_module(name)
        assert isinstance(getattr(pkg, "__all__", None), list) and pkg.__all__, name


@pytest.mark.parametrize("package", PACKAGES)
def test_every_name_in_all_resolves(package):
    pkg = importlib.import_module(package)
    for name in pkg.__all__:
        value = getattr(pkg, name)
        assert value is not None, f"{package}.{name}"
        assert name in dir(pkg)
    with pytest.raises(AttributeError, match=r"has no attribute 'no_such_name'"):
        pkg.no_such_name  # noqa: B018


def test_the_verbs_are_the_library_functions():
    from astrolake.lake import pipeline
    from astrolake.ml import features, registry, scoring
    from astrolake.ml import search as search_module
    from astrolake.ml import train as train_module
    from astrolake.sky import cone, xmatch

    assert astrolake.ingest is pipeline.ingest and astrolake.build_gold is features.build_gold
    assert astrolake.train is train_module.train and astrolake.search is search_module.search
    assert astrolake.promote is registry.promote and astrolake.score is scoring.score
    assert astrolake.cone_search is cone.cone_search and astrolake.crossmatch is xmatch.crossmatch
    # the modules astrolake.ml.train / .search are still reachable as modules
    ml = importlib.import_module("astrolake.ml")
    assert ml.train is train_module and ml.search is search_module
