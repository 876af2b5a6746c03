"""The task kinds: each runner beside its declaration (:class:`TaskKind`), vectors in, metrics and plot rows out.

A runner gets a :class:`TaskContext` (the task, its query rows already mapped
through the query's bridge, and ``side()`` to load the gallery the same way)
and returns an :class:`Outcome`. Writing is ``run.py``'s job, so every kind
gets the same finite check and atomic writes.

A kind says what it produces next to the code that produces it: its options
model, the metric a task is judged by (``headline``, a name or a rule over
the validated options), the columns ``bridge eval`` and the report print, its
``dvc plots`` definition, and the words of its protocol card (``protocol``:
what a positive is, what counts as a hit, the tie rule). So adding a kind is a
runner and a :class:`TaskKind` here (or in a module of your own) plus one line
in ``core/catalog.py``'s ``KINDS``, naming it and the shape of its sides. The
shape stays in that line because ``params.yaml`` is checked in core, which
imports nothing above it; everything else lives here because the eval stage,
``bridge dvc`` and the report all import this module anyway. To keep those
cheap, this module imports only numpy and pydantic at the top: the metrics
(FAISS, SciPy) are imported inside the runners that use them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Generic, Literal, TypeVar

import numpy as np
from pydantic import Field

from embridge.core.config import Params, TaskSide, TaskSpec
from embridge.core.errors import BridgeError
from embridge.core.validation import StrictModel, validate
from embridge.core.vectors import PROMPT_SPLIT, Vectors, normalize, pair_by_group, pair_same_rows
from embridge.evaluate import gap as gap_stats
from embridge.evaluate import geometry as geometry_stats

PROJECTED_POINTS = 600
O = TypeVar("O", bound=StrictModel)
#: the tie rule of ``ranks.Ranks``, shared by the kinds that rank rows
EXPECTED_TIES = "expected (each metric averaged over a random order of tied rows: a tie earns its fair share)"


class NoOptions(StrictModel):
    """A kind without options: any key given is an error."""


class ZeroshotOptions(StrictModel):
    labels: Literal["single", "multi"] = Field("single", description="multi: labels like 'cat|dog', scored by mAP")
    average: Literal["class", "sample"] = Field("class", description="multi-label mAP over classes (CLIP_benchmark) "
                                                                     "or per sample")


class CandidateOptions(StrictModel):
    candidates: list[Annotated[int, Field(ge=2, le=100_000)]] = Field(
        default_factory=lambda: [4, 20], min_length=1, description="T: the true item among T - 1 seeded distractors")
    seed: int = 0


class RetrievalOptions(StrictModel):
    positives: Literal["group", "label"] = Field(
        "group", description="group: an item's own captions; label: every row of its class (template captions, "
                             "where group-level ranks would be decided by ties), scored by precision@k and mAP@R")
    exclude_self: bool = Field(False, description="query and gallery are rows of one set: leave each query's own "
                                                  "row out of its ranking (else such a task is refused)")


class GeometryOptions(StrictModel):
    k: int = Field(10, ge=1, le=1000, description="neighbours for mutual k-NN and CKNNA")
    samples: int = Field(2000, ge=10, le=20_000, description="seeded sample of pairs (the measures are O(n^2))")
    seed: int = 0


@dataclass
class TaskContext:
    params: Params
    name: str
    task: TaskSpec
    query: Vectors
    q: np.ndarray  # the query's vectors in the shared space
    side: Callable[[TaskSide, str | None, str], tuple[Vectors, np.ndarray]]
    root: Path = Path(".")  # the project (emergent reads its bridges' cards)

    def options(self, model: type[O]) -> O:
        """The task's ``options`` validated by its kind's model: one line naming the key when wrong."""
        return validate(model, self.task.options, ("eval", "tasks", self.name, "options"), self.params.path)

    def gallery(self, split: str | None = None, same_space: bool = True) -> tuple[Vectors, np.ndarray]:
        """The gallery side's rows and vectors; ``same_space``: it must be in the query's space (every kind
        but ``geometry``, which compares two spaces)."""
        if self.task.gallery is None:
            raise BridgeError(f"eval.tasks.{self.name}.gallery: required for a {self.task.kind} task")
        rows, g = self.side(self.task.gallery, split, f"eval.tasks.{self.name}.gallery")
        if same_space and g.shape[1] != self.q.shape[1]:
            raise BridgeError(f"eval.tasks.{self.name}: query {self.task.query.set} gives {self.q.shape[1]}-d "
                              f"vectors and gallery {self.task.gallery.set} {g.shape[1]}-d: the sides are not "
                              "in one space (give them a bridge that maps both)")
        return rows, g


@dataclass
class Outcome:
    metrics: dict[str, float]
    plot: list[dict[str, object]]
    projection: list[dict[str, object]] = field(default_factory=list)  # 2-D points the report draws
    protocol: dict[str, Any] = field(default_factory=dict)  # what produced the numbers (protocol.py)


@dataclass(frozen=True)
class Plot:
    """A kind's ``dvc plots`` definition: which columns of its plot CSV (``Outcome.plot``) it draws."""

    title: str
    x: str
    y: str
    template: str | None = None  # dvc's default (a line) when None

    def dvc(self) -> dict[str, str]:
        """The entry under ``plots:`` in ``dvc.yaml``."""
        return {"title": self.title, **({"template": self.template} if self.template else {}), "x": self.x,
                "y": self.y}


