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
from typing import Annotated, Any, Literal

import yaml
from pydantic import Field, PrivateAttr, ValidationError, field_validator

from embridge.core.catalog import KINDS, METHODS, SOURCES, split_model
from embridge.core.errors import BridgeError
from embridge.core.names import check_name
from embridge.core.registry import USER_PREFIX, split_user_target
from embridge.core.validation import StrictModel, one_line


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
    shard_rows: int = Field(250_000, gt=0, le=50_000_000)
    batch_size: int = Field(256, gt=0, le=1_000_000)
    normalize: bool = True
    on_error: Literal["fail", "skip"] = "fail"
    #: processes decoding images / audio ahead of the forward pass; null means all cores but one (at most 8),
    #: 0 decodes in the main process. Not part of any set's identity: it changes speed, never vectors
    workers: int | None = Field(None, ge=0, le=64)
    sets: dict[str, SetRef] = Field(default_factory=dict)


class Subset(StrictModel):
    """Which rows of a set a bridge role or a task side uses, beyond its split.

    Groups are chosen by a seeded hash of the group's own name (``group_uniform``), so an item and its
    captions stay together and adding a group moves no other: ``fraction`` keeps that share of the
    groups, ``part: i/n`` the i-th of n disjoint parts (drawn from another hash stream, so the two
    combine), ``labels`` the rows whose label (or one of whose ``a|b`` labels) is listed. Two roles
    with ``part: 0/2`` and ``part: 1/2`` and one seed never share a group: the held-out protocol.
    """

    split: list[str] | None = Field(None, min_length=1, description="fit roles only (default [train]); a "
                                    "task side names its split in `split`")
    fraction: float = Field(1.0, gt=0, le=1)
    part: str | None = Field(None, pattern=r"^\d+/[1-9]\d*$", description="i/n: the i-th of n disjoint group parts")
    labels: list[str] | None = Field(None, min_length=1)
    seed: int = 0

    @field_validator("part")
    @classmethod
    def _part_in_range(cls, part: str | None) -> str | None:
        if part is not None and int(part.split("/")[0]) >= int(part.split("/")[1]):
            raise ValueError(f"part {part!r}: i must be below n")
        return part

    def keep(self, groups: Any, labels: Any) -> Any:
        """Boolean mask of the rows this subset keeps (split aside)."""
        import numpy as np

        from embridge.core.vectors import group_uniform

        keep = np.ones(len(groups), dtype=bool)
        if self.fraction < 1 or self.part is not None:
            unique, inverse = np.unique(np.asarray(groups, dtype=str), return_inverse=True)
            if self.fraction < 1:
                keep &= (group_uniform(unique, self.seed) < self.fraction)[inverse]
            if self.part is not None:
                i, n = map(int, self.part.split("/"))
                keep &= (np.floor(group_uniform(unique, self.seed ^ 0x5BD1E995) * n) == i)[inverse]
        if self.labels is not None:
            labels = np.asarray(labels, dtype=str)
            hit = np.isin(labels, self.labels)
            multi = np.flatnonzero(np.char.find(labels, "|") >= 0)  # "a|b" rows: any of their labels
            wanted = set(self.labels)
            hit[multi] = [bool(wanted & set(x.split("|"))) for x in labels[multi]]
            keep &= hit
        return keep


class BridgeSpec(StrictModel):
    method: str
    inputs: dict[str, str] = Field(description="role -> an embedding set of extract.sets")
    params: dict[str, Any] = Field(default_factory=dict)
    subsets: dict[str, Subset] = Field(default_factory=dict, description="role -> the rows of its set it fits on")
    seeds: list[int] = Field(default_factory=list, max_length=20, description="fit once per seed (the method's "
                             "`seed` param), in artifacts/bridges/<name>/seed-<s>; its tasks report mean and std")

    @field_validator("seeds")
    @classmethod
    def _distinct(cls, seeds: list[int]) -> list[int]:
        if len(set(seeds)) != len(seeds):
            raise ValueError(f"seeds must be distinct, got {seeds}")
        return seeds


class FitSection(StrictModel):
    bridges: dict[str, BridgeSpec] = Field(default_factory=dict)


class TaskSide(StrictModel):
    set: str = Field(description="an embedding set of extract.sets")
    bridge: str | None = None
    split: str = "test"
    subset: Subset | None = None

    @field_validator("subset")
    @classmethod
    def _no_split(cls, subset: Subset | None) -> Subset | None:
        if subset is not None and subset.split is not None:
            raise ValueError("a task side names its split in `split`, not in `subset.split`")
        return subset


