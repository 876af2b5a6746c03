"""Vectors in memory, the spaces they live in, which rows are pairs, and the one ``normalize``.

These types are shared by the store (which reads them), the bridges (which
fit and map them) and evaluation (which scores them), so they live below all
three. Pairing has one definition: the same text embedded by two encoders
shares an *id*; different modalities of one thing share a *group*.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from embridge.core.errors import BridgeError

#: ``split`` value of the class-prompt text rows that zero-shot classification averages into class vectors
PROMPT_SPLIT = "prompt"


@dataclass(frozen=True)
class Space:
    """An encoder tower's embedding space."""

    encoder: str
    tower: str
    dim: int

    @property
    def key(self) -> str:
        return f"{self.encoder}/{self.tower}"


@dataclass
class Vectors:
    """An embedding set (or a split of one) held in memory for fitting and evaluation."""

    space: Space
    ids: np.ndarray
    labels: np.ndarray
    groups: np.ndarray
    splits: np.ndarray
    vectors: np.ndarray  # float32 [n, dim]
    fingerprint: str = ""

    def __len__(self) -> int:
        return len(self.ids)

    def take(self, index: np.ndarray) -> Vectors:
        return Vectors(self.space, self.ids[index], self.labels[index], self.groups[index],
                       self.splits[index], self.vectors[index], self.fingerprint)


def as_vectors(value: Vectors | np.ndarray, space: Space | None = None, role: str = "input") -> Vectors:
    """``value`` as ``Vectors``: a plain array ``[n, dim]`` becomes rows ``"0"`` .. ``"n-1"`` whose id and
    group are their row number, so row ``i`` pairs with row ``i`` of another array (by id and by group), in
    ``space`` (default ``<role>/vectors``), fingerprinted by its bytes so a bridge card names what it saw.

    >>> as_vectors(np.eye(3), role="source").space.key, as_vectors(np.eye(3)).groups.tolist()
    ('source/vectors', ['0', '1', '2'])
    """
    if isinstance(value, Vectors):
        return value
    try:
        x = np.ascontiguousarray(value, dtype=np.float32)
    except (TypeError, ValueError) as e:
        raise BridgeError(f"role {role!r}: vectors must be a float array [n, dim] ({e})") from None
    if x.ndim != 2 or not x.shape[0] or not x.shape[1]:
        raise BridgeError(f"role {role!r}: vectors must be a float array [n, dim] with n, dim > 0, "
                          f"got shape {list(x.shape)}")
    rows = np.arange(len(x)).astype(str)
    fingerprint = hashlib.sha256(f"{x.shape}".encode() + x.tobytes()).hexdigest()
    return Vectors(space or Space(role, "vectors", x.shape[1]), rows, np.full(len(x), ""), rows,
                   np.full(len(x), "train"), x, f"array:{fingerprint}")


def normalize(x: np.ndarray, dtype: type | None = None) -> np.ndarray:
    """Row-wise L2 normalisation; zero rows stay zero (the 1e-12 floor avoids 0/0)."""
    x = np.asarray(x, dtype=dtype) if dtype is not None else np.asarray(x)
    norms = np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)
    return x / norms


def require_finite(x: np.ndarray, what: str) -> np.ndarray:
    """``x`` when every value is finite; else a BridgeError naming ``what`` and how many rows are bad.

    Why refuse instead of scoring: NaN scores all tie, so a diverged bridge
    would earn credit from ties instead of from its vectors.
    """
    finite = np.isfinite(x)
    if not finite.all():
        bad = int((~finite.reshape(len(x), -1).all(axis=1)).sum()) if x.ndim > 1 else int((~finite).sum())
        raise BridgeError(f"{what}: {bad} of {len(x)} rows hold NaN or inf; refusing to score them")
    return x


#: a row whose L2 norm is at most this has no direction: normalising it would leave a zero vector
MIN_NORM = 1e-12


