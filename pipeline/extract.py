"""Stage 1: run a frozen encoder tower over a dataset's rows into an embedding set.

Work happens in ``.bridge/partial/<dataset>/<encoder>/<tower>`` (outside DVC
outputs, which DVC deletes when a stage reruns) and the finished set is
promoted to ``artifacts/embeddings/...`` with one rename. A killed run resumes
from the shards its manifest lists.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any, Callable

import numpy as np

from pipeline.config import Params
from pipeline.encoders.base import Tower
from pipeline.encoders.registry import load_encoder
from pipeline.errors import BridgeError
from pipeline.sources.base import Rows
from pipeline.sources.registry import load_source
from pipeline.store.embedding_set import SetWriter

EMBEDDINGS = Path("artifacts/embeddings")
PARTIAL = Path(".bridge/partial")

Progress = Callable[[int, int], None]  # (rows done, rows total)


def resolve_world(params: Params, options: dict[str, Any]) -> dict[str, Any]:
    """Replace a ``world: <name>`` reference by that world's config."""
    if isinstance(options.get("world"), str):
        return {**options, "world": params.worlds[options["world"]]}
    return dict(options)


def encode_rows(tower: Tower, rows: Rows, batch_size: int, normalize: bool, on_error: str
                ) -> tuple[np.ndarray, np.ndarray, list[dict[str, str]]]:
    """Embed ``rows`` in batches: (kept row positions, float32 vectors, skipped items)."""
    blocks = []
    for start in range(0, len(rows), batch_size):
        batch = rows.take(slice(start, start + batch_size))
        blocks.append(np.asarray(tower.encode(tower.prepare(batch.payload)), dtype=np.float32))
    vectors = np.concatenate(blocks) if blocks else np.zeros((0, tower.dim), np.float32)
    if vectors.shape[1:] != (tower.dim,):
        raise BridgeError(f"tower {tower.name!r} returned vectors of shape {list(vectors.shape)}, "
                          f"expected [n, {tower.dim}]")
    bad = ~np.isfinite(vectors).all(axis=1)
    skipped = [{"id": str(i), "reason": "non-finite vector (NaN or inf)"} for i in rows.ids[bad]]
    if skipped and on_error == "fail":
        raise BridgeError(f"row {skipped[0]['id']!r}: encoder produced a NaN/inf vector "
                          f"({len(skipped)} such rows in this shard; set extract.on_error: skip to drop them)")
    keep = np.flatnonzero(~bad)
    vectors = vectors[keep]
    if normalize:
        vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    return keep, vectors, skipped


def extract_set(params: Params, name: str, root: Path = Path("."), progress: Progress | None = None) -> Path:
    """Extract the set ``extract.sets.<name>``; returns its directory."""
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
    header = {
        "encoder": {"name": ref.encoder, "family": encoder.family, **encoder.identity(), "tower": ref.tower,
                    "dim": tower.dim, "normalized": cfg.normalize},
        "source": {"dataset": ref.dataset, "kind": dataset.source, "fingerprint": rows.fingerprint(),
                   "rows": len(rows)},
        "dtype": cfg.dtype,
        "format": cfg.format,
        "shard_rows": cfg.shard_rows,
    }
    final, partial = root / EMBEDDINGS / ref.path, root / PARTIAL / ref.path
    writer = SetWriter(partial, header)
    n_shards = max(1, -(-len(rows) // cfg.shard_rows))
    for index in range(n_shards):
        if writer.done(index):
            continue
        shard = rows.take(slice(index * cfg.shard_rows, (index + 1) * cfg.shard_rows))
        keep, vectors, skipped = encode_rows(tower, shard, cfg.batch_size, cfg.normalize, cfg.on_error)
        kept = shard.take(keep)
        writer.write_shard(index, {"id": kept.ids, "label": kept.labels, "split": kept.splits,
                                   "group": kept.groups}, vectors, skipped)
        if progress:
            progress(min((index + 1) * cfg.shard_rows, len(rows)), len(rows))
    writer.finish()
    promote(partial, final)
    return final


def promote(partial: Path, final: Path) -> None:
    """Replace ``final`` by the finished ``partial`` directory with renames only."""
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists():
        shutil.rmtree(final)
    os.replace(partial, final)