class TaskSpec(StrictModel):
    kind: str = Field(description="a task kind (`bridge tasks`; declared in pipeline/evaluate/tasks.py)")
    query: TaskSide
    gallery: TaskSide | None = Field(None, description="retrieval gallery, class prompts, or gap partner")
    reference: str | None = Field(None, description="task whose score is the preservation reference")
    options: dict[str, Any] = Field(default_factory=dict, description="the kind's options (`bridge tasks`), "
                                    "validated by the eval stage that runs the task")
    sides: list[TaskSide] = Field(default_factory=list, description="more sides after the query: the emergent "
                                  "matrix's other modalities, the probe's concatenated spaces")

    def all_sides(self) -> list[tuple[str, TaskSide]]:
        """``(where, side)`` of every side the task reads: query, gallery, ``sides.<i>``."""
        named = [("query", self.query), ("gallery", self.gallery)]
        return [(w, s) for w, s in named if s is not None] + [(f"sides.{i}", s) for i, s in enumerate(self.sides)]


class EvalSection(StrictModel):
    index: Literal["exact", "ivf", "hnsw", "auto"] = "exact"
    ks: list[Annotated[int, Field(ge=1, le=100_000)]] = Field(default_factory=lambda: [1, 5, 10], min_length=1)
    tasks: dict[str, TaskSpec] = Field(default_factory=dict)


class Params(StrictModel):
    """The whole params file; ``names(section)`` is what a stage runs when the command names nothing."""

    worlds: dict[str, dict[str, Any]] = Field(default_factory=dict,
                                              description="checked by the stages that build a world (extract)")
    datasets: dict[str, DatasetSpec] = Field(default_factory=dict)
    encoders: dict[str, EncoderSpec] = Field(default_factory=dict)
    extract: ExtractSection = Field(default_factory=ExtractSection)
    fit: FitSection = Field(default_factory=FitSection)
    eval: EvalSection = Field(default_factory=EvalSection)
    _path: str = PrivateAttr("params.yaml")  # the file it was read from, for messages

    @property
    def path(self) -> str:
        return self._path


    def names(self, section: str, asked: list[str] | None, path: str = "params.yaml") -> list[str]:
        """``asked`` or every entry of ``section`` (``extract.sets``, ...); an empty section is an error,
        not a run that silently does nothing."""
        if asked:
            return list(asked)
        node: Any = self
        for part in section.split("."):
            node = getattr(node, part)
        if not node:
            raise BridgeError(f"{path}: {section} is empty: nothing to run")
        return sorted(node)


# -- loading ---------------------------------------------------------------------------------

class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, except that a mapping naming one key twice is an error: PyYAML keeps the last
    silently, so a duplicated bridge or task would replace the first without a word."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)  # type: ignore[no-untyped-call]
            try:
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"key {str(key)[:80]!r} appears twice (lines {seen[key]} and "
                        f"{key_node.start_mark.line + 1})", key_node.start_mark)
                seen[key] = key_node.start_mark.line + 1
            except TypeError:  # an unhashable key: the base loader reports it
                pass
        return super().construct_mapping(node, deep)


def read_yaml(text: str) -> Any:
    """Parse YAML with the safe loader, refusing duplicate keys (``_UniqueKeyLoader``)."""
    return yaml.load(text, Loader=_UniqueKeyLoader)


def load_params(path: str | Path = "params.yaml", overrides: list[str] | None = None) -> Params:
    """Read, override, validate and cross-check ``path``; raise BridgeError naming the key."""
    path = Path(path)
    try:
        raw = read_yaml(path.read_text()) or {}
    except FileNotFoundError:
        raise BridgeError(f"{path}: params file not found") from None
    except IsADirectoryError:
        raise BridgeError(f"{path}: is a directory, not a params file") from None
    except (PermissionError, UnicodeDecodeError) as e:
        raise BridgeError(f"{path}: cannot read ({type(e).__name__})") from None
    except yaml.YAMLError as e:
        problem = getattr(e, "problem", None)
        detail = f": {problem}" if isinstance(e, yaml.constructor.ConstructorError) and problem else ""
        raise BridgeError(f"{path}: not valid YAML{_yaml_where(e)}{detail}") from None
    if not isinstance(raw, dict):
        raise BridgeError(f"{path}: top level must be a mapping of sections")
    if not raw:
        raise BridgeError(f"{path}: is empty; it must define at least one of extract.sets, fit.bridges, eval.tasks")
    given: set[str] = set()
    for item in overrides or []:
        key = item.partition("=")[0]
        if key in given:
            raise BridgeError(f"--set {key[:200]!r} is given twice; give each key once")
        given.add(key)
        _apply_override(raw, item, path)
    try:
        params = Params.model_validate(raw)
    except ValidationError as e:
        raise BridgeError(f"{path}: {one_line(e, Params)}") from None
    params._path = str(path)
    _check_names(params, path)
    _check_references(params, path)
    return params


def _yaml_where(e: yaml.YAMLError) -> str:
    mark = getattr(e, "problem_mark", None)
    return f" at line {mark.line + 1}" if mark else ""


