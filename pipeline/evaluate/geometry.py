"""Representation similarity between two spaces on paired rows: linear CKA, mutual k-NN alignment, CKNNA.

These judge which encoder pair can be bridged before fitting anything (the
modality-gap papers; STRUCTURE, freeze-align and the platonic-representation
work use the same three). Rows ``i`` of ``a`` and ``b`` must be the same item
in the two spaces. Everything is O(n^2) in memory, so callers pass a seeded
sample of at most a few thousand pairs.

* **linear CKA** (Kornblith et al. 2019): ``||B^T A||_F^2 / (||A^T A||_F ||B^T B||_F)``
  on column-centred ``A`` and ``B``. 1 for identical spaces; unchanged by an
  orthogonal rotation or an isotropic scaling of either side.
* **mutual k-NN** (Huh et al. 2024): the mean share of each row's ``k`` nearest
  neighbours (cosine, itself excluded) that are the same in both spaces.
* **CKNNA** (Huh et al. 2024): CKA computed with an unbiased HSIC on kernel
  entries restricted to pairs that are mutual ``k``-nearest neighbours in both
  spaces, normalised by the same quantity of each space with itself.
"""

from __future__ import annotations

import numpy as np

from embridge.core.errors import BridgeError
from embridge.core.vectors import normalize


def _pairs_check(a: np.ndarray, b: np.ndarray, k: int | None = None) -> None:
    if a.ndim != 2 or b.ndim != 2 or len(a) != len(b):
        raise BridgeError(f"geometry needs paired rows: got {list(a.shape)} and {list(b.shape)}")
    if len(a) < 4:
        raise BridgeError(f"geometry needs at least 4 paired rows, got {len(a)}")
    if k is not None and not 1 <= k < len(a):
        raise BridgeError(f"geometry: k must be in 1..{len(a) - 1} for {len(a)} rows, got {k}")


def linear_cka(a: np.ndarray, b: np.ndarray) -> float:
    """Linear CKA of paired rows (float64; feature-space form, so memory is d_a x d_b, not n x n)."""
    _pairs_check(a, b)
    a = np.asarray(a, np.float64) - np.mean(a, axis=0, dtype=np.float64)
    b = np.asarray(b, np.float64) - np.mean(b, axis=0, dtype=np.float64)
    cross = np.linalg.norm(b.T @ a) ** 2
    return float(cross / (np.linalg.norm(a.T @ a) * np.linalg.norm(b.T @ b)))


def _knn_mask(x: np.ndarray, k: int) -> np.ndarray:
    """Boolean ``[n, n]``: ``mask[i, j]`` when ``j`` is among the ``k`` nearest rows of ``i`` by cosine."""
    unit = normalize(np.asarray(x, np.float64))
    sim = unit @ unit.T
    np.fill_diagonal(sim, -np.inf)
    top = np.argpartition(-sim, k - 1, axis=1)[:, :k]
    mask = np.zeros(sim.shape, dtype=bool)
    np.put_along_axis(mask, top, True, axis=1)
    return mask


def mutual_knn(a: np.ndarray, b: np.ndarray, k: int = 10) -> float:
    """Mean over rows of |kNN_a(i) ∩ kNN_b(i)| / k."""
    _pairs_check(a, b, k)
    return float((_knn_mask(a, k) & _knn_mask(b, k)).sum(axis=1).mean() / k)


def _hsic_unbiased(k: np.ndarray, l: np.ndarray) -> float:
    """Song et al.'s unbiased HSIC estimator (diagonals zeroed), as CKNNA uses it."""
    m = len(k)
    k = k.copy()
    l = l.copy()
    np.fill_diagonal(k, 0.0)
    np.fill_diagonal(l, 0.0)
    kl = k @ l
    value = np.trace(kl) + k.sum() * l.sum() / ((m - 1) * (m - 2)) - 2.0 * kl.sum() / (m - 2)
    return float(value / (m * (m - 3)))


def cknna(a: np.ndarray, b: np.ndarray, k: int = 10) -> float:
    """CKNNA: CKA over kernel entries of pairs that are k-nearest neighbours in both spaces."""
    _pairs_check(a, b, k)
    ka = np.asarray(a, np.float64) @ np.asarray(a, np.float64).T
    kb = np.asarray(b, np.float64) @ np.asarray(b, np.float64).T
    mask_a, mask_b = _knn_mask(a, k), _knn_mask(b, k)

    def aligned(x: np.ndarray, mx: np.ndarray, y: np.ndarray, my: np.ndarray) -> float:
        both = (mx & my).astype(np.float64)
        return _hsic_unbiased(both * x, both * y)

    ab, aa, bb = aligned(ka, mask_a, kb, mask_b), aligned(ka, mask_a, ka, mask_a), aligned(kb, mask_b, kb, mask_b)
    denominator = np.sqrt(max(aa, 0.0) * max(bb, 0.0))
    return float(ab / denominator) if denominator > 0 else 0.0


def geometry(a: np.ndarray, b: np.ndarray, k: int = 10, samples: int = 2000, seed: int = 0) -> dict[str, float]:
    """All three on a seeded sample of at most ``samples`` pairs."""
    if len(a) > samples:
        keep = np.sort(np.random.default_rng(seed).choice(len(a), samples, replace=False))
        a, b = a[keep], b[keep]
    return {"linear_cka": linear_cka(a, b), f"mutual_knn@{k}": mutual_knn(a, b, k), f"cknna@{k}": cknna(a, b, k),
            "pairs": float(len(a))}
