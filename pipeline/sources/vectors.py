"""``vectors`` source: embeddings computed elsewhere, read as rows whose payload is the vector.

Two layouts, read with pyarrow one file at a time (memory: the vectors of the set plus one file):

* ``parquet``: a Parquet file, directory or glob, one row per item, the vector in a list-of-float column
  (``options.columns.embedding``, default ``embedding``; a fixed-size list or a list of equal lengths);
* ``clip-retrieval``: ``<path>/<emb>/*.npy`` (float ``[n, d]`` each) beside ``<path>/metadata/*.parquet``
  of the same rows, file k with file k (``options.emb``: ``img_emb`` or ``text_emb``, clip-retrieval's
  names); the metadata's ``key`` (or ``options.columns.id``) is the id.

Ids, labels, splits and groups come from the usual columns (``columns.id``, ``label``, ``split``,
``group``); a missing ``split`` is drawn per group and ``group`` defaults to the id, as in ``table``.
Pair with the ``precomputed`` encoder, whose ``dim`` and tower the vectors must match.
"""

from __future__ import annotations

import glob
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import Field

from pipeline.core.errors import BridgeError
from pipeline.sources.base import Rows, Source, SourceOptions, assign_splits, parse_source_options


class VectorColumns(SourceOptions):
    id: str = "id"
    embedding: str = "embedding"
    label: str = "label"
    split: str = "split"
    group: str = "group"


class VectorsOptions(SourceOptions):
    path: str
    layout: Literal["parquet", "clip-retrieval"] = "parquet"
    modality: str = "image"
    emb: str = "img_emb"
    columns: VectorColumns = Field(default_factory=VectorColumns)
    test_fraction: float = Field(0.2, ge=0.0, le=1.0)
    seed: int = 0


def _files(pattern: str, suffix: str) -> list[Path]:
    path = Path(pattern)
    found = sorted(path.glob(f"*{suffix}")) if path.is_dir() else [Path(p) for p in sorted(glob.glob(pattern))]
    if not found:
        raise BridgeError(f"{pattern}: no {suffix} files")
    # numeric order of trailing numbers (emb_2 before emb_10), as clip-retrieval numbers its parts
    return sorted(found, key=lambda p: (p.stem.rstrip("0123456789"), int("0" + p.stem[len(p.stem.rstrip("0123456789")):])))


def _float_matrix(column: pa.ChunkedArray, file: Path, name: str) -> np.ndarray:
    if not (pa.types.is_list(column.type) or pa.types.is_fixed_size_list(column.type)
            or pa.types.is_large_list(column.type)) or not pa.types.is_floating(column.type.value_type):
        raise BridgeError(f"{file}: column {name!r} must hold lists of floats (the vectors), it holds {column.type}")
    array = column.combine_chunks()
    lengths = array.value_lengths().to_numpy(zero_copy_only=False) if not pa.types.is_fixed_size_list(array.type) \
        else np.full(len(array), array.type.list_size)
    if array.null_count:
        raise BridgeError(f"{file}: column {name!r}: row {int(np.flatnonzero(array.is_null().to_numpy(zero_copy_only=False))[0]) + 1} is null")
    if len(lengths) and (lengths != lengths[0]).any():
        row = int(np.flatnonzero(lengths != lengths[0])[0])
        raise BridgeError(f"{file}: column {name!r}: row {row + 1} has {lengths[row]} values, row 1 has {lengths[0]}")
    values = array.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
    return values.reshape(len(array), int(lengths[0]) if len(lengths) else 0)


def _strings(table: pa.Table, name: str, default: np.ndarray | None) -> np.ndarray | None:
    if name not in table.column_names:
        return default
    return np.array([("" if v is None else str(v)) for v in table.column(name).to_pylist()], dtype=str)


class VectorsSource(Source):
    def __init__(self, name: str, opts: VectorsOptions) -> None:
        self.name, self.opts = name, opts
        cols = opts.columns
        parts: list[tuple[pa.Table, np.ndarray, Path]] = []
        if opts.layout == "parquet":
            for file in _files(opts.path, ".parquet"):
                table = self._read(file)
                if cols.embedding not in table.column_names:
                    raise BridgeError(f"{file}: no column {cols.embedding!r} (datasets.{name}.options.columns."
                                      f"embedding); columns: {', '.join(table.column_names)}")
                parts.append((table.drop_columns([cols.embedding]), _float_matrix(table.column(cols.embedding),
                                                                                   file, cols.embedding), file))
        else:
            embs = _files(str(Path(opts.path) / opts.emb), ".npy")
            metas = _files(str(Path(opts.path) / "metadata"), ".parquet")
            if len(embs) != len(metas):
                raise BridgeError(f"{opts.path}: {len(embs)} .npy files in {opts.emb}/ but {len(metas)} in metadata/")
            for emb, meta in zip(embs, metas, strict=True):
                try:
                    vectors = np.load(emb, mmap_mode="r", allow_pickle=False)
                except ValueError as e:
                    raise BridgeError(f"{emb}: not a .npy array ({e})") from None
                table = self._read(meta)
                if vectors.ndim != 2 or len(vectors) != table.num_rows:
                    raise BridgeError(f"{emb}: {list(vectors.shape)} vectors for {table.num_rows} metadata rows in {meta}")
                parts.append((table, np.asarray(vectors, dtype=np.float32), emb))
        dims = {v.shape[1] for _, v, _ in parts}
        if len(dims) > 1:
            raise BridgeError(f"{opts.path}: files hold vectors of different dims {sorted(dims)}")
        id_column = cols.id if opts.layout == "parquet" or cols.id in parts[0][0].column_names else "key"
        ids = [_strings(t, id_column, None) for t, _, _ in parts]
        for (table, _, file), got in zip(parts, ids, strict=True):
            if got is None:
                raise BridgeError(f"{file}: no id column {id_column!r} (datasets.{name}.options.columns.id)")
        self._ids = np.concatenate(ids)
        if len(np.unique(self._ids)) != len(self._ids):
            raise BridgeError(f"{opts.path}: duplicate ids in column {id_column!r}")
        n = len(self._ids)
        self._vectors = np.concatenate([v for _, v, _ in parts])
        self._labels = np.concatenate([_strings(t, cols.label, np.full(t.num_rows, "")) for t, _, _ in parts])
        self._groups = np.concatenate([_strings(t, cols.group, ids[k]) for k, (t, _, _) in enumerate(parts)])
        splits = [_strings(t, cols.split, None) for t, _, _ in parts]
        self._splits = np.concatenate(splits) if all(s is not None for s in splits) else \
            assign_splits(self._groups, opts.test_fraction, opts.seed)
        assert len(self._vectors) == n

    @staticmethod
    def _read(file: Path) -> pa.Table:
        try:
            return pq.read_table(file)
        except (pa.ArrowInvalid, OSError) as e:
            raise BridgeError(f"{file}: cannot read as Parquet ({e})") from None

    def modalities(self) -> list[str]:
        return [self.opts.modality]

    def rows(self, modality: str) -> Rows:
        if modality != self.opts.modality:
            raise BridgeError(f"dataset {self.name!r} holds {self.opts.modality!r} vectors, not {modality!r}")
        return Rows(modality, self._ids, self._vectors, self._labels, self._splits, self._groups)


def load(name: str, options: dict[str, Any], class_prompts: list[str]) -> VectorsSource:
    return VectorsSource(name, parse_source_options(VectorsOptions, options, name))
