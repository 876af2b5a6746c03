"""Preprocessing batches ahead of the forward pass, in worker processes when it pays.

Image and audio decoding is Python-level per-file work (Pillow, soundfile);
done in the model's process it would stall the forward pass between batches.
Workers are *spawned* (never forked: the parent holds torch's thread pools)
and receive the tower's picklable ``preprocess`` once; then each batch
travels as payloads (paths or small arrays) one way and uint8 pixels or
features the other. At most ``2 * workers`` batches are in flight, so memory
stays bounded by batch size, not dataset size. This module imports only
numpy so spawned workers start fast.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

import numpy as np

from embridge.encoders.preprocess import Prepared, Preprocess

_worker_preprocess: Preprocess | None = None


def default_workers() -> int:
    """All cores but one (the forward pass uses that one and its own threads), at least one, at most 8."""
    return max(1, min(8, (os.cpu_count() or 2) - 1))


def _init_worker(preprocess: Preprocess) -> None:
    global _worker_preprocess
    _worker_preprocess = preprocess
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)  # one BLAS thread per worker: the workers are the parallelism


def _run(payloads: Any) -> Prepared:
    assert _worker_preprocess is not None
    return _worker_preprocess(payloads)


def prepared_batches(preprocess: Preprocess, payload: np.ndarray, batches: list[np.ndarray], workers: int
                     ) -> Iterator[tuple[np.ndarray, Prepared]]:
    """``(row positions, prepared batch)`` for each batch, in order.

    ``workers=0``, or no more batches than the ``2 * workers`` kept in
    flight (then starting processes, slow when the preprocess unpickles a
    library, costs more than the overlap saves), runs ``preprocess`` inline.
    """
    if workers <= 0 or len(batches) <= 2 * workers:
        for index in batches:
            yield index, preprocess(payload[index])
        return
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_init_worker, initargs=(preprocess,))
    try:
        pending: deque[tuple[np.ndarray, Future[Prepared]]] = deque()
        upcoming = iter(batches)
        for index in upcoming:
            pending.append((index, pool.submit(_run, payload[index])))
            if len(pending) >= 2 * workers:
                break
        while pending:
            index, future = pending.popleft()
            following = next(upcoming, None)
            if following is not None:
                pending.append((following, pool.submit(_run, payload[following])))
            yield index, future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
