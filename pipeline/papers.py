"""What the report draws from outside the pipeline: papers' claims and committed sweep tables (``report.yaml``).

A project may ship a ``report.yaml`` beside its ``params.yaml``; without one
its report has no claims table and no sweep section, and that is no error.
Why a file of its own rather than a ``params.yaml`` section: a claim is not a
parameter of any computation but an expectation the numbers are held
against, so it belongs in a stage's file deps (editing a verdict's wording
reruns the report only) and not among the params ``dvc params diff`` and
``dvc exp show`` tabulate; and the params model stays the pipeline's.

This module keeps only the mechanism. A claim names the tasks and metrics
that measure it (``a``, and ``b`` for a ``ratio``: 100 x a / b, or a
``difference``: 100 x (a - b), in points), and the paper's range (``low``,
``high``; null where the paper's number is not comparable, ``why`` saying
what differs). A claim whose tasks are not in ``params.yaml`` is listed as not
measured, so the table says what was and was not reproduced, never more; a
claim that names a task the project has but cannot be read (a metric the task
lacks, a value that is not a finite number) is an error naming the file and
key, never a quiet "not measured". A ratio whose denominator is 0 or not
finite, or whose result is not finite, is a not-measured row saying exactly
that: the tasks ran and their numbers are real, the ratio is undefined, and
the rest of the report still stands.
With ``seeds`` (the section's or its own, no seed twice), a task name holding
``{seed}`` is one task per seed and the claim's number is their mean, its
standard deviation beside it; a task name without ``{seed}`` is read once,
and ``{seed}`` with no seeds is an error.

A sweep is a CSV committed beside the code (a benchmark's ``--out``): the
report draws its table and figure as configured, and claims read one of its
rows as a task named after the sweep (``row``: the row whose cells equal
the given values, or the value of a ``params.yaml`` key, so the row follows
the pipeline's setting). A sweep may not share a name with a task. Its CSV's
numbers are finite (a NaN cell is an error naming the file, line and column).
A claim reading a sweep whose CSV is absent (a clone that has not run the
benchmark) is a not-measured row naming the file; an empty CSV, no row or
several rows at the pipeline's setting, or a params key the project lacks is
an error naming report.yaml's key.
"""

from __future__ import annotations

import csv
import math
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml
from pydantic import BaseModel, Field, field_validator, model_validator

from embridge.core.config import read_yaml
from embridge.core.errors import BridgeError
from embridge.core.names import check_name
from embridge.core.validation import StrictModel, validate

#: the file, in the project's root, that ``bridge report`` reads for claims and sweeps
REPORT_FILE = "report.yaml"


def _fields(template: str, allowed: set[str] | None = None) -> list[str]:
    """The field names of a format string that holds only plain field names and format specs: attribute or
    index access (``{x.__class__}``, ``{x[0]}``), conversions (``!r``), positional and nested fields are
    refused, so report.yaml's strings can only print a value."""
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as e:
        raise ValueError(f"{template!r} is not a format string ({e})") from None
    names = []
    for _, name, spec, conversion in parts:
        if name is None:
            continue
        if not name or "." in name or "[" in name or name.isdigit():
            raise ValueError(f"{template!r}: {{{name}}} is not a plain field name (no attribute or index access, "
                             "no positional field)")
        if conversion or (spec and ("{" in spec or "}" in spec)):
            raise ValueError(f"{template!r}: {{{name}}} takes only a format spec (no !conversion, no nested field)")
        if allowed is not None and name not in allowed:
            raise ValueError(f"{template!r}: {{{name}}} is not a field here (only {', '.join(sorted(allowed))})")
        names.append(name)
    return names


