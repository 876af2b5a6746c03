"""embridge: fit small bridges between frozen embedding spaces, and evaluate zero-shot transfer.

>>> import numpy as np, embridge
>>> x = np.random.default_rng(0).normal(size=(400, 16)).astype("float32")
>>> bridge = embridge.fit("linear", {"source": x, "target": x[:, :8]})
>>> bridge.transform(x[:3], role="source").shape
(3, 8)

The names below are the public API; everything else is the pipeline's own machinery and may change.
They are imported on first use, so ``import embridge`` costs nothing and a pipeline stage that imports
``embridge.core`` never pulls in the bridges or the store.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: public name -> the module that defines it
_PUBLIC = {
    "fit": "embridge.api", "load": "embridge.api", "open_set": "embridge.api", "read_set": "embridge.api",
    "list_methods": "embridge.api", "list_encoders": "embridge.api", "list_sources": "embridge.api",
    "list_task_kinds": "embridge.api",
    "Bridge": "embridge.bridges.base", "MethodParams": "embridge.bridges.base",
    "BridgedEncoder": "embridge.query",
    "EmbeddingSet": "embridge.store.embedding_set",
    "Space": "embridge.core.vectors", "Vectors": "embridge.core.vectors",
    "BridgeError": "embridge.core.errors",
}

__all__ = [
    "Bridge",
    "BridgeError",
    "BridgedEncoder",
    "EmbeddingSet",
    "MethodParams",
    "Space",
    "Vectors",
    "__version__",
    "fit",
    "list_encoders",
    "list_methods",
    "list_sources",
    "list_task_kinds",
    "load",
    "open_set",
    "read_set",
]


def __getattr__(name: str) -> Any:
    """A public name, imported from its module on first use (PEP 562)."""
    if name not in _PUBLIC:
        raise AttributeError(f"module 'embridge' has no attribute {name!r}")
    value = getattr(importlib.import_module(_PUBLIC[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """The public names beside the module's own, for ``dir()``, ``help()`` and completion."""
    return sorted({*globals(), *__all__})


if TYPE_CHECKING:  # what type checkers and editors see; at run time __getattr__ imports on first use
    from embridge.api import (
        fit,
        list_encoders,
        list_methods,
        list_sources,
        list_task_kinds,
        load,
        open_set,
        read_set,
    )
    from embridge.bridges.base import Bridge, MethodParams
    from embridge.core.errors import BridgeError
    from embridge.core.vectors import Space, Vectors
    from embridge.query import BridgedEncoder
    from embridge.store.embedding_set import EmbeddingSet
