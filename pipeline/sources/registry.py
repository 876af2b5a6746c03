"""Load a dataset's source: ``datasets.<name>.source`` names a kind of ``core/catalog.py``, imported lazily.

A kind maps to ``module:function`` with signature
``(name, options, class_prompts) -> Source``; one module can serve several
kinds (image and audio folders share their scanning code).
"""

from __future__ import annotations

from typing import Any

from embridge.core.catalog import SOURCES
from embridge.core.errors import BridgeError
from embridge.sources.base import Source


def load_source(name: str, kind: str, options: dict[str, Any], class_prompts: list[str]) -> Source:
    try:
        factory = SOURCES.load(kind)
    except BridgeError as e:
        raise BridgeError(f"dataset {name!r}: {e}") from None
    return factory(name, dict(options), list(class_prompts))
