"""A fuzzer on real catalog bytes, with a fixed seed: over 10,000 mutated lines made from the DR17
sample, and mutated header and structure bytes of the DR7 FITS sample.

Whatever the damage, astrolake never crashes and never loses a line: a CSV file's ledger closes
and every row of silver satisfies the contract's rules; a damaged FITS file is either ingested
with a closing ledger or refused whole with one line (exit 1), never a traceback (exit 3).
``ASTROLAKE_FUZZ_SEEDS`` (default 1) runs more seeds.
"""

from __future__ import annotations

import os
import random
import re

import pytest
from pyspark.sql import functions as F

from astrolake import cli
from astrolake.lake import pipeline
from astrolake.lake.tables import Lake
from astrolake.layout import LEDGER, QUARANTINE
from conftest import TESTS_DATA

SEEDS = range(int(os.environ.get("ASTROLAKE_FUZZ_SEEDS", "1")))
ROWS = 14_000  # about 10,500 of them mutated
CSV_CATALOG, FITS_CATALOG = "sdss_dr17_kaggle", "sdss_dr7_galaxies"
DR17 = TESTS_DATA / "sdss_dr17_star_classification_500.csv"
DR7 = TESTS_DATA / "sdss_dr7_galaxies_1202.fits"


def _numbers(rng: random.Random, line: bytes) -> bytes:
    fields = line.split(b",")
    i = rng.randrange(len(fields))
    fields[i] = rng.choice([b"1e999", b"-1e999", b"1e-999", b"inf", b"-inf", b"NaN", b"-0", b"-0.0", b"9" * 400])
    return b",".join(fields)


MUTATIONS = {
    "truncate": lambda rng, line: line[: rng.randrange(len(line))],
    "bit flip": lambda rng, line: (lambda i: line[:i] + bytes([line[i] ^ (1 << rng.randrange(8))]) + line[i + 1 :])(
        rng.randrange(len(line))
    ),
    "delimiter": lambda rng, line: line.replace(b",", rng.choice([b";", b"\t", b"|"]), rng.randint(1, 5)),
    "stray quote": lambda rng, line: (lambda i: line[:i] + b'"' + line[i:])(rng.randrange(len(line))),
    "invalid utf-8": lambda rng, line: (lambda i: line[:i] + b"\xff\xfe\xc3" + line[i:])(rng.randrange(len(line))),
    "nul": lambda rng, line: (lambda i: line[:i] + b"\x00" + line[i:])(rng.randrange(len(line))),
    "1 MB line": lambda rng, line: line.replace(b",", b"," + b"7" * 1_000_000 + b",", 1),
    "numbers": _numbers,
}


def fuzzed_csv(seed: int, folder, rows: int = ROWS) -> tuple[list, dict[str, int]]:
    """``rows`` lines made of the sample's 500 (repeated in turn), three in four mutated, and the
    header repeated once in the middle; lines with a stray quote go to a second file, where the
    quoted field they open runs on over the lines after it (RFC 4180) and would hide what the
    other mutations do. A 1 MB line is made at most three times (each is a megabyte of file).
    Returns the two files and how many lines each mutation touched."""
    rng = random.Random(seed)
    header, *sample = DR17.read_bytes().splitlines()
    used: dict[str, int] = {}
    out: dict[str, list[bytes]] = {"damaged": [header], "quoted": [header]}
    names = sorted(MUTATIONS)
    for n in range(rows):
        line = sample[n % len(sample)]
        if n == rows // 2:
            out["damaged"].append(header)
            used["header again"] = 1
        name = rng.choice(names) if rng.random() < 0.75 else None
        if name == "1 MB line" and used.get(name, 0) >= 3:
            name = "numbers"
        if name:
            line = MUTATIONS[name](rng, line)
            used[name] = used.get(name, 0) + 1
        out["quoted" if name == "stray quote" else "damaged"].append(line)
    files = []
    for stem, lines in out.items():
        path = folder / f"{stem}{seed}.csv"
        path.write_bytes(b"\n".join(lines) + b"\n")
        files.append(path)
    return files, used


