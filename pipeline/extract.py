"""Stage 1: run a frozen encoder tower over a dataset's rows into an embedding set.

Work happens in ``.bridge/partial/<dataset>/<encoder>/<tower>`` (outside DVC
outputs, which DVC deletes when a stage reruns) and the finished set is
published to ``artifacts/embeddings/...`` by ``replace_dir`` (renames on one
file system, a staged copy first when ``artifacts/`` is on another one; the
old set is kept until the new one is in place). A killed run resumes from the
shards its manifest lists.

An intact finished set is left alone. A damaged one (a truncated or
bit-flipped shard, a manifest that disagrees with its shards) is repaired,
not redone: its intact shards are hard-linked into the partial directory and
only the bad ones are encoded again, then the set is promoted as usual. The
same adoption assembles ``--partition I/N`` parts (``partition.py``), and
``--backend ray`` encodes the shards on Ray actors (``ray_backend.py``); both
write through the same ``SetWriter``, so every route gives the same bytes.
One writer per set at a time: ``lock.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.config import ExtractSection, Params, SetRef
from pipeline.core.files import recover_dir, replace_dir
from pipeline.core.layout import Layout
from pipeline.core.vectors import normalize as l2_normalize
from pipeline.encoders.base import Tower
from pipeline.encoders.pool import default_workers, prepared_batches
from pipeline.encoders.registry import load_encoder
from pipeline.errors import BridgeError
from pipeline.lock import hold
from pipeline.partition import Partition, adopt_parts, part_dir, part_lock, remove_parts, set_lock
from pipeline.sources.base import Rows
from pipeline.sources.digests import FileDigests
from pipeline.sources.registry import load_source
from pipeline.store.embedding_set import SetWriter, set_problems

Progress = Callable[[int, int], None]  # (rows done, rows total)
Notify = Callable[[str], None]  # a line for the person running the extraction


@dataclass
class SetPlan:
    """What extracting one set means: built the same way by every process that runs any of it
    (a whole run, a partition, a Ray actor), so they all agree on shards and header."""

    name: str
    ref: SetRef
    cfg: ExtractSection
    tower: Tower
    rows: Rows
    header: dict[str, Any]
    sources: list[str]  # fingerprint of each shard's source rows: a changed row redoes only its shard

    @property
    def shards(self) -> int:
        return max(1, -(-len(self.rows) // self.cfg.shard_rows))

    def shard(self, index: int) -> Rows:
        return self.rows.take(slice(index * self.cfg.shard_rows, (index + 1) * self.cfg.shard_rows))


def resolve_world(params: Params, options: dict[str, Any]) -> dict[str, Any]:
    """Replace a ``world: <name>`` reference by that world's config."""
    if isinstance(options.get("world"), str):
        return {**options, "world": params.worlds[options["world"]]}
    return dict(options)


