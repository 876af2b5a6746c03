"""Metrics against scikit-learn and hand-worked cases, on data with ties."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import (
    average_precision_score,
    balanced_accuracy_score,
    recall_score,
    top_k_accuracy_score,
)

from embridge.evaluate.metrics import (
    candidate_accuracy,
    class_vectors,
    label_matrix,
    multilabel_map,
    retrieval,
    zeroshot_classification,
    zeroshot_multilabel,
)

K = 7
NAMES = [f"c{k}" for k in range(K)]


def test_class_vectors_normalise_each_template_then_average() -> None:
    prompts = np.array([[0.0, 2.0], [3.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    names, vectors = class_vectors(prompts, ["dog", "cat", "cat", "dog"])
    assert names == ["dog", "cat"]  # order of first appearance, not alphabetical
    # cat: n([3,0]) = [1,0], n([0,1]) = [0,1]; mean [.5,.5]; re-normalised [.7071, .7071]
    # (averaging unnormalised templates would give n([1.5, .5]) = [.9487, .3162])
    np.testing.assert_allclose(vectors[1], [np.sqrt(0.5), np.sqrt(0.5)], atol=1e-6)
    # dog: [0,1] and [.7071,.7071]; mean [.3536, .8536]; re-normalised [.3827, .9239]
    np.testing.assert_allclose(vectors[0], [0.38268343, 0.92387953], atol=1e-6)


def _logits(rng: np.random.Generator, n: int, tied: bool) -> tuple[np.ndarray, np.ndarray]:
    """Query vectors that *are* the logits against one-hot class vectors (positive rows, so
    normalising a row rescales it and keeps its order and its exact ties)."""
    y = rng.integers(0, K, n)
    logits = rng.integers(1, 5, (n, K)).astype(np.float32) if tied else rng.random((n, K)).astype(np.float32) + 0.1
    logits[np.arange(n), y] += 1.0 if tied else 0.3  # informative, yet accuracies are neither ~0 nor ~1
    return logits, y


def _zeroshot(logits: np.ndarray, y: np.ndarray, ties: str = "optimistic") -> dict:
    return zeroshot_classification(logits, np.asarray(NAMES)[y], np.eye(K), NAMES, ties=ties)


def test_zeroshot_matches_sklearn_without_ties(rng: np.random.Generator) -> None:
    logits, y = _logits(rng, 800, tied=False)
    got = _zeroshot(logits, y)
    assert got["top1"] == pytest.approx(top_k_accuracy_score(y, logits, k=1, labels=range(K)))
    assert got["top5"] == pytest.approx(top_k_accuracy_score(y, logits, k=5, labels=range(K)))
    assert got["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y, logits.argmax(axis=1)))
    per_class = recall_score(y, logits.argmax(axis=1), average=None, labels=range(K))
    assert got["per_class"] == pytest.approx(dict(zip(NAMES, per_class)))
    assert 0.3 < got["top1"] < 0.9


def test_zeroshot_tie_rules_match_sklearn_where_sklearn_is_optimistic_or_pessimistic(
        rng: np.random.Generator) -> None:
    # sklearn ranks tied classes highest index first: for true class K-1 that is the optimistic
    # rule (ties go to the truth), for true class 0 the pessimistic one (every tie goes ahead).
    logits, y = _logits(rng, 3000, tied=True)
    opt, pes = _zeroshot(logits, y), _zeroshot(logits, y, ties="pessimistic")
    assert opt["top1"] - pes["top1"] > 0.1  # ties really matter on this data
    for k, key in [(1, "top1"), (5, "top5")]:
        last, first = y == K - 1, y == 0
        assert _zeroshot(logits[last], y[last])[key] == pytest.approx(
            top_k_accuracy_score(y[last], logits[last], k=k, labels=range(K)))
        assert _zeroshot(logits[first], y[first], ties="pessimistic")[key] == pytest.approx(
            top_k_accuracy_score(y[first], logits[first], k=k, labels=range(K)))
        assert pes[key] <= top_k_accuracy_score(y, logits, k=k, labels=range(K)) <= opt[key]
    # balanced and per-class accuracy: the optimistic prediction is the true class whenever it ties the max
    pred = np.where(logits[np.arange(len(y)), y] == logits.max(axis=1), y, logits.argmax(axis=1))
    assert opt["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y, pred))
    assert opt["per_class"] == pytest.approx(dict(zip(NAMES, recall_score(y, pred, average=None))))


def test_zeroshot_top5_clips_to_the_number_of_classes_and_refuses_unknown_labels(rng: np.random.Generator) -> None:
    names, vectors = ["a", "b", "c"], np.eye(3)
    got = zeroshot_classification(rng.standard_normal((50, 3)), rng.choice(names, 50), vectors, names)
    assert got["top5"] == 1.0
    assert set(got["per_class"]) <= set(names)
    with pytest.raises(ValueError, match="not class names"):
        zeroshot_classification(np.eye(3), ["a", "b", "zebra"], vectors, names)


def _multilabel(rng: np.random.Generator, n: int = 300, k: int = 6) -> tuple[np.ndarray, np.ndarray]:
    truth = rng.random((n, k)) < 0.3
    truth[np.arange(n), np.arange(n) % k] = True  # every sample and every class has a positive
    scores = (rng.random((n, k)) + 0.3 * truth).round(1)  # one decimal: many exact ties
    return scores, truth


def test_multilabel_map_matches_sklearn_with_ties(rng: np.random.Generator) -> None:
    scores, truth = _multilabel(rng)
    assert len(np.unique(scores)) < 20  # heavily tied
    assert multilabel_map(scores, truth) == pytest.approx(average_precision_score(truth, scores, average="macro"))
    assert multilabel_map(scores, truth, average="sample") == pytest.approx(
        average_precision_score(truth, scores, average="samples"))


def test_multilabel_map_skips_classes_without_positives(rng: np.random.Generator) -> None:
    scores, truth = _multilabel(rng)
    truth[:, 2] = False
    keep = [0, 1, 3, 4, 5]
    assert multilabel_map(scores, truth) == pytest.approx(
        average_precision_score(truth[:, keep], scores[:, keep], average="macro"))
    # a hand case: scores .9 .5 .5 .1 with labels 1 0 1 0; the tie at .5 enters together:
    # AP = (1/2)[precision@1 = 1] + (1/2)[precision@3 = 2/3] = 0.8333
    assert multilabel_map(np.array([[0.9], [0.5], [0.5], [0.1]]), np.array([[1], [0], [1], [0]])) == \
        pytest.approx(5 / 6)


def test_label_matrix_and_zeroshot_multilabel() -> None:
    names = ["cat", "dog", "car"]
    np.testing.assert_array_equal(label_matrix(["cat|dog", "car", ""], names),
                                  [[1, 1, 0], [0, 0, 1], [0, 0, 0]])
    with pytest.raises(ValueError, match="not class names"):
        label_matrix(["cat|zebra"], names)
    # query 0 scores cat .8, dog .6, car 0 -> AP(cat) = AP(dog) = 1 ... see below
    queries = np.array([[0.8, 0.6, 0.0], [0.0, 0.6, 0.8]])
    got = zeroshot_multilabel(queries, ["cat|dog", "car"], np.eye(3), names)
    # cat: q0 .8 (pos) > q1 0 -> AP 1; dog: q0 .6 (pos), q1 .6 tied -> precision 1/2 at the tie's end;
    # car: q1 .8 (pos) -> AP 1. mAP = (1 + .5 + 1) / 3
    assert got == {"map": pytest.approx(2.5 / 3)}


def _hand_case() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    # one-hot gallery, so a query's scores are its own coordinates; gallery groups a a b c c d
    # ("a" and "c" have two items each, like an image with two captions)
    gallery, gallery_groups = np.eye(6), np.array(list("aabccd"))
    queries = np.array([
        [0.1, 0.9, 0.8, 0.3, 0.2, 0.0],  # group a: best positive .9 is first          -> rank 1
        [0.9, 0.1, 0.8, 0.7, 0.6, 0.5],  # group c: .9 (a) and .8 (b) above .7          -> rank 3
        [0.5, 0.4, 0.3, 0.2, 0.1, 0.05],  # group d: everything above .05              -> rank 6
        [0.7, 0.1, 0.7, 0.7, 0.0, 0.2],  # group b: positive .7 TIED with two negatives
    ])                                   #   optimistic rank 1, pessimistic rank 3
    return queries, np.array(list("acdb")), gallery, gallery_groups


def test_retrieval_hand_worked_multi_positive_case() -> None:
    expected = retrieval(*_hand_case(), ks=(1, 5, 10), mrr_k=5)
    # the headline rule: query 4's rank is 1, 2 or 3 with probability 1/3 each
    assert expected == pytest.approx({
        "recall@1": 1 / 3,  # (1 + 0 + 0 + 1/3) / 4
        "recall@5": 0.75, "recall@10": 1.0,
        "mrr@5": (1 + 1 / 3 + 0 + (1 + 1 / 2 + 1 / 3) / 3) / 4,
        "mrr": (1 + 1 / 3 + 1 / 6 + (1 + 1 / 2 + 1 / 3) / 3) / 4,
        "median_rank": 2.5,  # expected ranks 1 3 6 2 -> sorted 1 2 3 6
        "mean_rank": 3.0,
    })
    got = retrieval(*_hand_case(), ks=(1, 5, 10), mrr_k=5, ties="optimistic")
    # optimistic ranks 1, 3, 6, 1
    assert got == pytest.approx({
        "recall@1": 0.5,  # ranks 1 and 1: 2/4
        "recall@5": 0.75,  # 1, 3, 1: 3/4
        "recall@10": 1.0,
        "mrr@5": 0.5833333333,  # (1 + 1/3 + 0 + 1) / 4, rank 6 is beyond 5
        "mrr": 0.625,  # (1 + 1/3 + 1/6 + 1) / 4
        "median_rank": 2.0,  # sorted 1 1 3 6 -> (1 + 3) / 2
        "mean_rank": 2.75,  # 11 / 4
    })
    pessimistic = retrieval(*_hand_case(), ks=(1, 5, 10), mrr_k=5, ties="pessimistic")
    # pessimistic ranks 1, 3, 6, 3
    assert pessimistic == pytest.approx({
        "recall@1": 0.25, "recall@5": 0.75, "recall@10": 1.0,
        "mrr@5": 0.4166666667,  # (1 + 1/3 + 0 + 1/3) / 4
        "mrr": 0.4583333333,  # (1 + 1/3 + 1/6 + 1/3) / 4
        "median_rank": 3.0, "mean_rank": 3.25,  # 13 / 4
    })


def test_retrieval_approximate_index_reports_list_metrics(rng: np.random.Generator) -> None:
    gallery_groups = rng.integers(0, 400, 2000)
    query_groups = rng.choice(np.unique(gallery_groups), 500)
    queries, gallery = rng.standard_normal((500, 16)), rng.standard_normal((2000, 16))
    exact = retrieval(queries, query_groups, gallery, gallery_groups)
    # probing every list is exhaustive: the list metrics equal the exact ones
    approx = retrieval(queries, query_groups, gallery, gallery_groups, index="ivf", nlist=16, nprobe=16)
    assert set(approx) == {"recall@1", "recall@5", "recall@10", "mrr@10"}
    assert approx == pytest.approx({k: exact[k] for k in approx})
    assert 0.0 < exact["recall@1"] < exact["recall@10"] < 1.0


def test_candidate_accuracy_with_every_negative_is_recall_at_1(rng: np.random.Generator) -> None:
    # 15 distinct gallery vectors repeated over 60 rows: many exact ties; one positive per query
    pool = rng.standard_normal((15, 8))
    gallery = pool[rng.integers(0, 15, 60)]
    queries = rng.standard_normal((60, 8))
    groups = np.arange(60)
    r1 = retrieval(queries, groups, gallery, groups, ks=(1,))["recall@1"]
    pessimistic = retrieval(queries, groups, gallery, groups, ks=(1,), ties="pessimistic")["recall@1"]
    assert pessimistic < r1  # ties matter; candidate accuracy must side with the optimistic rule
    # T = 60: the true item against all 59 negatives, so the draw must be without repeats
    got = candidate_accuracy(queries, groups, gallery, groups, candidates=60)
    assert got["candidate_accuracy"] == r1
    assert got["candidate_mrr"] == pytest.approx(retrieval(queries, groups, gallery, groups)["mrr"])  # all negatives
    with pytest.raises(ValueError, match="candidates"):
        candidate_accuracy(queries, groups, gallery, groups, candidates=61)


def test_candidate_accuracy_never_draws_a_positive_as_distractor(rng: np.random.Generator) -> None:
    # 100 groups of 3 tight items around a centre; the query is the centre. Against every negative
    # (T - 1 = 297) the true item always wins; a distractor drawn from its own group would win ~2/3 of the time
    centres = rng.standard_normal((100, 16))
    gallery = np.repeat(centres, 3, axis=0) + 0.01 * rng.standard_normal((300, 16))
    groups = np.arange(100)
    got = candidate_accuracy(centres, groups, gallery, np.repeat(groups, 3), candidates=298)
    assert got == {"candidate_accuracy": 1.0, "candidate_mrr": 1.0, "candidates": 298.0}


def test_candidate_accuracy_two_candidates_matches_its_expectation(rng: np.random.Generator) -> None:
    gallery_groups = rng.integers(0, 300, 1500)  # ~5 positives per group
    query_groups = rng.choice(np.unique(gallery_groups), 3000)
    gallery = rng.standard_normal((1500, 8))
    queries = rng.standard_normal((3000, 8))
    unit_g = gallery / np.linalg.norm(gallery, axis=1, keepdims=True)
    # expectation over a uniform positive and a uniform negative of [negative <= positive]
    expected = np.mean([
        (s[gallery_groups != g][None, :] <= s[gallery_groups == g][:, None]).mean()
        for q, g in zip(queries, query_groups) for s in [unit_g @ q]])
    got = candidate_accuracy(queries, query_groups, gallery, gallery_groups, candidates=2, seed=3)
    # 3000 Bernoulli draws: standard error ~ 0.009
    assert got["candidate_accuracy"] == pytest.approx(expected, abs=0.03)
    assert got == candidate_accuracy(queries, query_groups, gallery, gallery_groups, candidates=2, seed=3)
