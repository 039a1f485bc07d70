"""Validate the Databricks asset bundle offline (``astrolake validate-bundle``).

The Databricks CLI is not needed. For every target, the validator:

* resolves ``${var.*}`` from variable defaults and target overrides; an undefined variable is an
  error, and so is a target variable the bundle does not declare;
* loads every job into the typed models of ``databricks-bundles``, so unknown or misspelled
  fields fail;
* checks that every notebook exists, is in Databricks source format, and declares a widget for
  each parameter the task passes;
* checks that every ``astrolake`` wheel entry point and ``jobs/*.py`` file accepts its
  parameters (parsed by the real CLI parser);
* checks that every cron is a valid Quartz expression (seconds field, ``?`` in exactly one of
  day-of-month and day-of-week);
* checks that every wheel a task or environment installs is built by one of the bundle's
  artifacts;
* checks task wiring (``depends_on``, cluster and environment keys, ``{{job.parameters.X}}``);
* checks that secrets come from secret scopes, never literals.
"""

from __future__ import annotations

import contextlib
import copy
import fnmatch
import io
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import yaml

VAR = re.compile(r"\$\{var\.([A-Za-z0-9_]+)\}")
OTHER_REF = re.compile(r"\$\{(bundle|workspace|resources)\.[A-Za-z0-9_.]+\}")
DYNAMIC = re.compile(r"\{\{\s*([^}]+?)\s*\}\}")
SECRET_NAME = re.compile(r"(TOKEN|PASSWORD|SECRET|_KEY$|CREDENTIAL)", re.I)
WIDGET = re.compile(r"""widget\(\s*["']([A-Za-z0-9_]+)["']""")


@dataclass(frozen=True)
class Problem:
    target: str
    where: str
    message: str

    def __str__(self) -> str:
        return f"[{self.target}] {self.where}: {self.message}"


# --------------------------------------------------------------------------------------------
# Quartz cron
# --------------------------------------------------------------------------------------------
_RANGES = [(0, 59), (0, 59), (0, 23), (1, 31), (1, 12), (1, 7), (1970, 2199)]
_NAMES = {
    4: ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"],
    5: ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"],
}
_FIELD = ["seconds", "minutes", "hours", "day-of-month", "month", "day-of-week", "year"]


def quartz_errors(expr: str) -> list[str]:
    """Problems with a Quartz cron expression (empty list when valid)."""
    parts = str(expr).split()
    if len(parts) not in (6, 7):
        return [
            f"{expr!r} has {len(parts)} fields; Quartz needs 6 or 7 (seconds minutes hours "
            "day-of-month month day-of-week [year])"
        ]
    errors = []
    dom, dow = parts[3], parts[5]
    if (dom == "?") == (dow == "?"):
        errors.append(f"{expr!r}: exactly one of day-of-month and day-of-week must be '?' (got {dom!r} and {dow!r})")
    for i, field in enumerate(parts):
        if field == "?" and i not in (3, 5):
            errors.append(f"{expr!r}: '?' is only allowed in day-of-month and day-of-week, not {_FIELD[i]}")
            continue
        if not _field_ok(field, i):
            errors.append(f"{expr!r}: invalid {_FIELD[i]} field {field!r}")
    return errors


def _field_ok(field: str, i: int) -> bool:
    lo, hi = _RANGES[i]
    if field in ("*", "?"):
        return True
    if i == 3 and re.fullmatch(r"L(-\d{1,2})?|LW|\d{1,2}W", field):
        return True
    if i == 5 and re.fullmatch(r"[1-7A-Z]{1,3}(L|#[1-5])", field):
        return True
    for item in field.split(","):
        base, _, step = item.partition("/")
        if step and not (step.isdigit() and int(step) > 0):
            return False
        if base == "*":
            continue
        ends = base.split("-")
        if len(ends) > 2:
            return False
        for e in ends:
            names = _NAMES.get(i, [])
            if e.upper() in names:
                continue
            if not e.isdigit() or not lo <= int(e) <= hi:
                return False
    return True


# --------------------------------------------------------------------------------------------
# loading and resolving
# --------------------------------------------------------------------------------------------
def load(root: str | Path) -> tuple[dict, dict[str, Path]]:
    """``databricks.yml`` merged with its includes; and the file each job was defined in."""
    root = Path(root)
    main = root / "databricks.yml"
    if not main.is_file():
        raise FileNotFoundError(f"no databricks.yml in {root}")
    bundle = yaml.safe_load(main.read_text()) or {}
    sources: dict[str, Path] = {}
    for pattern in bundle.get("include", []):
        for f in sorted(root.glob(pattern)):
            part = yaml.safe_load(f.read_text()) or {}
            for kind, items in (part.get("resources") or {}).items():
                target = bundle.setdefault("resources", {}).setdefault(kind, {})
                for name, spec in (items or {}).items():
                    if name in target:
                        raise ValueError(f"{kind}.{name} is defined twice ({f.name})")
                    target[name] = spec
                    sources[name] = f
    for name in bundle.get("resources", {}).get("jobs") or {}:
        sources.setdefault(name, main)
    return bundle, sources


