"""Splits are a seeded hash of each group's own name: stable under edits of other items, right share."""

from __future__ import annotations

import numpy as np

from embridge.core.vectors import group_uniform
from embridge.sources.base import assign_splits

MASK = (1 << 64) - 1


def reference_uniform(name: str, seed: int) -> float:
    """FNV-1a 64 over the UTF-8 bytes in plain Python integers (splitmix64's finaliser follows)."""
    h = 0xCBF29CE484222325 ^ (seed & MASK)
    for byte in name.encode():
        h = ((h ^ byte) * 0x100000001B3) & MASK
    return h


def finish(h: int) -> float:
    h ^= h >> 30
    h = (h * 0xBF58476D1CE4E5B9) & MASK
    h ^= h >> 27
    h = (h * 0x94D049BB133111EB) & MASK
    h ^= h >> 31
    return (h >> 11) / float(1 << 53)


def test_group_uniform_matches_a_plain_python_reference() -> None:
    names = np.array(["a", "img/0001.png", "ünïcode-名前", "x" * 40])
    for seed in (0, 7):
        expected = [finish(reference_uniform(name, seed)) for name in names]
        np.testing.assert_array_equal(group_uniform(names, seed), np.array(expected))
        np.testing.assert_array_equal(group_uniform(names[:1], seed), np.array(expected[:1]))  # alone = in a batch


def test_share_follows_test_fraction_and_seeds_differ() -> None:
    groups = np.char.add("item-", np.arange(100_000).astype(str))
    for fraction in (0.1, 0.3):
        share = (assign_splits(groups, fraction, 0) == "test").mean()
        assert abs(share - fraction) < 0.006  # 4 sd of binomial(1e5, 0.3)
    a, b = assign_splits(groups, 0.3, 0), assign_splits(groups, 0.3, 1)
    assert 0.35 < (a != b).mean() < 0.49  # independent draws disagree on 2 * 0.3 * 0.7 = 42 %


def test_adding_removing_or_renaming_one_item_moves_no_other() -> None:
    groups = np.char.add("photo-", np.arange(2_000).astype(str))
    before = dict(zip(groups, assign_splits(groups, 0.3, 0), strict=True))
    edited = np.concatenate([np.delete(groups, [5, 17]), ["photo-5-renamed", "a-new-one"]])
    after = dict(zip(edited, assign_splits(edited, 0.3, 0), strict=True))
    assert all(after[g] == before[g] for g in edited if g in before)
    shuffled = np.random.default_rng(1).permutation(groups)  # row order does not matter either
    assert dict(zip(shuffled, assign_splits(shuffled, 0.3, 0), strict=True)) == before
