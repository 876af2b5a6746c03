"""Typed, validated ``params.yaml``: every error names its key path and suggests a fix.

One section per stage (``extract``, ``fit``, ``eval``) plus the things they
refer to by name (``worlds``, ``datasets``, ``encoders``). ``load_params``
reads the file, applies ``key.path=value`` overrides from the command line,
validates, checks cross-references, and returns a frozen ``Params``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError

from pipeline.errors import BridgeError
from pipeline.validation import StrictModel, one_line, validate
from pipeline.worlds.synthetic import EncoderConfig, SyntheticEncoder, World, WorldConfig


class DatasetSpec(StrictModel):
    """A source: ``synthetic`` (a world), a table, a folder, or packaged data."""

    source: str
    options: dict[str, Any] = Field(default_factory=dict)
    class_prompts: list[str] = Field(default_factory=list,
                                     description="templates with '{}' for the class name (real sources)")


class EncoderSpec(StrictModel):
    model: str = Field(description="'<family>:<model>', e.g. 'st:sentence-transformers/all-MiniLM-L6-v2'")
    options: dict[str, Any] = Field(default_factory=dict)


class SetRef(StrictModel):
    dataset: str
    encoder: str
    tower: str

    @property
    def path(self) -> str:
        return f"{self.dataset}/{self.encoder}/{self.tower}"


class ExtractSection(StrictModel):
    format: Literal["parquet", "hdf5"] = "parquet"
    dtype: Literal["float16", "float32"] = "float16"
    shard_rows: int = Field(250_000, gt=0)
    batch_size: int = Field(256, gt=0)
    normalize: bool = True
    on_error: Literal["fail", "skip"] = "fail"
    sets: dict[str, SetRef] = Field(default_factory=dict)


class BridgeSpec(StrictModel):
    method: str
    dataset: str
    inputs: dict[str, str] = Field(description="role -> '<encoder>/<tower>' within the dataset")
    params: dict[str, Any] = Field(default_factory=dict)


class FitSection(StrictModel):
    bridges: dict[str, BridgeSpec] = Field(default_factory=dict)


class TaskSide(StrictModel):
    set: str = Field(description="'<encoder>/<tower>' within the task's dataset")
    bridge: str | None = None
    split: str = "test"


class TaskSpec(StrictModel):
    kind: Literal["zeroshot", "retrieval", "gap"]
    dataset: str
    query: TaskSide
    gallery: TaskSide | None = Field(None, description="retrieval gallery, class prompts, or gap partner")
    reference: str | None = Field(None, description="task whose score is the preservation reference")


class EvalSection(StrictModel):
    index: Literal["exact", "ivf", "hnsw", "auto"] = "exact"
    ks: list[int] = Field(default_factory=lambda: [1, 5, 10])
    tasks: dict[str, TaskSpec] = Field(default_factory=dict)


class Params(StrictModel):
    worlds: dict[str, dict[str, Any]] = Field(default_factory=dict)
    datasets: dict[str, DatasetSpec] = Field(default_factory=dict)
    encoders: dict[str, EncoderSpec] = Field(default_factory=dict)
    extract: ExtractSection = Field(default_factory=ExtractSection)
    fit: FitSection = Field(default_factory=FitSection)
    eval: EvalSection = Field(default_factory=EvalSection)


# -- loading ---------------------------------------------------------------------------------

def load_params(path: str | Path = "params.yaml", overrides: list[str] | None = None) -> Params:
    """Read, override, validate and cross-check ``path``; raise BridgeError naming the key."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise BridgeError(f"{path}: params file not found") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise BridgeError(f"{path}: not valid YAML{where}") from None
    if not isinstance(raw, dict):
        raise BridgeError(f"{path}: top level must be a mapping of sections")
    for item in overrides or []:
        _apply_override(raw, item, path)
    try:
        params = Params.model_validate(raw)
    except ValidationError as e:
        raise BridgeError(f"{path}: {one_line(e, Params)}") from None
    _check_references(params, path)
    return params


