"""Rows in, vectors out: the one encoding path of every backend."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from embridge.core.errors import BridgeError
from embridge.core.vectors import degenerate_rows
from embridge.core.vectors import normalize as l2_normalize
from embridge.encoders.base import Tower
from embridge.encoders.pool import prepared_batches
from embridge.extract.plan import SetPlan
from embridge.sources.base import Rows


def encode_rows(tower: Tower, rows: Rows, batch_size: int, normalize: bool, on_error: str, workers: int = 0,
                progress: Callable[[int], None] | None = None, dtype: type = np.float32
                ) -> tuple[np.ndarray, np.ndarray, list[dict[str, str]]]:
    """Embed ``rows``: (kept row positions, vectors in row order as ``dtype``, skipped items).

    Batches hold ``tower.batch_size`` rows when the encoder sets one, else
    ``batch_size``. Texts are batched by length (longest first, as
    sentence-transformers does) so padding is minimal, and vectors are put
    back in row order.
    Preprocessing runs ``workers`` batches ahead in other processes for
    towers that decode files (``tower.parallel``). A bad item (missing or
    corrupt file, empty text, a NaN/inf or zero vector, one that overflows the
    stored dtype) stops the run naming it when ``on_error`` is ``fail``, else is
    left out and returned with its reason: no degenerate row reaches the store.

    Each batch is normalised in float32 as it arrives (a row's norm is its
    own, so the values are those of normalising the whole shard) and stored
    as ``dtype``: extraction passes the store's dtype, so a float16 set never
    holds a shard of float32 vectors beside their float16 copy.
    """
    payload = rows.payload if isinstance(rows.payload, np.ndarray) else np.array(rows.payload, dtype=object)
    lengths = tower.lengths(payload)
    order = np.arange(len(rows)) if lengths is None else np.argsort(-lengths, kind="stable")
    size = tower.batch_size or batch_size
    batches = [order[i:i + size] for i in range(0, len(rows), size)]
    vectors = np.zeros((len(rows), tower.dim), dtype=dtype)
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
            non_finite, zero = degenerate_rows(out)
            reasons[good[zero]] = "zero vector from the encoder (it would tie with every row)"
            reasons[good[non_finite]] = "non-finite vector (NaN or inf, or a norm beyond float32) from the encoder"
            with np.errstate(over="ignore", invalid="ignore"):  # overflow is found and named just below
                vectors[good] = l2_normalize(out) if normalize else out
            stored, _ = degenerate_rows(vectors[good])
            overflow = np.setdiff1d(stored, non_finite)
            reasons[good[overflow]] = f"vector overflows the stored dtype {np.dtype(dtype).name} (values beyond its range)"
        bad = index[reasons[index] != ""]
        if len(bad) and on_error == "fail":
            where = f" of {rows.origin}" if rows.origin else ""
            raise BridgeError(f"row {str(rows.ids[bad[0]])!r}{where}: {reasons[bad[0]]} ({len(bad)} bad rows in this batch; "
                              f"set extract.on_error: skip to record and drop them)")
        done += len(index)
        if progress:
            progress(done)
    bad = reasons != ""
    skipped = [{"id": i, "reason": r} for i, r in zip(rows.ids[bad].tolist(), reasons[bad].tolist())]
    keep = np.flatnonzero(~bad)
    if len(keep) < len(vectors):
        vectors = vectors[keep]
    return keep, vectors, skipped


def encode_shard(plan: SetPlan, index: int) -> tuple[np.ndarray, np.ndarray, list[dict[str, str]]]:
    """(kept row positions, vectors, skipped) of shard ``index``, as a Ray actor computes it."""
    cfg = plan.cfg
    return encode_rows(plan.tower, plan.shard(index), cfg.batch_size, cfg.normalize, cfg.on_error)
