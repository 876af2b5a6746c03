"""Helpers every method family shares: row pairing, M-way tuples, array-state bridges.

Pairing lives here (not in each method) so that "which rows are pairs of each
other" has one definition: the same text encoded by two encoders shares an
*id*; different modalities of one thing share a *group*.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from embridge.bridges.base import Bridge, MethodParams
from embridge.core.errors import BridgeError
from embridge.core.vectors import Space, Vectors


def require_pairs(ia: np.ndarray, what: str, a: Vectors, b: Vectors) -> None:
    """Refuse to fit on zero pairs with a message that names both spaces."""
    if len(ia) == 0:
        raise BridgeError(f"{what}: no rows of {a.space.key} and {b.space.key} are pairs "
                          f"(no shared ids or groups)")


#: pairs gathered per block by ``paired_moments``: 65536 x 512 float64 is 256 MB at the widest encoders, 25 MB at d=48
PAIR_BLOCK = 65536


@dataclass
class PairedMoments:
    """First and centred second moments of paired rows ``(x_i, y_i)``, in float64."""

    n: int
    mean_x: np.ndarray
    mean_y: np.ndarray
    xx: np.ndarray  # sum of (x - mean_x)(x - mean_x)^T
    xy: np.ndarray
    yy: np.ndarray

    def residual(self, weight: np.ndarray) -> float:
        """sum ||(y - mean_y) - (x - mean_x) W||^2, from the moments alone.

        Expanded, not recomputed over the pairs: the terms cancel in float64
        to ~1e-16 of ``tr(yy)``, which is far below what the fit reports.
        """
        return float(np.trace(self.yy) - 2 * np.sum(weight * self.xy) + np.sum(weight * (self.xx @ weight)))


def paired_moments(x: np.ndarray, ia: np.ndarray, y: np.ndarray, ib: np.ndarray,
                   prepare: Callable[[np.ndarray], np.ndarray] | None = None,
                   block: int = PAIR_BLOCK) -> PairedMoments:
    """Moments of the pairs ``(x[ia[i]], y[ib[i]])`` without materialising the paired matrices.

    The closed-form methods (least squares, Procrustes, CCA) need only these.
    Gathering every pair as float64 first would hold several copies of
    ``pairs x dim x 8`` bytes (an image with two captions is two pairs), growing
    with the pairs. Here the pairs are gathered ``block`` at a time, in two passes (the
    means, then the centred products, which keeps the sums as accurate as
    centring the whole matrix). ``prepare`` maps each gathered float64 block
    first (e.g. Procrustes' normalisation).
    """
    prepare = prepare or (lambda v: v)

    def blocks():
        for start in range(0, len(ia), block):
            yield (prepare(x[ia[start:start + block]].astype(np.float64)),
                   prepare(y[ib[start:start + block]].astype(np.float64)))

    n = len(ia)
    sum_x, sum_y = np.zeros(x.shape[1]), np.zeros(y.shape[1])
    for bx, by in blocks():
        sum_x += bx.sum(0)
        sum_y += by.sum(0)
    mean_x, mean_y = sum_x / max(n, 1), sum_y / max(n, 1)
    xx, xy, yy = np.zeros((x.shape[1],) * 2), np.zeros((x.shape[1], y.shape[1])), np.zeros((y.shape[1],) * 2)
    for bx, by in blocks():
        bx, by = bx - mean_x, by - mean_y
        xx += bx.T @ bx
        xy += bx.T @ by
        yy += by.T @ by
    return PairedMoments(n, mean_x, mean_y, xx, xy, yy)


def group_tuples(inputs: dict[str, Vectors]) -> dict[str, np.ndarray]:
    """M-way tuples by group: for each role, a row index per tuple, ``-1`` where missing.

    A group with ``k`` rows in its most frequent role yields ``k`` tuples; a role
    with fewer rows in that group cycles through them (an image with five
    captions gives five tuples that share the image). Fully vectorised.
    """
    roles = list(inputs)
    all_groups, inverse = np.unique(np.concatenate([inputs[r].groups for r in roles]), return_inverse=True)
    bounds = np.cumsum([0] + [len(inputs[r]) for r in roles])
    n_groups = len(all_groups)
    per_role = []
    for i in range(len(roles)):
        gid = inverse[bounds[i]:bounds[i + 1]]
        order = np.argsort(gid, kind="stable")
        counts = np.bincount(gid, minlength=n_groups)
        starts = np.cumsum(counts) - counts
        per_role.append((order, counts, starts))
    tuples_per_group = np.max([c for _, c, _ in per_role], axis=0)
    tuple_group = np.repeat(np.arange(n_groups), tuples_per_group)
    tuple_rank = np.arange(len(tuple_group)) - np.repeat(np.cumsum(tuples_per_group) - tuples_per_group,
                                                         tuples_per_group)
    out = {}
    for role, (order, counts, starts) in zip(roles, per_role, strict=True):
        c = counts[tuple_group]
        pos = starts[tuple_group] + tuple_rank % np.maximum(c, 1)
        out[role] = np.where(c > 0, order[np.minimum(pos, len(order) - 1)] if len(order) else -1, -1)
    return out


class ArrayBridge(Bridge):
    """A bridge whose whole fitted state is a dict of named numpy arrays (``self.arrays``)."""

    def __init__(self, params: MethodParams, spaces: dict[str, Space]) -> None:
        super().__init__(params, spaces)
        self.arrays: dict[str, np.ndarray] = {}

    def state(self) -> dict[str, np.ndarray]:
        return dict(self.arrays)

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        missing = sorted(set(self.expected_arrays()) - set(state))
        if missing:
            raise BridgeError(f"bridge {self.method!r}: weights file lacks arrays {missing}")
        self.arrays = dict(state)

    def expected_arrays(self) -> tuple[str, ...]:
        """Names ``load_state`` insists on (so a truncated weights file fails clearly)."""
        return ()
