"""Source registry: ``datasets.<name>.source`` names a kind, imported lazily.

A kind maps to ``module:function`` with signature
``(name, options, class_prompts) -> Source``; one module can serve several
kinds (image and audio folders share their scanning code).
"""

from __future__ import annotations

import difflib
import importlib
from typing import Any

from pipeline.errors import BridgeError
from pipeline.sources.base import Source

#: source kind -> ``module:function`` building the source
KINDS: dict[str, str] = {
    "synthetic": "pipeline.sources.synthetic:load",
    "table": "pipeline.sources.table:load",
    "image_folder": "pipeline.sources.folder:load_images",
    "audio_folder": "pipeline.sources.folder:load_audio",
    "digits": "pipeline.sources.digits:load",
}


def load_source(name: str, kind: str, options: dict[str, Any], class_prompts: list[str]) -> Source:
    if kind not in KINDS:
        close = difflib.get_close_matches(kind, KINDS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise BridgeError(f"dataset {name!r}: unknown source {kind!r}{hint}; known: {sorted(KINDS)}")
    module, _, function = KINDS[kind].partition(":")
    return getattr(importlib.import_module(module), function)(name, dict(options), list(class_prompts))