def number(value: Any, where: str, key: str) -> float:
    """``value`` as a float when it is a real finite number (not a bool, a string, null, NaN or inf), else one
    line naming ``where`` (the file) and ``key``."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise BridgeError(f"{where}: {key} is {str(value)[:40]!r}, not a finite number")
    return float(value)


class Ref(StrictModel):
    task: str = Field(description="a task of eval.tasks (or a sweep's name); may hold {seed}")
    metric: str

    @field_validator("task")
    @classmethod
    def _only_seed(cls, task: str) -> str:
        _fields(task, {"seed"})
        return task

    @property
    def seeded(self) -> bool:
        return bool(_fields(self.task))

    def name(self, seed: int | None) -> str:
        return self.task.format(seed=seed) if self.seeded else self.task


class Claim(StrictModel):
    paper: str
    claim: str
    measure: Literal["value", "ratio", "difference"] = Field(
        description="value: a's metric; ratio: 100 x a / b (%); difference: 100 x (a - b), in points")
    a: Ref
    b: Ref | None = None
    low: float | None = Field(description="the paper's range; null where its number is not comparable")
    high: float | None
    note: str = Field("", description="how the claim is read here, shown with every verdict")
    why: str = Field("", description="what keeps it from being reproduced here, shown when it is not")
    digits: int = Field(4, ge=0, le=12, description="decimals of a value (ratios and differences show one)")
    seeds: list[int] | None = Field(None, description="one task per seed ({seed} in the task names); default: "
                                                      "the section's")

    @field_validator("seeds")
    @classmethod
    def _distinct(cls, seeds: list[int] | None) -> list[int] | None:
        return _distinct_seeds(seeds)

    @property
    def refs(self) -> list[tuple[str, Ref]]:
        return [("a", self.a), *([("b", self.b)] if self.b else [])]

    @model_validator(mode="after")
    def _consistent(self) -> Claim:
        if (self.b is None) != (self.measure == "value"):
            raise ValueError(f"a {self.measure} claim {'takes no' if self.b else 'needs a'} `b`")
        if (self.low is None) != (self.high is None):
            raise ValueError("give both `low` and `high`, or neither (not comparable)")
        if self.low is not None and self.high is not None and self.low > self.high:
            raise ValueError(f"low ({self.low:g}) is above high ({self.high:g})")
        return self

    def per_seed(self, measured: Measured, seeds: list[int], where: str) -> list[float] | str:
        """The claim's number for each seed (once when no task of it holds ``{seed}``), or why it is not
        measured (a task the project lacks, a sweep not run, an undefined ratio). ``where`` is the claim's
        key path, for the errors."""
        seeded = any(ref.seeded for _, ref in self.refs)
        names = [ref.name(seed) for seed in (seeds if seeded else [None]) for _, ref in self.refs]
        unknown = [name for name in names if not measured.knows(name)]
        if unknown:
            return ("its tasks are not in params.yaml" if len(unknown) == len(names)
                    else f"its task {unknown[0]} is not in params.yaml")
        values = []
        for seed in seeds if seeded else [None]:
            got = {}
            for label, ref in self.refs:
                got[label] = measured.read(ref.name(seed), ref.metric, f"{where}.{label}")
                if isinstance(got[label], str):
                    return got[label]
            a, b = got["a"], got.get("b")
            if self.measure == "value":
                values.append(a)
                continue
            if self.measure == "ratio":
                assert self.b is not None and b is not None
                if b == 0:
                    return f"the ratio's denominator ({self.b.name(seed)} {self.b.metric}) is 0"
                value = 100.0 * a / b
            else:
                value = 100.0 * (a - b)
            if not math.isfinite(value):
                return f"the {self.measure} is not finite ({a!r} and {b!r})"
            values.append(value)
        return values

    def shown(self, values: list[float]) -> str:
        digits = 1 if self.measure != "value" else self.digits
        mean = f"{np.mean(values):.{digits}f}"
        if len(values) < 2:
            return mean
        return f"{mean} ± {np.std(values, ddof=1):.{digits}f} ({len(values)} seeds)"

    @property
    def expected(self) -> str:
        if self.low is None or self.high is None:
            return "not comparable"
        unit = {"value": "", "ratio": " %", "difference": " points"}[self.measure]
        return f"{self.low:g} to {self.high:g}{unit}"


def _distinct_seeds(seeds: list[int] | None) -> list[int] | None:
    twice = sorted({s for s in seeds or [] if seeds.count(s) > 1})  # type: ignore[union-attr]
    if twice:
        raise ValueError(f"seed {twice[0]} is given twice (each seed is one task, counted once)")
    return seeds


class ClaimSection(StrictModel):
    title: str = Field(description="the report's heading for this table")
    seeds: list[int] = Field(default_factory=list, description="default seeds of its claims")
    claims: list[Claim] = Field(default_factory=list)

    @field_validator("seeds")
    @classmethod
    def _distinct(cls, seeds: list[int]) -> list[int]:
        return _distinct_seeds(seeds) or []

    def seeds_of(self, claim: Claim) -> list[int]:
        return self.seeds if claim.seeds is None else claim.seeds


class Column(StrictModel):
    header: str
    value: str = Field(description="a format string over the row, e.g. '{anchor_r1:.2f}' (numbers are floats)")
    align: Literal["left", "right"] = "right"

    @field_validator("value")
    @classmethod
    def _plain(cls, value: str) -> str:
        _fields(value)
        return value


class Panel(StrictModel):
    y: str = Field(description="the column drawn against the figure's x, one line per group")
    title: str = ""
    ylabel: str = ""


class SweepFigure(StrictModel):
    x: str
    group: str | None = Field(None, description="a column: one line per value")
    log_x_floor: float | None = Field(None, gt=0, description="a log x axis, values below drawn at this floor")
    panels: list[Panel] = Field(min_length=1)


class Sweep(StrictModel):
    path: str = Field(description="the CSV, relative to the file that names it")
    title: str
    about: str = Field("", description="a paragraph under the title; a format string over the first row")
    row: dict[str, str | float | dict[str, str]] = Field(
        default_factory=dict, description="the row claims read: column -> a value, or {param: <params.yaml key>}")
    table: list[Column] = Field(default_factory=list)
    figure: SweepFigure | None = None

    @field_validator("about")
    @classmethod
    def _plain(cls, about: str) -> str:
        _fields(about)
        return about

    @field_validator("row")
    @classmethod
    def _params_refs(cls, row: dict[str, Any]) -> dict[str, Any]:
        for column, value in row.items():
            if isinstance(value, dict) and set(value) != {"param"}:
                raise ValueError(f"row.{column}: a mapping here is {{param: <key path in params.yaml>}}")
        return row


class ReportConfig(StrictModel):
    """``report.yaml``: claims by section, and sweeps by name (the name claims use as a task)."""

    claims_from: str | None = Field(None, description="another report.yaml whose claims this project shares "
                                                      "(a lane: ../../report.yaml); its own `claims` then stay empty")
    claims: dict[str, ClaimSection] = Field(default_factory=dict)
    sweeps: dict[str, Sweep] = Field(default_factory=dict)
    _path: Path = Path(REPORT_FILE)  # the file itself (its sweeps' paths are relative to its folder)
    _files: tuple[Path, ...] = ()  # every file read: the report stage's deps

    @property
    def path(self) -> Path:
        return self._path

    @property
    def files(self) -> tuple[Path, ...]:
        return self._files

    def sweep_path(self, name: str) -> Path:
        return self._path.parent / self.sweeps[name].path

    @property
    def claims_path(self) -> Path:
        """The file the claims were written in (the last of a ``claims_from`` chain)."""
        return self._files[-1] if self._files else self._path


def load_report_config(root: Path = Path(".")) -> ReportConfig:
    """``<root>/report.yaml`` validated (one line naming the file and key path when wrong); an empty config
    when the project has none."""
    return _load(root / REPORT_FILE, root, optional=True)


def _load(path: Path, root: Path, optional: bool = False, seen: tuple[Path, ...] = ()) -> ReportConfig:
    if not path.exists() and optional:
        return ReportConfig()
    try:
        raw = read_yaml(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise BridgeError(f"{path}: not found (named by {seen[-1]}'s claims_from)" if seen
                          else f"{path}: not found") from None
    except UnicodeDecodeError as e:
        raise BridgeError(f"{path}: not UTF-8 text (byte {e.start})") from None
    except OSError as e:
        raise BridgeError(f"{path}: cannot read ({e.strerror or type(e).__name__})") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        problem = getattr(e, "problem", None)
        detail = f": {problem}" if isinstance(e, yaml.constructor.ConstructorError) and problem else ""
        raise BridgeError(f"{path}: not valid YAML" + (f" at line {mark.line + 1}" if mark else "") + detail) from None
    config: ReportConfig = validate(ReportConfig, raw, context=str(path))
    for name in config.sweeps:
        check_name(name, f"{path}: sweeps")
    for section, part in config.claims.items():
        for i, claim in enumerate(part.claims):
            for label, ref in claim.refs:
                if ref.seeded and not part.seeds_of(claim):
                    raise BridgeError(f"{path}: claims.{section}.claims.{i}.{label}.task: {ref.task!r} holds {{seed}} "
                                      "but the claim has no seeds (give `seeds` to the claim or its section)")
    config._path, config._files = path, (*seen, path)
    if config.claims_from is not None:
        if config.claims:
            raise BridgeError(f"{path}: claims: give claims here or claims_from, not both")
        source = path.parent / config.claims_from
        if source.resolve() in {p.resolve() for p in config._files}:
            raise BridgeError(f"{path}: claims_from: {config.claims_from} leads back to itself")
        shared = _load(source, root, seen=config._files)
        config = config.model_copy(update={"claims": shared.claims})
        config._path, config._files = path, shared.files
    return config


def sweep_rows(config: ReportConfig, name: str) -> list[dict[str, Any]]:
    """The sweep's CSV rows, numbers as floats (for format strings: ``{lambda:g}``), or none when its file is
    absent (a clone without the benchmark's table). A file that cannot be read, holds no row, or a cell that
    is a number but not a finite one is one line naming the file (and line and column)."""
    path = config.sweep_path(name)
    if not path.exists():
        return []
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            rows = []
            for raw in reader:
                if None in raw or None in raw.values():
                    raise BridgeError(f"{path}: line {reader.line_num}: {len(raw) - (None in raw)} columns named but "
                                      "the row has a different number of cells")
                rows.append(_typed(raw, f"{path}: line {reader.line_num}"))
    except UnicodeDecodeError as e:
        raise BridgeError(f"{path}: not UTF-8 text (byte {e.start})") from None
    except csv.Error as e:
        raise BridgeError(f"{path}: not a valid CSV ({e})") from None
    except OSError as e:
        raise BridgeError(f"{path}: cannot read ({e.strerror or type(e).__name__})") from None
    if not rows:
        raise BridgeError(f"{path}: holds no rows (sweeps.{name} of {config.path}); rerun its benchmark with --out")
    return rows


def _typed(row: dict[str, str], where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        try:
            number = float(value)
        except (TypeError, ValueError):
            out[key] = value
            continue
        if not math.isfinite(number):
            raise BridgeError(f"{where}: column {key!r} is {value!r}, not a finite number")
        out[key] = number
    return out


#: params.yaml's collections of entries a project names itself: a claim on an entry the project does not
#: have is not measured here (a lane or a cut-down project shares report.yaml), not an error
NAMED = ("fit.bridges", "eval.tasks", "extract.sets", "datasets", "encoders", "worlds")


def _absent_entry(params: BaseModel, key: str) -> str | None:
    """``fit.bridges.x`` when ``key`` (``fit.bridges.x.params.proxy_weight``) reads an entry of a named
    collection that params.yaml does not have, else None."""
    for collection in NAMED:
        if key.startswith(collection + "."):
            entry = key[len(collection) + 1:].split(".")[0]
            found = _param(params, collection)
            return f"{collection}.{entry}" if isinstance(found, dict) and entry not in found else None
    return None


def _param(params: BaseModel, key: str) -> Any:
    """The value at ``key`` (``fit.bridges.x.params.proxy_weight``) in params, or None where it is absent."""
    node: Any = params
    for part in key.split("."):
        if isinstance(node, BaseModel) and part in type(node).model_fields:
            node = getattr(node, part)
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return None
    return node


def _equal(cell: Any, want: Any) -> bool:
    try:
        return float(cell) == float(want)
    except (TypeError, ValueError):
        return str(cell) == str(want)


@dataclass(frozen=True)
class Measured:
    """What claims read: each task's metrics; with ``files`` (the project's tasks -> the file each task's
    metrics came from), a claim naming such a task is checked against it (a metric the task lacks, a value
    that is not a finite number: an error); without (a hand-made dict), a missing metric is a not-measured
    row saying which. ``absent``: names that are not measured and why (a sweep whose CSV is not there);
    ``broken``: names whose metrics cannot be read and why (an error once a claim reads them)."""

    metrics: dict[str, dict[str, Any]]
    files: dict[str, str] | None = None
    absent: dict[str, str] = field(default_factory=dict)
    broken: dict[str, str] = field(default_factory=dict)

    def knows(self, task: str) -> bool:
        """Whether ``task`` is a task (or sweep) of the project."""
        return task in self.metrics or task in self.absent or task in self.broken

    def read(self, task: str, metric: str, where: str) -> float | str:
        """``task``'s ``metric`` as a finite number, or why it is not measured (a string)."""
        if task in self.broken:
            raise BridgeError(f"{where}: {task}: {self.broken[task]}")
        if task in self.absent:
            return self.absent[task]
        values = self.metrics[task]
        source = (self.files or {}).get(task, f"task {task}")
        if metric not in values:
            if self.files is None:
                return f"{task} has no metric {metric}"
            raise BridgeError(f"{where}.metric: {source} has no {metric!r} (it has: "
                              f"{', '.join(list(values)[:12])}{' ...' if len(values) > 12 else ''})")
        try:
            return number(values[metric], source, metric)
        except BridgeError as e:
            raise BridgeError(f"{e} (read by {where})") from None


