"""Frozen encoders: named towers that turn payloads into vectors.

An encoder (CLIP, CLAP, a sentence-transformer, the synthetic world's) has
towers such as ``text``, ``image`` or ``audio``; each tower consumes rows of
one modality and has a fixed output dim. Adapters for each family live in
their own module and are found through ``embridge.encoders.registry``.

A tower's work is split in two so extraction runs at the encoder's speed:
``preprocess`` (a small picklable callable: decode files, resize, resample,
flag bad items) can run in worker processes, while ``encode`` does only the
forward pass in the main process. ``lengths`` lets extraction batch texts of
similar length together, which is what makes padded transformer batches cheap.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from embridge.core.errors import BridgeError
from embridge.core.validation import StrictModel, validate
from embridge.encoders.preprocess import Passthrough, Preprocess, TextCheck


class Tower(ABC):
    """One input modality of an encoder.

    ``preprocess`` turns a batch of payloads (texts, paths, arrays) into a
    :class:`~embridge.encoders.preprocess.Prepared` batch: the model input of
    the good items plus which items failed and why. ``parallel`` says the
    preprocessing is heavy enough (image or audio decoding) to be worth
    worker processes; it must then be picklable.
    """

    name: str
    modality: str
    dim: int
    parallel: bool = False
    #: the batch that suits this model (``encoders.<name>.options.batch_size``); overrides
    #: ``extract.batch_size``, which cannot suit a 48-d synthetic tower and a CNN at once
    batch_size: int | None = None

    @property
    def preprocess(self) -> Preprocess:
        """Default: payloads are model input already (the synthetic world's vectors)."""
        return Passthrough()

    def lengths(self, payloads: np.ndarray) -> np.ndarray | None:
        """Sort key for length batching; None keeps row order."""
        return None

    @abstractmethod
    def encode(self, prepared: Any) -> np.ndarray:
        """Embed a prepared batch: float32 ``[n, dim]`` (not yet normalised)."""


class TextTower(Tower):
    """A tower over texts: empty texts are bad items, batches are formed by length (characters)."""

    name = modality = "text"

    @property
    def preprocess(self) -> Preprocess:
        return TextCheck()

    def lengths(self, payloads: np.ndarray) -> np.ndarray | None:
        return np.fromiter(map(len, payloads), dtype=np.int64, count=len(payloads))


class Encoder(ABC):
    """A frozen encoder: its towers and its identity for the manifest."""

    family: str
    towers: dict[str, Tower]

    @abstractmethod
    def identity(self) -> dict[str, Any]:
        """{"model": ..., "revision" or "weights_sha256": ...}: what produced the vectors."""

    def tower(self, name: str) -> Tower:
        if name not in self.towers:
            raise BridgeError(f"encoder {self.identity().get('model')!r} has no tower {name!r}; "
                              f"towers: {sorted(self.towers)}")
        return self.towers[name]


class Options(StrictModel):
    """Base of each family's ``encoders.<name>.options``: unknown keys are errors, not silently ignored."""


def parse_options(cls: type[Options], options: dict[str, Any], spec: str) -> Any:
    """Validate ``options`` for encoder ``spec``; the first problem becomes one line naming the key."""
    return validate(cls, options, prefix=("options",), context=f"encoder {spec!r}")