@pytest.mark.parametrize("seed", SEEDS)
def test_mutated_csv_lines_never_crash_and_every_line_is_accounted_for(spark, fresh_settings, tmp_path, seed):
    lake = Lake(spark, fresh_settings)
    files, used = fuzzed_csv(seed, tmp_path)
    assert set(used) == {*MUTATIONS, "header again"}, f"seed {seed} leaves a mutation untried: {used}"
    assert sum(used.values()) >= 10_000
    (led,) = pipeline.ingest(lake, CSV_CATALOG, [str(f) for f in files]).ledgers
    assert led.closes, led.line()
    # every line after each header is counted once, however the damage split or joined them
    assert led.read == sum(f.read_bytes().count(b"\n") - 1 for f in files)
    assert led.continuation > 0, "no stray quote opened a field that runs on"
    assert led.quarantined >= sum(n for name, n in used.items() if name in ("delimiter", "1 MB line", "header again"))
    silver = lake.read(f"silver_{CSV_CATALOG}")
    bad = silver.where(
        ~F.col("ra").between(0, 360)
        | ~F.col("dec").between(-90, 90)
        | F.isnan("u")
        | F.isnan("redshift")
        | (F.abs(F.col("g")) > 1e6)
    )
    assert bad.count() == 0, "a row outside the contract's ranges reached silver"
    reasons = [r for row in lake.read(QUARANTINE).select("_reasons").collect() for r in row[0]]
    assert reasons and all(isinstance(r, str) and r for r in reasons)
    assert any("header" in r for r in reasons), "the repeated header was not quarantined as one"


def fits_mutations(data: bytes, rng: random.Random) -> dict[str, bytes]:
    """Damage to the DR7 file's structure: header cards, NAXIS/TFORM values, truncation."""

    def card(text: bytes, key: bytes, value: bytes) -> bytes:
        m = re.search(rb"(?m)" + key.ljust(8) + rb"= .{70}", text)
        assert m, key
        new = key.ljust(8) + b"= " + value.rjust(20) + b" " * 50
        return text[: m.start()] + new[:80] + text[m.end() :]

    second = data.find(b"XTENSION")
    return {
        "truncated in the header": data[: second + rng.randrange(80, 2880)],
        "truncated in the data": data[: len(data) - rng.randrange(100, 5000)],
        "NAXIS2 doubled": card(data, b"NAXIS2", b"2404"),
        "NAXIS2 zero": card(data, b"NAXIS2", b"0"),
        "NAXIS1 off by one": card(
            data, b"NAXIS1", str(int(re.search(rb"NAXIS1  = +(\d+)", data[second:])[1]) + 1).encode()
        ),
        "TFORM1 invalid": card(data, b"TFORM1", b"'9Z      '"),
        "TFORM2 variable length": card(data, b"TFORM2", b"'1PD(4)  '"),
        "XTENSION damaged": data[:second] + b"XTENZION" + data[second + 8 :],
        "END card removed": data.replace(b"END" + b" " * 77, b" " * 80, 2),
        "header bytes flipped": (lambda i: data[:i] + bytes([data[i] ^ 0x20]) + data[i + 1 :])(
            second + rng.randrange(0, 2880)
        ),
    }


@pytest.mark.parametrize("seed", SEEDS)
def test_mutated_fits_structure_is_ingested_or_refused_in_one_line(spark, fresh_settings, tmp_path, capsys, seed):
    rng = random.Random(seed)
    outcomes = {}
    for n, (name, content) in enumerate(fits_mutations(DR7.read_bytes(), rng).items()):
        path = tmp_path / f"m{n}.fits"
        path.write_bytes(content)
        base = str(tmp_path / f"lake{n}")
        code = cli.main(["ingest", FITS_CATALOG, str(path), "--base-path", base, "--quiet"])
        err = [line for line in capsys.readouterr().err.splitlines() if not line.startswith("WARNING: ")]
        assert code in (0, 1), f"{name}: exit {code}\n" + "\n".join(err[-20:])
        if code == 1:
            errors = [line for line in err if line.startswith("astrolake ingest: error: ")]
            assert len(errors) == 1 and not any(line.startswith("Traceback") for line in err), (name, err)
            outcomes[name] = "refused: " + errors[0]
        else:
            lake = Lake(spark, fresh_settings.with_overrides(base_path=base))
            (led,) = lake.read(LEDGER).collect()
            assert led["closes"], name
            outcomes[name] = f"ingested {led['read']} rows"
    print("\n".join(f"{k}: {v}" for k, v in outcomes.items()))
    assert all(v.startswith("refused: ") for v in outcomes.values()), outcomes  # each is damage the header shows
