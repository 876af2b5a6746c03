"""Nearest-neighbour search by inner product (FAISS), and exact ranks of positives.

Callers pass L2-normalised vectors, so inner product is cosine similarity.

* ``exact`` (the default) is brute force: FAISS's ``knn`` over blocks of the
  gallery, merged in a heap. It computes exactly what ``IndexFlatIP.search``
  computes (the same BLAS kernel) without the index's float32 copy of the
  gallery, so a float16 or memory-mapped gallery costs one block of float32 at
  a time, and memory stays bounded by ``chunk`` queries x ``block`` rows.
* ``ivf`` (IndexIVFFlat) and ``hnsw`` (IndexHNSWFlat) are approximate, for
  galleries too big for brute force; ``approximate_recall`` says how much they
  lose. Any other string is a FAISS ``index_factory`` spec (``"IVF4096,SQ8"``,
  ``"IVF1024,PQ64"``) for galleries whose float32 copy does not fit in memory.
* ``auto`` is exact up to ``AUTO_EXACT_MAX`` gallery rows, ivf above.

With a GPU build of faiss and a GPU, exact search runs on the GPU and indexes
are moved to all GPUs (index types without a GPU implementation, e.g. HNSW,
stay on the CPU).

Ties: FAISS does not order exactly tied scores by gallery index (faiss 1.15
returns ids 3, 1, 0 for a query tied with gallery rows 0, 1 and 3), and which
of several tied items fill the last places of a top-k is not the lowest ids
either; a top-k list therefore cannot give tie-exact metrics.
``ranks.py`` counts instead, with a stated tie rule, and
``embridge.evaluate.metrics`` builds its exact metrics on it.
"""

from __future__ import annotations

import math
from functools import cache

import faiss
import numpy as np

#: "auto" searches exactly up to this many gallery rows (~0.25 GFLOP per query at d=512)
AUTO_EXACT_MAX = 500_000
#: IVF training rows per inverted list (FAISS warns below 39)
TRAIN_PER_LIST = 64
#: training rows for trainable factory indexes that are not IVF (e.g. a plain "PQ64")
TRAIN_ROWS = 65_536
#: gallery rows converted to float32 at a time (exact search's default ``block``; index fill)
BLOCK = 1 << 16

_DEFAULTS = {
    "exact": {"block": BLOCK},
    "ivf": {"nlist": None, "nprobe": None},
    "hnsw": {"M": 32, "efConstruction": 80, "efSearch": 64},
}


def _as_2d(name: str, x: np.ndarray) -> None:
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty [n, d] array, got shape {list(x.shape)}")


def _check(queries: np.ndarray, gallery: np.ndarray, k: int) -> None:
    _as_2d("queries", queries)
    _as_2d("gallery", gallery)
    if queries.shape[1] != gallery.shape[1]:
        raise ValueError(f"queries have dim {queries.shape[1]} but the gallery has dim {gallery.shape[1]}")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")


def _f32(x: np.ndarray) -> np.ndarray:
    """A float32 C-contiguous view when ``x`` already is one, else a converted copy."""
    return np.ascontiguousarray(x, dtype=np.float32)


def _params(kind: str, given: dict) -> dict:
    defaults = _DEFAULTS[kind]
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise ValueError(f"index {kind!r} takes parameters {sorted(defaults)}; got unknown {unknown}")
    return {**defaults, **given}


@cache
def _gpu_resources() -> faiss.StandardGpuResources | None:
    """One set of GPU resources per process, or None on a CPU build / machine."""
    return faiss.StandardGpuResources() if faiss.get_num_gpus() > 0 else None


