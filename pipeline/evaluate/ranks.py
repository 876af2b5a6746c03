"""Exact ranks of positives by brute force, in cache-sized score blocks with the count fused, on CPU or GPU.

Rank of a query = 1 + the gallery rows scoring above its best positive (the
gallery rows of its group). Exact retrieval metrics (recall@k, MRR, ranks)
need this count over the *whole* gallery, not a top-k list.

Why blocks: at small d a score costs few FLOPs (2d) but 4 bytes to write
and read back, so a score matrix larger than the caches makes the count
memory-bound, several times slower than its arithmetic. Here each block of
``chunk`` queries x ``block`` gallery rows (``CHUNK`` x ``BLOCK`` float32 by
default) is scored by one BLAS call and counted while it is still in cache;
``benchmarks/search.py`` measures the result against the machine's
matrix-multiply rate in the same run.

Exactness: the threshold (the best positive score) is first read from a
small product of the chunk with its positives' rows, then checked against the
positives' scores in the blocks themselves; a chunk where the two differ is
counted again against the block values. Two scores within ``TIE`` of each
other are a tie: a BLAS kernel rounds a dot product by the column's place in
its panel, so identical gallery rows can score a few float32 ulps apart, and
a duplicate of the positive must tie with it wherever it sits. Every tie rule
comes from the same pass:

* ``optimistic``: 1 + #(rows scoring > b), ties go to the positive;
* ``pessimistic``: 1 + #(negatives scoring >= b);
* ``expected`` (the headline of every metric): the value a metric takes on
  average over a uniformly random order of the tied rows. A positive tied with
  m negatives earns 1/(m+1) of a top-1 hit, never more than its fair share, so
  a degenerate vector that ties with everything scores at chance, not at 1.

On a machine with CUDA (and torch) the blocks are scored on the GPU, in
float32 without TF32; ``tests/test_search.py`` has the GPU-against-CPU test.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import gammaln

TIES = ("expected", "optimistic", "pessimistic")
#: scores this close are tied (17 float32 ulps at 1.0, above the BLAS spread between identical rows)
TIE = 1e-6
#: queries x gallery rows per CPU score block (16 MB of float32): smaller blocks pay more per-call BLAS overhead
#: than they save in cache misses (benchmarks/search.py times the ranks against the machine's matmul rate)
CHUNK, BLOCK = 1024, 4096
#: the same on a GPU, where one launch should hold far more work
GPU_CHUNK, GPU_BLOCK = 8192, 65536


def group_codes(query_groups: np.ndarray, gallery_groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes of group keys, shared between queries and gallery."""
    codes = np.unique(np.concatenate([np.asarray(query_groups), np.asarray(gallery_groups)]),
                      return_inverse=True)[1]
    return codes[:len(query_groups)], codes[len(query_groups):]


def cuda_available() -> bool:
    """Whether torch can use a CUDA device, without importing torch on a machine that has no GPU driver
    (the import alone costs an eval process more than most tasks' work)."""
    if os.environ.get("BRIDGE_DEVICE") == "cpu":
        return False
    if "torch" not in sys.modules and not (os.path.exists("/dev/nvidiactl")
                                           and importlib.util.find_spec("torch") is not None):
        return False
    import torch

    return bool(torch.cuda.is_available())


