"""Encode a set's missing shards in this process, writing shard i while shard i + 1 is encoded."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor

from pipeline.core.errors import BridgeError
from pipeline.encoders.pool import default_workers
from pipeline.extract.encode import encode_rows
from pipeline.extract.plan import Progress, SetPlan, shard_columns
from pipeline.store.embedding_set import SetWriter


def write_shards_local(writer: SetWriter, plan: SetPlan, todo: list[int], progress: Progress | None = None) -> None:
    """Encode the shards of ``todo`` the writer lacks and write them (decoding in worker processes)."""
    cfg, name, ref, tower, rows = plan.cfg, plan.name, plan.ref, plan.tower, plan.rows
    workers = default_workers() if cfg.workers is None else cfg.workers
    with ThreadPoolExecutor(1) as io:  # shard i is written while shard i + 1 is encoded
        writing: Future[None] | None = None
        for index in todo:
            if writer.done(index):
                continue
            start = index * cfg.shard_rows
            report = (lambda done, start=start: progress(start + done, len(rows))) if progress else None
            shard = plan.shard(index)
            try:
                keep, vectors, skipped = encode_rows(tower, shard, cfg.batch_size, cfg.normalize,
                                                     cfg.on_error, workers, report)
            except BridgeError as e:
                raise BridgeError(f"extract.sets.{name} ({ref.dataset}): {e}") from None
            vectors = vectors.astype(writer.dtype, copy=False)  # the stored dtype now: the float32 copy is freed
            # before the next shard is encoded, not held by the write that overlaps it
            if writing is not None:
                writing.result()
            writing = io.submit(writer.write_shard, index, shard_columns(shard, keep), vectors, skipped)
        if writing is not None:
            writing.result()