def _check_names(params: Params, path: Path) -> None:
    """Every name a path will be built from is a safe identifier (``core/names.py``), checked up front."""
    declared = {"worlds": params.worlds, "datasets": params.datasets, "encoders": params.encoders,
                "extract.sets": params.extract.sets, "fit.bridges": params.fit.bridges,
                "eval.tasks": params.eval.tasks}
    for section, entries in declared.items():
        for name in entries:
            check_name(name, f"{path}: {section}")
    for name, ref in params.extract.sets.items():
        for field in ("dataset", "encoder", "tower"):
            check_name(getattr(ref, field), f"{path}: extract.sets.{name}.{field}")
    for name, spec in params.fit.bridges.items():
        for role, set_name in spec.inputs.items():
            check_name(role, f"{path}: fit.bridges.{name}.inputs")
            check_name(set_name, f"{path}: fit.bridges.{name}.inputs.{role}")
    for name, task in params.eval.tasks.items():
        for side_name in ("query", "gallery"):
            side = getattr(task, side_name)
            if side is not None:
                check_name(side.set, f"{path}: eval.tasks.{name}.{side_name}.set")
                if side.bridge is not None:
                    check_name(side.bridge, f"{path}: eval.tasks.{name}.{side_name}.bridge")





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
    try:
        node[leaf] = read_yaml(value)
    except yaml.YAMLError as e:
        problem = getattr(e, "problem", None)
        raise BridgeError(f"override {item[:200]!r}: the value is not valid YAML"
                          f"{f' ({problem})' if problem else ''}") from None


def unknown_name(kind: str, name: str, known: Iterable[str], where: str, path: Path) -> BridgeError:
    known = sorted(known)
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else f"; defined: {', '.join(known) or 'none'}"
    return BridgeError(f"{path}: {where}: unknown {kind} {name!r}{hint}")


def _check_references(params: Params, path: Path) -> None:
    """Names used in one section must be defined in another; method params must validate."""
    for name, dataset in params.datasets.items():
        try:
            SOURCES.get(dataset.source)
        except BridgeError as e:
            raise BridgeError(f"{path}: datasets.{name}.source: {e}") from None
    for name, spec in params.encoders.items():
        try:
            split_model(spec.model)
        except BridgeError as e:
            raise BridgeError(f"{path}: encoders.{name}.model: {e}") from None
    for name, ref in params.extract.sets.items():
        if ref.dataset not in params.datasets:
            raise unknown_name("dataset", ref.dataset, params.datasets, f"extract.sets.{name}.dataset", path)
        if ref.encoder not in params.encoders:
            raise unknown_name("encoder", ref.encoder, params.encoders, f"extract.sets.{name}.encoder", path)
    sets = params.extract.sets
    for name, spec in params.fit.bridges.items():
        where = f"fit.bridges.{name}"
        # a name check only: the fit validates the method's params (``fit.validate_method_params``), so
        # reading params.yaml imports neither torch nor a user's module
        try:
            if spec.method.startswith(USER_PREFIX):
                split_user_target(spec.method, "bridge method", "python:my_methods:Whitening")
            else:
                METHODS.get(spec.method)
        except BridgeError as e:
            raise BridgeError(f"{path}: {where}.method: {e}") from None
        for role, set_name in spec.inputs.items():
            if set_name not in sets:
                raise unknown_name("embedding set", set_name, sets, f"{where}.inputs.{role}", path)
        for role in spec.subsets:
            if role not in spec.inputs:
                raise unknown_name("role", role, spec.inputs, f"{where}.subsets", path)
    for name, task in params.eval.tasks.items():
        try:
            KINDS.get(task.kind)
        except BridgeError as e:
            raise BridgeError(f"{path}: eval.tasks.{name}.kind: {e}") from None
        for side_name, side in task.all_sides():
            where = f"eval.tasks.{name}.{side_name}"
            if side.set not in sets:
                raise unknown_name("embedding set", side.set, sets, f"{where}.set", path)
            if side.bridge is not None and side.bridge not in params.fit.bridges:
                raise unknown_name("bridge", side.bridge, params.fit.bridges, f"{where}.bridge", path)
        shape = KINDS.get(task.kind).info
        if shape.get("gallery", True) and task.gallery is None:
            raise BridgeError(f"{path}: eval.tasks.{name}.gallery: required for a {task.kind} task")
        if not shape.get("gallery", True) and task.gallery is not None:
            raise BridgeError(f"{path}: eval.tasks.{name}.gallery: {task.kind} tasks take their sides from "
                              "query and sides, not a gallery")
        if task.sides and not shape.get("sides"):
            raise BridgeError(f"{path}: eval.tasks.{name}.sides: {task.kind} tasks have no extra sides "
                              "(only emergent and probe tasks do)")
        if len(task.sides) + 1 < shape.get("min_sides", 1):
            raise BridgeError(f"{path}: eval.tasks.{name}.sides: {task.kind} tasks need at least "
                              f"{shape['min_sides']} sides (query plus sides), got {len(task.sides) + 1}")
        if task.reference is not None and task.reference not in params.eval.tasks:
            raise unknown_name("task", task.reference, params.eval.tasks, f"eval.tasks.{name}.reference", path)
