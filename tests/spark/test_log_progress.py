"""astrolake.log.Steps with a Spark session: the running stages of a long phase are logged."""

from __future__ import annotations

import logging
import re
import threading
import time

from astrolake.log import Steps


def _pollers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("astrolake-progress") and t.is_alive()]


def test_a_long_phase_logs_its_running_stages_until_it_ends(spark, caplog):
    caplog.set_level(logging.INFO, logger="astrolake")
    steps = Steps("slow", total=1, logger=logging.getLogger("astrolake.tests"), spark=spark, poll_seconds=0.3)

    def slow(x):  # defined here so that it is pickled by value for the Python workers
        import time

        time.sleep(1.0)
        return x

    with steps.step("sleepy job"):
        assert spark.sparkContext.parallelize(range(6), 6).map(slow).count() == 6  # 3 s on 2 cores
    lines = [r.getMessage() for r in caplog.records if r.name == "astrolake.tests"]
    polled = [m for m in lines if re.fullmatch(r"slow: sleepy job: stage \d+: [0-6]/6 tasks done, \d+ s", m)]
    assert len(polled) >= 2, lines
    done = [int(m.split(": ")[3].split("/")[0]) for m in polled]
    assert done == sorted(done)  # tasks only ever finish
    assert lines[-1].startswith("slow: [1/1] sleepy job ... ")  # the closing line comes last
    assert not _pollers()  # the poller stopped with the phase
    time.sleep(0.8)
    assert len([r for r in caplog.records if r.name == "astrolake.tests"]) == len(lines)  # and logs nothing more


def test_no_poller_when_progress_lines_are_not_shown_or_no_spark(spark, caplog):
    caplog.set_level(logging.WARNING, logger="astrolake")
    quiet = Steps("slow", total=1, logger=logging.getLogger("astrolake.tests"), spark=spark, poll_seconds=0.1)
    with quiet.step("phase"):
        assert not _pollers()
    caplog.set_level(logging.INFO, logger="astrolake")
    without = Steps("slow", total=1, logger=logging.getLogger("astrolake.tests"), poll_seconds=0.1)
    with without.step("phase"):
        assert not _pollers()
    assert list(quiet.timings) == ["phase"] and list(without.timings) == ["phase"]


def test_a_failing_phase_stops_its_poller(spark, caplog):
    caplog.set_level(logging.INFO, logger="astrolake")
    steps = Steps("slow", total=2, logger=logging.getLogger("astrolake.tests"), spark=spark, poll_seconds=0.2)
    try:
        with steps.step("failing"):
            assert _pollers()
            raise ValueError("bad row")
    except ValueError:
        pass
    assert not _pollers() and steps.done == 0