class _Numpy:
    """Score blocks with numpy's BLAS into one reused buffer."""

    def __init__(self, gallery: np.ndarray) -> None:
        self.gallery = np.ascontiguousarray(gallery, dtype=np.float32)
        self.buffer = np.empty(0, dtype=np.float32)
        self.hits = np.empty(0, dtype=bool)

    def queries(self, q: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(q, dtype=np.float32)

    def scores(self, q: np.ndarray, lo: int, hi: int) -> np.ndarray:
        if self.buffer.size < len(q) * (hi - lo):
            self.buffer = np.empty(len(q) * (hi - lo), dtype=np.float32)
        out = self.buffer[:len(q) * (hi - lo)].reshape(len(q), hi - lo)
        return np.matmul(q, self.gallery[lo:hi].T, out=out)

    def rows(self, q: np.ndarray, columns: np.ndarray) -> np.ndarray:
        return q @ self.gallery[columns].T

    def count(self, s: np.ndarray, threshold: np.ndarray, inclusive: bool) -> np.ndarray:
        """Per row, entries above (or at) the row's threshold: a compare into a reused bool buffer and a
        byte-wise sum (faster than ``count_nonzero(axis=1)``, which converts to int first)."""
        if self.hits.size < s.size:
            self.hits = np.empty(s.size, dtype=bool)
        hit = self.hits[:s.size].reshape(s.shape)
        (np.greater_equal if inclusive else np.greater)(s, threshold[:, None], out=hit)
        return np.add.reduce(hit.view(np.uint8), axis=1, dtype=np.uint16 if s.shape[1] < 65536 else np.int64)

    def pick(self, s: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        return s[rows, cols]

    def host(self, x: Any) -> np.ndarray:
        return x


class _Torch(_Numpy):
    """The same blocks on a CUDA device (float32, TF32 off), so only counts come back to the host."""

    def __init__(self, gallery: np.ndarray) -> None:
        import torch

        self.torch = torch
        torch.backends.cuda.matmul.allow_tf32 = False
        self.gallery = torch.from_numpy(np.ascontiguousarray(gallery, dtype=np.float32)).cuda()

    def queries(self, q: np.ndarray) -> Any:
        return self.torch.from_numpy(np.ascontiguousarray(q, dtype=np.float32)).cuda()

    def scores(self, q: Any, lo: int, hi: int) -> Any:
        return q @ self.gallery[lo:hi].T

    def rows(self, q: Any, columns: np.ndarray) -> Any:
        return q @ self.gallery[self.torch.from_numpy(columns).cuda()].T

    def count(self, s: Any, threshold: Any, inclusive: bool) -> np.ndarray:
        threshold = self.torch.as_tensor(threshold, device=s.device)[:, None]
        return ((s >= threshold) if inclusive else (s > threshold)).sum(1).cpu().numpy()

    def pick(self, s: Any, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        return s[self.torch.from_numpy(rows).cuda(), self.torch.from_numpy(cols).cuda()].cpu().numpy()

    def host(self, x: Any) -> np.ndarray:
        return x.cpu().numpy()


@dataclass
class Ranks:
    """The ranks of each query's best positive under the optimistic and pessimistic rules (int64 [nq]
    each) and ``tied``, how many positives share the best positive's score (>= 1): with them, the
    expected value of any rank metric over random tie-breaking (``recall``, ``reciprocal``, ``mean``)."""

    optimistic: np.ndarray
    pessimistic: np.ndarray | None = None
    tied: np.ndarray | None = None

    def under(self, ties: str) -> np.ndarray:
        """Integer ranks under ``optimistic`` or ``pessimistic`` (``expected`` has no integer rank)."""
        ranks = self.optimistic if ties == "optimistic" else self.pessimistic if ties == "pessimistic" else None
        if ranks is None:
            raise ValueError(f"integer ranks under the {ties!r} rule do not exist or were not computed")
        return ranks

    def _ties(self) -> tuple[np.ndarray, np.ndarray]:
        if self.pessimistic is None or self.tied is None:
            raise ValueError("expected ranks need both tie rules (pass both=True)")
        return self.pessimistic - self.optimistic, self.tied  # m tied negatives, t tied positives

    def _ahead_at_least(self, r: np.ndarray) -> np.ndarray:
        """P(X >= r), X = tied negatives ordered before the first tied positive: C(m, r) / C(m + t, r)."""
        m, t = self._ties()
        r = np.asarray(r, dtype=np.float64)
        inside = (r > 0) & (r <= m)
        rr = np.where(inside, r, 0.0)
        log = gammaln(m + 1) - gammaln(m - rr + 1) - gammaln(m + t + 1) + gammaln(m + t - rr + 1)
        return np.where(r <= 0, 1.0, np.where(inside, np.exp(log), 0.0))

    def recall(self, k: int) -> np.ndarray:
        """Per query, the probability under random tie-breaking that a positive is within the top ``k``."""
        return 1.0 - self._ahead_at_least(k - self.optimistic + 1)

    def reciprocal(self, cutoff: int | None = None) -> np.ndarray:
        """Per query, E[1 / rank] under random tie-breaking (0 beyond ``cutoff``)."""
        m, _ = self._ties()
        limit = np.inf if cutoff is None else cutoff
        out = np.where(self.optimistic <= limit, 1.0 / self.optimistic, 0.0)
        tied = np.flatnonzero(m > 0)
        if len(tied):  # sum over r of P(X = r) / (optimistic + r); the loop runs over r, not over queries
            sub = Ranks(self.optimistic[tied], self.pessimistic[tied], self.tied[tied])  # type: ignore[index]
            total = np.zeros(len(tied))
            at_least = np.ones(len(tied))
            for r in range(int(m[tied].max()) + 1):
                nxt = sub._ahead_at_least(np.full(len(tied), r + 1))
                rank = sub.optimistic + r
                total += np.where(rank <= limit, (at_least - nxt) / rank, 0.0)
                at_least = nxt
            out[tied] = total
        return out

    def mean(self) -> np.ndarray:
        """Per query, the expected rank: the optimistic rank plus the tied negatives' expected share ahead."""
        m, t = self._ties()
        return self.optimistic + m / (t + 1.0)


def rank_positives(queries: np.ndarray, gallery: np.ndarray, query_groups: np.ndarray, gallery_groups: np.ndarray,
                   both: bool = True, device: str = "auto", chunk: int | None = None,
                   block: int | None = None, exclude: np.ndarray | None = None) -> Ranks:
    """Exact ranks (1 = best) of each query's best positive among all gallery rows.

    ``exclude``: per query, a gallery row that is neither a positive nor a
    negative for it (its own row when query and gallery are one set), or -1.

    ``both``: the pessimistic rule and the tied positives too (one more compare
    per score), which the ``expected`` rule needs; else only the optimistic one.
    ``device``: ``auto`` (CUDA when present), ``cpu`` or ``cuda``. A query with
    no positive in the gallery is an error. Memory: the gallery as float32
    (converted once if it is not) plus one score block.
    """
    _check(queries, gallery, query_groups, gallery_groups)
    qcodes, gcodes = group_codes(query_groups, gallery_groups)
    order = np.argsort(gcodes, kind="stable")
    lo = np.searchsorted(gcodes[order], qcodes, side="left")
    counts = np.searchsorted(gcodes[order], qcodes, side="right") - lo
    if (counts == 0).any():
        missing = np.asarray(query_groups)[counts == 0]
        raise ValueError(f"{len(missing)} queries have no positive in the gallery "
                         f"(e.g. group {missing[0]!r}); drop them or add their items to the gallery")
    gpu = device == "cuda" or (device == "auto" and cuda_available())
    xp = _Torch(gallery) if gpu else _Numpy(gallery)
    chunk = chunk or (GPU_CHUNK if gpu else CHUNK)
    block = block or (GPU_BLOCK if gpu else BLOCK)
    n = len(gallery)
    optimistic = np.empty(len(queries), dtype=np.int64)
    pessimistic = np.empty(len(queries), dtype=np.int64) if both else None
    tied_positives = np.empty(len(queries), dtype=np.int64) if both else None
    for start in range(0, len(queries), chunk):
        stop = min(start + chunk, len(queries))
        q = xp.queries(queries[start:stop])
        c = counts[start:stop]
        starts = np.cumsum(c) - c
        rows = np.repeat(np.arange(stop - start), c)  # (row, gallery column) of every positive, rows contiguous
        cols = order[np.repeat(lo[start:stop], c) + np.arange(c.sum()) - np.repeat(starts, c)]
        own = None if exclude is None else np.asarray(exclude[start:stop], dtype=np.int64)
        if own is not None:
            keep = cols != own[rows]
            rows, cols = rows[keep], cols[keep]
            c = np.bincount(rows, minlength=stop - start)
            if (c == 0).any():
                lonely = np.asarray(query_groups)[start + int(np.flatnonzero(c == 0)[0])]
                raise ValueError(f"{int((c == 0).sum())} queries have no positive besides their own row "
                                 f"(e.g. group {lonely!r})")
            starts = np.cumsum(c) - c
        unique_cols, where = np.unique(cols, return_inverse=True)
        first = xp.pick(xp.rows(q, unique_cols), rows, where)
        threshold = np.maximum.reduceat(first, starts)
        above, at_or_above, scores = _count(xp, q, threshold, rows, cols, n, block, both)
        best = np.maximum.reduceat(scores, starts)
        if (best != threshold).any():  # the block kernel rounded a positive differently: count this chunk
            above, at_or_above, _ = _count(xp, q, best, rows, cols, n, block, both)  # again against its values
        if own is not None and (own >= 0).any():  # the excluded rows were counted with the rest: take them out
            has = np.flatnonzero(own >= 0)
            score = xp.pick(xp.rows(q, own[has]), has, np.arange(len(has)))
            above[has] -= score > best[has] + TIE
            at_or_above[has] -= score >= best[has] - TIE
        optimistic[start:stop] = 1 + above
        if pessimistic is not None:
            tied = np.add.reduceat((np.abs(scores - best[rows]) <= TIE).astype(np.int64), starts)
            pessimistic[start:stop] = 1 + at_or_above - tied
            tied_positives[start:stop] = tied  # type: ignore[index]
    return Ranks(optimistic, pessimistic, tied_positives)


def _count(xp: _Numpy, q: Any, threshold: np.ndarray, rows: np.ndarray, cols: np.ndarray, n: int,
           block: int, both: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One pass over the gallery blocks: rows scoring > and >= ``threshold``, and the positives' scores."""
    by_col = np.argsort(cols, kind="stable")
    sorted_cols = cols[by_col]
    above = np.zeros(len(threshold), dtype=np.int64)
    at_or_above = np.zeros(len(threshold), dtype=np.int64)
    scores = np.empty(len(cols), dtype=np.float32)
    for lo in range(0, n, block):
        hi = min(lo + block, n)
        s = xp.scores(q, lo, hi)
        above += xp.count(s, threshold + TIE, inclusive=False)
        if both:
            at_or_above += xp.count(s, threshold - TIE, inclusive=True)
        a, b = np.searchsorted(sorted_cols, (lo, hi))
        if b > a:
            mine = by_col[a:b]
            scores[mine] = xp.pick(s, rows[mine], cols[mine] - lo)
    return above, at_or_above, scores


def ranks_of_positives(queries: np.ndarray, gallery: np.ndarray, query_groups: np.ndarray,
                       gallery_groups: np.ndarray, ties: str = "optimistic", device: str = "auto") -> np.ndarray:
    """Integer ranks under the optimistic or pessimistic rule (``rank_positives`` gives every rule from one pass)."""
    if ties not in TIES[1:]:
        raise ValueError(f"integer ranks exist for ties in {TIES[1:]}, got {ties!r}")
    both = ties == "pessimistic"
    return rank_positives(queries, gallery, query_groups, gallery_groups, both, device).under(ties)


def _check(queries: np.ndarray, gallery: np.ndarray, query_groups: np.ndarray, gallery_groups: np.ndarray) -> None:
    for name, x in (("queries", queries), ("gallery", gallery)):
        if x.ndim != 2 or x.shape[0] == 0:
            raise ValueError(f"{name} must be a non-empty [n, d] array, got shape {list(x.shape)}")
    if queries.shape[1] != gallery.shape[1]:
        raise ValueError(f"queries have dim {queries.shape[1]} but the gallery has dim {gallery.shape[1]}")
    if len(query_groups) != len(queries) or len(gallery_groups) != len(gallery):
        raise ValueError(f"groups must have one entry per row: {len(query_groups)} query groups for "
                         f"{len(queries)} queries, {len(gallery_groups)} gallery groups for {len(gallery)} rows")
