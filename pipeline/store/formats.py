"""Shard file formats: Parquet and HDF5, same columns, same guarantees.

A shard holds ``id``, ``label``, ``split``, ``group`` (strings) and
``embedding`` (``[rows, dim]`` float16 or float32). Each format has a writer
that takes numpy columns and a reader that returns them; embeddings are
stored uncompressed because embedding floats do not compress and decompression
would cost read speed.

Both formats lay the embedding block out as one contiguous C-order run of
bytes. ``encode`` builds a shard in memory and returns its bytes and that
block's byte offset (after checking, on a stride of rows, that the bytes
there are the vectors); the writer hashes the same bytes and writes them
once, the manifest records the offset, and readers memory-map the block
directly: a read costs what ``np.load(mmap_mode="r")`` costs. Without a
recorded offset, readers fall back to the format's own decoder.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import NamedTuple, Protocol

import h5py
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from embridge.core.columns import numpy_strings, string_array

META_COLUMNS = ("id", "label", "split", "group")
MAX_PAGE = (1 << 31) - 1  # Parquet page sizes are int32: bigger shards fall back to the decoder


class ShardFormat(Protocol):
    suffix: str

    def encode(self, columns: dict[str, np.ndarray], embedding: np.ndarray) -> tuple[memoryview, int | None]: ...

    def read_meta(self, source: Path | bytes, columns: tuple[str, ...] = META_COLUMNS) -> dict[str, np.ndarray]: ...

    def read_embedding(self, source: Path | bytes) -> np.ndarray: ...

    def layout(self, source: Path | bytes) -> ShardLayout: ...


class ShardLayout(NamedTuple):
    """What a shard says about itself, to be checked against its manifest entry."""

    rows: int
    offset: int | None  # byte offset of the contiguous vector block, None when there is none
    dim: int
    dtype: str


def _open(source: Path | bytes):
    return io.BytesIO(source) if isinstance(source, (bytes, bytearray, memoryview)) else source


def _parquet_source(source: Path | bytes):
    return pa.BufferReader(source) if isinstance(source, (bytes, bytearray, memoryview)) else str(source)


class ParquetFormat:
    """``embedding`` as ``fixed_size_binary[dim * itemsize]``, one row per vector.

    The field metadata records ``dtype`` and ``dim``. A Parquet LIST column
    (arrow's fixed_size_list) would be self-describing to other tools, but
    decoding its repetition levels is far slower than reading this column,
    which is a plain memcpy into numpy (benchmarks/store.py times the reads
    against ``np.load``).
    """

    suffix = ".parquet"

    def encode(self, columns: dict[str, np.ndarray], embedding: np.ndarray) -> tuple[memoryview, int | None]:
        rows, dim = embedding.shape
        blob = pa.FixedSizeBinaryArray.from_buffers(
            pa.binary(dim * embedding.itemsize), rows, [None, pa.py_buffer(np.ascontiguousarray(embedding))])
        field = pa.field("embedding", blob.type, nullable=False,
                         metadata={"dtype": embedding.dtype.name, "dim": str(dim)})
        arrays = _string_arrays([columns[name] for name in META_COLUMNS]) + [blob]
        schema = pa.schema([pa.field(name, pa.string()) for name in META_COLUMNS] + [field])
        table = pa.Table.from_arrays(arrays, schema=schema)
        # no dictionaries: zstd alone shrinks a column of few values (labels, splits) as far, and faster,
        # and on ``group``, often as many values as rows, a dictionary would be built and then dropped
        options = {"compression": {"embedding": "NONE", **{c: "ZSTD" for c in META_COLUMNS}},
                   "use_dictionary": False, "write_statistics": False,
                   "row_group_size": max(rows, 1), "data_page_size": min(embedding.nbytes + (1 << 20), MAX_PAGE),
                   "max_rows_per_page": max(rows, 1)}  # pyarrow's default splits pages every 20k rows
        # into a buffer sized for the shard up front: a growing output stream reallocates and copies the
        # vectors several times
        buffer = pa.allocate_buffer(embedding.nbytes + 2 * sum(a.nbytes for a in arrays[:-1]) + (1 << 20))
        writer = pa.FixedSizeBufferWriter(buffer)
        try:
            pq.write_table(table, writer, **options)
            data = memoryview(buffer.slice(0, writer.tell()))
        except (OSError, pa.ArrowInvalid):  # the estimate was short (metadata that does not compress)
            sink = pa.BufferOutputStream()
            pq.write_table(table, sink, **options)
            data = memoryview(sink.getvalue())
        return data, _checked_offset(data, self.layout(data).offset, embedding)

    def layout(self, source: Path | bytes) -> ShardLayout:
        """Rows, dim, dtype and the offset of the vectors from the footer alone: with one uncompressed
        PLAIN page (what ``write`` makes), the vectors are the last ``rows * dim * itemsize`` bytes of the chunk."""
        metadata = pq.ParquetFile(_parquet_source(source)).metadata
        field = metadata.schema.to_arrow_schema().field("embedding").metadata
        dim, dtype = int(field[b"dim"]), field[b"dtype"].decode()
        if metadata.num_row_groups != 1:
            return ShardLayout(metadata.num_rows, None, dim, dtype)
        nbytes = metadata.num_rows * dim * np.dtype(dtype).itemsize
        chunk = metadata.row_group(0).column(len(META_COLUMNS))
        return ShardLayout(metadata.num_rows, chunk.data_page_offset + chunk.total_compressed_size - nbytes,
                           dim, dtype)

    # ParquetFile.read, not pq.read_table: read_table goes through pyarrow.dataset, whose import alone
    # costs every stage that reads a set far more than reading a shard
    def read_meta(self, source: Path | bytes, columns: tuple[str, ...] = META_COLUMNS) -> dict[str, np.ndarray]:
        """The metadata ``columns`` only (Parquet is columnar: a split filter reads one column of the shard)."""
        table = pq.ParquetFile(_parquet_source(source)).read(columns=list(columns))
        # not to_numpy: arrow converts strings to numpy through pandas (a slow import)
        return {name: numpy_strings(table.column(name)) for name in columns}

    def read_embedding(self, source: Path | bytes) -> np.ndarray:
        table = pq.ParquetFile(_parquet_source(source), memory_map=True).read(columns=["embedding"])
        meta = table.schema.field("embedding").metadata
        dtype, dim = np.dtype(meta[b"dtype"].decode()), int(meta[b"dim"])
        parts = [np.frombuffer(chunk.buffers()[1], dtype=dtype, count=len(chunk) * dim,
                               offset=chunk.offset * dim * dtype.itemsize).reshape(len(chunk), dim)
                 for chunk in table.column("embedding").chunks]
        return parts[0] if len(parts) == 1 else np.concatenate(parts)


class HDF5Format:
    """Datasets ``embedding`` (contiguous, so a full read is one memcpy) and string columns."""

    suffix = ".h5"

    def encode(self, columns: dict[str, np.ndarray], embedding: np.ndarray) -> tuple[memoryview, int | None]:
        text = h5py.string_dtype("utf-8")
        buffer = io.BytesIO()
        with h5py.File(buffer, "w") as f:
            dataset = f.create_dataset("embedding", data=np.ascontiguousarray(embedding))
            for name in META_COLUMNS:
                f.create_dataset(name, data=columns[name].astype(object), dtype=text)
            offset = dataset.id.get_offset()
        data = buffer.getbuffer()
        return data, None if offset is None else _checked_offset(data, offset, embedding)

    def read_meta(self, source: Path | bytes, columns: tuple[str, ...] = META_COLUMNS) -> dict[str, np.ndarray]:
        with h5py.File(_open(source), "r") as f:
            return {name: f[name].asstr()[()].astype(str) for name in columns}

    def read_embedding(self, source: Path | bytes) -> np.ndarray:
        with h5py.File(_open(source), "r") as f:
            return f["embedding"][()]

    def layout(self, source: Path | bytes) -> ShardLayout:
        """Rows, dim, dtype and the file offset of the contiguous ``embedding`` dataset from the headers."""
        with h5py.File(_open(source), "r") as f:
            dataset = f["embedding"]
            dim = int(dataset.shape[1]) if dataset.ndim == 2 else -1
            return ShardLayout(int(dataset.shape[0]), dataset.id.get_offset(), dim, dataset.dtype.name)


def _string_arrays(columns: list[np.ndarray]) -> list[pa.Array]:
    """``string_array`` of each column, converted once per distinct array: ``group`` is the ``id`` column
    itself unless a source names groups (a view of the same bytes), and ids are the costliest to convert."""
    done: dict[tuple, pa.Array] = {}
    out = []
    for values in columns:
        values = np.asarray(values)
        key = (values.__array_interface__["data"][0], values.shape, values.strides, values.dtype.str)
        if key not in done:
            done[key] = string_array(values)
        out.append(done[key])
    return out


#: the rows compared by ``_checked_offset``: every CHECK_STRIDE-th and the last. The block is one contiguous
#: run, so a wrong offset or an encoding that transforms the bytes shows in every row; comparing all of them
#: would add a share of every encode and catch nothing more. A prime, so no periodic structure hides.
CHECK_STRIDE = 61


def _checked_offset(data: memoryview, offset: int | None, embedding: np.ndarray) -> int | None:
    """``offset`` if the shard's bytes hold ``embedding``'s bytes there (checked on a stride of rows), else None.

    Bytes, not values: exact for NaNs, whose float comparison is never equal.
    """
    if embedding.size == 0 or offset is None or offset < 0 or offset + embedding.nbytes > len(data):
        return None
    rows = len(embedding)
    stored = np.frombuffer(data, dtype=np.uint8, count=embedding.nbytes, offset=offset).reshape(rows, -1)
    expected = np.ascontiguousarray(embedding).view(np.uint8).reshape(rows, -1)
    sample = np.unique(np.append(np.arange(0, rows, CHECK_STRIDE), rows - 1))
    return offset if np.array_equal(stored[sample], expected[sample]) else None


def map_embedding(source: Path | bytes, offset: int, rows: int, dim: int, dtype: str) -> np.ndarray:
    """The raw embedding block at ``offset``: a read-only memory map, or a view of ``source`` bytes."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return np.frombuffer(source, dtype=dtype, count=rows * dim, offset=offset).reshape(rows, dim)
    return np.memmap(source, dtype=dtype, mode="r", offset=offset, shape=(rows, dim))


FORMATS: dict[str, ShardFormat] = {"parquet": ParquetFormat(), "hdf5": HDF5Format()}
