"""Allocator settings that keep a stage's peak memory at what it holds, not at what it once freed.

Stages allocate and free shard-sized buffers over and over (decode a file,
encode a shard, write it). Two allocators kept those pages after they were
freed: arrow's default pool (mimalloc) and glibc's malloc, whose threshold
for giving a big block its own mapping rises to the size of the last big
block freed, so the next ones come from a heap that rarely shrinks: a
stage's peak held far more than was live. With arrow's system pool and a
fixed mapping threshold the peak follows what is live, for a little more
time (``benchmarks/sources.py`` measures peak RSS and rows/s). Called once
per process, first thing, by the CLI.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os

#: blocks at least this big get their own mapping, returned to the system when freed (glibc's default
#: starts at 128 kB and rises with every big block freed, up to 32 MB)
MMAP_THRESHOLD = 4 << 20
_M_MMAP_THRESHOLD = -3  # mallopt's parameter number (malloc.h)


@functools.cache
def _libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL(ctypes.util.find_library("c"))
    except (OSError, TypeError):
        return None


def release_freed() -> None:
    """Give the pages of freed heap blocks back to the system (glibc's ``malloc_trim``), a no-op elsewhere.

    Blocks under the mapping threshold (a batch's ids, arrow's decode
    buffers) come from the heap, and glibc returns only the free space at its
    top: what a part or a shard freed in the middle stays resident, so the
    free heap an import holds grows with the rows it planned. Called between
    shards; it is cheap next to a shard.
    """
    libc = _libc()
    if libc is not None and hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)


def bound_allocator() -> None:
    """Arrow's system pool (read when pyarrow first allocates) and glibc's fixed mapping threshold; a no-op
    where there is no glibc. An ``ARROW_DEFAULT_MEMORY_POOL`` already set is left as it is."""
    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
    libc = _libc()
    if libc is not None and hasattr(libc, "mallopt"):
        libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
