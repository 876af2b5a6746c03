"""Source registry: ``datasets.<name>.source`` names a kind, imported lazily."""

from __future__ import annotations

import difflib
import importlib
from typing import Any

from pipeline.errors import BridgeError
from pipeline.sources.base import Source

#: source kind -> module with ``load(name, options, class_prompts) -> Source``
KINDS: dict[str, str] = {
    "synthetic": "pipeline.sources.synthetic",
}


def load_source(name: str, kind: str, options: dict[str, Any], class_prompts: list[str]) -> Source:
    if kind not in KINDS:
        close = difflib.get_close_matches(kind, KINDS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise BridgeError(f"dataset {name!r}: unknown source {kind!r}{hint}; known: {sorted(KINDS)}")
    return importlib.import_module(KINDS[kind]).load(name, dict(options), list(class_prompts))
