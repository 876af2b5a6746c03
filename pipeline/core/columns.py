"""String columns between numpy and arrow, built from buffers in both directions.

Every stage moves ids, labels, splits and groups between numpy's fixed-width
``str`` arrays (what the code computes with) and arrow string arrays (what
Parquet stores). Going through one Python ``str`` per row was most of a
shard's write and read time, and the short-lived objects fragmented the heap
so that peak memory grew with the number of rows read; these two functions
use the buffers instead.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa


def string_array(values: np.ndarray) -> pa.Array:
    """A metadata column as arrow strings, built from its buffers: UTF-8 bytes and int32 offsets.

    arrow converts numpy's fixed-width UCS-4 strings slower than str
    objects, and a list of str objects costs a Python object per row; the
    buffers take a few vectorised numpy passes. ASCII code points (ids, labels, splits and
    groups nearly always are) are the bytes themselves; other text goes
    through ``np.char.encode``. Rows of one length (zero-padded ids) have no
    NUL padding to drop; otherwise the padding is every zero byte, unless a
    string holds a NUL of its own (then a per-row length mask, slower).
    """
    values = np.asarray(values)
    values = np.ascontiguousarray(values if values.dtype.kind == "U" else values.astype(str))
    codes = values.view(np.uint32).reshape(len(values), values.dtype.itemsize // 4)
    if not codes.size or codes.max() < 128:
        raw, lengths = codes.astype(np.uint8), np.strings.str_len(values)
    else:
        encoded = np.char.encode(values, "utf-8")
        raw = np.frombuffer(encoded.tobytes(), np.uint8).reshape(len(values), max(encoded.dtype.itemsize, 1))
        lengths = np.strings.str_len(encoded)
    offsets = np.zeros(len(values) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    flat = raw.reshape(-1)
    if len(values) and lengths.min() == raw.shape[1]:
        data = flat
    elif np.count_nonzero(flat) == offsets[-1]:  # no NUL inside a string: the padding is every zero byte
        data = flat[flat != 0]
    else:
        data = raw[np.arange(raw.shape[1]) < lengths[:, None]]
    return pa.StringArray.from_buffers(len(values), pa.py_buffer(offsets), pa.py_buffer(data))


def numpy_strings(array: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """An arrow string column as a numpy ``str`` array (nulls become ""): the inverse of ``string_array``.

    ASCII columns are scattered from the arrow buffers straight into the
    UCS-4 code points numpy stores, with no Python str per row: a list of
    250k str objects per column was most of a read's time and left the
    Python heap fragmented (peak memory of an import grew with the row
    count). Other text goes through ``to_pylist``.
    """
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks() if array.num_chunks != 1 else array.chunk(0)
    if not pa.types.is_string(array.type):
        array = array.cast(pa.string())
    if array.null_count:
        array = array.fill_null("")
    n = len(array)
    offsets = np.frombuffer(array.buffers()[1], dtype=np.int32, count=n + 1, offset=array.offset * 4)
    data = np.frombuffer(array.buffers()[2], dtype=np.uint8) if array.buffers()[2] is not None and n else \
        np.zeros(0, dtype=np.uint8)
    data = data[offsets[0]:offsets[-1]]
    lengths = np.diff(offsets)
    if len(data) and data.max() >= 128:
        return np.array(array.to_pylist(), dtype=str)
    width = max(int(lengths.max()) if n else 0, 1)
    if n and lengths.min() == width:  # one length (zero-padded ids): the bytes are the rows
        return data.astype(np.uint32).view(f"<U{width}")
    codes = np.zeros((n, width), dtype=np.uint32)
    starts = offsets[:-1] - offsets[0]
    for length in np.unique(lengths[lengths > 0]):  # a loop over distinct lengths (a few), not rows
        rows = np.flatnonzero(lengths == length)
        codes[rows, :length] = data[starts[rows, None] + np.arange(length)]
    return codes.reshape(-1).view(f"<U{width}")
