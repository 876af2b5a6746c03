"""Encoder registry keyed by family prefix (``st:``, ``clip:``, ``synthetic:`` ...).

A model string is ``<family>:<model>``; families are imported lazily so that
the synthetic world never pays for importing torch. ``python:module:attr``
loads a user's own ``Encoder`` subclass or factory.
"""

from __future__ import annotations

import difflib
import importlib
from typing import Any

from pipeline.encoders.base import Encoder
from pipeline.errors import BridgeError

#: family prefix -> module with a ``load(model, options) -> Encoder`` function
FAMILIES: dict[str, str] = {
    "synthetic": "pipeline.encoders.synthetic",
}


def split_model(spec: str) -> tuple[str, str]:
    """``"st:all-MiniLM-L6-v2"`` -> ``("st", "all-MiniLM-L6-v2")``, checking the family."""
    family, sep, model = spec.partition(":")
    if not sep or not model:
        raise BridgeError(f"encoder model {spec!r} must look like '<family>:<model>' "
                          f"with family one of {sorted(FAMILIES)}")
    if family not in FAMILIES:
        close = difflib.get_close_matches(family, FAMILIES, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else f"; known: {', '.join(sorted(FAMILIES))}"
        raise BridgeError(f"unknown encoder family {family!r} in {spec!r}{hint}")
    return family, model


def load_encoder(spec: str, options: dict[str, Any] | None = None) -> Encoder:
    """Load the encoder named by ``spec`` with family-specific ``options``."""
    family, model = split_model(spec)
    module = importlib.import_module(FAMILIES[family])
    return module.load(model, dict(options or {}))
