"""``vectors`` source: embeddings computed elsewhere, read as rows whose payload is the vector.

Two layouts, read with pyarrow one file at a time (memory: one file's rows, whatever the set's size):

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

from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import Field

from embridge.core.columns import numpy_strings
from embridge.core.errors import BridgeError
from embridge.sources.base import (
    PartedRows,
    Rows,
    Source,
    SourceOptions,
    assign_splits,
    check_values,
    data_files,
    first_duplicate,
    parquet_batches,
    parse_source_options,
)


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


#: rows decoded per Parquet batch: a whole file read at once leaves its decode buffers resident in arrow's
#: pool; batches bound them (benchmarks/sources.py measures this source's peak RSS)
READ_BATCH = 32768


def _float_matrix(column: pa.ChunkedArray, file: Path, name: str, first_row: int = 0) -> np.ndarray:
    if not (pa.types.is_list(column.type) or pa.types.is_fixed_size_list(column.type)
            or pa.types.is_large_list(column.type)) or not pa.types.is_floating(column.type.value_type):
        raise BridgeError(f"{file}: column {name!r} must hold lists of floats (the vectors), it holds {column.type}")
    array = column.combine_chunks()
    lengths = array.value_lengths().to_numpy(zero_copy_only=False) if not pa.types.is_fixed_size_list(array.type) \
        else np.full(len(array), array.type.list_size)
    if array.null_count:
        row = int(np.flatnonzero(array.is_null().to_numpy(zero_copy_only=False))[0])
        raise BridgeError(f"{file}: column {name!r}: row {first_row + row + 1} is null")
    if len(lengths) and (lengths != lengths[0]).any():
        row = int(np.flatnonzero(lengths != lengths[0])[0])
        raise BridgeError(f"{file}: column {name!r}: row {first_row + row + 1} has {lengths[row]} values, "
                          f"row {first_row + 1} has {lengths[0]}")
    values = array.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
    return values.reshape(len(array), int(lengths[0]) if len(lengths) else 0)


def _part_number(file: Path) -> str:
    """``3`` of ``img_emb_3.npy`` or ``metadata_3.parquet``: what pairs a vectors file with its metadata."""
    return file.stem.rpartition("_")[2]


def _strings(table: pa.Table, name: str, default: np.ndarray | None) -> np.ndarray | None:
    if name not in table.column_names:
        return default
    column = table.column(name)
    if pa.types.is_string(column.type):
        return numpy_strings(column)
    return np.array([("" if v is None else str(v)) for v in column.to_pylist()], dtype=str)


class VectorsSource(Source):
    """The files are counted and their schemas checked up front (footers and headers only); rows are read
    one file at a time when extraction asks for a shard (``PartedRows``), so memory holds one file."""

    def __init__(self, name: str, opts: VectorsOptions) -> None:
        self.name, self.opts = name, opts
        cols = opts.columns
        if opts.layout == "parquet":
            self._files = data_files(opts.path, ".parquet")
            self._embs: list[Path] = []
            counts = [self._footer(f).num_rows for f in self._files]
            for file in self._files:
                names = self._footer(file).schema.to_arrow_schema().names
                if cols.embedding not in names:
                    raise BridgeError(f"{file}: no column {cols.embedding!r} (datasets.{name}.options.columns."
                                      f"embedding); columns: {', '.join(names)}")
        else:
            self._embs = data_files(Path(opts.path) / opts.emb, ".npy")
            self._files = data_files(Path(opts.path) / "metadata", ".parquet")
            if len(self._embs) != len(self._files):
                number = {_part_number(f): f for f in self._files}
                alone = [e for e in self._embs if _part_number(e) not in number] or self._embs[len(self._files):]
                lonely = alone[0] if alone else self._files[len(self._embs)]
                raise BridgeError(f"{lonely}: has no partner ({len(self._embs)} .npy files in {opts.emb}/ but "
                                  f"{len(self._files)} in metadata/; clip-retrieval pairs <x>_emb_<k>.npy with "
                                  "metadata_<k>.parquet)")
            counts, first = [], None
            for emb, meta in zip(self._embs, self._files, strict=True):
                shape = self._npy(emb).shape
                rows = self._footer(meta).num_rows
                if len(shape) != 2 or shape[0] != rows:
                    raise BridgeError(f"{emb}: {list(shape)} vectors for {rows} metadata rows in {meta}")
                if first is not None and shape[1] != first[1]:
                    raise BridgeError(f"{emb}: vectors of dim {shape[1]}, while {first[0].name} has dim {first[1]}")
                first = first or (emb, shape[1])
                counts.append(rows)
        names = self._footer(self._files[0]).schema.to_arrow_schema().names
        self._id = cols.id if opts.layout == "parquet" or cols.id in names else "key"
        self._split_given = all(cols.split in self._footer(f).schema.to_arrow_schema().names for f in self._files)
        self._check_ids()
        self._check_labels()
        self._dim: tuple[Path, int] | None = None
        self._rows = PartedRows(opts.modality, np.asarray(counts, dtype=np.int64), self._read)

    @staticmethod
    def _footer(file: Path) -> Any:
        try:
            return pq.ParquetFile(file).metadata
        except (pa.ArrowInvalid, OSError) as e:
            raise BridgeError(f"{file}: cannot read as Parquet ({e})") from None

    @staticmethod
    def _npy(file: Path) -> np.ndarray:
        try:
            return np.load(file, mmap_mode="r", allow_pickle=False)
        except ValueError as e:
            raise BridgeError(f"{file}: not a .npy array ({e})") from None

    def _id_column(self, file: Path) -> np.ndarray:
        if self._id not in self._footer(file).schema.to_arrow_schema().names:
            raise BridgeError(f"{file}: no id column {self._id!r} (datasets.{self.name}.options.columns.id)")
        return _strings(pq.ParquetFile(file).read(columns=[self._id]), self._id, None)

    def _check_ids(self) -> None:
        """Ids unique across every file (``first_duplicate``: 8 bytes a row, the id columns alone)."""
        found = first_duplicate(lambda: ((f, self._id_column(f)) for f in self._files))
        if found is not None:
            value, first, again = found
            where = f"in {again}" if first == again else f"in {first} and {again}"
            raise BridgeError(f"{self.opts.path}: duplicate id {value!r} in column {self._id!r} ({where})")

    def _check_labels(self) -> None:
        """One kind of label in every file (integer ids in one metadata file and names in another would be two
        classes of one), and no two labels that differ only in Unicode form or spaces."""
        label = self.opts.columns.label
        kinds: dict[str, Path] = {}
        values: set[str] = set()
        for file in self._files:
            schema = self._footer(file).schema.to_arrow_schema()
            if label not in schema.names:
                continue
            kind = str(schema.field(label).type)
            kind = "number" if kind.startswith(("int", "uint", "float", "double")) else kind
            kinds.setdefault(kind, file)
            if len(kinds) > 1:
                (ka, fa), (kb, fb) = list(kinds.items())[:2]
                raise BridgeError(f"{fb}: column {label!r} holds {kb} labels, {fa} holds {ka} labels; give every "
                                  "file the same kind of label")
            values.update(np.unique(_strings(pq.ParquetFile(file).read(columns=[label]), label, None)).tolist())
        check_values(values, [], f"{self.opts.path}: column {label!r}")

    def _read(self, k: int) -> Rows:
        """File ``k``'s rows, decoded ``READ_BATCH`` rows at a time into arrays sized for the file."""
        cols, file = self.opts.columns, self._files[k]
        wanted = [self._id, cols.embedding, cols.label, cols.split, cols.group]
        names = self._footer(file).schema.to_arrow_schema().names
        columns = [c for c in dict.fromkeys(wanted) if c in names and (c != cols.embedding or self.opts.layout == "parquet")]
        strings: dict[str, list[np.ndarray]] = {c: [] for c in columns if c != cols.embedding}
        vectors = None if self.opts.layout == "parquet" else np.asarray(self._npy(self._embs[k]), dtype=np.float32)
        start = 0
        try:
            for batch in parquet_batches(file, READ_BATCH, columns):
                table = pa.Table.from_batches([batch])
                if self.opts.layout == "parquet":
                    block = _float_matrix(table.column(cols.embedding), file, cols.embedding, start)
                    if vectors is None:
                        vectors = np.empty((self._rows.counts[k], block.shape[1]), dtype=np.float32)
                    elif block.shape[1] != vectors.shape[1]:
                        raise BridgeError(f"{file}: column {cols.embedding!r}: row {start + 1} has {block.shape[1]} "
                                          f"values, row 1 has {vectors.shape[1]}")
                    vectors[start:start + len(block)] = block
                for c, parts in strings.items():
                    parts.append(_strings(table, c, None))
                start += len(batch)
        except (pa.ArrowInvalid, OSError) as e:
            raise BridgeError(f"{file}: cannot read as Parquet ({e})") from None
        if vectors is None:  # a file of no rows
            vectors = np.zeros((0, 0), dtype=np.float32)
        got = {c: np.concatenate(v) if v else np.array([], dtype=str) for c, v in strings.items()}
        ids = got[self._id]
        for column in dict.fromkeys((self._id, cols.group)):
            if column in got and (got[column] == "").any():  # a null id or group names nothing: refused
                row = int(np.flatnonzero(got[column] == "")[0])
                raise BridgeError(f"{file}: column {column!r}: row {row + 1} is null or empty")
        if cols.split in got:  # an exported set's own class-prompt rows come back as such, nothing else may
            labels = got.get(cols.label, np.full(len(ids), ""))
            own = np.char.startswith(ids.astype(str), np.char.add(np.char.add("prompt-", labels.astype(str)), "-"))
            check_values([], np.unique(got[cols.split][~own]).tolist(), f"{file}: column {cols.split!r}")
        if len(vectors) and vectors.ndim == 2:
            if self._dim is not None and vectors.shape[1] != self._dim[1]:
                raise BridgeError(f"{file}: vectors of dim {vectors.shape[1]}, while {self._dim[0].name} has dim "
                                  f"{self._dim[1]}")
            self._dim = self._dim or (file, vectors.shape[1])
        groups = got.get(cols.group, ids)
        splits = got[cols.split] if self._split_given else assign_splits(groups, self.opts.test_fraction, self.opts.seed)
        return Rows(self.opts.modality, ids, vectors, got.get(cols.label, np.full(len(ids), "")), splits, groups,
                    str(self._embs[k] if self._embs else file))

    def modalities(self) -> list[str]:
        return [self.opts.modality]

    def rows(self, modality: str) -> Rows:
        if modality != self.opts.modality:
            raise BridgeError(f"dataset {self.name!r} holds {self.opts.modality!r} vectors, not {modality!r}")
        return self._rows  # type: ignore[return-value]


def load(name: str, options: dict[str, Any], class_prompts: list[str]) -> VectorsSource:
    return VectorsSource(name, parse_source_options(VectorsOptions, options, name))