def degenerate_rows(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the rows of ``x`` [n, d] that cannot be scored: (non-finite, zero norm).

    A row whose values are finite but whose norm overflows float32 counts as
    non-finite (normalising it would silently give a zero vector).
    """
    x = np.asarray(x)
    finite = np.isfinite(x).all(axis=1)
    with np.errstate(over="ignore", invalid="ignore"):
        norms = np.linalg.norm(np.where(finite[:, None], x, 0).astype(np.float32, copy=False), axis=1)
    return np.flatnonzero(~finite | ~np.isfinite(norms)), np.flatnonzero(finite & (norms <= MIN_NORM))


def require_scoreable(x: np.ndarray, what: str, ids: np.ndarray | None = None) -> np.ndarray:
    """``x`` when every row has a finite, non-zero vector; else one BridgeError naming ``what`` and the rows.

    Why: a zero vector scores 0 against every row, so it ties with all of
    them, and NaN scores tie too: such rows would be ranked by the tie rule,
    not by their vectors.
    """
    x = np.asarray(x)
    if x.ndim != 2:
        return x
    non_finite, zero = degenerate_rows(x)
    for rows, problem in ((non_finite, "hold NaN or inf (or a norm beyond float32)"), (zero, "are zero vectors")):
        if len(rows):
            names = ", ".join(repr(str(ids[i])) if ids is not None else f"row {int(i)}" for i in rows[:3])
            raise BridgeError(f"{what}: {len(rows)} of {len(x)} rows {problem} (e.g. {names}); "
                              "refusing to score them")
    return x


def collapsed(inputs: np.ndarray, outputs: np.ndarray, sample: int = 4096) -> str | None:
    """Why a map's ``outputs`` lost its ``inputs``' distinctions, or None: fewer than half as many distinct
    rows (on a prefix of ``sample`` rows), or one direction for rows that had several."""
    a, b = np.asarray(inputs[:sample], np.float32), np.asarray(outputs[:sample], np.float32)
    if len(a) < 2:
        return None
    distinct_in, distinct_out = len(np.unique(a, axis=0)), len(np.unique(normalize(b).round(6), axis=0))
    if distinct_in >= 2 and distinct_out * 2 < distinct_in:
        return f"{distinct_in} distinct input rows give {distinct_out} distinct output directions"
    return None


def pair_by_group(a: Vectors, b: Vectors) -> tuple[np.ndarray, np.ndarray]:
    """Row indices ``(ia, ib)`` of every pair of rows of ``a`` and ``b`` that share a group.

    Many-to-many: an image with five captions gives five pairs. Vectorised
    (sort + searchsorted), order follows ``a``.
    """
    order = np.argsort(b.groups, kind="stable")
    sorted_groups = b.groups[order]
    lo = np.searchsorted(sorted_groups, a.groups, side="left")
    hi = np.searchsorted(sorted_groups, a.groups, side="right")
    counts = hi - lo
    ia = np.repeat(np.arange(len(a)), counts)
    starts = np.repeat(lo - np.cumsum(counts) + counts, counts)
    ib = order[starts + np.arange(counts.sum())]
    return ia, ib


def pair_same_rows(a: Vectors, b: Vectors) -> tuple[np.ndarray, np.ndarray]:
    """Row indices of the rows of ``a`` and ``b`` that are the *same item* in two encoders.

    Rows pair by id when the two sets share ids (one caption embedded by the
    bimodal text tower and by the anchor: pairing by group would also pair
    caption 1 with caption 2 of the same image). With no common id they pair
    by group, which is what two different sources of one dataset share.
    """
    common, ia, ib = np.intersect1d(a.ids, b.ids, assume_unique=False, return_indices=True)
    if len(common):
        order = np.argsort(ia, kind="stable")
        return ia[order], ib[order]
    return pair_by_group(a, b)


def name_hash(names: np.ndarray, seed: int = 0) -> np.ndarray:
    """A 64-bit hash per name, fixed by (name, seed) alone: FNV-1a over the UTF-8 bytes, then a splitmix64
    finaliser. Vectorised over names (the loop runs over byte positions, not rows)."""
    raw = np.char.encode(np.asarray(names, dtype=str), "utf-8")
    width = max(raw.dtype.itemsize, 1)
    codes = raw.view(np.uint8).reshape(len(raw), width) if len(raw) and raw.dtype.itemsize else \
        np.zeros((len(raw), width), dtype=np.uint8)
    h = np.full(len(raw), np.uint64(0xCBF29CE484222325) ^ np.uint64(seed & 0xFFFFFFFFFFFFFFFF), dtype=np.uint64)
    prime = np.uint64(0x100000001B3)
    lengths = np.char.str_len(raw) if len(raw) else np.zeros(0, dtype=int)
    with np.errstate(over="ignore"):
        for j in range(width):  # only each name's own bytes: the hash must not depend on the other names
            mixed = (h ^ codes[:, j].astype(np.uint64)) * prime
            h = np.where(j < lengths, mixed, h)
        h ^= h >> np.uint64(30)
        h *= np.uint64(0xBF58476D1CE4E5B9)
        h ^= h >> np.uint64(27)
        h *= np.uint64(0x94D049BB133111EB)
        h ^= h >> np.uint64(31)
    return h


def group_uniform(names: np.ndarray, seed: int) -> np.ndarray:
    """A uniform [0, 1) number per name, fixed by (name, seed) alone (the top 53 bits of ``name_hash``)."""
    return (name_hash(names, seed) >> np.uint64(11)).astype(np.float64) / float(1 << 53)
