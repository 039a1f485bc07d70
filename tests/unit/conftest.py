"""The unit tier never starts a JVM: a test (or a doctest of lib/astrolake) that does, fails.

After each test of tests/unit and each doctest of lib/ the guard compares what it saw before the
test with what is there after it: a new Spark gateway (py4j, i.e. a launched JVM), a new active
SparkContext, or a new ``java`` process among this process's descendants means the test started
a JVM.  Comparing before and after keeps the guard right when the Spark tests of the same run
already hold a JVM.  A unit test that asks for the ``spark`` fixture fails before it runs.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parent
LIB = UNIT.parents[1] / "lib"
_BEFORE = pytest.StashKey[tuple]()


def _java_descendants() -> set[int]:
    """PIDs of ``java`` processes below this one (read from /proc; empty where there is none)."""
    children: dict[int, list[int]] = {}
    names: dict[int, str] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return set()
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                stat = fh.read().decode(errors="replace")
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces and parentheses, so split at the last ')'
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        names[int(entry)] = comm
        children.setdefault(ppid, []).append(int(entry))
    found, todo = set(), [os.getpid()]
    while todo:
        for child in children.get(todo.pop(), []):
            todo.append(child)
            if names.get(child) == "java":
                found.add(child)
    return found


def _jvm_state() -> tuple:
    """(gateway id, active SparkContext id, java descendants): what a started JVM changes."""
    gateway = context = None
    pyspark = sys.modules.get("pyspark")  # never import pyspark here: the guard must not cost anything
    if pyspark is not None and hasattr(pyspark, "SparkContext"):
        gateway = id(pyspark.SparkContext._gateway) if pyspark.SparkContext._gateway is not None else None
        active = pyspark.SparkContext._active_spark_context
        context = id(active) if active is not None else None
    return gateway, context, frozenset(_java_descendants())


def _guarded(item: pytest.Item) -> bool:
    path = Path(str(item.path)).resolve()
    return path.is_relative_to(UNIT) or path.is_relative_to(LIB)


class _NoJvmGuard:
    """Registered as a plugin (not only as this conftest) so it also covers the doctests of lib/."""

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_setup(self, item: pytest.Item):
        if _guarded(item):
            params = getattr(getattr(item, "callspec", None), "params", {})  # parametrize arguments
            if "spark" in getattr(item, "fixturenames", ()) and "spark" not in params:
                raise AssertionError(f"{item.nodeid} asks for the spark fixture: Spark tests belong in tests/spark/")
            item.stash[_BEFORE] = _jvm_state()  # before the fixtures: they must not start one either
        return (yield)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item):
        before = item.stash.get(_BEFORE, None)
        if before is None:
            return (yield)
        try:
            result = yield
        except BaseException as exc:
            _fail_if_started(item, before, cause=exc)
            raise
        _fail_if_started(item, before)
        return result


def _fail_if_started(item: pytest.Item, before: tuple, cause: BaseException | None = None) -> None:
    (gateway, context, javas), (after_gateway, after_context, after_javas) = before, _jvm_state()
    started = []
    if after_gateway is not None and after_gateway != gateway:
        started.append("a Spark JVM gateway was launched")
    if after_context is not None and after_context != context:
        started.append("a SparkContext became active")
    if after_javas - javas:
        started.append(f"java process(es) {sorted(after_javas - javas)} started")
    if started:
        raise AssertionError(
            f"{item.nodeid} started a JVM ({'; '.join(started)}): "
            "tests that need Spark belong in tests/spark/, not in the unit tier"
        ) from cause


def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.has_plugin("astrolake-no-jvm-guard"):
        config.pluginmanager.register(_NoJvmGuard(), "astrolake-no-jvm-guard")
