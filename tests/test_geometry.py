"""Representation similarity: each measure against its definition computed another way, and its invariances."""

from __future__ import annotations

import numpy as np
import pytest

from embridge.core.errors import BridgeError
from embridge.evaluate.geometry import cknna, linear_cka, mutual_knn


def _rotation(d: int, seed: int) -> np.ndarray:
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((d, d)))
    return q


def _cka_by_kernels(a: np.ndarray, b: np.ndarray) -> float:
    """CKA as HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L)) with HSIC = tr(K H L H): the n x n form."""
    n = len(a)
    h = np.eye(n) - 1.0 / n
    k, l = a @ a.T, b @ b.T

    def hsic(x: np.ndarray, y: np.ndarray) -> float:
        return float(np.trace(x @ h @ y @ h))

    return hsic(k, l) / np.sqrt(hsic(k, k) * hsic(l, l))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_linear_cka_matches_the_kernel_form_and_its_invariances(seed: int) -> None:
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((300, 24))
    b = a[:, :16] @ rng.standard_normal((16, 20)) + 0.5 * rng.standard_normal((300, 20))
    assert linear_cka(a, b) == pytest.approx(_cka_by_kernels(a, b), rel=1e-10)
    assert linear_cka(a, a) == pytest.approx(1.0, abs=1e-12)
    assert linear_cka(a, 3.7 * a @ _rotation(24, seed)) == pytest.approx(1.0, abs=1e-10)
    assert linear_cka(a, b) == pytest.approx(linear_cka(2.0 * a @ _rotation(24, seed + 5), b), rel=1e-10)
    unrelated = rng.standard_normal((300, 20))
    assert linear_cka(a, unrelated) < 0.15
    assert linear_cka(a, b) > 0.5


def test_mutual_knn_counts_shared_neighbours() -> None:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((200, 16))
    assert mutual_knn(a, a, k=10) == 1.0
    assert mutual_knn(a, a @ _rotation(16, 3) * 5.0, k=10) == pytest.approx(1.0)  # cosine neighbours keep
    # five points on a circle; in the second space rows 0 and 1 trade places
    angles = np.deg2rad([0, 10, 20, 180, 190])
    ring = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    shuffled = ring[[1, 0, 2, 3, 4]]  # rows 0 and 1 swapped in the second space
    # with k=1 the share is the fraction of rows whose nearest neighbour is the same in both
    def nearest(x: np.ndarray) -> list[int]:
        s = x @ x.T
        np.fill_diagonal(s, -np.inf)
        return list(np.argmax(s, axis=1))
    expected = np.mean([p == q for p, q in zip(nearest(ring), nearest(shuffled), strict=True)])
    assert mutual_knn(ring, shuffled, k=1) == pytest.approx(expected)
    assert mutual_knn(a, rng.standard_normal((200, 16)), k=10) < 0.2


def test_cknna_is_one_for_a_space_with_itself_and_lower_for_noise() -> None:
    rng = np.random.default_rng(1)
    a = rng.standard_normal((250, 12))
    assert cknna(a, a, k=10) == pytest.approx(1.0, abs=1e-9)
    assert cknna(a, a @ _rotation(12, 2), k=10) == pytest.approx(1.0, abs=1e-9)
    noisy = a + 0.5 * rng.standard_normal(a.shape)
    assert cknna(a, rng.standard_normal((250, 12)), k=10) < cknna(a, noisy, k=10) < 1.0


def test_bad_shapes_are_one_line() -> None:
    with pytest.raises(BridgeError, match="paired rows"):
        linear_cka(np.zeros((5, 3)), np.zeros((6, 3)))
    with pytest.raises(BridgeError, match="k must be in 1..4"):
        mutual_knn(np.ones((5, 3)), np.ones((5, 3)), k=5)