def _apply_override(raw: dict[str, Any], item: str, path: Path) -> None:
    """``fit.bridges.x.params.lr=0.01``: the value is parsed as YAML."""
    key, sep, value = item.partition("=")
    if not sep or not key:
        raise BridgeError(f"override {item!r}: expected KEY.PATH=VALUE")
    node = raw
    *parents, leaf = key.split(".")
    for part in parents:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise BridgeError(f"override {item!r}: {part!r} in {path} is not a mapping")
    node[leaf] = yaml.safe_load(value)


def _unknown(kind: str, name: str, known: Iterable[str], where: str, path: Path) -> BridgeError:
    known = sorted(known)
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else f"; defined: {', '.join(known) or 'none'}"
    return BridgeError(f"{path}: {where}: unknown {kind} {name!r}{hint}")


def _check_synthetic_encoder(name: str, kind: str, options: dict[str, Any], worlds: dict[str, WorldConfig],
                             path: Path) -> None:
    """A synthetic encoder's options must fit its world (dims, towers); checked before any work starts."""
    where = ("encoders", name, "options")
    world = options.get("world")
    if world not in worlds:
        raise _unknown("world", str(world), worlds, ".".join(where) + ".world", path)
    config = validate(EncoderConfig, {"kind": kind, **{k: v for k, v in options.items() if k != "world"}},
                      where, str(path))
    try:
        SyntheticEncoder(World(worlds[world]), config)
    except ValueError as e:
        raise BridgeError(f"{path}: {'.'.join(where)}: {e}") from None


def _check_references(params: Params, path: Path) -> None:
    """Names used in one section must be defined in another; method params must validate."""
    from pipeline.bridges.base import method_class
    from pipeline.encoders.registry import split_model

    worlds = {name: validate(WorldConfig, options, ("worlds", name), str(path))
              for name, options in params.worlds.items()}
    for name, spec in params.encoders.items():
        try:
            family, model = split_model(spec.model)
        except BridgeError as e:
            raise BridgeError(f"{path}: encoders.{name}.model: {e}") from None
        if family == "synthetic":
            _check_synthetic_encoder(name, model, spec.options, worlds, path)
    for name, ref in params.extract.sets.items():
        if ref.dataset not in params.datasets:
            raise _unknown("dataset", ref.dataset, params.datasets, f"extract.sets.{name}.dataset", path)
        if ref.encoder not in params.encoders:
            raise _unknown("encoder", ref.encoder, params.encoders, f"extract.sets.{name}.encoder", path)
    extracted = {(r.dataset, f"{r.encoder}/{r.tower}") for r in params.extract.sets.values()}
    for name, spec in params.fit.bridges.items():
        where = f"fit.bridges.{name}"
        try:
            cls = method_class(spec.method)
        except BridgeError as e:
            raise BridgeError(f"{path}: {where}.method: {e}") from None
        validate(cls.Params, spec.params, (*where.split("."), "params"), str(path))
        for role, space in spec.inputs.items():
            if (spec.dataset, space) not in extracted:
                raise _unknown("embedding set", f"{spec.dataset}/{space}",
                               [f"{d}/{s}" for d, s in sorted(extracted)], f"{where}.inputs.{role}", path)
    for name, task in params.eval.tasks.items():
        for side_name in ("query", "gallery"):
            side = getattr(task, side_name)
            if side is None:
                continue
            where = f"eval.tasks.{name}.{side_name}"
            if (task.dataset, side.set) not in extracted:
                raise _unknown("embedding set", f"{task.dataset}/{side.set}",
                               [f"{d}/{s}" for d, s in sorted(extracted)], f"{where}.set", path)
            if side.bridge is not None and side.bridge not in params.fit.bridges:
                raise _unknown("bridge", side.bridge, params.fit.bridges, f"{where}.bridge", path)
        if task.kind != "gap" and task.gallery is None:
            raise BridgeError(f"{path}: eval.tasks.{name}.gallery: required for a {task.kind} task")
        if task.reference is not None and task.reference not in params.eval.tasks:
            raise _unknown("task", task.reference, params.eval.tasks, f"eval.tasks.{name}.reference", path)
