"""Copies of an embedding set that other tools read as float vectors (``bridge export``).

The store's shards keep each vector as ``fixed_size_binary`` (a memcpy to read
instead of decoding a Parquet LIST, ``formats.ParquetFormat``), which
pandas, Polars, DuckDB and embedding-reader see as opaque bytes. An export
writes the same rows in the layouts those tools expect:

* ``npy``: clip-retrieval's layout, ``<x>_emb/<x>_emb_<k>.npy`` (float32
  ``[n, d]``; ``img_emb``, ``text_emb`` or ``audio_emb`` by the set's tower)
  beside ``metadata/metadata_<k>.parquet`` (id, label, split, group), one pair
  per shard, so embedding-reader and ``np.load`` read it as they are, and the
  ``vectors`` source imports it back;
* ``parquet``: ``part-<k>.parquet`` with the metadata columns and
  ``embedding`` as ``fixed_size_list<float32>[d]``, a float array to every
  Parquet reader.

Shard by shard (memory bounded by one shard), into a folder beside ``out``
that replaces it whole once every shard is written (``replace_dir``): a
re-export never leaves an older, larger export's extra shards, and a kill
leaves the previous export as it was. ``_export.json`` names what was written
(set fingerprint, bridge, format, rows); a folder that holds anything else is
not replaced. The set is verified as it is read (``verify_shard``).
Through a bridge (``--bridge``), the vectors written are the set's rows in the
bridge's shared space: a whole dataset embedded with the bridge, for use
elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from embridge.core.columns import string_array
from embridge.core.errors import BridgeError
from embridge.core.files import atomic_write, atomic_write_json, write_dir
from embridge.store.embedding_set import EmbeddingSet
from embridge.store.formats import META_COLUMNS

EXPORTS = ("npy", "parquet")
#: clip-retrieval's folder names per tower
EMB_DIRS = {"image": "img_emb", "text": "text_emb"}


def _metadata_table(meta: dict[str, np.ndarray]) -> pa.Table:
    return pa.table({name: string_array(meta[name]) for name in META_COLUMNS})


def _save_npy(path: Path, vectors: np.ndarray) -> None:
    with open(path, "wb") as f:  # a file object: np.save on a name would append ".npy" to the temp name
        np.save(f, vectors)


def float_list(vectors: np.ndarray) -> pa.FixedSizeListArray:
    """``[n, d]`` float32 as an arrow ``fixed_size_list<float32>[d]`` array, without a copy per row."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    return pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), vectors.shape[1])


#: the card an export folder holds: what a later export may replace
EXPORT_CARD = "_export.json"  # a leading _: Parquet dataset readers skip it


def _replaceable(out: Path) -> None:
    """Refuse to replace a folder that is not an earlier export (an empty one is fine)."""
    if not out.exists():
        return
    if not out.is_dir():
        raise BridgeError(f"{out}: exists and is not a folder; --out names the export folder to write")
    if any(out.iterdir()) and not (out / EXPORT_CARD).is_file():
        raise BridgeError(f"{out}: holds files that are not an export of bridge (no {EXPORT_CARD}); choose a new "
                          "or empty folder")


def export_set(path: Path, out: Path, to: Literal["npy", "parquet"],
               transform: Callable[[np.ndarray], np.ndarray] | None = None, bridge: str | None = None) -> list[Path]:
    """Write the set at ``path`` to ``out`` as ``to``; returns the files written (in shard order).

    ``transform`` maps each shard's float32 vectors first (``bridge export --bridge``: into a bridge's
    shared space, named by ``bridge`` in the card), a shard at a time like everything else here."""
    if to not in EXPORTS:
        raise ValueError(f"export format must be one of {EXPORTS}, got {to!r}")
    out = Path(out)
    _replaceable(out)
    eset = EmbeddingSet(path)

    def write(staging: Path) -> list[Path]:
        names = _write_shards(eset, staging, to, transform)
        atomic_write_json(staging / EXPORT_CARD, {"set": eset.manifest["source"].get("dataset"),
                                                  "fingerprint": eset.fingerprint, "bridge": bridge, "format": to,
                                                  "rows": eset.rows, "files": [str(n) for n in names]})
        return names

    names = write_dir(out, write)
    return [out / n for n in names]


def _write_shards(eset: EmbeddingSet, out: Path, to: str, transform: Callable[[np.ndarray], np.ndarray] | None
                  ) -> list[Path]:
    """Every shard of ``eset`` into ``out``; returns the files' paths relative to ``out``."""
    written: list[Path] = []
    start = 0
    for k, (shard, block) in enumerate(zip(eset.manifest["shards"], eset.batches(), strict=True)):
        meta = {c: eset.meta[c][start:start + shard["rows"]] for c in META_COLUMNS}
        start += shard["rows"]
        vectors = np.asarray(block, dtype=np.float32)
        if transform is not None:
            vectors = np.ascontiguousarray(transform(vectors), dtype=np.float32)
        if to == "npy":
            name = EMB_DIRS.get(eset.manifest["encoder"]["tower"], f"{eset.manifest['encoder']['tower']}_emb")
            (out / name).mkdir(parents=True, exist_ok=True)
            (out / "metadata").mkdir(parents=True, exist_ok=True)
            emb, metadata = Path(name) / f"{name}_{k}.npy", Path("metadata") / f"metadata_{k}.parquet"
            atomic_write(out / emb, lambda tmp, vectors=vectors: _save_npy(tmp, vectors))
            atomic_write(out / metadata, lambda tmp, meta=meta: pq.write_table(_metadata_table(meta), str(tmp)))
            written += [emb, metadata]
        else:
            part = Path(f"part-{k}.parquet")
            table = _metadata_table(meta).append_column("embedding", float_list(vectors))
            atomic_write(out / part, lambda tmp, table=table: pq.write_table(table, str(tmp)))
            written.append(part)
    return written