def sweep_measured(config: ReportConfig, params: BaseModel) -> Measured:
    """Each sweep's one matching row (``row``) as a pseudo-task's metrics, and for each sweep that gives none,
    why: absent (its CSV is not there: not measured) or broken (no row or several at the setting, a params key
    the project lacks: an error once a claim reads it). A sweep with no ``row`` is read by no claim."""
    metrics: dict[str, dict[str, Any]] = {}
    files, absent, broken = {}, {}, {}
    for name, sweep in config.sweeps.items():
        if not sweep.row:
            broken[name] = "the sweep has no `row`, so no claim can read it"
            continue
        path = config.sweep_path(name)
        want = {}
        for column, v in sweep.row.items():
            want[column] = _param(params, v["param"]) if isinstance(v, dict) else v
            entry = _absent_entry(params, v["param"]) if isinstance(v, dict) else None
            if entry is not None:
                absent[name] = f"sweep {name} is read at {v['param']}, and {entry} is not in params.yaml"
                break
            if want[column] is None:
                broken[name] = (f"sweeps.{name}.row.{column}: params.yaml has no {v['param']!r}"  # type: ignore[index]
                                f" (the value the row is read at)")
        if name in broken or name in absent:
            continue
        if not path.exists():
            absent[name] = f"sweep {name}'s table {path} is absent (run its benchmark with --out)"
            continue
        data = sweep_rows(config, name)
        at = [d for d in data if all(_equal(d.get(c, ""), v) for c, v in want.items())]
        setting = ", ".join(f"{c} = {v}" for c, v in want.items())
        if len(at) != 1:
            broken[name] = f"{path} has {len(at) or 'no'} rows at {setting} (sweeps.{name}.row); one is read"
            continue
        metrics[name] = at[0]
        files[name] = f"{path} (row at {setting})"
    return Measured(metrics, files, absent, broken)


