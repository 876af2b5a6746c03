"""No credit for degeneracy: the expected tie rule against random tie-breaking, each query's own row left out,
and, for randomly drawn degenerate inputs, every metric at chance or a refusal naming the rows."""

from __future__ import annotations

import numpy as np
import pytest

from embridge.core.errors import BridgeError
from embridge.core.vectors import collapsed, require_scoreable
from embridge.evaluate.metrics import candidate_accuracy, class_vectors, retrieval, zeroshot_classification
from embridge.evaluate.ranks import rank_positives


def _tied_data(rng: np.random.Generator, n: int = 80, pool: int = 6, d: int = 6):
    """Gallery rows drawn from a small pool (many exact duplicates), groups with 1-3 rows each."""
    vectors = rng.standard_normal((pool, d))
    gallery = vectors[rng.integers(0, pool, n)]
    gallery_groups = np.repeat(np.arange(n // 2), 2)[:n]
    gallery_groups[rng.random(n) < 0.3] = -1  # some rows in a catch-all group, so group sizes vary
    query_groups = rng.choice(np.unique(gallery_groups[gallery_groups >= 0]), 40)
    queries = vectors[rng.integers(0, pool, 40)] + (rng.random((40, 1)) < 0.5) * 0.1 * rng.standard_normal((40, d))
    return queries, query_groups, gallery, gallery_groups


def _simulated(queries, query_groups, gallery, gallery_groups, ks, draws: int, rng) -> dict:
    """The same metrics by brute force: shuffle the gallery, stable-sort by rounded score, take the first
    positive's rank; averaged over random orders (the definition the expected rule computes exactly)."""
    q = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    g = gallery / np.linalg.norm(gallery, axis=1, keepdims=True)
    scores = np.round(q @ g.T, 9)
    totals = {f"recall@{k}": 0.0 for k in ks} | {"mrr": 0.0}
    for _ in range(draws):
        perm = rng.permutation(len(g))
        order = perm[np.argsort(-scores[:, perm], axis=1, kind="stable")]
        hit = gallery_groups[order] == query_groups[:, None]
        rank = hit.argmax(axis=1) + 1
        for k in ks:
            totals[f"recall@{k}"] += (rank <= k).mean()
        totals["mrr"] += (1.0 / rank).mean()
    return {k: v / draws for k, v in totals.items()}


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_the_expected_rule_is_the_mean_over_random_tie_breaking(seed: int) -> None:
    rng = np.random.default_rng(seed)
    data = _tied_data(rng)
    queries, query_groups, gallery, gallery_groups = data
    ranks = rank_positives(queries, gallery, query_groups, gallery_groups)
    assert (ranks.pessimistic > ranks.optimistic).sum() >= 5, "the draw must hold ties"
    assert (ranks.tied > 1).any(), "and positives tied with each other"
    got = retrieval(*data, ks=(1, 3, 10))
    want = _simulated(*data, ks=(1, 3, 10), draws=4000, rng=rng)
    for key, value in want.items():  # 4000 orders: the simulation's sampling error is below 0.01
        assert got[key] == pytest.approx(value, abs=0.012), key
    optimistic = retrieval(*data, ks=(1,), ties="optimistic")["recall@1"]
    pessimistic = retrieval(*data, ks=(1,), ties="pessimistic")["recall@1"]
    assert pessimistic <= got["recall@1"] <= optimistic and pessimistic < optimistic


def test_excluding_each_querys_own_row_equals_dropping_it_by_hand() -> None:
    rng = np.random.default_rng(5)
    rows = rng.standard_normal((60, 8))
    groups = np.repeat(np.arange(20), 3)  # three captions per item; a caption's positives are the other two
    got = retrieval(rows, groups, rows, groups, ks=(1, 5), exclude=np.arange(60))
    ranks = []
    for i in range(60):
        keep = np.arange(60) != i
        s = (rows[i] / np.linalg.norm(rows[i])) @ (rows[keep] / np.linalg.norm(rows[keep], axis=1)[:, None]).T
        best = s[groups[keep] == groups[i]].max()
        ranks.append(1 + (s > best).sum())
    ranks = np.array(ranks)
    assert got["recall@1"] == pytest.approx((ranks == 1).mean())
    assert got["recall@5"] == pytest.approx((ranks <= 5).mean())
    assert got["mrr"] == pytest.approx((1 / ranks).mean())
    assert retrieval(rows, groups, rows, groups, ks=(1,))["recall@1"] == 1.0  # why it must be excluded


def _float16(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return x.astype(np.float16).astype(np.float32)


CHANCE_NOISE = 4.0  # standard errors above chance that a degenerate input may reach by sampling alone


def _classes(rng, k: int, d: int) -> tuple[list[str], np.ndarray]:
    prompts = rng.standard_normal((k, d))
    return class_vectors(prompts, [f"c{i}" for i in range(k)])


@pytest.mark.parametrize("seed", range(6))
def test_degenerate_inputs_score_at_chance_or_are_refused(seed: int) -> None:
    """Randomly drawn degenerate queries against real classes / galleries: either a BridgeError naming the
    rows, or a metric no higher than chance plus sampling noise."""
    rng = np.random.default_rng(100 + seed)
    k, d, n = int(rng.integers(3, 12)), int(rng.integers(4, 40)), int(rng.integers(50, 400))
    names, classes = _classes(rng, k, d)
    labels = np.array(names)[rng.integers(0, k, n)]
    constant = np.tile(rng.standard_normal(d), (n, 1))
    cases = {
        "zero rows": np.where(rng.random((n, 1)) < 0.5, 0.0, rng.standard_normal((n, d))),
        "constant vectors": constant,
        "one point per row (collapsed map)": constant * rng.uniform(0.5, 2.0, (n, 1)),
        "float16 overflow": _float16(rng.standard_normal((n, d)) * 1e6),
        "a NaN row": np.where(np.arange(n)[:, None] == n // 2, np.nan, rng.standard_normal((n, d))),
    }
    for name, queries in cases.items():
        try:
            require_scoreable(queries, name, np.array([f"row-{i}" for i in range(n)]))
            top1 = zeroshot_classification(queries, labels, classes, names)["top1"]
        except BridgeError as e:
            assert "row-" in str(e) and "\n" not in str(e), name  # names the rows, in one line
            continue
        counts = np.unique(labels, return_counts=True)[1]
        chance = counts.max() / n if name != "constant vectors" else 1.0 / k  # a constant query picks one class
        chance = max(chance, 1.0 / k)
        noise = CHANCE_NOISE * np.sqrt(chance * (1 - chance) / n)
        assert top1 <= chance + noise, (name, top1, chance)
    # duplicated rows across labels: a gallery holding the positive's exact copy under another group
    gallery = rng.standard_normal((n, d))
    twin = np.concatenate([gallery, gallery])
    groups = np.concatenate([np.arange(n), np.arange(n) + n])
    r1 = retrieval(gallery, np.arange(n), twin, groups, ks=(1,))["recall@1"]
    assert r1 == pytest.approx(0.5, abs=1e-9)  # a tie with an exact copy earns half, never the whole hit
    few = 20  # every negative a distractor (T = 2 x few), so each query meets its twin
    acc = candidate_accuracy(gallery[:few], np.arange(few), np.concatenate([gallery[:few], gallery[:few]]),
                             np.arange(2 * few), candidates=2 * few)["candidate_accuracy"]
    assert acc == pytest.approx(0.5, abs=1e-9)


def test_coinciding_class_vectors_are_refused() -> None:
    rng = np.random.default_rng(0)
    prompts = rng.standard_normal((4, 8))
    prompts[3] = prompts[1] * 2.0  # class d's prompt says what class b's says
    with pytest.raises(ValueError, match="classes 'b' and 'd' have the same class vector"):
        class_vectors(prompts, list("abcd"))


def test_a_collapsing_map_is_named() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((300, 16))
    assert collapsed(x, x @ rng.standard_normal((16, 8))) is None
    assert "distinct output directions" in collapsed(x, np.tile(x[:1], (300, 1)))
    assert collapsed(x, np.sign(x[:, :1]) * np.ones((300, 4))) is not None  # two directions for 300 rows