@dataclass(frozen=True)
class ProtocolWords:
    """What a kind scores, in words, as its protocol card (``protocol.py``) states it beside the numbers."""

    positive: str  # what a positive is
    hit: str  # what counts as a hit
    ties: str  # how tied scores are ranked


@dataclass(frozen=True)
class TaskKind(Generic[O]):
    """A task kind, declared beside its runner (``core/catalog.py``'s ``KINDS`` line points here).

    ``headline`` is the metric a task is judged by (the report's value, the summary, the seed spread): a
    metric name, or a rule over the task's validated ``options`` where the options decide it (the first
    of ``candidates``, ``labels: multi``). ``columns`` are the metrics ``bridge eval`` prints and the report
    aggregates over dataset seeds; ``protocol`` the words of the protocol card, or a rule over the
    validated options where they change what is scored (``positives: label``); ``projection``: the runner
    also returns the 2-D points the report draws.
    """

    run: Callable[[TaskContext], Outcome]
    options: type[O]
    headline: str | Callable[[O], str]
    columns: tuple[str, ...]
    plot: Plot
    protocol: ProtocolWords | Callable[[O], ProtocolWords]
    projection: bool = False

    def headline_of(self, options: dict[str, Any] | None = None, where: str = "options") -> str:
        """The headline metric of a task with these ``options`` (its defaults when None)."""
        if isinstance(self.headline, str):
            return self.headline
        return self.headline(validate(self.options, options or {}, tuple(where.split("."))))

    def protocol_of(self, options: dict[str, Any] | None = None, where: str = "options") -> ProtocolWords:
        """The protocol card's words for a task with these ``options`` (its defaults when None)."""
        if isinstance(self.protocol, ProtocolWords):
            return self.protocol
        return self.protocol(validate(self.options, options or {}, tuple(where.split("."))))


def task_kind(name: str) -> TaskKind:
    """The declaration of kind ``name``: one line naming the closest kind when unknown."""
    from embridge.core.catalog import KINDS

    kind = KINDS.load(name)
    if not isinstance(kind, TaskKind):
        raise BridgeError(f"task kind {name!r}: {KINDS.get(name).target} is not a TaskKind")
    return kind


def headline(name: str, options: dict[str, Any] | None = None) -> str:
    """The metric a task of kind ``name`` with ``options`` is judged by."""
    return task_kind(name).headline_of(options)


