"""Modality-gap statistics of an encoder's paired text / modal embeddings (TextME appendix B).

The gap story the bridges rely on: the two towers sit in separate cones, a
near-constant offset apart (the *group gap*), and that offset is orthogonal
to the directions along which items of one modality differ. These numbers
test each part of the story on N paired rows (row k of ``text`` pairs with
row k of ``modal``), after L2 normalisation. Callers pass a sample (a few
thousand pairs); the arrays are held in float64.

Random choices (the split into halves, the pairs for orthogonality and
distances) are seeded.
"""

from __future__ import annotations

import numpy as np

from embridge.core.vectors import normalize


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine; 0 where either side is the zero vector."""
    return np.einsum("...d,...d->...", normalize(a, np.float64), normalize(b, np.float64))


def _pairs(rng: np.random.Generator, n: int, pairs: int) -> tuple[np.ndarray, np.ndarray]:
    """``pairs`` uniform ordered pairs (j, k) with j != k from range(n)."""
    j = rng.integers(0, n, pairs)
    return j, (j + rng.integers(1, n, pairs)) % n


def gap_statistics(text: np.ndarray, modal: np.ndarray, seed: int = 0, pairs: int = 10_000) -> dict:
    """Gap statistics of N paired rows: a flat dict of floats.

    With ``t_k``, ``x_k`` the normalised text and modal rows, ``g = mean(x) -
    mean(t)`` the group gap:

    * ``gap_length`` = ||g||;
    * ``centroid_proximity_text`` / ``_modal``: mean cos of each row to its
      modality's centroid (how tight each cone is);
    * ``gap_direction_consistency``: cos between the group gaps of two
      disjoint random halves of the pairs (1 = the offset is one direction);
    * ``instance_gap_consistency``: mean cos(x_k - t_k, g);
    * ``alignment_noise_mean`` / ``_std``: mean and standard deviation of
      ||eps_k|| with eps_k = (x_k - t_k) - g, what is left once the constant
      offset is removed;
    * ``gap_orthogonality``: mean |cos(g, x_j - x_k)| over ``pairs`` random
      modal pairs j != k (0 = the gap is orthogonal to intra-modal variation),
      ``gap_orthogonality_text`` the same over text pairs.
    """
    t, x = normalize(text, np.float64), normalize(modal, np.float64)
    if t.shape != x.shape or t.ndim != 2 or len(t) < 4:
        raise ValueError(f"text and modal must be paired [N, d] arrays with N >= 4, "
                         f"got {list(t.shape)} and {list(x.shape)}")
    rng = np.random.default_rng(seed)
    diff = x - t
    gap = diff.mean(axis=0)
    halves = np.array_split(rng.permutation(len(t)), 2)
    eps = np.linalg.norm(diff - gap, axis=1)
    jx, kx = _pairs(rng, len(x), pairs)
    jt, kt = _pairs(rng, len(t), pairs)
    mu_t, mu_x = t.mean(axis=0), x.mean(axis=0)
    return {
        "gap_length": float(np.linalg.norm(gap)),
        "centroid_proximity_text": float(_cos(t, mu_t).mean()),
        "centroid_proximity_modal": float(_cos(x, mu_x).mean()),
        "gap_direction_consistency": float(_cos(diff[halves[0]].mean(axis=0), diff[halves[1]].mean(axis=0))),
        "instance_gap_consistency": float(_cos(diff, gap).mean()),
        "alignment_noise_mean": float(eps.mean()),
        "alignment_noise_std": float(eps.std()),
        "gap_orthogonality": float(np.abs(_cos(x[jx] - x[kx], gap)).mean()),
        "gap_orthogonality_text": float(np.abs(_cos(t[jt] - t[kt], gap)).mean()),
    }


def distance_ratio(corpus_a: np.ndarray, corpus_b: np.ndarray, seed: int = 0, pairs: int = 10_000) -> float:
    """rho = d_intra / d_inter between two corpora embedded by the same tower.

    Distances are Euclidean between L2-normalised rows, estimated on
    ``pairs`` seeded random pairs each. ``d_intra`` is the mean of the two
    corpora's mean within-corpus distances (pairs j != k, each corpus weighted
    equally whatever its size); ``d_inter`` the mean distance between a row of
    ``a`` and a row of ``b``. rho near 1: the corpora overlap as much as either
    overlaps itself; rho << 1: they occupy separate regions.
    """
    a, b = normalize(corpus_a, np.float64), normalize(corpus_b, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or min(len(a), len(b)) < 2:
        raise ValueError(f"corpora must be [n, d] arrays of one dim with n >= 2, "
                         f"got {list(a.shape)} and {list(b.shape)}")
    rng = np.random.default_rng(seed)
    ja, ka = _pairs(rng, len(a), pairs)
    jb, kb = _pairs(rng, len(b), pairs)
    intra = 0.5 * (np.linalg.norm(a[ja] - a[ka], axis=1).mean() + np.linalg.norm(b[jb] - b[kb], axis=1).mean())
    inter = np.linalg.norm(a[rng.integers(0, len(a), pairs)] - b[rng.integers(0, len(b), pairs)], axis=1).mean()
    return float(intra / inter)
