"""Load an encoder from its ``<family>:<model>`` string (families are declared in ``core/catalog.py``).

Families are imported lazily so that
the synthetic world never pays for importing torch, and ``bridge encoders``
can list every family without loading any model. ``python:module:attr``
loads a user's own ``Encoder`` subclass or factory.
"""

from __future__ import annotations

from typing import Any

from embridge.core.catalog import FAMILIES, split_model
from embridge.core.errors import BridgeError
from embridge.encoders.base import Encoder


def load_encoder(spec: str, options: dict[str, Any] | None = None) -> Encoder:
    """Load the encoder named by ``spec`` with family-specific ``options``.

    ``batch_size`` is an option of every family: it is taken out here and set
    on each tower.
    """
    family, model = split_model(spec)
    options = dict(options or {})
    batch_size = options.pop("batch_size", None)
    if batch_size is not None and (not isinstance(batch_size, int) or isinstance(batch_size, bool)
                                   or batch_size <= 0):
        raise BridgeError(f"encoder {spec!r}: options.batch_size: expected a positive integer, got {batch_size!r}")
    encoder = FAMILIES.load(family)(model, options)
    for tower in encoder.towers.values():
        tower.batch_size = batch_size
    return encoder