def labelled(ctx: TaskContext, rows: Vectors, side: str) -> None:
    """Refuse rows without a label where labels are the truth (zero-shot, probe, transfer, label positives):
    an empty label would be scored as a class of its own."""
    empty = np.flatnonzero(np.asarray(rows.labels) == "")
    if len(empty):
        raise BridgeError(f"eval.tasks.{ctx.name}.{side}: {len(empty)} of {len(rows)} rows have no label (e.g. "
                          f"{str(rows.ids[empty[0]])!r}); label them, or leave them out with a subset")


def zeroshot(ctx: TaskContext) -> Outcome:
    """Single-label: top-1/top-5, balanced accuracy, per-class accuracy. Multi-label: mAP."""
    from embridge.evaluate import metrics

    opts = ctx.options(ZeroshotOptions)
    labelled(ctx, ctx.query, "query")
    prompts, p = ctx.gallery(PROMPT_SPLIT)
    names, class_vecs = metrics.class_vectors(p, prompts.labels)
    if opts.labels == "multi":
        return Outcome(metrics.zeroshot_multilabel(ctx.q, ctx.query.labels, class_vecs, names, opts.average), [])
    result = metrics.zeroshot_classification(ctx.q, ctx.query.labels, class_vecs, names)
    per_class = result.pop("per_class", {})
    return Outcome(result, [{"class": c, "accuracy": a} for c, a in per_class.items()])


ZEROSHOT_SINGLE = ProtocolWords(
    positive="the query's class vector (mean of its normalised prompt rows, re-normalised)",
    hit="top-k: the true class among the k highest cosines", ties=EXPECTED_TIES)
ZEROSHOT_MULTI = ProtocolWords(
    positive="every class in the query's label list ('a|b')",
    hit="mAP: average precision of the cosine scores, per class (or per sample), sklearn's definition",
    ties="tied scores enter the ranking together (sklearn)")
ZEROSHOT = TaskKind(zeroshot, ZeroshotOptions, lambda o: "map" if o.labels == "multi" else "top1",
                    ("top1", "top5", "balanced_accuracy", "map"),
                    Plot("Zero-shot accuracy per class", "accuracy", "class", "bar_horizontal"),
                    protocol=lambda o: ZEROSHOT_MULTI if o.labels == "multi" else ZEROSHOT_SINGLE)


def retrieval(ctx: TaskContext) -> Outcome:
    """Both directions. Group positives: recall@k, MRR and ranks, plus how many queries' ranks the tie rule
    decides (exact duplicates in the gallery). Label positives: precision@k and mAP@R."""
    from embridge.evaluate import metrics
    from embridge.evaluate.search import approximate_recall

    opts = ctx.options(RetrievalOptions)
    gallery, g = ctx.gallery()
    ks, index = tuple(ctx.params.eval.ks), ctx.params.eval.index
    forward_own, backward_own = own_rows(ctx, gallery, opts.exclude_self, opts.positives == "group" and index == "exact")
    if opts.positives == "label":
        labelled(ctx, ctx.query, "query")
        labelled(ctx, gallery, "gallery")
        forward = metrics.label_retrieval(ctx.q, ctx.query.labels, g, gallery.labels, ks=ks)
        backward = metrics.label_retrieval(g, gallery.labels, ctx.q, ctx.query.labels, ks=ks)
        column = "precision"
    else:
        exact = index == "exact"
        forward = metrics.retrieval(ctx.q, ctx.query.groups, g, gallery.groups, ks=ks, index=index, count_ties=exact,
                                    exclude=forward_own)
        backward = metrics.retrieval(g, gallery.groups, ctx.q, ctx.query.groups, ks=ks, index=index, count_ties=exact,
                                     exclude=backward_own)
        if not exact:  # what the approximate index costs, measured: k-recall@10 against exact search
            forward["index_recall@10"] = approximate_recall(normalize(ctx.q), normalize(g), 10, index)
            backward["index_recall@10"] = approximate_recall(normalize(g), normalize(ctx.q), 10, index)
            # an index built on one modality's vectors serving another's queries: the gap breaks its
            # quantiser (clip-retrieval #76), so the run says so next to the measured recall
            forward["cross_modal_index"] = backward["cross_modal_index"] = \
                float(ctx.query.space.tower != gallery.space.tower)
        column = "recall"
    result = {**{f"q2g/{k}": v for k, v in forward.items()}, **{f"g2q/{k}": v for k, v in backward.items()}}
    plot = [{"k": k, "recall_q2g": forward[f"{column}@{k}"], "recall_g2q": backward[f"{column}@{k}"]} for k in ks]
    return Outcome(result, plot)


