"""Frozen encoders: named towers that turn payloads into vectors.

An encoder (CLIP, CLAP, a sentence-transformer, the synthetic world's) has
towers such as ``text``, ``image`` or ``audio``; each tower consumes rows of
one modality and has a fixed output dim. Adapters for each family live in
their own module and are found through ``pipeline.encoders.registry``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Sequence

import numpy as np


class Tower(ABC):
    """One input modality of an encoder.

    ``encode`` takes a batch of payloads (texts, paths, arrays) and returns a
    float32 array ``[n, dim]``. Heavy decoding can be split out into
    ``prepare`` (run in worker processes) so ``encode`` does only the forward.
    """

    name: str
    modality: str
    dim: int

    def prepare(self, payloads: Sequence[Any]) -> Any:
        """CPU-side decoding/preprocessing of a batch; identity by default."""
        return payloads

    @abstractmethod
    def encode(self, prepared: Any) -> np.ndarray:
        """Embed a prepared batch: float32 ``[n, dim]`` (not yet normalised)."""


class Encoder(ABC):
    """A frozen encoder: its towers and its identity for the manifest."""

    family: str
    towers: dict[str, Tower]

    @abstractmethod
    def identity(self) -> dict[str, Any]:
        """{"model": ..., "revision" or "weights_sha256": ...}: what produced the vectors."""

    def tower(self, name: str) -> Tower:
        from pipeline.errors import BridgeError

        if name not in self.towers:
            raise BridgeError(f"encoder {self.identity().get('model')!r} has no tower {name!r}; "
                              f"towers: {sorted(self.towers)}")
        return self.towers[name]
