"""Encode a set's missing shards in this process, one shard at a time."""

from __future__ import annotations

from collections.abc import Callable

from embridge.core.errors import BridgeError
from embridge.core.memory import release_freed
from embridge.encoders.pool import default_workers
from embridge.extract.encode import encode_rows
from embridge.extract.plan import Progress, SetPlan, shard_columns
from embridge.store.embedding_set import SetWriter


def write_shards_local(writer: SetWriter, plan: SetPlan, todo: list[int], progress: Progress | None = None) -> None:
    """Encode the shards of ``todo`` the writer lacks and write them (decoding in worker processes).

    A shard's file is built before the next shard is read, not while it is encoded, and only the wait
    for the disk (``SetWriter``'s commit thread) overlaps the next shard: building shard i while i + 1
    is read and encoded would hold two shards at once, so peak memory would grow with the shard count
    (``benchmarks/scale.py`` and ``benchmarks/sources.py`` measure the peak against the vectors' bytes).
    """
    cfg = plan.cfg
    workers = default_workers() if cfg.workers is None else cfg.workers
    for index in todo:
        if not writer.done(index):
            report = (lambda done, start=index * cfg.shard_rows: progress(start + done, len(plan.rows))) \
                if progress else None
            _write_shard(writer, plan, index, workers, report)
            release_freed()


def _write_shard(writer: SetWriter, plan: SetPlan, index: int, workers: int,
                 report: Callable[[int], None] | None) -> None:
    """One shard, read, encoded and written: a function of its own, so nothing of it outlives the write
    (a loop's variables held the last shard's vectors and ids while the next was read)."""
    cfg = plan.cfg
    shard = plan.shard(index)
    try:
        keep, vectors, skipped = encode_rows(plan.tower, shard, cfg.batch_size, cfg.normalize, cfg.on_error,
                                             workers, report, writer.dtype)
    except BridgeError as e:
        raise BridgeError(f"extract.sets.{plan.name} ({plan.ref.dataset}): {e}") from None
    columns = shard_columns(shard, keep)
    del shard  # its payload (a part's vectors, for an import) is not needed by the write
    writer.write_shard(index, columns, vectors, skipped)