def own_rows(ctx: TaskContext, gallery: Vectors, exclude: bool, supported: bool
             ) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Where query and gallery hold the same rows (one set, shared ids), each side's own row in the other
    (-1: none), to exclude; without ``exclude_self`` such a task is refused, since every query would find
    itself at rank 1."""
    if not ctx.query.fingerprint or ctx.query.fingerprint != gallery.fingerprint:
        return None, None
    common, qi, gi = np.intersect1d(ctx.query.ids, gallery.ids, return_indices=True)
    if not len(common):
        return None, None
    where = f"eval.tasks.{ctx.name}"
    if not exclude:
        raise BridgeError(f"{where}: query and gallery share {len(common)} rows of set {ctx.task.query.set!r} "
                          f"(e.g. {str(common[0])!r}): each would find itself; set options.exclude_self: true, "
                          "or score another split")
    if not supported:
        raise BridgeError(f"{where}: options.exclude_self needs group positives and eval.index: exact")
    forward, backward = np.full(len(ctx.query), -1), np.full(len(gallery), -1)
    forward[qi], backward[gi] = gi, qi
    return forward, backward


BY_GROUP = ProtocolWords(
    positive="gallery rows of the query's group (its own captions / item)",
    hit="recall@k: any positive among the top k",
    ties=EXPECTED_TIES + "; tie_dependent counts the queries whose rank a tie decides")
BY_LABEL = ProtocolWords(
    positive="gallery rows with the query's label",
    hit="precision@k: share of positives in the top k; map@r: mean precision at the hits within the top R "
        "(R = number of positives)",
    ties="exact search order (tied rows are identical vectors of one label)")
RETRIEVAL = TaskKind(retrieval, RetrievalOptions,
                     lambda o: "q2g/map@r" if o.positives == "label" else "q2g/recall@1",
                     ("q2g/recall@1", "q2g/recall@5", "g2q/recall@1", "q2g/mrr", "q2g/precision@1", "q2g/map@r"),
                     Plot("Retrieval recall@k, query -> gallery", "k", "recall_q2g"),
                     protocol=lambda o: BY_LABEL if o.positives == "label" else BY_GROUP)


def candidates(ctx: TaskContext) -> Outcome:
    """Accuracy and MRR of the true item among T candidates per query (TextME's MRR@4 / MRR@20), both ways."""
    from embridge.evaluate import metrics

    opts = ctx.options(CandidateOptions)
    gallery, g = ctx.gallery()
    out: dict[str, float] = {}
    plot: list[dict[str, object]] = []
    for t in opts.candidates:
        forward = metrics.candidate_accuracy(ctx.q, ctx.query.groups, g, gallery.groups, t, opts.seed)
        backward = metrics.candidate_accuracy(g, gallery.groups, ctx.q, ctx.query.groups, t, opts.seed)
        out.update({f"q2g/T{t}/accuracy": forward["candidate_accuracy"], f"q2g/T{t}/mrr": forward["candidate_mrr"],
                    f"g2q/T{t}/accuracy": backward["candidate_accuracy"], f"g2q/T{t}/mrr": backward["candidate_mrr"]})
        plot.append({"candidates": t, "mrr_q2g": forward["candidate_mrr"], "mrr_g2q": backward["candidate_mrr"]})
    return Outcome(out, plot)


CANDIDATES = TaskKind(candidates, CandidateOptions, lambda o: f"q2g/T{o.candidates[0]}/mrr",
                      ("q2g/T4/accuracy", "q2g/T4/mrr", "q2g/T20/mrr"),
                      Plot("MRR among T candidates", "candidates", "mrr_q2g"),
                      protocol=ProtocolWords(
                          positive="one of the query's group rows (seeded), against T - 1 seeded distractors from "
                                   "other groups",
                          hit="accuracy: the true item first among T; MRR: mean 1/rank among T", ties=EXPECTED_TIES))


def geometry(ctx: TaskContext) -> Outcome:
    """Linear CKA, mutual k-NN and CKNNA between the two sides' spaces on paired rows (one pair per query
    row: the same id in both sets, else the first row of its group), beside the raw gap statistics."""
    opts = ctx.options(GeometryOptions)
    gallery, g = ctx.gallery(same_space=False)
    iq, ig = pair_same_rows(ctx.query, gallery)
    first = np.unique(iq, return_index=True)[1]
    iq, ig = iq[first], ig[first]
    if len(iq) < 4:
        raise BridgeError(f"eval.tasks.{ctx.name}: only {len(iq)} rows of {ctx.task.query.set} and "
                          f"{ctx.task.gallery.set} are pairs (same id or group); geometry needs at least 4")
    k = min(opts.k, min(len(iq), opts.samples) - 1)
    out = geometry_stats.geometry(ctx.q[iq], g[ig], k=k, samples=opts.samples, seed=opts.seed)
    if g.shape[1] == ctx.q.shape[1]:  # the gap is a difference of vectors: only within one space
        out.update({f"gap/{n}": v for n, v in gap_stats.gap_statistics(g[ig], ctx.q[iq]).items()})
    return Outcome(out, [{"statistic": n, "value": v} for n, v in out.items()])


GEOMETRY = TaskKind(geometry, GeometryOptions, "linear_cka", ("linear_cka", "mutual_knn@10", "cknna@10"),
                    Plot("Representation similarity between spaces", "value", "statistic", "bar_horizontal"),
                    protocol=ProtocolWords(
                        positive="rows of the two sides with the same id, else the first of their group",
                        hit="n/a (linear CKA, mutual k-NN, CKNNA on a seeded sample of pairs)", ties="n/a"))


def gap(ctx: TaskContext) -> Outcome:
    """Gap statistics of paired rows, raw and (if bridges are given) bridged, plus the 2-D projection
    the report draws (so the report never re-reads embeddings or bridges)."""
    ctx.options(NoOptions)
    task, query, q = ctx.task, ctx.query, ctx.q
    gallery, g = ctx.gallery()
    iq, ig = pair_by_group(query, gallery)
    if len(iq) == 0:
        raise BridgeError(f"eval.tasks.{ctx.name}: no rows of {task.query.set} and {task.gallery.set} share a group")
    out = {f"raw/{k}": v for k, v in gap_stats.gap_statistics(gallery.vectors[ig], query.vectors[iq]).items()}
    bridged = bool(task.query.bridge or (task.gallery and task.gallery.bridge))
    if bridged:
        out.update({f"bridged/{k}": v for k, v in gap_stats.gap_statistics(g[ig], q[iq]).items()})
    panels = [("raw", query.vectors, gallery.vectors)] + ([("bridged", q, g)] if bridged else [])
    return Outcome(out, [{"statistic": k, "value": v} for k, v in out.items()], _projection(panels))


def _projection(panels: list[tuple[str, np.ndarray, np.ndarray]]) -> list[dict[str, object]]:
    """Seeded samples of both sides, projected on the first two principal axes of each panel."""
    rows: list[dict[str, object]] = []
    for stage, a, b in panels:
        rng = np.random.default_rng(0)
        a = a[rng.permutation(len(a))[:PROJECTED_POINTS]]
        b = b[rng.permutation(len(b))[:PROJECTED_POINTS]]
        both = np.concatenate([a, b]).astype(np.float64)
        centred = both - both.mean(0)
        _, _, vt = np.linalg.svd(centred, full_matrices=False)
        xy = np.round(centred @ vt[:2].T, 6)
        sides = np.repeat(["query", "gallery"], [len(a), len(b)])
        rows += [{"stage": stage, "side": s, "x": float(x), "y": float(y)}
                 for s, (x, y) in zip(sides.tolist(), xy.tolist(), strict=True)]
    return rows


GAP = TaskKind(gap, NoOptions, "raw/gap_length", ("raw/gap_length", "bridged/gap_length"),
               Plot("Modality-gap statistics", "value", "statistic", "bar_horizontal"),
               protocol=ProtocolWords(positive="rows of the two sides sharing a group",
                                      hit="n/a (statistics of paired vectors)", ties="n/a"),
               projection=True)


# -- classifiers across sides: transfer and probe ---------------------------------------------------------

class TransferOptions(StrictModel):
    classifiers: list[Literal["gaussian", "ncm", "logistic"]] = Field(
        default_factory=lambda: ["gaussian", "ncm", "logistic"], min_length=1,
        description="fitted on the query side's train rows; the first is the headline")
    reg: float = Field(1e-6, ge=0, description="the Gaussian classifier's covariance ridge (x mean variance)")
    covariance: Literal["full", "shared"] = Field("full", description="the Gaussian classifier's covariances: one "
                                                  "per class (QDA), or one shared (LDA: for few rows per class)")
    c: float = Field(1.0, gt=0, description="logistic regression's inverse regularisation")


class ProbeOptions(StrictModel):
    c: float = Field(1.0, gt=0, description="logistic regression's inverse regularisation")
    train_split: str = "train"


def _fit_kwargs(name: str, opts: TransferOptions | ProbeOptions) -> dict[str, float]:
    if name == "gaussian" and isinstance(opts, TransferOptions):
        return {"reg": opts.reg, "covariance": opts.covariance}
    return {"c": opts.c} if name == "logistic" else {}


def transfer(ctx: TaskContext) -> Outcome:
    """Cross-modal transfer (Kamboj & Do): a classifier fitted on the query side's labelled train rows,
    scored on the gallery side's test rows, both in the shared space; beside it, the same classifier
    fitted on the gallery side's own train labels (``target/``, the reference) and scored within the
    query side (``source/``), and the alignment error of paired test rows."""
    from embridge.evaluate.classify import CLASSIFIERS, accuracy

    opts = ctx.options(TransferOptions)
    source_train, s_train = ctx.side(ctx.task.query, "train", f"eval.tasks.{ctx.name}.query")
    target, t = ctx.gallery()
    target_train, t_train = ctx.gallery("train")
    for rows, side in ((source_train, "query"), (target_train, "gallery"), (target, "gallery")):
        labelled(ctx, rows, side)
    out: dict[str, float] = {}
    plot: list[dict[str, object]] = []
    for name in opts.classifiers:
        fit = CLASSIFIERS[name]
        kwargs = _fit_kwargs(name, opts)
        out[f"transfer/{name}"] = accuracy(fit(s_train, source_train.labels, t, **kwargs), target.labels)
        out[f"target/{name}"] = accuracy(fit(t_train, target_train.labels, t, **kwargs), target.labels)
        out[f"source/{name}"] = accuracy(fit(s_train, source_train.labels, ctx.q, **kwargs), ctx.query.labels)
        out[f"transfer/{name}/vs_target"] = out[f"transfer/{name}"] - out[f"target/{name}"]
        plot += [{"classifier": name, "fitted_on": fitted, "accuracy": out[f"{fitted}/{name}"]}
                 for fitted in ("transfer", "target", "source")]
    iq, ig = pair_by_group(ctx.query, target)
    if len(iq):
        diff = np.linalg.norm(ctx.q[iq].astype(np.float64) - t[ig], axis=1)
        out["alignment_error"] = float(np.sqrt((diff ** 2).sum() / max((ctx.q[iq].astype(np.float64) ** 2).sum(),
                                                                         1e-300)))
    return Outcome(out, plot)


TRANSFER = TaskKind(transfer, TransferOptions, lambda o: f"transfer/{o.classifiers[0]}",
                    ("transfer/gaussian", "target/gaussian", "alignment_error"),
                    Plot("Cross-modal transfer accuracy", "accuracy", "classifier", "bar_horizontal"),
                    protocol=ProtocolWords(
                        positive="the row's own label",
                        hit="accuracy of a classifier fitted on the query side's train rows (gaussian: QDA; ncm: "
                            "nearest class mean; logistic) on the gallery side's rows; target/: fitted on the "
                            "gallery side's own train rows",
                        ties="first class in sorted order"))


def _by_group(rows: Vectors) -> tuple[np.ndarray, np.ndarray]:
    """(sorted unique groups, the first row of each)."""
    return np.unique(rows.groups, return_index=True)


def _joint(parts: list[tuple[Vectors, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """The sides' vectors of the groups every side holds, concatenated (first row per group), with the
    first side's labels: CentroBind's acc(All) input."""
    firsts = [_by_group(rows) for rows, _ in parts]
    common = firsts[0][0]
    for groups, _ in firsts[1:]:
        common = np.intersect1d(common, groups)
    rows_of = [first[np.searchsorted(groups, common)] for groups, first in firsts]
    x = np.concatenate([vectors[r] for (_, vectors), r in zip(parts, rows_of, strict=True)], axis=1)
    return x, parts[0][0].labels[rows_of[0]]


def probe(ctx: TaskContext) -> Outcome:
    """Linear-probe accuracy (logistic regression on the train split, scored on the test split) of each
    side's vectors (``side/<set>``) and of all sides concatenated per group (``accuracy``, CentroBind's
    acc(All); with one side it is that side's)."""
    from embridge.evaluate.classify import accuracy, logistic

    opts = ctx.options(ProbeOptions)
    sides = [("query", ctx.task.query)] + [(f"sides.{i}", s) for i, s in enumerate(ctx.task.sides)]
    train, test = [], []
    out: dict[str, float] = {}
    for i, (where, side) in enumerate(sides):
        test.append((ctx.query, ctx.q) if i == 0 else ctx.side(side, None, f"eval.tasks.{ctx.name}.{where}"))
        train.append(ctx.side(side, opts.train_split, f"eval.tasks.{ctx.name}.{where}"))
        (tr_rows, tr), (te_rows, te) = train[-1], test[-1]
        labelled(ctx, tr_rows, where)
        labelled(ctx, te_rows, where)
        out[f"side/{side.set}"] = accuracy(logistic(tr, tr_rows.labels, te, opts.c), te_rows.labels)
    x_train, y_train = _joint(train)
    x_test, y_test = _joint(test)
    if len(x_train) == 0 or len(x_test) == 0:
        raise BridgeError(f"eval.tasks.{ctx.name}: the sides share no group in the {opts.train_split!r} or test "
                          "split: nothing to concatenate")
    out["accuracy"] = accuracy(logistic(x_train, y_train, x_test, opts.c), y_test)
    out["rows/train"], out["rows/test"] = float(len(x_train)), float(len(x_test))
    plot = [{"features": k.removeprefix("side/") if k.startswith("side/") else "all", "accuracy": v}
            for k, v in out.items() if k.startswith("side/") or k == "accuracy"]
    return Outcome(out, plot)


PROBE = TaskKind(probe, ProbeOptions, "accuracy", ("accuracy",),
                 Plot("Linear-probe accuracy", "accuracy", "features", "bar_horizontal"),
                 protocol=ProtocolWords(
                     positive="the row's own label",
                     hit="accuracy of logistic regression fitted on the train split of each side, and of all sides "
                         "concatenated per group (first row of each group)",
                     ties="scikit-learn's argmax"))


# -- the emergent matrix -----------------------------------------------------------------------------------

class EmergentOptions(StrictModel):
    ks: list[Annotated[int, Field(ge=1, le=100_000)]] = Field(default_factory=lambda: [1, 5], min_length=1)


def trained_pairs(ctx: TaskContext, sides: list[TaskSide]) -> set[frozenset[str]]:
    """Pairs of sets some bridge of these sides was fitted on as pairs (its card's ``info.paired`` roles,
    mapped to sets by ``fit.bridges.<b>.inputs``)."""
    import json

    from embridge.core.layout import Layout

    pairs: set[frozenset[str]] = set()
    for bridge in dict.fromkeys(s.bridge for s in sides if s.bridge):
        seeds = ctx.params.fit.bridges[bridge].seeds  # every seed was fitted on the same pairs: read the first
        card = json.loads((Layout(ctx.root).bridge(bridge, seeds[0] if seeds else None) / "bridge.json").read_text())
        inputs = ctx.params.fit.bridges[bridge].inputs
        pairs |= {frozenset((inputs[a], inputs[b])) for a, b in card.get("info", {}).get("paired", [])}
    return pairs


def emergent(ctx: TaskContext) -> Outcome:
    """EmergentBridge's matrix: every side (query + sides) mapped into one space, recall@k both ways for
    every pair, each pair marked trained (a bridge of the task was fitted on pairs of those two sets) or
    emergent (never paired). Headline: the mean R@1 of the emergent pairs."""
    from embridge.evaluate import metrics

    opts = ctx.options(EmergentOptions)
    sides = [ctx.task.query, *ctx.task.sides]
    loaded = [(ctx.query, ctx.q)] + [ctx.side(s, None, f"eval.tasks.{ctx.name}.sides.{i}")
                                     for i, s in enumerate(ctx.task.sides)]
    dims = {rows.space.key: v.shape[1] for rows, v in loaded}
    if len(set(dims.values())) > 1:
        raise BridgeError(f"eval.tasks.{ctx.name}: the sides are not in one space (dims {dims}); give each a bridge "
                          "into the shared space")
    towers = [rows.space.tower for rows, _ in loaded]
    names = [t if towers.count(t) == 1 else s.set for t, s in zip(towers, sides, strict=True)]
    if len(set(names)) < len(names):
        raise BridgeError(f"eval.tasks.{ctx.name}: a set appears twice among the sides ({names})")
    trained = trained_pairs(ctx, sides)
    out: dict[str, float] = {}
    plot: list[dict[str, object]] = []
    means: dict[str, list[float]] = {"trained": [], "emergent": []}
    for i, (qrows, q) in enumerate(loaded):
        for j, (grows, g) in enumerate(loaded):
            if i == j:
                continue
            found = metrics.retrieval(q, qrows.groups, g, grows.groups, ks=tuple(opts.ks))
            kind = "trained" if frozenset((sides[i].set, sides[j].set)) in trained else "emergent"
            for k in opts.ks:
                out[f"{names[i]}->{names[j]}/recall@{k}"] = found[f"recall@{k}"]
            out[f"{names[i]}->{names[j]}/trained"] = float(kind == "trained")
            means[kind].append(found[f"recall@{opts.ks[0]}"])
            plot.append({"query": names[i], "gallery": names[j], "pair": kind,
                         **{f"recall@{k}": found[f"recall@{k}"] for k in opts.ks}})
    for kind, values in means.items():
        if values:
            out[f"{kind}/mean_recall@{opts.ks[0]}"] = float(np.mean(values))
    return Outcome(out, plot)


EMERGENT = TaskKind(emergent, EmergentOptions, lambda o: f"emergent/mean_recall@{o.ks[0]}",
                    ("emergent/mean_recall@1", "trained/mean_recall@1"),
                    Plot("Emergent matrix: recall@1 per ordered pair", "recall@1", "gallery", "bar_horizontal"),
                    protocol=ProtocolWords(
                        positive="rows of the other side sharing the query row's group",
                        hit="recall@k: any positive among the top k, for every ordered pair of sides; a pair is "
                            "'trained' when a bridge of the task was fitted on pairs of those two sets, else "
                            "'emergent'",
                        ties=EXPECTED_TIES))
