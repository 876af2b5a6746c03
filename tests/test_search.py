"""FAISS search against numpy brute force; approximate recall; exact ranks with ties."""

from __future__ import annotations

import numpy as np
import pytest

from embridge.evaluate.ranks import cuda_available, rank_positives, ranks_of_positives
from embridge.evaluate.search import approximate_recall, build_index, search


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _clustered(rng: np.random.Generator, n: int, centres: np.ndarray, spread: float = 0.5) -> np.ndarray:
    pick = rng.integers(0, len(centres), n)
    return _unit(centres[pick] + spread * rng.standard_normal((n, centres.shape[1])))


@pytest.fixture(scope="module")
def clustered() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    centres = rng.standard_normal((64, 48))
    return _clustered(rng, 1000, centres), _clustered(rng, 10_000, centres)


def test_exact_equals_numpy_brute_force(rng: np.random.Generator) -> None:
    queries, gallery = _unit(rng.standard_normal((300, 32))), _unit(rng.standard_normal((5000, 32)))
    scores, indices = search(queries, gallery, 10)
    full = queries @ gallery.T
    expected = np.argsort(-full, axis=1, kind="stable")[:, :10]
    assert scores.dtype == np.float32 and indices.dtype == np.int64 and scores.shape == (300, 10)
    np.testing.assert_array_equal(indices, expected)
    np.testing.assert_allclose(scores, np.take_along_axis(full, expected, axis=1), atol=1e-5)


def test_chunks_and_blocks_give_identical_results(rng: np.random.Generator) -> None:
    queries, gallery = _unit(rng.standard_normal((300, 32))), _unit(rng.standard_normal((5000, 32)))
    one = search(queries, gallery, 10, chunk=100_000)
    for chunk, block in [(7, 1 << 16), (64, 777), (100_000, 100)]:
        scores, indices = search(queries, gallery, 10, chunk=chunk, block=block)
        np.testing.assert_array_equal(indices, one[1])
        np.testing.assert_array_equal(scores, one[0])
    # a float16 gallery is converted block by block: same as converting it whole first
    half = gallery.astype(np.float16)
    for got, want in zip(search(queries, half, 10, block=333), search(queries, half.astype(np.float32), 10)):
        np.testing.assert_array_equal(got, want)
    # an approximate index answers the same whatever the query chunking
    ivf = [search(queries, gallery, 10, "ivf", chunk=c, nlist=32, nprobe=4) for c in (13, 100_000)]
    np.testing.assert_array_equal(ivf[0][1], ivf[1][1])


def test_exact_with_ties_returns_the_true_top_scores(rng: np.random.Generator) -> None:
    # small integer vectors: inner products are exact in float32, so many exact ties.
    # FAISS does not order tied items by index nor pick the lowest index at the k-th place,
    # so only the scores (and each returned item's own score) are determined.
    queries = rng.integers(-2, 3, (200, 16)).astype(np.float32)
    gallery = rng.integers(-2, 3, (3000, 16)).astype(np.float32)
    scores, indices = search(queries, gallery, 20, block=500)
    full = queries @ gallery.T
    np.testing.assert_array_equal(scores, -np.sort(-full, axis=1)[:, :20])
    np.testing.assert_array_equal(np.take_along_axis(full, indices, axis=1), scores)
    assert all(len(set(row)) == 20 for row in indices.tolist())


def test_k_is_clipped_and_bad_input_is_refused(rng: np.random.Generator) -> None:
    queries, gallery = _unit(rng.standard_normal((5, 8))), _unit(rng.standard_normal((4, 8)))
    scores, indices = search(queries, gallery, 10)
    assert scores.shape == (5, 4) and sorted(indices[0]) == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="dim"):
        search(queries, gallery[:, :4], 3)
    with pytest.raises(ValueError, match="nprobe"):
        search(queries, gallery, 3, "exact", nprobe=3)
    with pytest.raises(ValueError, match="unknown index"):
        search(queries, gallery, 3, "not-an-index")
    with pytest.raises(ValueError, match="k must be"):
        search(queries, gallery, 0)


def test_approximate_recall_on_clustered_data(clustered: tuple[np.ndarray, np.ndarray]) -> None:
    queries, gallery = clustered
    assert approximate_recall(queries, gallery, 10, "exact") == 1.0
    # probing every list makes IVF-Flat exhaustive: recall is exactly 1
    assert approximate_recall(queries, gallery, 10, "ivf", nlist=64, nprobe=64) == 1.0
    recall = {
        "ivf default": approximate_recall(queries, gallery, 10, "ivf"),
        "hnsw default": approximate_recall(queries, gallery, 10, "hnsw"),
        "IVF64,SQ8 nprobe=16": approximate_recall(queries, gallery, 10, "IVF64,SQ8", nprobe=16),
        "ivf nprobe=1": approximate_recall(queries, gallery, 10, "ivf", nlist=256, nprobe=1),
    }
    print("recall@10 vs exact:", {k: round(v, 4) for k, v in recall.items()})
    assert recall["ivf default"] > 0.95
    assert recall["hnsw default"] > 0.95
    assert recall["IVF64,SQ8 nprobe=16"] > 0.85
    # one probed list out of 256 misses most neighbours: the measure must see it
    assert recall["ivf nprobe=1"] < 0.7
    # an index built once is measured as is: the same number as building it inside
    built = build_index(gallery, "ivf", nlist=256, nprobe=1)
    assert approximate_recall(queries, gallery, 10, built) == recall["ivf nprobe=1"]


