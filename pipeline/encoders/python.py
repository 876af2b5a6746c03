"""``python:module:attr``: a user's own encoder, without forking this package.

``attr`` is an :class:`~embridge.encoders.base.Encoder` subclass or a factory
returning one; it is called with the encoder's ``options`` as keyword
arguments. The current directory is importable, so a ``my_encoders.py`` next
to ``params.yaml`` works as ``python:my_encoders:MyEncoder``. Towers get the
same length batching, worker-process preprocessing (set ``parallel = True``
and a picklable ``preprocess``, e.g. :class:`ImagePreprocess`) and bad-item
handling as the built-in families.
"""

from __future__ import annotations

from typing import Any

from embridge.core.errors import BridgeError
from embridge.core.registry import import_user
from embridge.encoders.base import Encoder


def load(model: str, options: dict[str, Any]) -> Encoder:
    factory = import_user(f"python:{model}", "encoder", "python:my_encoders:MyEncoder")
    attr = model.rpartition(":")[2]
    try:
        encoder = factory(**options)
    except TypeError as e:
        raise BridgeError(f"encoder 'python:{model}': bad options {sorted(options)} ({e})") from None
    if not isinstance(encoder, Encoder):
        raise BridgeError(f"encoder 'python:{model}': {attr} returned {type(encoder).__name__}, "
                          f"not a embridge.encoders.base.Encoder")
    return encoder
