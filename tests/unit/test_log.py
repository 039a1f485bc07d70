"""astrolake.log: verbosity levels, the stderr handler, Steps and timed (no JVM)."""

from __future__ import annotations

import io
import logging

import pytest

from astrolake import log


@pytest.fixture
def stream():
    """A configured astrolake logger writes here; the handler is removed afterwards."""
    out = io.StringIO()
    yield out
    root = logging.getLogger(log.ROOT)
    for h in list(root.handlers):
        if getattr(h, "_astrolake", False):
            root.removeHandler(h)
    root.setLevel(logging.NOTSET)
    root.propagate = True
    for name in log._NOISY:
        logging.getLogger(name).setLevel(logging.NOTSET)


def emit_all(name: str = "astrolake.lake.pipeline") -> None:
    lg = logging.getLogger(name)
    lg.debug("a debug line")
    lg.info("a progress line")
    lg.warning("a warning line")


def test_quiet_shows_warnings_only(stream):
    log.configure(log.QUIET, stream=stream)
    emit_all()
    assert stream.getvalue().splitlines() == ["[astrolake] warning: a warning line"]
    assert log.verbosity() == log.QUIET


def test_normal_shows_progress_but_not_debug(stream):
    log.configure(log.NORMAL, stream=stream)
    emit_all()
    assert stream.getvalue().splitlines() == ["[astrolake] a progress line", "[astrolake] warning: a warning line"]
    assert log.verbosity() == log.NORMAL
    for name in ("mlflow", "py4j", "XGBoost-PySpark"):
        assert logging.getLogger(name).level == logging.WARNING, name


def test_verbose_shows_debug_and_opens_third_party_loggers(stream):
    log.configure(log.VERBOSE, stream=stream)
    emit_all()
    assert stream.getvalue().splitlines() == [
        "[astrolake] a debug line",
        "[astrolake] a progress line",
        "[astrolake] warning: a warning line",
    ]
    assert log.verbosity() == log.VERBOSE
    for name in ("mlflow", "py4j", "XGBoost-PySpark"):
        assert logging.getLogger(name).level == logging.INFO, name


def test_other_loggers_do_not_reach_the_astrolake_handler(stream):
    log.configure(log.VERBOSE, stream=stream)
    logging.getLogger("mlflow.tracking").warning("not ours")
    logging.getLogger("astrolakes").warning("not ours either")  # a name that merely starts the same
    assert stream.getvalue() == ""


def test_reconfigure_replaces_the_handler_instead_of_adding_one(stream):
    first = io.StringIO()
    log.configure(log.NORMAL, stream=first)
    log.configure(log.NORMAL, stream=first)
    log.configure(log.QUIET, stream=stream)
    log.configure(log.NORMAL, stream=stream)
    ours = [h for h in logging.getLogger(log.ROOT).handlers if getattr(h, "_astrolake", False)]
    assert len(ours) == 1
    logging.getLogger("astrolake.ml.train").info("once")
    assert stream.getvalue() == "[astrolake] once\n"
    assert first.getvalue() == ""  # the replaced handler no longer writes


def test_configure_keeps_handlers_someone_else_added(stream):
    mine = logging.StreamHandler(io.StringIO())
    root = logging.getLogger(log.ROOT)
    root.addHandler(mine)
    try:
        log.configure(log.NORMAL, stream=stream)
        log.configure(log.NORMAL, stream=stream)
        assert mine in root.handlers
    finally:
        root.removeHandler(mine)


def test_tracebacks_only_when_verbose(stream):
    log.configure(log.NORMAL, stream=stream)
    lg = logging.getLogger("astrolake.x")
    try:
        raise KeyError("boom")
    except KeyError:
        lg.warning("failed", exc_info=True)
    assert "Traceback" not in stream.getvalue()
    log.configure(log.VERBOSE, stream=stream)
    try:
        raise KeyError("boom")
    except KeyError:
        lg.warning("failed", exc_info=True)
    assert "Traceback" in stream.getvalue() and "KeyError: 'boom'" in stream.getvalue()


def test_steps_number_time_and_detail_each_phase(stream):
    log.configure(log.NORMAL, stream=stream)
    steps = log.Steps("report", total=3, logger=logging.getLogger("astrolake.report.build"))
    with steps.step("row counts per layer"):
        pass
    with steps.step("colour-colour diagrams") as step:
        step.detail = "10,000 rows"
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("[astrolake] report: [1/3] row counts per layer ... ") and lines[0].endswith(" s")
    assert lines[1].startswith("[astrolake] report: [2/3] colour-colour diagrams ... ")
    assert lines[1].endswith(" s (10,000 rows)")
    assert list(steps.timings) == ["row counts per layer", "colour-colour diagrams"]
    assert all(v >= 0 for v in steps.timings.values())
    assert steps.done == 2 and steps.seconds == pytest.approx(sum(steps.timings.values()), abs=1e-3)


def test_steps_without_a_total_and_a_failing_phase(stream):
    log.configure(log.NORMAL, stream=stream)
    steps = log.Steps("ingest")
    with steps.step("bronze"):
        pass
    with pytest.raises(RuntimeError), steps.step("silver"):
        raise RuntimeError("disk full")
    assert stream.getvalue().splitlines()[0].startswith("[astrolake] ingest: [1] bronze ... ")
    assert len(stream.getvalue().splitlines()) == 1  # the failed phase is neither counted nor logged
    assert steps.done == 1 and list(steps.timings) == ["bronze"]


def test_steps_lines_follow_the_verbosity(stream):
    log.configure(log.QUIET, stream=stream)
    steps = log.Steps("gold", total=1)
    with steps.step("build"):
        pass
    assert stream.getvalue() == "" and list(steps.timings) == ["build"]  # timed even when not shown


def test_timed(stream):
    log.configure(log.NORMAL, stream=stream)
    with log.timed(logging.getLogger("astrolake.ml.search"), "search: scored on the test split"):
        pass
    (line,) = stream.getvalue().splitlines()
    assert line.startswith("[astrolake] search: scored on the test split ... ") and line.endswith(" s")


def test_xgboost_output_follows_the_verbosity(stream):
    from astrolake.ml.models import XGB_LOGGER, xgb_output

    log.configure(log.NORMAL, stream=stream)
    logging.getLogger(XGB_LOGGER).setLevel(logging.NOTSET)  # as xgboost leaves it before its first use
    assert xgb_output() == {"verbose": False, "verbosity": 0}  # no per-round evaluation lines
    assert logging.getLogger(XGB_LOGGER).level == logging.WARNING  # xgboost.spark would set INFO on NOTSET
    log.configure(log.VERBOSE, stream=stream)
    assert xgb_output() == {"verbose": True, "verbosity": 1}
