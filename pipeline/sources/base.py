"""Source rows: what a dataset hands to extraction, one modality at a time.

A row is ``id`` + one payload (text, image path or array, audio path or
array, or a vector) + optional ``label``, ``split`` and ``group``. Rows that
are pairs of each other across modalities share a ``group`` (an image and its
five captions). Rows are columnar: one numpy array per field, so selecting a
shard or a split never loops in Python.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

#: ``split`` value of class-prompt rows used by zero-shot classification.
PROMPT_SPLIT = "prompt"


@dataclass
class Rows:
    """Columnar rows of one modality. ``payload`` is indexable by row."""

    modality: str
    ids: np.ndarray  # str [n], unique
    payload: Sequence[Any] | np.ndarray  # texts, paths, or a float array [n, d]
    labels: np.ndarray  # str [n] ("" when unlabelled; "a|b" for multi-label)
    splits: np.ndarray  # str [n]
    groups: np.ndarray  # str [n]

    def __len__(self) -> int:
        return len(self.ids)

    def take(self, index: np.ndarray | slice) -> "Rows":
        """The rows at ``index`` (array of positions or a slice)."""
        payload = self.payload[index] if isinstance(self.payload, np.ndarray) or isinstance(index, slice) \
            else [self.payload[i] for i in np.asarray(index)]
        return Rows(self.modality, self.ids[index], payload, self.labels[index], self.splits[index],
                    self.groups[index])

    def fingerprint(self) -> str:
        """sha256 over ids, metadata and payload: changes when any row does."""
        h = hashlib.sha256(self.modality.encode())
        for column in (self.ids, self.labels, self.splits, self.groups):
            h.update("\x1f".join(column.tolist()).encode())
        if isinstance(self.payload, np.ndarray) and self.payload.dtype != object:
            h.update(np.ascontiguousarray(self.payload).tobytes())
        else:
            h.update("\x1f".join(map(str, self.payload)).encode())
        return h.hexdigest()


class Source(ABC):
    """A dataset. Subclasses read tables, folders, packaged data, or a world."""

    #: name of the dataset in params.yaml
    name: str

    @abstractmethod
    def modalities(self) -> list[str]:
        """The modalities this source has rows for."""

    @abstractmethod
    def rows(self, modality: str) -> Rows:
        """All rows of ``modality`` (payloads are cheap: text, paths or vectors)."""
