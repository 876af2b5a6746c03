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
measured, so the table says what was and was not reproduced, never more.
With ``seeds`` (the section's or its own), a task name holding ``{seed}`` is
one task per seed and the claim's number is their mean, its standard
deviation beside it.

A sweep is a CSV committed beside the code (a benchmark's ``--out``): the
report draws its table and figure as configured, and claims read one of its
rows as a task named after the sweep (``row``: the row whose cells equal
the given values, or the value of a ``params.yaml`` key, so the row follows
the pipeline's setting).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml
from pydantic import BaseModel, Field, field_validator, model_validator

from embridge.core.errors import BridgeError
from embridge.core.names import check_name
from embridge.core.validation import StrictModel, validate

#: the file, in the project's root, that ``bridge report`` reads for claims and sweeps
REPORT_FILE = "report.yaml"


class Ref(StrictModel):
    task: str = Field(description="a task of eval.tasks (or a sweep's name); may hold {seed}")
    metric: str


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

    @model_validator(mode="after")
    def _consistent(self) -> Claim:
        if (self.b is None) != (self.measure == "value"):
            raise ValueError(f"a {self.measure} claim {'takes no' if self.b else 'needs a'} `b`")
        if (self.low is None) != (self.high is None):
            raise ValueError("give both `low` and `high`, or neither (not comparable)")
        if self.low is not None and self.high is not None and self.low > self.high:
            raise ValueError(f"low ({self.low:g}) is above high ({self.high:g})")
        return self

    def _one(self, metrics: dict[str, dict[str, float]], seed: int | None) -> float | None:
        def get(ref: Ref) -> float:
            return metrics[ref.task.format(seed=seed) if seed is not None else ref.task][ref.metric]

        try:
            a = get(self.a)
            b = get(self.b) if self.b else None
        except KeyError:
            return None
        if self.measure == "value":
            return a
        assert b is not None
        return 100.0 * a / b if self.measure == "ratio" else 100.0 * (a - b)

    def per_seed(self, metrics: dict[str, dict[str, float]], seeds: list[int]) -> list[float] | None:
        """The claim's number for each seed (one number without seeds), or None when a task is missing."""
        values = [self._one(metrics, seed) for seed in (seeds or (None,))]
        return None if any(v is None for v in values) else values  # type: ignore[return-value]

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


class ClaimSection(StrictModel):
    title: str = Field(description="the report's heading for this table")
    seeds: list[int] = Field(default_factory=list, description="default seeds of its claims")
    claims: list[Claim] = Field(default_factory=list)

    def seeds_of(self, claim: Claim) -> list[int]:
        return self.seeds if claim.seeds is None else claim.seeds


class Column(StrictModel):
    header: str
    value: str = Field(description="a format string over the row, e.g. '{anchor_r1:.2f}' (numbers are floats)")
    align: Literal["left", "right"] = "right"


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


def load_report_config(root: Path = Path(".")) -> ReportConfig:
    """``<root>/report.yaml`` validated (one line naming the file and key path when wrong); an empty config
    when the project has none."""
    return _load(root / REPORT_FILE, root, optional=True)


def _load(path: Path, root: Path, optional: bool = False, seen: tuple[Path, ...] = ()) -> ReportConfig:
    if not path.exists() and optional:
        return ReportConfig()
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise BridgeError(f"{path}: not found (named by {seen[-1]}'s claims_from)" if seen
                          else f"{path}: not found") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise BridgeError(f"{path}: not valid YAML" + (f" at line {mark.line + 1}" if mark else "")) from None
    config: ReportConfig = validate(ReportConfig, raw, context=str(path))
    for name in config.sweeps:
        check_name(name, f"{path}: sweeps")
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


def sweep_rows(config: ReportConfig, name: str) -> list[dict[str, str]]:
    """The sweep's CSV rows, or none when its file is absent (a clone without the benchmark's table)."""
    import csv

    path = config.sweep_path(name)
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def typed_row(row: dict[str, str]) -> dict[str, Any]:
    """A CSV row with its numbers as floats, for format strings (``{lambda:g}``)."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        try:
            out[key] = float(value)
        except (TypeError, ValueError):
            out[key] = value
    return out


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


def _equal(cell: str, want: Any) -> bool:
    try:
        return float(cell) == float(want)
    except (TypeError, ValueError):
        return str(cell) == str(want)


def sweep_metrics(config: ReportConfig, params: BaseModel) -> dict[str, dict[str, float]]:
    """Each sweep's one matching row (``row``) as a pseudo-task's metrics: its numeric columns. A sweep with
    no ``row``, no file, a params key the project lacks, or not exactly one match gives nothing."""
    out = {}
    for name, sweep in config.sweeps.items():
        if not sweep.row:
            continue
        want = {c: (_param(params, v["param"]) if isinstance(v, dict) else v) for c, v in sweep.row.items()}
        if any(v is None for v in want.values()):
            continue
        at = [d for d in sweep_rows(config, name) if all(_equal(d.get(c, ""), v) for c, v in want.items())]
        if len(at) == 1:
            out[name] = {k: v for k, v in typed_row(at[0]).items() if isinstance(v, float)}
    return out


def claim_rows(metrics: dict[str, dict[str, float]], section: str = "synthetic",
               config: ReportConfig | None = None) -> list[dict[str, str]]:
    """One row per claim of ``section`` of ``config`` (default: the project's ``report.yaml`` in the working
    directory): paper, claim, the paper's range, ours, and whether ours is inside it (or, without a
    comparable paper number, what differs). A section the config does not have gives no rows."""
    config = load_report_config() if config is None else config
    part = config.claims.get(section)
    rows: list[dict[str, str]] = []
    for c in part.claims if part else []:
        values = c.per_seed(metrics, part.seeds_of(c))
        ours = None if values is None else float(np.mean(values))
        if ours is None:
            verdict = "not measured: its tasks are not in params.yaml" + (f" ({c.why})" if c.why else "")
        elif c.low is None or c.high is None:
            verdict = f"measured, not a reproduction: {c.why}"
        else:
            inside = c.low <= ours <= c.high
            verdict = "reproduced" if inside else "not reproduced" + (f": {c.why}" if c.why else "")
        if c.note:
            verdict += f" ({c.note})"
        rows.append({"paper": c.paper, "claim": c.claim, "paper says": c.expected,
                     "ours": "" if values is None else c.shown(values), "verdict": verdict})
    return rows
