"""Synthetic SDSS-like spectroscopic catalogs, generated inside Spark.

``synthetic_catalog(spark, rows)`` returns a DataFrame with the 18 columns of a SkyServer
export (PhotoObj joined with SpecObj), all as strings exactly as a CSV export holds them::

    objid, ra, dec, u, g, r, i, z, run, rerun, camcol, field, specobjid, class, redshift,
    plate, mjd, fiberid

plus ``_injected`` (see below).  ``write_synthetic_csv`` writes it as CSV with a header.

The model (class fractions; per class a Gaussian mixture over r, u-g, g-r, r-i, i-z and a
transformed redshift, with a monotone marginal correction; the sky footprint as a 5 x 5 degree
histogram; run/field/camcol distributions) is fitted to real DR17 data by
``scripts/fit_synthetic.py`` and stored in ``synthetic_model.json`` beside this module.

How rows are made
-----------------
Rows come in blocks of ``BLOCK_ROWS`` consecutive row ids.  ``spark.range(n_blocks)`` is spread
over ``partitions`` partitions and ``mapInPandas`` turns each block id into its rows with
vectorised numpy, drawing from ``numpy.random.Generator(PCG64(SeedSequence([seed, block])))``.
Nothing is built on the driver except the small model, and the rows depend only on ``seed``
and ``rows``: the same seed gives identical rows (in the same order) whatever ``partitions`` is.

* ``plate, mjd, fiberid`` derive from the row id and are unique over the whole catalog:
  ``fiberid = 1 + id % 1000``; with ``b = id // 1000``, ``plate = 889 + b % 7993`` (so every
  specobjid has 19 digits) and ``mjd = 51000 + (plate - 889) * 7000 // 7993 + b // 7993``
  (a function of the plate alone up to 7,993,000 rows, and always in [51000, 59000]).
* ``specobjid`` and ``objid`` follow the SDSS bit layouts (plate/fiber/mjd/run2d and
  skyVersion/rerun/run/camcol/field/object), so they are plausible 19-digit integers.  objid is
  not unique (as in real exports).
* Magnitudes: ``u = g + (u-g)``, ``g = r + (g-r)``, ``i = r - (r-i)``, ``z = i - (i-z)``,
  written with up to 5 decimals; ra/dec with up to 10 decimals; redshift with 7 significant
  digits (``%.7G``, e.g. ``-5.491128E-05``) like SkyServer.  Good rows have
  ``0 <= ra < 360``, ``-90 <= dec <= 90``, class in GALAXY/STAR/QSO and ``redshift >= -0.01``
  (stars scatter around 0 with both signs, galaxies mostly < 1, QSOs up to ~7).

Injected errors
---------------
With ``bad_fraction > 0`` each row is corrupted with that probability (drawn from a separate
stream seeded by ``(seed, block, 1)``, so the count is deterministic for a seed and the good
rows are identical to those of the clean catalog).  A corrupted row gets exactly one of
``INJECTED_KINDS``, and its kind in ``_injected`` (``None`` for good rows):

``sentinel_magnitude``  one of u..z is ``-9999`` (not an error where magnitudes are optional)
``ra_out_of_range``     ra is ``361.5``, ``-3`` or ``360``
``dec_out_of_range``    dec is ``95`` or ``-95.5``
``non_numeric``         ``abc`` in one of the required numeric columns ra, dec, plate, mjd, fiberid
``empty_plate``         plate is the empty string
``unknown_class``       class is ``UFO``
``negative_redshift``   redshift is ``-0.5``

``_injected`` is **not** part of the export schema: drop it before writing (as
``write_synthetic_csv`` does).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import uuid
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

SCHEMA_COLUMNS = (
    "objid",
    "ra",
    "dec",
    "u",
    "g",
    "r",
    "i",
    "z",
    "run",
    "rerun",
    "camcol",
    "field",
    "specobjid",
    "class",
    "redshift",
    "plate",
    "mjd",
    "fiberid",
)
INJECTED = "_injected"
INJECTED_KINDS = (
    "sentinel_magnitude",
    "ra_out_of_range",
    "dec_out_of_range",
    "non_numeric",
    "empty_plate",
    "unknown_class",
    "negative_redshift",
)
CLASSES = ("GALAXY", "STAR", "QSO")
MODEL_FILE = "synthetic_model.json"

BLOCK_ROWS = 10_000
FIBERS_PER_PLATE = 1000
FIRST_PLATE = 889  # 889 << 50 is the first plate whose specobjid has 19 digits
N_PLATES = 7993  # plates 889..8881; 8882 << 50 would have 20 digits
MJD_FIRST, MJD_SPAN, MAX_CYCLES = 51000, 7000, 1001
MAX_ROWS = N_PLATES * FIBERS_PER_PLATE * MAX_CYCLES  # keeps mjd <= 59000 and the key unique

_MAGS = ("u", "g", "r", "i", "z")
_NON_NUMERIC_TARGETS = ("ra", "dec", "plate", "mjd", "fiberid")


@lru_cache(maxsize=1)
def load_model() -> dict:
    """The fitted model (``synthetic_model.json`` shipped beside this module)."""
    try:
        from importlib.resources import files

        text = files("astrolake.sources").joinpath(MODEL_FILE).read_text()
    except (ImportError, FileNotFoundError, ModuleNotFoundError, OSError):
        text = (Path(__file__).resolve().parent / MODEL_FILE).read_text()
    return json.loads(text)


def _compile(model: dict) -> dict:
    """Turn the JSON model into numpy arrays (small; shipped to the executors in the closure)."""
    d = len(model["features"])
    classes = []
    for name in CLASSES:
        m = model["classes"][name]
        comps = m["components"]
        chol = np.zeros((len(comps), d, d))
        for k, c in enumerate(comps):
            for i, row in enumerate(c["chol"]):
                chol[k, i, : i + 1] = row
        w = np.array([c["weight"] for c in comps], float)
        classes.append(
            {
                "weights": w / w.sum(),
                "means": np.array([c["mean"] for c in comps], float),
                "chol": chol,
                "map_from": [np.asarray(mm["from"], float) for mm in m["marginal_map"]],
                "map_to": [np.asarray(mm["to"], float) for mm in m["marginal_map"]],
                "log_redshift": m["redshift_transform"] != "identity",
            }
        )
    frac = np.array([model["class_fractions"][c] for c in CLASSES], float)
    sky = model["sky"]
    counts = np.asarray(sky["counts"], float)
    n_dec, n_ra = counts.shape
    cells = np.flatnonzero(counts.ravel() > 0)
    dec_lo = sky["dec_min"] + (cells // n_ra) * sky["dec_step"]
    dec_hi = np.minimum(dec_lo + sky["dec_step"], 90.0)
    ids = model["ids"]
    camcols = sorted(ids["camcol_p"], key=int)
    camcol_p = np.array([ids["camcol_p"][k] for k in camcols], float)
    return {
        "class_p": frac / frac.sum(),
        "classes": classes,
        "cell_p": counts.ravel()[cells] / counts.sum(),
        "cell_ra0": (cells % n_ra) * sky["ra_step"],
        "ra_step": float(sky["ra_step"]),
        "cell_sin_lo": np.sin(np.radians(dec_lo)),
        "cell_sin_hi": np.sin(np.radians(dec_hi)),
        "run_q": np.asarray(ids["run_quantiles"], float),
        "field_q": np.asarray(ids["field_quantiles"], float),
        "camcol_values": np.array([int(k) for k in camcols]),
        "camcol_p": camcol_p / camcol_p.sum(),
        "rerun": int(ids["rerun"]),
    }


# ----------------------------------------------------------------------------- formatting


def _fixed(x: np.ndarray, decimals: int) -> np.ndarray:
    """Fixed-point text with trailing zeros trimmed (``19.4700`` -> ``19.47``, ``-3.0`` -> ``-3``)."""
    s = np.char.mod(f"%.{decimals}f", x)
    s = np.char.rstrip(np.char.rstrip(s, "0"), ".")
    return np.where(s == "-0", "0", s)


def _ints(x: np.ndarray) -> np.ndarray:
    return x.astype(np.int64).astype(str)


# ----------------------------------------------------------------------------- generation


def _draw_class_features(c: dict, n: int, rng: np.random.Generator) -> np.ndarray:
    """n draws of (r, u-g, g-r, r-i, i-z, redshift) for one class."""
    k = rng.choice(len(c["weights"]), size=n, p=c["weights"])
    eps = rng.standard_normal((n, c["means"].shape[1]))
    x = c["means"][k] + np.einsum("nij,nj->ni", c["chol"][k], eps)
    for f in range(x.shape[1]):
        x[:, f] = np.interp(x[:, f], c["map_from"][f], c["map_to"][f])
    if c["log_redshift"]:
        x[:, -1] = np.exp(x[:, -1]) - 0.01
    return x


def _block(block: int, rows: int, seed: int, bad_fraction: float, cm: dict) -> pd.DataFrame:
    """The rows of one block: ids ``block * BLOCK_ROWS`` up to ``rows`` (exclusive)."""
    start = block * BLOCK_ROWS
    n = int(min(BLOCK_ROWS, rows - start))
    rid = np.arange(start, start + n, dtype=np.int64)
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, block, 0])))

    # class and photometry / redshift
    cls = rng.choice(len(CLASSES), size=n, p=cm["class_p"])
    feat = np.empty((n, 6))
    for j, c in enumerate(cm["classes"]):
        sel = cls == j
        feat[sel] = _draw_class_features(c, int(sel.sum()), rng)
    r, ug, gr, ri, iz, zred = feat.T
    g = r + gr
    u = g + ug
    i = r - ri
    z = i - iz

    # sky position: a footprint cell, then uniform on the sphere inside it
    cell = rng.choice(len(cm["cell_p"]), size=n, p=cm["cell_p"])
    ra = cm["cell_ra0"][cell] + rng.random(n) * cm["ra_step"]
    s = cm["cell_sin_lo"][cell] + rng.random(n) * (cm["cell_sin_hi"][cell] - cm["cell_sin_lo"][cell])
    dec = np.degrees(np.arcsin(np.clip(s, -1.0, 1.0)))
    ra = np.round(ra, 10)
    ra = np.where(ra >= 360.0, ra - 360.0, ra)

    # imaging identifiers and objid (skyVersion 2 | rerun | run | camcol | field | object)
    qgrid = np.linspace(0.0, 1.0, len(cm["run_q"]))
    run = np.rint(np.interp(rng.random(n), qgrid, cm["run_q"])).astype(np.uint64)
    fgrid = np.linspace(0.0, 1.0, len(cm["field_q"]))
    field = np.rint(np.interp(rng.random(n), fgrid, cm["field_q"])).astype(np.uint64)
    camcol = cm["camcol_values"][rng.choice(len(cm["camcol_p"]), size=n, p=cm["camcol_p"])]
    camcol = camcol.astype(np.uint64)
    obj = rng.integers(1, 1000, size=n).astype(np.uint64)
    rerun = np.uint64(cm["rerun"])
    objid = (
        (np.uint64(2) << np.uint64(59))
        | (rerun << np.uint64(48))
        | (run << np.uint64(32))
        | (camcol << np.uint64(29))
        | (field << np.uint64(16))
        | obj
    )

    # spectroscopic key from the row id; specobjid (plate | fiber | mjd-50000 | run2d)
    fiber = 1 + rid % FIBERS_PER_PLATE
    pblock = rid // FIBERS_PER_PLATE
    plate = FIRST_PLATE + pblock % N_PLATES
    mjd = MJD_FIRST + (plate - FIRST_PLATE) * MJD_SPAN // N_PLATES + pblock // N_PLATES
    run2d = np.where(plate < 3510, 26, 1302).astype(np.uint64)  # 26: SDSS-I/II, v5_13_2: BOSS
    specobjid = (
        (plate.astype(np.uint64) << np.uint64(50))
        | (fiber.astype(np.uint64) << np.uint64(38))
        | ((mjd - 50000).astype(np.uint64) << np.uint64(24))
        | (run2d << np.uint64(10))
    )

    out = {
        "objid": objid.astype(str),
        "ra": _fixed(ra, 10),
        "dec": _fixed(dec, 10),
        "u": _fixed(u, 5),
        "g": _fixed(g, 5),
        "r": _fixed(r, 5),
        "i": _fixed(i, 5),
        "z": _fixed(z, 5),
        "run": run.astype(str),
        "rerun": np.full(n, str(cm["rerun"])),
        "camcol": camcol.astype(str),
        "field": field.astype(str),
        "specobjid": specobjid.astype(str),
        "class": np.asarray(CLASSES)[cls],
        "redshift": np.char.mod("%.7G", zred),
        "plate": _ints(plate),
        "mjd": _ints(mjd),
        "fiberid": _ints(fiber),
    }
    out = {k: v.astype(object) for k, v in out.items()}
    injected = np.full(n, None, dtype=object)
    if bad_fraction > 0:
        _inject(out, injected, n, seed, block, bad_fraction)
    out[INJECTED] = injected
    return pd.DataFrame(out, columns=list(SCHEMA_COLUMNS) + [INJECTED])


def _inject(out: dict, injected: np.ndarray, n: int, seed: int, block: int, bad_fraction: float) -> None:
    """Corrupt a ``bad_fraction`` of the rows in place (own random stream: good rows unchanged)."""
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, block, 1])))
    bad = rng.random(n) < bad_fraction
    kind = rng.integers(0, len(INJECTED_KINDS), size=n)
    which = rng.integers(0, 1 << 30, size=n)  # picks the column / value within a kind
    for k, name in enumerate(INJECTED_KINDS):
        sel = bad & (kind == k)
        if not sel.any():
            continue
        injected[sel] = name
        idx = np.flatnonzero(sel)
        w = which[idx]
        if name == "sentinel_magnitude":
            for m, col in enumerate(_MAGS):
                out[col][idx[w % len(_MAGS) == m]] = "-9999"
        elif name == "ra_out_of_range":
            out["ra"][idx] = np.array(["361.5", "-3", "360"], dtype=object)[w % 3]
        elif name == "dec_out_of_range":
            out["dec"][idx] = np.array(["95", "-95.5"], dtype=object)[w % 2]
        elif name == "non_numeric":
            for m, col in enumerate(_NON_NUMERIC_TARGETS):
                out[col][idx[w % len(_NON_NUMERIC_TARGETS) == m]] = "abc"
        elif name == "empty_plate":
            out["plate"][idx] = ""
        elif name == "unknown_class":
            out["class"][idx] = "UFO"
        elif name == "negative_redshift":
            out["redshift"][idx] = "-0.5"


def _schema():
    from pyspark.sql.types import StringType, StructField, StructType

    return StructType([StructField(c, StringType(), c == INJECTED) for c in SCHEMA_COLUMNS + (INJECTED,)])


def _default_partitions(spark, n_blocks: int) -> int:
    try:
        par = int(spark.sparkContext.defaultParallelism)
    except Exception:  # Spark Connect / serverless: no SparkContext
        par = 8
    return max(1, min(n_blocks, par))


def synthetic_catalog(
    spark,
    rows: int,
    seed: int = 42,
    bad_fraction: float = 0.0,
    partitions: int | None = None,
    start_row: int = 0,
):
    """A synthetic SDSS spectroscopic catalog of ``rows`` rows as a Spark DataFrame.

    Columns: ``SCHEMA_COLUMNS`` (all strings, as in a SkyServer CSV export) and ``_injected``
    (``None``, or the kind of error injected into that row; not part of the export schema).
    The rows depend only on ``seed``, ``rows`` and ``bad_fraction``; ``partitions`` (default:
    the default parallelism, at most one per block of 10,000 rows) only sets the parallelism.
    ``start_row`` (a multiple of 10,000) leaves out the rows before it: the rest are the same
    rows as in the whole catalog (an increment on top of a smaller catalog of the same seed).
    """
    if start_row % BLOCK_ROWS or start_row < 0:
        raise ValueError(f"start_row must be a non-negative multiple of {BLOCK_ROWS}, got {start_row}")
    rows = int(rows)
    seed = int(seed)
    if rows < 0 or rows > MAX_ROWS:
        raise ValueError(f"rows must be in [0, {MAX_ROWS}], got {rows}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    if not 0.0 <= bad_fraction <= 1.0:
        raise ValueError(f"bad_fraction must be in [0, 1], got {bad_fraction}")
    n_blocks = math.ceil(rows / BLOCK_ROWS)
    if partitions is None:
        partitions = _default_partitions(spark, n_blocks)
    partitions = max(1, int(partitions))
    cm = _compile(load_model())
    bad_fraction = float(bad_fraction)

    def generate(batches):
        for batch in batches:
            for block in batch["id"].to_numpy():
                yield _block(int(block), rows, seed, bad_fraction, cm)

    return spark.range(start_row // BLOCK_ROWS, n_blocks, numPartitions=partitions).mapInPandas(generate, _schema())


def write_synthetic_csv(
    spark,
    rows: int,
    path: str | os.PathLike,
    seed: int = 42,
    bad_fraction: float = 0.0,
    *,
    single_file: bool = False,
    partitions: int | None = None,
    rows_per_file: int = 1_000_000,
) -> str:
    """Write ``synthetic_catalog(...)`` as CSV with a header (``_injected`` dropped).

    By default ``path`` is a Spark output folder with ``ceil(rows / rows_per_file)`` part files
    (at most one per block of 10,000 rows).
    With ``single_file=True``, ``path`` (on the local filesystem) becomes exactly one CSV file:
    the parts are written to a temporary folder beside it (in parallel, without headers) and
    concatenated in row order behind one header line.  Empty values (the injected empty plate)
    are written as nothing between the commas, as in a SkyServer export.  Returns ``path``.
    """
    n_blocks = max(1, math.ceil(rows / BLOCK_ROWS))
    n_files = min(n_blocks, max(1, math.ceil(rows / max(1, rows_per_file))))
    if partitions is None:
        partitions = max(_default_partitions(spark, n_blocks), n_files)
    df = synthetic_catalog(spark, rows, seed=seed, bad_fraction=bad_fraction, partitions=partitions).drop(INJECTED)
    target = Path(path).absolute()
    writer_opts = {"emptyValue": "", "nullValue": "", "lineSep": "\n"}
    if not single_file:
        (df.coalesce(n_files).write.mode("overwrite").options(header="true", **writer_opts).csv(target.as_uri()))
        return str(target)

    target.parent.mkdir(parents=True, exist_ok=True)
    token = uuid.uuid4().hex
    tmp = target.parent / f".{target.name}.{token}.tmp"
    partial = target.parent / f".{target.name}.{token}.part"
    try:
        df.write.mode("overwrite").options(header="false", **writer_opts).csv(tmp.as_uri())
        parts = sorted(p for p in tmp.iterdir() if p.name.startswith("part-"))
        with open(partial, "wb") as dst:
            dst.write((",".join(SCHEMA_COLUMNS) + "\n").encode())
            for part in parts:
                with open(part, "rb") as src:
                    shutil.copyfileobj(src, dst, 1 << 20)
        os.replace(partial, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        partial.unlink(missing_ok=True)
    return str(target)