def variables_for(bundle: dict, target: str, problems: list[Problem]) -> dict[str, str]:
    declared = bundle.get("variables") or {}
    values = {k: (v or {}).get("default") for k, v in declared.items()}
    overrides = ((bundle.get("targets") or {}).get(target) or {}).get("variables") or {}
    for k, v in overrides.items():
        if k not in declared:
            problems.append(Problem(target, f"targets.{target}.variables", f"variable {k!r} is not declared"))
        values[k] = v
    for k, v in values.items():
        if v is None:
            problems.append(Problem(target, f"variables.{k}", "no default and no value for this target"))
    return {k: "" if v is None else str(v) for k, v in values.items()}


def substitute(obj, values: dict[str, str], where: str, target: str, problems: list[Problem]):
    """Replace ``${var.X}`` everywhere in ``obj``; report undefined variables."""
    if isinstance(obj, dict):
        return {k: substitute(v, values, f"{where}.{k}", target, problems) for k, v in obj.items()}
    if isinstance(obj, list):
        return [substitute(v, values, f"{where}[{i}]", target, problems) for i, v in enumerate(obj)]
    if isinstance(obj, str):

        def repl(m):
            if m.group(1) not in values:
                problems.append(Problem(target, where, f"undefined variable ${{var.{m.group(1)}}}"))
                return m.group(0)
            return values[m.group(1)]

        out = VAR.sub(repl, obj)
        if out != obj and VAR.fullmatch(obj) and re.fullmatch(r"-?\d+", out):
            return int(out)  # a variable standing for a whole number
        return out
    return obj


# --------------------------------------------------------------------------------------------
# checks
# --------------------------------------------------------------------------------------------
def _artifact_outputs(bundle: dict, root: Path) -> list[str]:
    """Glob patterns of the wheels the bundle's artifacts build."""
    outs = []
    for art in (bundle.get("artifacts") or {}).values():
        if (art or {}).get("type") != "whl":
            continue
        base = (root / art.get("path", ".")).resolve()
        build = shlex.split(str(art.get("build", "")).split("#")[0])
        wdir = "dist"
        for flag in ("-w", "--wheel-dir", "--outdir"):
            if flag in build and build.index(flag) + 1 < len(build):
                wdir = build[build.index(flag) + 1]
        outs.append(str((base / wdir).resolve() / "*.whl"))
    return outs


def _check_wheel(ref: str, source: Path, outputs: list[str], where: str, target: str, problems: list[Problem]):
    resolved = str((source.parent / ref).resolve()) if not ref.startswith(("/", "dbfs:", "s3:")) else ref
    if not any(fnmatch.fnmatch(resolved, o) or resolved == o for o in outputs):
        problems.append(
            Problem(
                target,
                where,
                f"wheel {ref!r} is not built by any artifact of the bundle (artifacts build {outputs or 'nothing'})",
            )
        )


def _cli_errors(argv: list[str]) -> str | None:
    from astrolake.cli_args import build_parser

    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            build_parser().parse_args(argv)
    except SystemExit as exc:
        if exc.code:
            return (err.getvalue().strip().splitlines() or ["invalid arguments"])[-1]
    return None


def _dynamic(value, job_params: set[str], where: str, target: str, problems: list[Problem]) -> None:
    for text in [value] if isinstance(value, str) else []:
        for ref in DYNAMIC.findall(text):
            if ref.startswith("job.parameters."):
                if ref.split(".", 2)[2] not in job_params:
                    problems.append(
                        Problem(target, where, f"{{{{{ref}}}}}: the job has no parameter {ref.split('.', 2)[2]!r}")
                    )
            elif not ref.startswith(("secrets/", "job.", "tasks.", "task.", "run.", "backfill.")):
                problems.append(Problem(target, where, f"unknown dynamic reference {{{{{ref}}}}}"))


def _placeholders(values: list) -> list[str]:
    return [DYNAMIC.sub("x", str(v)) for v in values]