def _knn(queries: np.ndarray, block: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    res = _gpu_resources()
    if res is not None:
        return faiss.knn_gpu(res, queries, block, k, metric=faiss.METRIC_INNER_PRODUCT)
    return faiss.knn(queries, block, k, metric=faiss.METRIC_INNER_PRODUCT)


def _exact(queries: np.ndarray, gallery: np.ndarray, k: int, chunk: int, block: int
           ) -> tuple[np.ndarray, np.ndarray]:
    nq, n = len(queries), len(gallery)
    scores = np.empty((nq, k), dtype=np.float32)
    indices = np.empty((nq, k), dtype=np.int64)
    for start in range(0, nq, chunk):
        q = _f32(queries[start:start + chunk])
        heap = faiss.ResultHeap(len(q), k, keep_max=True)
        for lo in range(0, n, block):
            g = _f32(gallery[lo:lo + block])
            d, i = _knn(q, g, min(k, len(g)))
            heap.add_result(d, i + lo)
        heap.finalize()
        scores[start:start + len(q)], indices[start:start + len(q)] = heap.D, heap.I
    return scores, indices


def build_index(gallery: np.ndarray, index: str = "ivf", seed: int = 0, **index_params: float) -> faiss.Index:
    """An approximate inner-product index over ``gallery``, trained and filled.

    ``index`` is ``ivf`` (params ``nlist``, default ~4 sqrt(n); ``nprobe``,
    default nlist/8), ``hnsw`` (``M``, ``efConstruction``, ``efSearch``) or a
    FAISS ``index_factory`` spec whose params are search-time FAISS parameter
    names (``nprobe``, ``efSearch``, ...). Training uses a seeded sample of
    rows; rows are added in blocks converted to float32, so a float16 or
    memory-mapped gallery is never copied whole.
    """
    _as_2d("gallery", gallery)
    n, d = gallery.shape
    if index == "ivf":
        p = _params(index, index_params)
        nlist = int(p["nlist"] or min(max(1, n // 39), max(1, round(4 * math.sqrt(n)))))
        spec, search_params = f"IVF{nlist},Flat", {"nprobe": int(p["nprobe"] or max(1, nlist // 8))}
    elif index == "hnsw":
        p = _params(index, index_params)
        spec, search_params = f"HNSW{int(p['M'])},Flat", {"efSearch": int(p["efSearch"])}
    elif index in ("exact", "auto"):
        raise ValueError(f"build_index builds approximate indexes; use search(..., index={index!r})")
    else:
        spec, search_params = index, index_params
    try:
        idx = faiss.index_factory(d, spec, faiss.METRIC_INNER_PRODUCT)
    except RuntimeError as e:
        raise ValueError(f"unknown index {index!r}: not exact/ivf/hnsw/auto nor a FAISS factory spec "
                         f"({str(e).strip().splitlines()[-1]})") from None
    if index == "hnsw":
        idx.hnsw.efConstruction = int(p["efConstruction"])
    if not idx.is_trained:
        ivf = faiss.try_extract_index_ivf(idx)
        rows = min(n, TRAIN_PER_LIST * ivf.nlist if ivf is not None else TRAIN_ROWS)
        sample = np.sort(np.random.default_rng(seed).choice(n, rows, replace=False))
        idx.train(_f32(gallery[sample]))
    for lo in range(0, n, BLOCK):
        idx.add(_f32(gallery[lo:lo + BLOCK]))
    space = faiss.ParameterSpace()
    for name, value in search_params.items():
        try:
            space.set_index_parameter(idx, name, value)
        except RuntimeError:
            raise ValueError(f"index {index!r} has no search parameter {name!r}") from None
    if _gpu_resources() is not None:
        try:
            idx = faiss.index_cpu_to_all_gpus(idx)
        except RuntimeError:  # no GPU implementation of this index type: stay on the CPU
            pass
    return idx


def search_index(idx: faiss.Index, queries: np.ndarray, k: int, chunk: int = 8192
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` of ``queries`` in a built index, ``chunk`` queries at a time.

    ``k`` is clipped to the index size. An approximate index may find fewer
    than ``k`` items for a query (IVF with few probed lists): those slots hold
    index -1 and score -inf. HNSW's ``efSearch`` is raised to ``k`` if lower.
    """
    _as_2d("queries", queries)
    if queries.shape[1] != idx.d:
        raise ValueError(f"queries have dim {queries.shape[1]} but the index has dim {idx.d}")
    k = min(k, idx.ntotal)
    if k < 1:
        raise ValueError(f"k must be >= 1 and the index non-empty (k={k}, ntotal={idx.ntotal})")
    if isinstance(idx, faiss.IndexHNSW):
        idx.hnsw.efSearch = max(idx.hnsw.efSearch, k)
    nq = len(queries)
    scores = np.empty((nq, k), dtype=np.float32)
    indices = np.empty((nq, k), dtype=np.int64)
    for start in range(0, nq, chunk):
        d, i = idx.search(_f32(queries[start:start + chunk]), k)
        scores[start:start + len(d)], indices[start:start + len(d)] = d, i
    scores[indices < 0] = -np.inf
    return scores, indices


def search(queries: np.ndarray, gallery: np.ndarray, k: int, index: str = "exact", chunk: int = 8192,
           **index_params: float) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` gallery rows for each query by inner product.

    Returns ``(scores [nq, k] float32, indices [nq, k] int64)``, best first,
    with ``k`` clipped to the gallery size. ``index``: ``exact`` (param
    ``block``: gallery rows per brute-force block), ``ivf``, ``hnsw``,
    ``auto`` (IVF params are ignored when it picks exact) or a FAISS factory
    spec (see ``build_index``). Queries go
    ``chunk`` at a time, so memory is bounded by the chunk, not by ``nq``.
    """
    _check(queries, gallery, k)
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    k = min(k, len(gallery))
    if index == "auto":
        index = "exact" if len(gallery) <= AUTO_EXACT_MAX else "ivf"
        if index == "exact":
            index_params = {}
    if index == "exact":
        p = _params("exact", index_params)
        return _exact(queries, gallery, k, chunk, int(p["block"]))
    return search_index(build_index(gallery, index, **index_params), queries, k, chunk)


def approximate_recall(queries: np.ndarray, gallery: np.ndarray, k: int = 10, index: str | faiss.Index = "ivf",
                       sample: int = 1000, seed: int = 0, **index_params: float) -> float:
    """k-recall@k of an approximate index against exact search.

    The mean over (at most ``sample`` seeded) queries of
    ``|approximate top-k  intersect  exact top-k| / k``: 1.0 means the index
    returns exactly the true neighbours. ``index`` is a kind or spec for
    ``search`` (built here with ``index_params``) or an index already built
    over ``gallery`` (e.g. by ``build_index``), searched as is. Exactly tied
    scores at the k-th place can make even an exact index score below 1
    (which tied item is kept is unspecified), so measure on data without ties.
    """
    _check(queries, gallery, k)
    if len(queries) > sample:
        queries = queries[np.sort(np.random.default_rng(seed).choice(len(queries), sample, replace=False))]
    k = min(k, len(gallery))
    _, truth = search(queries, gallery, k, "exact")
    if isinstance(index, faiss.Index):
        _, found = search_index(index, queries, k)
    else:
        _, found = search(queries, gallery, k, index, **index_params)
    # a row's ids are distinct, so matches per row = |found & truth|; -1 (not found) never matches
    hits = (found[:, :, None] == truth[:, None, :]).any(axis=2).sum(axis=1)
    return float(hits.mean() / k)
