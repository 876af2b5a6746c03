"""Load an embedding set (or one split of it) into memory for fitting and evaluation."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from embridge.core.errors import BridgeError
from embridge.core.vectors import Space, Vectors
from embridge.store.embedding_set import EmbeddingSet


def load_vectors(path: Path, splits: tuple[str, ...] | None = None) -> Vectors:
    """Rows of the set at ``path`` whose split is in ``splits`` (all rows if None), as float32."""
    eset = EmbeddingSet(path)
    encoder = eset.manifest["encoder"]
    space = Space(encoder["name"], encoder["tower"], eset.dim)
    meta, vectors = eset.select(splits, np.float32)
    if len(vectors) == 0:
        raise BridgeError(f"{path}: no rows with split in {list(splits or [])}; "
                          f"splits present: {np.unique(eset.column('split')).tolist()}")
    return Vectors(space, meta["id"], meta["label"], meta["group"], meta["split"], vectors, eset.fingerprint)
