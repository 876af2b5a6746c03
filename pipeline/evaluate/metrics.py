"""Zero-shot classification and retrieval metrics (CLIP_benchmark conventions).

Pure functions: numpy in, a flat ``dict[str, float]`` out (ready for a metrics
JSON), except where a docstring names a nested key.

Ties are part of the protocol, so they are explicit. Every rank here is the
rank of the true class / best positive among ALL candidates, from one exact
pass of ``ranks.rank_positives``. The headline rule is ``expected``: each
metric is its mean over a uniformly random order of tied candidates, so a
tie never earns more than its fair share (a positive tied with one negative
is half a top-1 hit; a vector that ties with everything scores at chance).
``optimistic`` and ``pessimistic`` remain as options of ``retrieval``. top-k,
R@k, MRR@k, full MRR and mean rank all derive from the same ranks, so they
agree with each other on ties by construction. FAISS top-k lists are not used
for exact metrics, because FAISS's choice among tied items is unspecified;
only approximate indexes fall back on them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from embridge.core.vectors import normalize, require_scoreable
from embridge.evaluate.ranks import TIE, TIES, Ranks, group_codes, rank_positives
from embridge.evaluate.search import search


def _normalize(x: np.ndarray) -> np.ndarray:
    return normalize(require_scoreable(np.asarray(x), "vectors to score"), np.float32)


def _distinct_classes(names: Sequence[str], vectors: np.ndarray) -> None:
    """Refuse class vectors that coincide for different classes: a query could not tell them apart, and
    two names for one class would be scored as two."""
    _, first, inverse = np.unique(vectors.round(6), axis=0, return_index=True, return_inverse=True)
    clash = np.flatnonzero(first[inverse.ravel()] != np.arange(len(vectors)))
    if len(clash):
        i = int(clash[0])
        raise ValueError(f"classes {names[int(first[inverse.ravel()[i]])]!r} and {names[i]!r} have the same class "
                         "vector (the same prompts or display name); they cannot be told apart")


def class_vectors(prompt_vectors: np.ndarray, prompt_labels: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """One zero-shot classifier vector per class from its prompt templates.

    Each template vector is normalised (so a long prompt does not outweigh a
    short one), the class mean taken, and the mean re-normalised. Classes are
    in order of first appearance in ``prompt_labels``. Returns
    ``(class_names, vectors [K, d] float32)``.
    """
    labels = np.asarray(prompt_labels)
    if len(labels) != len(prompt_vectors):
        raise ValueError(f"{len(prompt_vectors)} prompt vectors but {len(labels)} prompt labels")
    names, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    order = np.argsort(first)  # unique() sorts by name; restore first-appearance order
    rank_of = np.empty_like(order)
    rank_of[order] = np.arange(len(order))
    sums = np.zeros((len(names), prompt_vectors.shape[1]), dtype=np.float64)
    np.add.at(sums, rank_of[inverse], _normalize(prompt_vectors))
    # the mean and the sum have the same direction: re-normalising the sum is the re-normalised mean
    names_out, vectors = [str(n) for n in names[order]], _normalize(sums)
    _distinct_classes(names_out, vectors)
    return names_out, vectors


def _known_labels(labels: np.ndarray, class_names: Sequence[str]) -> None:
    unknown = np.setdiff1d(labels, np.asarray(class_names))
    if len(unknown):
        raise ValueError(f"{len(unknown)} query labels are not class names (e.g. {unknown[0]!r}); "
                         f"classes: {list(class_names)[:10]}")


def zeroshot_classification(query_vectors: np.ndarray, query_labels: Sequence[str], class_vectors: np.ndarray,
                            class_names: Sequence[str], ties: str = "expected") -> dict:
    """Single-label zero-shot classification by cosine to the class vectors.

    Returns flat floats ``top1``, ``top5`` (1.0 when there are at most 5
    classes), ``balanced_accuracy`` (mean over the classes present in
    ``query_labels`` of their top-1 accuracy), plus one nested key,
    ``per_class: {class name: top-1 accuracy}`` for those classes: pop it
    before writing the flat metrics. Ties: see the module doc.
    """
    labels = np.asarray(query_labels)
    _known_labels(labels, class_names)
    ranks = rank_positives(_normalize(query_vectors), _normalize(class_vectors), labels, np.asarray(class_names))
    correct, top5 = _hits(ranks, ties, 1), _hits(ranks, ties, 5)
    present, inverse = np.unique(labels, return_inverse=True)
    per_class = np.bincount(inverse, weights=correct) / np.bincount(inverse)
    return {
        "top1": float(correct.mean()),
        "top5": float(top5.mean()),  # a rank is at most K: with K <= 5 classes top5 is 1
        "balanced_accuracy": float(per_class.mean()),
        "per_class": {str(name): float(acc) for name, acc in zip(present, per_class)},
    }


def _hits(ranks: Ranks, ties: str, k: int) -> np.ndarray:
    """Per query, the (expected) hit within the top ``k`` under the tie rule ``ties``."""
    if ties not in TIES:
        raise ValueError(f"ties must be one of {TIES}, got {ties!r}")
    return ranks.recall(k) if ties == "expected" else (ranks.under(ties) <= k).astype(np.float64)


def label_matrix(labels: Sequence[str], class_names: Sequence[str], sep: str = "|") -> np.ndarray:
    """Multi-label strings (``"cat|dog"``) as a bool matrix [n, K] over ``class_names``."""
    split = [str(label).split(sep) if label else [] for label in labels]
    flat = np.asarray([name for names in split for name in names], dtype=object)
    rows = np.repeat(np.arange(len(split)), [len(names) for names in split])
    index = {name: k for k, name in enumerate(class_names)}
    unknown = sorted({name for name in flat if name not in index})
    if unknown:
        raise ValueError(f"{len(unknown)} labels are not class names (e.g. {unknown[0]!r})")
    out = np.zeros((len(split), len(class_names)), dtype=bool)
    out[rows, np.asarray([index[name] for name in flat], dtype=np.int64)] = True
    return out


def _average_precision_columns(scores: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """AP of each column; NaN for a column with no positive.

    Ties follow scikit-learn: items with equal scores enter the ranking
    together, so each positive contributes the precision at the *end* of its
    tie group (AP = sum over distinct thresholds of recall step x precision).
    """
    order = np.argsort(-scores, axis=0, kind="stable")
    s = np.take_along_axis(scores, order, axis=0)
    t = np.take_along_axis(truth, order, axis=0)
    n = len(s)
    precision = np.cumsum(t, axis=0) / np.arange(1, n + 1)[:, None]
    # index of the last row of each row's tie group: next group end at or below it
    is_end = np.ones_like(s, dtype=bool)
    is_end[:-1] = s[:-1] != s[1:]
    end = np.where(is_end, np.arange(n)[:, None], n)
    end = np.flip(np.minimum.accumulate(np.flip(end, axis=0), axis=0), axis=0)
    at_end = np.take_along_axis(precision, end, axis=0)
    positives = t.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(positives > 0, (at_end * t).sum(axis=0) / positives, np.nan)


def multilabel_map(scores: np.ndarray, label_matrix: np.ndarray, average: str = "class") -> float:
    """Mean average precision: over classes (``class``, default) or over samples (``sample``).

    ``scores`` and ``label_matrix`` are [n, K]. Classes (resp. samples) with no
    positive label have no AP and are left out of the mean. Matches
    ``sklearn.metrics.average_precision_score(average="macro" | "samples")``,
    ties included.
    """
    scores = np.asarray(scores, dtype=np.float64)
    truth = np.asarray(label_matrix, dtype=bool)
    if scores.shape != truth.shape or scores.ndim != 2:
        raise ValueError(f"scores {list(scores.shape)} and label matrix {list(truth.shape)} must be the same [n, K]")
    if average not in ("class", "sample"):
        raise ValueError(f"average must be 'class' or 'sample', got {average!r}")
    ap = _average_precision_columns(scores, truth) if average == "class" else \
        _average_precision_columns(scores.T, truth.T)
    if np.isnan(ap).all():
        raise ValueError(f"no {average} has a positive label: mAP is undefined")
    return float(np.nanmean(ap))


def zeroshot_multilabel(query_vectors: np.ndarray, query_labels: Sequence[str], class_vectors: np.ndarray,
                        class_names: Sequence[str], average: str = "class") -> dict:
    """Multi-label zero-shot: ``{"map": mAP}`` of cosine scores; labels like ``"cat|dog"``."""
    scores = _normalize(query_vectors) @ _normalize(class_vectors).T
    return {"map": multilabel_map(scores, label_matrix(query_labels, class_names), average)}


def _from_ranks(ranks: np.ndarray, ks: Sequence[int], mrr_k: int) -> dict:
    out = {f"recall@{k}": float((ranks <= k).mean()) for k in ks}
    out[f"mrr@{mrr_k}"] = float(np.where(ranks <= mrr_k, 1.0 / ranks, 0.0).mean())
    return out


def retrieval(query_vectors: np.ndarray, query_groups: np.ndarray, gallery_vectors: np.ndarray,
              gallery_groups: np.ndarray, ks: Sequence[int] = (1, 5, 10), index: str = "exact",
              mrr_k: int = 10, ties: str = "expected", count_ties: bool = False, exclude: np.ndarray | None = None,
              **index_params: float) -> dict:
    """Multi-positive retrieval, one direction (call it twice for both).

    Positives of a query are the gallery rows with its group key (an image
    with 5 captions has 5). ``recall@k``: fraction of queries with a positive
    in the top k; ``mrr@{mrr_k}``: mean of 1/rank, 0 beyond ``mrr_k``; ``mrr``
    (full), ``median_rank``, ``mean_rank``: over the rank of the first
    positive among all gallery rows. ``index="exact"`` computes exact ranks
    with the stated tie rule (module doc; ``expected``: each metric's mean over
    random tie-breaking, and ``median_rank`` the median of expected ranks). An
    approximate index (``ivf``, ``hnsw``, a factory spec) reports only
    ``recall@k`` and ``mrr@k``, from its top-max(ks, mrr_k) lists (ties in list
    order), since full ranks need the exhaustive pass it exists to avoid.
    ``count_ties`` (exact only) adds ``tie_dependent`` (see ``tie_dependent``),
    from the same rank pass. ``exclude`` (exact only): per query, a gallery row
    to leave out (its own row, when both sides are one set), or -1.
    """
    qv, gv = _normalize(query_vectors), _normalize(gallery_vectors)
    if index == "exact":
        if ties not in TIES:
            raise ValueError(f"ties must be one of {TIES}, got {ties!r}")
        ranks = rank_positives(qv, gv, query_groups, gallery_groups, both=count_ties or ties != "optimistic",
                               exclude=exclude)
        if ties == "expected":
            out = {f"recall@{k}": float(ranks.recall(k).mean()) for k in ks}
            out[f"mrr@{mrr_k}"] = float(ranks.reciprocal(mrr_k).mean())
            expected = ranks.mean()
            out.update(mrr=float(ranks.reciprocal().mean()), median_rank=float(np.median(expected)),
                       mean_rank=float(expected.mean()))
        else:
            integer = ranks.under(ties)
            out = _from_ranks(integer, ks, mrr_k)
            out.update(mrr=float((1.0 / integer).mean()), median_rank=float(np.median(integer)),
                       mean_rank=float(integer.mean()))
        if count_ties:
            out["tie_dependent"] = float((ranks.optimistic != ranks.pessimistic).sum())
        return out
    if exclude is not None:
        raise ValueError("excluding each query's own row needs the exact index")
    depth = max(*ks, mrr_k)
    _, found = search(qv, gv, depth, index=index, **index_params)
    qcodes, gcodes = group_codes(query_groups, gallery_groups)
    hit = (found >= 0) & (gcodes[found] == qcodes[:, None])
    ranks = np.where(hit.any(axis=1), hit.argmax(axis=1) + 1, np.iinfo(np.int64).max)
    return _from_ranks(ranks, ks, mrr_k)


def candidate_accuracy(query_vectors: np.ndarray, query_groups: np.ndarray, gallery_vectors: np.ndarray,
                       gallery_groups: np.ndarray, candidates: int = 10, seed: int = 0) -> dict:
    """Accuracy among ``candidates`` (T) items: the true item against T-1 distractors.

    For each query, the true item is one of its positives (seeded uniform
    choice when there are several) and the T-1 distractors are distinct
    gallery rows outside its group, drawn uniformly (seeded). A query counts
    as correct when no distractor scores strictly higher than the true item
    (optimistic ties, as everywhere here); its rank among the T is 1 + the
    distractors scoring higher, and ``candidate_mrr`` is the mean of 1/rank
    (TextME's DrugBank MRR@4 / MRR@20 are ``candidates`` 4 and 20). A
    distractor that ties with the true item counts as ahead half of the time:
    both are the expected values over random tie-breaking, as everywhere here.
    Returns ``{"candidate_accuracy": acc, "candidate_mrr": mrr, "candidates": T}``.
    """
    qv, gv = _normalize(query_vectors), _normalize(gallery_vectors)
    qcodes, gcodes = group_codes(query_groups, gallery_groups)
    order = np.argsort(gcodes, kind="stable")  # a query's positives: order[lo : lo + count]
    lo = np.searchsorted(gcodes[order], qcodes, side="left")
    counts = np.searchsorted(gcodes[order], qcodes, side="right") - lo
    if (counts == 0).any():
        raise ValueError(f"{int((counts == 0).sum())} queries have no positive in the gallery")
    negatives = (len(gv) - counts)[:, None]
    if not 2 <= candidates <= negatives.min() + 1:
        raise ValueError(f"candidates must be in [2, {negatives.min() + 1}] for this gallery, got {candidates}")
    rng = np.random.default_rng(seed)
    true = order[lo + (rng.random(len(qv)) * counts).astype(np.int64)]
    # distinct draws from [0, negatives): redraw repeats, all queries at once, until none is left
    u = (rng.random((len(qv), candidates - 1)) * negatives).astype(np.int64)
    while True:
        perm = np.argsort(u, axis=1, kind="stable")
        ranked = np.take_along_axis(u, perm, axis=1)
        repeat = np.zeros(u.shape, dtype=bool)
        np.put_along_axis(repeat, perm[:, 1:], ranked[:, 1:] == ranked[:, :-1], axis=1)
        if not repeat.any():
            break
        u[repeat] = (rng.random(int(repeat.sum())) * np.broadcast_to(negatives, u.shape)[repeat]).astype(np.int64)
    # the i-th negative in group order skips the query's own positives
    distractors = order[np.where(u < lo[:, None], u, u + counts[:, None])]
    items = np.concatenate([true[:, None], distractors], axis=1)
    step = max(1, (1 << 24) // (candidates * gv.shape[1]))  # bounds the gathered [step, T, d] block
    above = np.empty(len(qv), dtype=np.int64)
    tied = np.empty(len(qv), dtype=np.int64)
    for a in range(0, len(qv), step):
        scores = np.einsum("nd,ntd->nt", qv[a:a + step], gv[items[a:a + step]])
        gap = scores[:, 1:] - scores[:, :1]  # within TIE is a tie, as in ranks.py (kernels round by position)
        above[a:a + step] = (gap > TIE).sum(axis=1)
        tied[a:a + step] = (np.abs(gap) <= TIE).sum(axis=1)
    ranks = Ranks(1 + above, 1 + above + tied, np.ones(len(qv), dtype=np.int64))
    return {"candidate_accuracy": float(ranks.recall(1).mean()), "candidate_mrr": float(ranks.reciprocal().mean()),
            "candidates": float(candidates)}


def tie_dependent(query_vectors: np.ndarray, query_groups: np.ndarray, gallery_vectors: np.ndarray,
                  gallery_groups: np.ndarray) -> float:
    """How many queries' exact ranks differ between the optimistic and the pessimistic tie rule.

    Non-zero when the gallery holds vectors that score exactly like a query's
    best positive (duplicates, template captions): those queries' numbers are
    decided by the tie rule, not by the embedding.
    """
    ranks = rank_positives(_normalize(query_vectors), _normalize(gallery_vectors), query_groups, gallery_groups)
    return float((ranks.optimistic != ranks.pessimistic).sum())


def label_retrieval(query_vectors: np.ndarray, query_labels: np.ndarray, gallery_vectors: np.ndarray,
                    gallery_labels: np.ndarray, ks: Sequence[int] = (1, 5, 10)) -> dict:
    """Retrieval where every gallery row of a query's label is a positive (one direction).

    ``precision@k``: the mean share of positives among each query's top k.
    ``map@r`` (Musgrave et al. 2020): with R a query's number of positives, the
    mean over its top R of (precision at rank i if row i is a positive, else 0),
    divided by R; 1 only when its positives fill its top R. Both count rows of
    equal score in exact search order, and rows that tie are identical vectors,
    which for template captions share their label: ties cannot change them.
    Queries whose label has no gallery row are an error.
    """
    qv, gv = _normalize(query_vectors), _normalize(gallery_vectors)
    qcodes, gcodes = group_codes(np.asarray(query_labels), np.asarray(gallery_labels))
    positives = np.bincount(gcodes, minlength=int(max(qcodes.max(initial=0), gcodes.max(initial=0))) + 1)[qcodes]
    if (positives == 0).any():
        raise ValueError(f"{int((positives == 0).sum())} queries have a label with no gallery row "
                         f"(e.g. {np.asarray(query_labels)[positives == 0][0]!r})")
    depth = int(min(len(gv), max(max(ks), positives.max())))
    _, found = search(qv, gv, depth)
    hit = gcodes[found] == qcodes[:, None]
    out = {f"precision@{k}": float(hit[:, :k].mean()) for k in ks}
    cumulative = np.cumsum(hit, axis=1)
    rank = np.arange(1, depth + 1)
    within = rank[None, :] <= positives[:, None]
    out["map@r"] = float((np.where(hit & within, cumulative / rank, 0.0).sum(axis=1) / positives).mean())
    return out