def sweep_metrics(config: ReportConfig, params: BaseModel) -> dict[str, dict[str, float]]:
    """Each sweep's one matching row (``row``) as a pseudo-task's metrics: its numeric columns. A sweep with
    no ``row``, no file, a params key the project lacks, or not exactly one match gives nothing here
    (``sweep_measured`` says why)."""
    return {name: {k: v for k, v in row.items() if isinstance(v, float)}
            for name, row in sweep_measured(config, params).metrics.items()}


def check_sweep_names(config: ReportConfig, tasks: Any) -> None:
    """A sweep named like a task of ``params.yaml`` would shadow one or the other in every claim that names
    it: an error naming both."""
    for name in config.sweeps:
        if name in tasks:
            raise BridgeError(f"{config.path}: sweeps.{name}: a task of params.yaml has this name too "
                              f"(eval.tasks.{name}); claims read both by name, so rename the sweep")


def claim_rows(metrics: dict[str, dict[str, Any]] | Measured, section: str = "synthetic",
               config: ReportConfig | None = None) -> list[dict[str, str]]:
    """One row per claim of ``section`` of ``config`` (default: the project's ``report.yaml`` in the working
    directory): paper, claim, the paper's range, ours, and whether ours is inside it (or, without a
    comparable paper number, what differs; or, not measured, exactly why). A section the config does not
    have gives no rows."""
    config = load_report_config() if config is None else config
    measured = metrics if isinstance(metrics, Measured) else Measured(metrics)
    part = config.claims.get(section)
    rows: list[dict[str, str]] = []
    for i, c in enumerate(part.claims if part else []):
        values = c.per_seed(measured, part.seeds_of(c), f"{config.claims_path}: claims.{section}.claims.{i}")
        if isinstance(values, str):
            verdict = f"not measured: {values}" + (f" ({c.why})" if c.why else "")
            ours = ""
        else:
            mean = float(np.mean(values))
            ours = c.shown(values)
            if c.low is None or c.high is None:
                verdict = f"measured, not a reproduction: {c.why}"
            else:
                inside = c.low <= mean <= c.high
                verdict = "reproduced" if inside else "not reproduced" + (f": {c.why}" if c.why else "")
        if c.note:
            verdict += f" ({c.note})"
        rows.append({"paper": c.paper, "claim": c.claim, "paper says": c.expected, "ours": ours, "verdict": verdict})
    return rows


def measures_any(config: ReportConfig, section: str, names: set[str]) -> bool:
    """Whether any claim of ``section`` names a task (or sweep) of ``names``: a lane (lanes/) measures the
    real claims only, the default pipeline the synthetic ones, and a section none of whose tasks exist is
    left out of the report."""
    part = config.claims.get(section)
    return any(ref.name(seed) in names for c in (part.claims if part else [])
               for seed in (part.seeds_of(c) or [None]) for _, ref in c.refs)  # type: ignore[union-attr]
