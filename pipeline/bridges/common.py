"""Helpers every method family shares: row pairing, M-way tuples, array-state bridges.

Pairing lives here (not in each method) so that "which rows are pairs of each
other" has one definition: the same text encoded by two encoders shares an
*id*; different modalities of one thing share a *group*.
"""

from __future__ import annotations

import numpy as np

from pipeline.bridges.base import Bridge, MethodParams
from pipeline.core.errors import BridgeError
from pipeline.core.vectors import Space, Vectors


def require_pairs(ia: np.ndarray, what: str, a: Vectors, b: Vectors) -> None:
    """Refuse to fit on zero pairs with a message that names both spaces."""
    if len(ia) == 0:
        raise BridgeError(f"{what}: no rows of {a.space.key} and {b.space.key} are pairs "
                          f"(no shared ids or groups)")


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