def encode_rows(tower: Tower, rows: Rows, batch_size: int, normalize: bool, on_error: str, workers: int = 0,
                progress: Callable[[int], None] | None = None
                ) -> tuple[np.ndarray, np.ndarray, list[dict[str, str]]]:
    """Embed ``rows``: (kept row positions, float32 vectors in row order, skipped items).

    Batches hold ``tower.batch_size`` rows when the encoder sets one, else
    ``batch_size``. Texts are batched by length (longest first, as
    sentence-transformers does) so padding is minimal, and vectors are put
    back in row order.
    Preprocessing runs ``workers`` batches ahead in other processes for
    towers that decode files (``tower.parallel``). A bad item (missing or
    corrupt file, empty text, NaN/inf vector) stops the run naming it when
    ``on_error`` is ``fail``, else is left out and returned with its reason.
    """
    payload = rows.payload if isinstance(rows.payload, np.ndarray) else np.array(rows.payload, dtype=object)
    lengths = tower.lengths(payload)
    order = np.arange(len(rows)) if lengths is None else np.argsort(-lengths, kind="stable")
    size = tower.batch_size or batch_size
    batches = [order[i:i + size] for i in range(0, len(rows), size)]
    vectors = np.zeros((len(rows), tower.dim), dtype=np.float32)
    reasons = np.full(len(rows), "", dtype=object)
    done = 0
    for index, prepared in prepared_batches(tower.preprocess, payload, batches, workers if tower.parallel else 0):
        reasons[index] = prepared.reasons
        good = index[prepared.ok]
        if len(good):
            out = np.asarray(tower.encode(prepared.data), dtype=np.float32)
            if out.shape != (len(good), tower.dim):
                raise BridgeError(f"tower {tower.name!r} returned vectors of shape {list(out.shape)} for "
                                  f"{len(good)} items, expected [{len(good)}, {tower.dim}]")
            vectors[good] = out
            reasons[good[~np.isfinite(out).all(axis=1)]] = "non-finite vector (NaN or inf) from the encoder"
        bad = index[reasons[index] != ""]
        if len(bad) and on_error == "fail":
            raise BridgeError(f"row {str(rows.ids[bad[0]])!r}: {reasons[bad[0]]} ({len(bad)} bad rows in this batch; "
                              f"set extract.on_error: skip to record and drop them)")
        done += len(index)
        if progress:
            progress(done)
    bad = reasons != ""
    skipped = [{"id": i, "reason": r} for i, r in zip(rows.ids[bad].tolist(), reasons[bad].tolist())]
    keep = np.flatnonzero(~bad)
    vectors = vectors[keep]
    if normalize:
        vectors = l2_normalize(vectors)
    return keep, vectors, skipped


