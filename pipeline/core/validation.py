"""Validation errors as one line: the key path, what was expected, what was given, a close match.

Every user-written mapping (params.yaml sections, a method's params, an
encoder's or a source's options, a bridge.json) is a pydantic model that
forbids unknown keys; this turns its first error into the one line the CLI
prints, e.g. ``fit.bridges.x.params.lr: expected a number, got 'fast'``.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from embridge.core.errors import BridgeError


class StrictModel(BaseModel):
    """A user-written mapping: unknown keys are errors, values are immutable, and a number is finite
    (``.nan`` or ``.inf`` where a number is meant would pass a range check and die later in LAPACK)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


_TYPE_WORDS = {"float_parsing": "a number", "int_parsing": "an integer", "bool_parsing": "true or false",
               "string_type": "a string", "dict_type": "a mapping", "list_type": "a list",
               "int_from_float": "an integer", "float_type": "a number", "int_type": "an integer",
               "model_type": "a mapping", "bool_type": "true or false", "dataclass_type": "a mapping"}


class _Short:
    """A value as a message quotes it: its repr, cut to ``LIMIT`` characters (a list of a million seeds is not
    a message)."""

    LIMIT = 80

    def __init__(self, value: Any) -> None:
        self.value = value

    def __repr__(self) -> str:
        text = repr(self.value)
        return text if len(text) <= self.LIMIT else f"{text[:self.LIMIT - 20]} ... ({len(text)} characters)"

    def __str__(self) -> str:
        return repr(self) if not isinstance(self.value, str) else str(self.value)[:self.LIMIT]


def one_line(error: ValidationError, model: Any, prefix: tuple = ()) -> str:
    """The first error of ``error`` (raised validating ``model``) as ``a.b.c: message``."""
    err = error.errors()[0]
    loc = prefix + tuple(err["loc"])
    where = ".".join(str(p) for p in loc) or "(top level)"
    kind, got = err["type"], _Short(err.get("input"))
    if kind == "value_error":
        return f"{where}: {err['msg'].removeprefix('Value error, ')}"
    if kind in ("extra_forbidden", "unexpected_keyword_argument"):
        known = fields_at(model, tuple(err["loc"])[:-1])
        close = difflib.get_close_matches(str(loc[-1]), known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else (f"; known keys: {', '.join(known)}" if known else "")
        return f"{where}: unknown key{hint}"
    if kind == "missing":
        return f"{where}: required key is missing"
    if kind in _TYPE_WORDS:
        return f"{where}: expected {_TYPE_WORDS[kind]}, got {got!r}"
    if kind == "finite_number":
        return f"{where}: expected a finite number, got {got!r}"
    if kind == "literal_error":
        expected = err.get("ctx", {}).get("expected", "")
        choices = [s.strip(" '") for s in expected.replace(" or ", ",").split(",")]
        close = difflib.get_close_matches(str(got.value), choices, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"{where}: expected one of {expected}, got {got!r}{hint}"
    return f"{where}: {err['msg']}, got {got!r}"


def fields_at(model: Any, loc: tuple) -> list[str]:
    """Field names of the model found at ``loc`` under ``model`` (dict keys are skipped over)."""
    node: Any = model
    for part in loc:
        if isinstance(node, type) and issubclass(node, BaseModel) and isinstance(part, str) \
                and part in node.model_fields:
            node = node.model_fields[part].annotation
        elif typing.get_origin(node) is dict:
            node = typing.get_args(node)[1]
        else:
            return []
        if typing.get_origin(node) in (typing.Union, types.UnionType):
            node = next((a for a in typing.get_args(node) if isinstance(a, type) and issubclass(a, BaseModel)), node)
    if dataclasses.is_dataclass(node):
        return sorted(f.name for f in dataclasses.fields(node))
    return sorted(node.model_fields) if isinstance(node, type) and issubclass(node, BaseModel) else []


def validate(model: type, data: Any, prefix: tuple = (), context: str = "") -> Any:
    """``model`` validated from ``data``, or a BridgeError ``<context>: <key path>: <problem>``."""
    try:
        if isinstance(model, type) and issubclass(model, BaseModel):
            return model.model_validate(data)
        from pydantic import TypeAdapter

        return TypeAdapter(model).validate_python(data)
    except ValidationError as e:
        line = one_line(e, model, prefix)
        raise BridgeError(f"{context}: {line}" if context else line) from None
