#!/usr/bin/env python
"""The reliability soak: every job killed at every fault point over several seeds, and the fuzzer
over several seeds; what was tried, what was checked, and what was lost.

Kills (``astrolake.faults``: the process SIGKILLs itself between two of its commits), the
scenarios of ``tests/spark/lake/test_kills.py``, which ``make test`` runs once each:

* ``ingest``, ``refresh``, ``revalidate``, ``features`` (a first gold build) and
  ``features-refresh`` (an incremental gold refresh), at every point each passes, for each seed
  (the seed chooses the rows: how many, which change, how many are new and how many are bad).
  The killed job is run again as a scheduler would, beside the same job never killed; silver,
  quarantine, gold, bronze per batch and the ledger are compared row by row;
* ``score``: run beside a gold refresh, then killed after it retracted predictions and run
  again; every live gold key must have one live prediction and each retracted key one retracted
  prediction (the seed chooses the demo rows);
* ``train-dnn``: rank 0 of a two-process Horovod training killed after a checkpoint, then,
  resumed, after it registered the model; the third run must add no epoch and no version
  (``tests/spark/dl/test_deep.py``, run by pytest once: it does not depend on a seed).

Fuzz: the mutations of ``tests/spark/lake/test_fuzz.py`` for each seed: 300 real DR17 lines (about
two in three damaged, a header repeated) ingested with a closing ledger, and ten kinds of
structural damage to the DR7 FITS file, each ingested or refused in one line.

Counted: faults injected per job, rows checked, rows lost and rows extra (a row twice, or a row
the unkilled run does not have; both must be 0), inputs fuzzed, files refused, ledgers that do
not close, and stack traces seen (an exception escaping a run, ``Traceback`` in a killed
process's output, or exit 3; must be 0).

Usage::

    .venv/bin/python benchmarks/bench_reliability.py                # 3 kill seeds, 3 fuzz seeds
    .venv/bin/python benchmarks/bench_reliability.py --seeds 1 --fuzz-seeds 1 --no-dnn

A Markdown table goes to stdout; JSON to ``benchmarks/results/reliability-<UTC date>.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import io
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

from _common import ROOT, git_state, loadavg, machine, say, table, write_json  # puts lib/ on sys.path

sys.path.insert(0, str(ROOT / "tests"))  # the tests' scenarios: spark.lake.test_kills, test_fuzz

RESULTS = ROOT / "benchmarks" / "results"


def blank(job: str) -> dict:
    return {
        "job": job,
        "faults": 0,
        "rows_checked": 0,
        "rows_lost": 0,
        "rows_extra": 0,
        "stack_traces": 0,
        "failures": [],
    }


def add(entry: dict, case: dict) -> None:
    for key in ("rows_checked", "rows_lost", "rows_extra"):
        entry[key] += case[key]
    if "Traceback" in case.get("stderr", ""):
        entry["stack_traces"] += 1
        entry["failures"].append("Traceback in the killed process's output")


def soak_kills(spark, settings, seeds: int, work: Path) -> list[dict]:
    from spark.lake import test_kills

    out = []
    for job, points in test_kills.JOBS.items():
        entry = blank(job)
        for seed in range(seeds):
            for point in points:
                say(f"kill {job} at {point}, seed {seed}")
                entry["faults"] += 1
                try:
                    add(entry, test_kills.kill_case(spark, settings, work / f"{job}-{point}-{seed}", job, point, seed))
                except Exception:  # noqa: BLE001 (counted and shown: the soak goes on)
                    entry["stack_traces"] += 1
                    entry["failures"].append(f"{point} seed {seed}: {traceback.format_exc(limit=3)}")
        out.append(entry)
    entry = blank("score")
    for seed in range(seeds):
        say(f"score beside a gold refresh, killed at score.retracted, seed {seed}")
        entry["faults"] += 1
        try:
            add(entry, test_kills.score_case(spark, settings, work / f"score-{seed}", seed))
        except Exception:  # noqa: BLE001
            entry["stack_traces"] += 1
            entry["failures"].append(f"seed {seed}: {traceback.format_exc(limit=3)}")
    out.append(entry)
    return out


def soak_dnn() -> dict:
    """The DNN kill test in a pytest process of its own (two kills: dnn.epoch, dnn.registered)."""
    say("train-dnn: rank 0 killed after a checkpoint, then after registering")
    entry = blank("train-dnn")
    entry["faults"] = 2
    test = "tests/spark/dl/test_deep.py::test_killed_run_resumes_from_its_checkpoint_and_registers_once"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    entry["checked"] = "epochs resumed, one MLflow run, one model version, its alias, no checkpoint left"
    if proc.returncode != 0:
        entry["stack_traces"] += 1
        entry["failures"].append(proc.stdout[-3000:])
    return entry


def soak_fuzz(spark, settings, seeds: int, work: Path) -> dict:
    import random

    from astrolake import cli
    from astrolake.lake import pipeline
    from astrolake.lake.tables import Lake
    from spark.lake import test_fuzz

    out = {"csv_lines_fuzzed": 0, "fits_files_fuzzed": 0, "files_refused": 0, "ledgers_open": 0}
    out |= {"stack_traces": 0, "failures": []}
    for seed in range(seeds):
        say(f"fuzz seed {seed}")
        folder = work / f"fuzz-{seed}"
        folder.mkdir(parents=True)
        files, used = test_fuzz.fuzzed_csv(seed, folder)
        out["csv_lines_fuzzed"] += sum(used.values())
        lake = Lake(spark, settings.with_overrides(base_path=str(folder / "lake")))
        try:
            (led,) = pipeline.ingest(lake, test_fuzz.CSV_CATALOG, [str(f) for f in files]).ledgers
            out["ledgers_open"] += 0 if led.closes else 1
        except Exception:  # noqa: BLE001
            out["stack_traces"] += 1
            out["failures"].append(f"csv seed {seed}: {traceback.format_exc(limit=3)}")
        variants = test_fuzz.fits_mutations(test_fuzz.DR7.read_bytes(), random.Random(seed))
        for n, (name, content) in enumerate(variants.items()):
            path = folder / f"m{n}.fits"
            path.write_bytes(content)
            out["fits_files_fuzzed"] += 1
            err = io.StringIO()
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                code = cli.main(["ingest", test_fuzz.FITS_CATALOG, str(path), "--base-path", str(folder / f"l{n}")])
            if code == 1:
                out["files_refused"] += 1
            if code not in (0, 1) or "Traceback" in err.getvalue():
                out["stack_traces"] += 1
                out["failures"].append(f"fits seed {seed} {name}: exit {code}: {err.getvalue()[-1500:]}")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=3, help="seeds per kill point (default 3)")
    ap.add_argument("--fuzz-seeds", type=int, default=3, help="fuzzer seeds (default 3)")
    ap.add_argument("--no-dnn", action="store_true", help="skip the Horovod training kills")
    args = ap.parse_args(argv)
    if args.seeds < 1 or args.fuzz_seeds < 0:
        ap.error("--seeds must be at least 1 and --fuzz-seeds at least 0")

    from astrolake.config import Settings
    from astrolake.log import QUIET, configure
    from astrolake.spark import get_spark

    configure(QUIET)
    started = dt.datetime.now(dt.timezone.utc)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="astrolake-soak-") as tmp:
        work = Path(tmp)
        settings = Settings(base_path=str(work / "lake"), spark_master="local[2]", shuffle_partitions=2)
        spark = get_spark(settings, app_name="astrolake-soak")
        jobs = soak_kills(spark, settings, args.seeds, work)
        if not args.no_dnn:
            jobs.append(soak_dnn())
        fuzz = soak_fuzz(spark, settings, args.fuzz_seeds, work)
        spark.stop()
    run = {
        "started_at": started.isoformat(timespec="seconds"),
        "seconds": round(time.perf_counter() - t0, 1),
        "seeds": args.seeds,
        "fuzz_seeds": args.fuzz_seeds,
        "jobs": jobs,
        "fuzz": fuzz,
        "machine": machine(),
        "loadavg_end": loadavg(),
        "git": git_state(),
    }
    path = write_json(run, RESULTS / f"reliability-{started:%Y-%m-%d}.json", "reliability")
    rows = [
        [j["job"], j["faults"], j["rows_checked"], j["rows_lost"], j["rows_extra"], j["stack_traces"]] for j in jobs
    ]
    total = [sum(r[i] for r in rows) for i in range(1, 6)]
    header = ["job", "faults injected", "rows checked", "rows lost", "rows extra", "stack traces"]
    print(table(header, [*rows, ["**all**", *total]]))
    print()
    print(
        table(
            ["CSV lines fuzzed", "FITS files fuzzed", "files refused", "ledgers not closed", "stack traces"],
            [
                [fuzz[k] for k in ("csv_lines_fuzzed", "fits_files_fuzzed", "files_refused", "ledgers_open")]
                + [fuzz["stack_traces"]]
            ],
        )
    )
    failures = [f for j in jobs for f in j["failures"]] + fuzz["failures"]
    for failure in failures:
        print("\n" + failure, file=sys.stderr)
    print(f"\n{path.relative_to(ROOT)} ({run['seconds']} s)")
    bad = total[2] + total[3] + total[4] + fuzz["stack_traces"] + fuzz["ledgers_open"]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
