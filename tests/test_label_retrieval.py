"""Label-level retrieval (precision@k, mAP@R) against hand-computed values, and the tie count."""

from __future__ import annotations

import numpy as np
import pytest

from embridge.evaluate.metrics import label_retrieval, retrieval, tie_dependent


def test_precision_and_map_at_r_by_hand() -> None:
    # one query along x; gallery scores by cosine: g0 1.0 (a), g1 0.8 (b), g2 0.6 (a), g3 -1 (a)
    query = np.array([[1.0, 0.0]])
    gallery = np.array([[1.0, 0.0], [0.8, 0.6], [0.6, 0.8], [-1.0, 0.0]])
    out = label_retrieval(query, np.array(["a"]), gallery, np.array(["a", "b", "a", "a"]), ks=(1, 2, 3))
    assert out["precision@1"] == 1.0 and out["precision@2"] == 0.5 and out["precision@3"] == pytest.approx(2 / 3)
    # R = 3 positives; ranks 1 and 3 are hits in the top 3: (1/1 + 2/3) / 3
    assert out["map@r"] == pytest.approx((1.0 + 2 / 3) / 3)


def test_map_at_r_is_one_when_positives_fill_the_top_r() -> None:
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((4, 16)) * 10
    labels = np.repeat(np.array(list("abcd")), 25)
    gallery = centres[np.repeat(np.arange(4), 25)] + 0.01 * rng.standard_normal((100, 16))
    queries = centres + 0.01 * rng.standard_normal((4, 16))
    out = label_retrieval(queries, np.array(list("abcd")), gallery, labels, ks=(1, 10))
    assert out["map@r"] == pytest.approx(1.0) and out["precision@10"] == 1.0
    shuffled = label_retrieval(queries, np.array(list("abcd")), gallery, rng.permutation(labels), ks=(1,))
    assert shuffled["map@r"] < 0.6


def test_template_captions_make_group_ranks_tie_dependent_and_label_ranks_not() -> None:
    """Identical captions in the gallery (templates): every query's group rank depends on the tie rule."""
    rng = np.random.default_rng(1)
    classes = rng.standard_normal((3, 8))
    items = np.repeat(np.arange(3), 4)                       # 12 images, 4 per class
    queries = classes[items] + 0.3 * rng.standard_normal((12, 8))
    captions = classes[items]                                # one caption per image, identical within a class
    groups = np.array([f"img{i}" for i in range(12)])
    ties = tie_dependent(queries, groups, captions, groups)
    assert ties == 12
    optimistic = retrieval(queries, groups, captions, groups, ks=(1,), ties="optimistic")["recall@1"]
    pessimistic = retrieval(queries, groups, captions, groups, ks=(1,), ties="pessimistic")["recall@1"]
    assert optimistic == 1.0 and pessimistic == 0.0          # the same data: a number decided by the rule
    # the headline rule: the positive is one of 4 identical captions, first in a quarter of random orders
    assert retrieval(queries, groups, captions, groups, ks=(1,))["recall@1"] == pytest.approx(0.25)
    labels = np.array(list("abc"))[items]
    by_label = label_retrieval(queries, labels, captions, labels, ks=(1,))
    assert by_label["precision@1"] == 1.0 and by_label["map@r"] == pytest.approx(1.0)
    distinct = captions + 0.05 * rng.standard_normal(captions.shape)
    assert tie_dependent(queries, groups, distinct, groups) == 0