def check_job(
    name: str, job: dict, source: Path, root: Path, outputs: list[str], target: str, problems: list[Problem]
) -> None:
    from databricks.bundles.jobs import Job, JobDict

    where = f"jobs.{name}"
    try:
        Job.from_dict(cast(JobDict, copy.deepcopy(job)))  # from_dict checks the YAML's dict at run time
    except Exception as exc:  # noqa: BLE001 - the typed model's message is the point
        problems.append(Problem(target, where, f"not a valid job: {exc}"))
    sched = job.get("schedule") or {}
    if sched:
        for e in quartz_errors(sched.get("quartz_cron_expression", "")):
            problems.append(Problem(target, f"{where}.schedule", e))
    job_params = {p.get("name") for p in job.get("parameters") or []}
    tasks = job.get("tasks") or []
    keys = [t.get("task_key") for t in tasks]
    if len(set(keys)) != len(keys):
        problems.append(Problem(target, where, "duplicate task_key"))
    clusters = {c.get("job_cluster_key") for c in job.get("job_clusters") or []}
    envs = {e.get("environment_key") for e in job.get("environments") or []}
    for env in job.get("environments") or []:
        for dep in (env.get("spec") or {}).get("dependencies") or []:
            if str(dep).endswith(".whl"):
                _check_wheel(
                    dep, source, outputs, f"{where}.environments.{env.get('environment_key')}", target, problems
                )
    for c in job.get("job_clusters") or []:
        for var, value in ((c.get("new_cluster") or {}).get("spark_env_vars") or {}).items():
            if SECRET_NAME.search(var) and not str(value).startswith("{{secrets/"):
                problems.append(
                    Problem(
                        target,
                        f"{where}.job_clusters.{c.get('job_cluster_key')}",
                        f"{var} must come from a secret scope ({{{{secrets/<scope>/<key>}}}})",
                    )
                )
    for t in tasks:
        tw = f"{where}.tasks.{t.get('task_key')}"
        for dep in t.get("depends_on") or []:
            if dep.get("task_key") not in keys:
                problems.append(Problem(target, tw, f"depends on unknown task {dep.get('task_key')!r}"))
        if t.get("job_cluster_key") and t["job_cluster_key"] not in clusters:
            problems.append(Problem(target, tw, f"unknown job_cluster_key {t['job_cluster_key']!r}"))
        if t.get("environment_key") and t["environment_key"] not in envs:
            problems.append(Problem(target, tw, f"unknown environment_key {t['environment_key']!r}"))
        for lib in t.get("libraries") or []:
            if "whl" in lib:
                _check_wheel(lib["whl"], source, outputs, tw, target, problems)
        nb = t.get("notebook_task")
        if nb:
            path = (source.parent / nb.get("notebook_path", "")).resolve()
            if path.suffix != ".py":
                path = path.with_suffix(".py")
            if not path.is_file():
                problems.append(Problem(target, tw, f"notebook {nb.get('notebook_path')!r} not found ({path})"))
            else:
                text = path.read_text()
                if not text.startswith("# Databricks notebook source"):
                    problems.append(Problem(target, tw, f"{path.name} is not in Databricks source format"))
                widgets = set(WIDGET.findall(text))
                if "lake_from_widgets(" in text:
                    from astrolake.notebook import LAKE_WIDGETS

                    widgets |= set(LAKE_WIDGETS)
                for p, v in (nb.get("base_parameters") or {}).items():
                    if p not in widgets:
                        problems.append(
                            Problem(
                                target,
                                tw,
                                f"notebook {path.name} has no widget {p!r} (its widgets: {', '.join(sorted(widgets))})",
                            )
                        )
                    _dynamic(v, job_params, tw, target, problems)
        wheel = t.get("python_wheel_task")
        if wheel:
            if wheel.get("package_name") != "astrolake" or wheel.get("entry_point") != "astrolake":
                problems.append(Problem(target, tw, "python_wheel_task must call the astrolake entry point"))
            params = wheel.get("parameters") or []
            for v in params:
                _dynamic(v, job_params, tw, target, problems)
            msg = _cli_errors(_placeholders(params))
            if msg:
                problems.append(Problem(target, tw, f"`astrolake {' '.join(map(str, params))}`: {msg}"))
        spy = t.get("spark_python_task")
        if spy:
            path = (source.parent / spy.get("python_file", "")).resolve()
            if not path.is_file():
                problems.append(Problem(target, tw, f"python file {spy.get('python_file')!r} not found"))
            elif path.parent.name == "jobs":
                msg = _cli_errors([path.stem.replace("_", "-"), *_placeholders(spy.get("parameters") or [])])
                if msg:
                    problems.append(Problem(target, tw, f"jobs/{path.name}: {msg}"))


def validate(root: str | Path, targets: list[str] | None = None) -> list[Problem]:
    """Every problem found in the bundle at ``root`` (empty list: valid for every target)."""
    root = Path(root)
    raw, sources = load(root)
    problems: list[Problem] = []
    declared_targets = raw.get("targets") or {}
    if not declared_targets:
        problems.append(Problem("-", "targets", "the bundle declares no target"))
    for t, spec in declared_targets.items():
        if (spec or {}).get("mode") not in (None, "development", "production"):
            problems.append(Problem(t, f"targets.{t}.mode", f"unknown mode {spec.get('mode')!r}"))
    for target in targets or list(declared_targets):
        if target not in declared_targets:
            problems.append(Problem(target, "targets", f"unknown target {target!r}"))
            continue
        values = variables_for(raw, target, problems)
        bundle = substitute(raw, values, "bundle", target, problems)
        outputs = _artifact_outputs(bundle, root)
        for name, job in ((bundle.get("resources") or {}).get("jobs") or {}).items():
            check_job(name, job or {}, sources[name], root, outputs, target, problems)
    # ${var.x} resolved; anything else like ${bundle.target} is left to the CLI
    return problems