def test_auto_is_exact_for_small_galleries(clustered: tuple[np.ndarray, np.ndarray]) -> None:
    queries, gallery = clustered
    for got, want in zip(search(queries, gallery, 5, "auto", nprobe=1), search(queries, gallery, 5)):
        np.testing.assert_array_equal(got, want)


def _brute_ranks(queries: np.ndarray, gallery: np.ndarray, qg: np.ndarray, gg: np.ndarray) -> tuple:
    """Loop-per-query reference: (optimistic, pessimistic) rank of the best positive."""
    opt, pes = [], []
    for q, group in zip(queries, qg):
        s = gallery @ q
        best = s[gg == group].max()
        opt.append(1 + int((s > best).sum()))
        pes.append(1 + int(((s >= best) & (gg != group)).sum()))
    return np.array(opt), np.array(pes)


def test_ranks_of_positives_with_ties_match_a_loop(rng: np.random.Generator) -> None:
    queries = rng.integers(-1, 2, (150, 6)).astype(np.float32)
    gallery = rng.integers(-1, 2, (400, 6)).astype(np.float32)
    gallery_groups = rng.integers(0, 100, 400)  # ~4 positives per query, uneven
    query_groups = rng.choice(np.unique(gallery_groups), 150)
    opt, pes = _brute_ranks(queries, gallery, query_groups, gallery_groups)
    assert (pes > opt).mean() > 0.3  # the data really has ties at the best positive
    for chunk, block in ((None, None), (1, 7), (17, 64), (150, 1)):  # blocks cut through groups and ties
        both = rank_positives(queries, gallery, query_groups, gallery_groups, device="cpu", chunk=chunk, block=block)
        np.testing.assert_array_equal(both.optimistic, opt)
        np.testing.assert_array_equal(both.pessimistic, pes)
    np.testing.assert_array_equal(ranks_of_positives(queries, gallery, query_groups, gallery_groups,
                                                     ties="pessimistic"), pes)
    # string group keys work the same as integers
    np.testing.assert_array_equal(
        ranks_of_positives(queries, gallery, query_groups.astype(str), gallery_groups.astype(str)), opt)


def test_ranks_agree_with_top_k_lists(rng: np.random.Generator) -> None:
    """R@k from ranks equals R@k read off FAISS top-k lists without ties, and brackets it with ties."""
    def list_recall(queries: np.ndarray, gallery: np.ndarray, qg: np.ndarray, gg: np.ndarray, k: int) -> float:
        _, idx = search(queries, gallery, k)
        return float((gg[idx] == qg[:, None]).any(axis=1).mean())

    gg = rng.integers(0, 300, 1200)
    qg = rng.choice(np.unique(gg), 500)
    continuous = _unit(rng.standard_normal((500, 8))), _unit(rng.standard_normal((1200, 8)))
    tied = rng.integers(-1, 2, (500, 4)).astype(np.float32), rng.integers(-1, 2, (1200, 4)).astype(np.float32)
    for k in (1, 5, 10):
        ranks = ranks_of_positives(*continuous, qg, gg)
        assert (ranks <= k).mean() == list_recall(*continuous, qg, gg, k)
        opt = (ranks_of_positives(*tied, qg, gg) <= k).mean()
        pes = (ranks_of_positives(*tied, qg, gg, ties="pessimistic") <= k).mean()
        assert pes <= list_recall(*tied, qg, gg, k) <= opt and pes < opt


def test_a_query_without_positive_is_an_error(rng: np.random.Generator) -> None:
    gallery = _unit(rng.standard_normal((10, 4)))
    with pytest.raises(ValueError, match="no positive"):
        ranks_of_positives(gallery[:3], gallery, np.array(["a", "b", "zz"]), np.array(list("abcdefghij")))
    with pytest.raises(ValueError, match="ties"):
        ranks_of_positives(gallery[:1], gallery, np.array(["a"]), np.array(list("abcdefghij")), ties="random")


@pytest.mark.gpu
@pytest.mark.skipif(not cuda_available(), reason="needs CUDA (and torch)")
def test_gpu_ranks_equal_the_cpu_ranks(rng: np.random.Generator) -> None:
    """Score blocks on the GPU give the CPU's ranks: tie-heavy integer vectors (exact in float32 on both) and
    continuous ones (no two scores within float32 rounding of each other decide a rank here)."""
    gg = rng.integers(0, 2000, 20000)
    qg = rng.choice(np.unique(gg), 3000)
    tied = rng.integers(-1, 2, (3000, 16)).astype(np.float32), rng.integers(-1, 2, (20000, 16)).astype(np.float32)
    continuous = _unit(rng.standard_normal((3000, 64))), _unit(rng.standard_normal((20000, 64)))
    for queries, gallery in (tied, continuous):
        cpu = rank_positives(queries, gallery, qg, gg, device="cpu")
        gpu = rank_positives(queries, gallery, qg, gg, device="cuda", block=5000)
        np.testing.assert_array_equal(gpu.optimistic, cpu.optimistic)
        np.testing.assert_array_equal(gpu.pessimistic, cpu.pessimistic)