def plan_set(params: Params, name: str, root: Path = Path(".")) -> SetPlan:
    """Load the source rows and the encoder tower of ``extract.sets.<name>`` and describe its set."""
    cfg = params.extract
    if name not in cfg.sets:
        raise BridgeError(f"no set {name!r} in extract.sets; defined: {', '.join(sorted(cfg.sets)) or 'none'}")
    ref = cfg.sets[name]
    dataset = params.datasets[ref.dataset]
    source = load_source(ref.dataset, dataset.source, resolve_world(params, dataset.options),
                         dataset.class_prompts)
    spec = params.encoders[ref.encoder]
    encoder = load_encoder(spec.model, resolve_world(params, spec.options))
    tower = encoder.tower(ref.tower)
    if tower.modality not in source.modalities():
        raise BridgeError(f"dataset {ref.dataset!r} has no {tower.modality!r} rows for tower {ref.tower!r}; "
                          f"it has {source.modalities()}")
    rows = source.rows(tower.modality)
    digests = FileDigests(Layout(root).cache("media", ref.dataset))
    shards = max(1, -(-len(rows) // cfg.shard_rows))
    sources = [rows.take(slice(i * cfg.shard_rows, (i + 1) * cfg.shard_rows)).fingerprint(digests)
               for i in range(shards)]
    digests.save()
    header = {
        "encoder": {"name": ref.encoder, "family": encoder.family, **encoder.identity(), "tower": ref.tower,
                    "dim": tower.dim, "normalized": cfg.normalize},
        "source": {"dataset": ref.dataset, "kind": dataset.source, "rows": len(rows)},
        "dtype": cfg.dtype,
        "format": cfg.format,
        "shard_rows": cfg.shard_rows,
    }
    return SetPlan(name, ref, cfg, tower, rows, header, sources)


def encode_shard(plan: SetPlan, index: int) -> tuple[np.ndarray, np.ndarray, list[dict[str, str]]]:
    """(kept row positions, vectors, skipped) of shard ``index``, as a Ray actor computes it."""
    cfg = plan.cfg
    return encode_rows(plan.tower, plan.shard(index), cfg.batch_size, cfg.normalize, cfg.on_error)


def shard_columns(plan: SetPlan, index: int, keep: np.ndarray) -> dict[str, np.ndarray]:
    """The metadata columns of the kept rows of shard ``index``."""
    kept = plan.shard(index).take(keep)
    return {"id": kept.ids, "label": kept.labels, "split": kept.splits, "group": kept.groups}


def extract_set(params: Params, name: str, root: Path = Path("."), progress: Progress | None = None,
                partition: Partition | None = None, merge: bool = False, backend: str = "local",
                notify: Notify | None = None) -> Path:
    """Extract the set ``extract.sets.<name>``; returns its directory.

    With ``partition``, only that part's shards are written, into the part's
    directory (returned). With ``merge``, finished parts are assembled and
    nothing is encoded: a shard no part holds is an error. Without either,
    parts found on disk are used too and the rest is encoded.
    """
    if backend not in ("local", "ray"):
        raise BridgeError(f"--backend {backend!r}: expected 'local' or 'ray'")
    if partition is not None and merge:
        raise BridgeError("--partition and --merge do not go together: run the partitions, then --merge")
    plan = plan_set(params, name, root)
    if partition is None:
        lock, what = set_lock(root, plan.ref.path), f"embedding set {plan.ref.path}"
    else:
        lock, what = part_lock(root, plan.ref.path, partition.dirname), f"partition {partition} of {plan.ref.path}"
    with hold(lock, what):
        return _extract(params, plan, root, progress, partition, merge, backend, notify)


def _extract(params: Params, plan: SetPlan, root: Path, progress: Progress | None, partition: Partition | None,
             merge: bool, backend: str, notify: Notify | None) -> Path:
    """``extract_set`` under its lock."""
    cfg, name, ref, tower, rows, header = params.extract, plan.name, plan.ref, plan.tower, plan.rows, plan.header
    layout = Layout(root)
    final, partial = layout.embeddings(ref.path), layout.partial(ref.path)
    recover_dir(final)
    if partition is not None:
        writer = SetWriter(part_dir(root, ref.path, partition), {**header, **partition.header}, plan.sources)
        todo = [i for i in partition.shards(plan.shards) if not writer.done(i)]
    else:
        problems = set_problems(final, header, plan.sources)
        if not problems:
            return final
        writer = SetWriter(partial, header, plan.sources)
        kept = writer.adopt(final) if final.exists() else []
        parts = adopt_parts(writer, root, ref.path)
        todo = [i for i in range(plan.shards) if not writer.done(i)]
        if final.exists() and notify:
            notify(f"{name}: {'; '.join(problems)} -> keeping {len(kept)} intact shards, redoing {len(todo)}")
        if merge and todo:
            more = ", ..." if len(todo) > 8 else ""
            raise BridgeError(f"cannot merge {name}: shards {', '.join(map(str, todo[:8]))}{more} of {plan.shards} "
                              f"are in no finished part under {Layout(root).parts(ref.path)}; "
                              f"run the missing `bridge extract {name} --partition I/N` first")
    if backend == "ray":
        from pipeline.ray_backend import write_shards_ray

        write_shards_ray(writer, plan, params, todo, progress)
    workers = default_workers()
    with ThreadPoolExecutor(1) as io:  # shard i is written while shard i + 1 is encoded
        writing: Future[None] | None = None
        for index in todo:
            if writer.done(index):
                continue
            start = index * cfg.shard_rows
            report = (lambda done, start=start: progress(start + done, len(rows))) if progress else None
            try:
                keep, vectors, skipped = encode_rows(tower, plan.shard(index), cfg.batch_size, cfg.normalize,
                                                     cfg.on_error, workers, report)
            except BridgeError as e:
                raise BridgeError(f"extract.sets.{name} ({ref.dataset}): {e}") from None
            if writing is not None:
                writing.result()
            writing = io.submit(writer.write_shard, index, shard_columns(plan, index, keep), vectors, skipped)
        if writing is not None:
            writing.result()
    writer.finish()
    if partition is not None:
        return writer.path
    replace_dir(partial, final)
    remove_parts(root, ref.path, parts)
    return final
