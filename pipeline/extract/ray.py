"""``bridge extract --backend ray``: shards encoded by Ray Data actors, written by this process.

Why this shape: the encoder is the expensive part, so it is what goes to the
cluster. Each actor builds the set's plan itself (``plan_set``: the source's
row list and the encoder, loaded once per actor, as a GPU worker would) and
encodes whole shards with ``encode_shard``, the code the local backend runs.
Only shard indices go out, and (kept row positions, vectors, skipped items)
come back; this process writes every shard through the same ``SetWriter``,
so the set is byte-identical to a local run and resumes, locks and repairs
the same way. ``ray.init()`` joins the cluster named by ``RAY_ADDRESS`` or
starts a local one. Ray is an optional extra (``pip install 'bridge[ray]'``);
it moves results between processes with its own serialisation, and nothing
read from disk is ever unpickled.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

import numpy as np

from embridge.core.config import Params
from embridge.core.errors import BridgeError
from embridge.extract.encode import encode_shard
from embridge.extract.plan import Progress, SetPlan, plan_set, shard_columns
from embridge.store.embedding_set import SetWriter


class ShardEncoder:
    """A Ray Data actor: one encoder tower, loaded once, encoding whole shards.

    A user error (a bad item with ``on_error: fail``) comes back as data in
    the ``error`` column: raised inside the actor it would reach the driver
    wrapped by Ray with its message buried in a remote traceback.
    """

    def __init__(self, params: Params, name: str) -> None:
        self.plan = plan_set(params, name)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        out: dict[str, list[Any]] = {"index": [], "keep": [], "vectors": [], "skipped": [], "error": []}
        for index in batch["index"].tolist():
            try:
                keep, vectors, skipped = encode_shard(self.plan, index)
                error = ""
            except BridgeError as e:
                keep, vectors, skipped, error = np.zeros(0), np.zeros(0), [], str(e)
            out["index"].append(index)
            out["keep"].append(np.asarray(keep, dtype=np.int64).tobytes())
            out["vectors"].append(np.ascontiguousarray(vectors, dtype=np.float32).tobytes())
            out["skipped"].append(json.dumps(skipped))
            out["error"].append(error)
        return {"index": np.asarray(out["index"], dtype=np.int64),
                **{k: np.asarray(v, dtype=object) for k, v in out.items() if k != "index"}}


def write_shards_ray(writer: SetWriter, plan: SetPlan, params: Params, indices: list[int],
                     progress: Progress | None = None) -> None:
    """Encode the shards of ``indices`` the writer lacks on Ray actors (one CPU each) and write them here."""
    todo = [i for i in indices if not writer.done(i)]
    if not todo:
        return
    try:
        import ray
        import ray.data
    except ImportError:
        raise BridgeError("--backend ray needs Ray: pip install 'bridge[ray]' (or pip install 'ray[data]')") from None
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no usage-stats prompt unless the user wants one
    logging.getLogger("ray.data").setLevel(logging.ERROR)
    if not ray.is_initialized():
        ray.init(include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = context.print_on_execution_start = context.enable_auto_log_stats = False
    actors = max(1, min(len(todo), int(ray.cluster_resources().get("CPU", 1))))
    shards = ray.data.from_items([{"index": i} for i in todo], override_num_blocks=len(todo)).map_batches(
        ShardEncoder, fn_constructor_kwargs={"params": params, "name": plan.name}, batch_size=1,
        compute=ray.data.ActorPoolStrategy(size=actors), num_cpus=1)
    done = sum(plan.shard_len(i) for i in range(plan.shards) if writer.done(i))
    for row in shards.iter_rows():
        if row["error"]:
            raise BridgeError(f"extract.sets.{plan.name} ({plan.ref.dataset}): {row['error']}")
        index = int(row["index"])
        keep = np.frombuffer(row["keep"], dtype=np.int64)
        vectors = np.frombuffer(row["vectors"], dtype=np.float32).reshape(len(keep), plan.tower.dim)
        writer.write_shard(index, shard_columns(plan.shard(index), keep), vectors, json.loads(row["skipped"]))
        done += plan.shard_len(index)
        if progress:
            progress(done, len(plan.rows))
