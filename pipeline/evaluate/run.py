"""Stage 3: run one evaluation task and write its metrics and plot data.

A task reads test rows of one or two embedding sets, maps each side into a
shared space through its bridge (or leaves it in its encoder's space), and
scores it:

* ``zeroshot``: query rows against class vectors built from the gallery
  set's ``prompt`` rows (CLIP_benchmark: normalise, average, re-normalise);
* ``retrieval``: query rows against gallery rows, positives share a group,
  both directions;
* ``gap``: modality-gap statistics of paired rows (query = the modal side,
  gallery = the text side), before and (when bridges are given) after
  bridging.

Outputs: ``artifacts/metrics/<task>.json`` (flat numbers for ``dvc metrics``)
and ``artifacts/plots/<kind>/<task>.csv`` (for ``dvc plots``): per-class accuracy,
recall@k, or the gap statistics.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from pipeline.bridges.base import Bridge
from pipeline.config import Params, TaskSide, TaskSpec
from pipeline.core.files import atomic_write, atomic_write_json
from pipeline.core.layout import Layout
from pipeline.core.vectors import Vectors, pair_by_group
from pipeline.errors import BridgeError
from pipeline.evaluate import gap, metrics
from pipeline.sources.base import PROMPT_SPLIT
from pipeline.store.vectors import load_vectors


def side_vectors(root: Path, task: TaskSpec, side: TaskSide, split: str | None = None, where: str = ""
                 ) -> tuple[Vectors, np.ndarray]:
    """The side's rows of ``split`` and their vectors mapped through its bridge (``where`` names the side
    in messages, e.g. ``eval.tasks.x.query``)."""
    layout = Layout(root)
    rows = load_vectors(layout.embeddings(f"{task.dataset}/{side.set}"), (split or side.split,))
    if side.bridge is None:
        return rows, rows.vectors
    bridge = Bridge.load(layout.bridge(side.bridge))
    try:
        bridge.role_of(rows.space.encoder, rows.space.tower)
    except BridgeError as e:
        raise BridgeError(f"{where}.bridge: {e}" if where else str(e)) from None
    return rows, bridge.transform(rows.space.encoder, rows.space.tower, rows.vectors)


def run_task(params: Params, name: str, root: Path = Path(".")) -> dict[str, float]:
    """Evaluate ``eval.tasks.<name>``; writes and returns its flat metrics."""
    if name not in params.eval.tasks:
        raise BridgeError(f"no task {name!r} in eval.tasks; defined: {', '.join(sorted(params.eval.tasks)) or 'none'}")
    task = params.eval.tasks[name]
    query, q = side_vectors(root, task, task.query, where=f"eval.tasks.{name}.query")
    result, plot = _score(params, root, name, task, query, q)
    result = {k: float(v) for k, v in result.items() if np.isscalar(v)}
    _write(root, name, task.kind, result, plot)
    return result


def _meet(q: np.ndarray, g: np.ndarray, name: str, task: TaskSpec) -> None:
    """The two sides must end in one space, or scoring them is meaningless (or a broadcast error)."""
    if q.shape[1] != g.shape[1]:
        gallery = task.gallery.set if task.gallery else ""
        raise BridgeError(f"eval.tasks.{name}: query {task.query.set} gives {q.shape[1]}-d vectors and gallery {gallery} "
                          f"{g.shape[1]}-d: the sides are not in one space (give them a bridge that maps both)")


def _score(params: Params, root: Path, name: str, task: TaskSpec, query: Vectors, q: np.ndarray
           ) -> tuple[dict[str, float], list[dict[str, object]]]:
    plot: list[dict[str, object]] = []
    if task.kind == "zeroshot":
        prompts, p = side_vectors(root, task, task.gallery, PROMPT_SPLIT, f"eval.tasks.{name}.gallery")
        _meet(q, p, name, task)
        names, class_vecs = metrics.class_vectors(p, prompts.labels)
        result = metrics.zeroshot_classification(q, query.labels, class_vecs, names)
        per_class = result.pop("per_class", {})
        plot = [{"class": c, "accuracy": a} for c, a in per_class.items()]
    elif task.kind == "retrieval":
        gallery, g = side_vectors(root, task, task.gallery, where=f"eval.tasks.{name}.gallery")
        _meet(q, g, name, task)
        ks = tuple(params.eval.ks)
        forward = metrics.retrieval(q, query.groups, g, gallery.groups, ks=ks, index=params.eval.index)
        backward = metrics.retrieval(g, gallery.groups, q, query.groups, ks=ks, index=params.eval.index)
        result = {**{f"q2g/{k}": v for k, v in forward.items()}, **{f"g2q/{k}": v for k, v in backward.items()}}
        plot = [{"k": k, "recall_q2g": forward[f"recall@{k}"], "recall_g2q": backward[f"recall@{k}"]} for k in ks]
    else:
        result = _gap(root, task, query, q)
        plot = [{"statistic": k, "value": v} for k, v in result.items()]
    return result, plot


def _gap(root: Path, task: TaskSpec, query: Vectors, q: np.ndarray) -> dict[str, float]:
    """Gap statistics of paired rows, raw and (if bridges are given) bridged."""
    if task.gallery is None:
        raise BridgeError("a gap task needs a gallery side (the paired modality)")
    raw_gallery, g = side_vectors(root, task, task.gallery)
    iq, ig = pair_by_group(query, raw_gallery)
    if len(iq) == 0:
        raise BridgeError(f"gap task: no rows of {task.query.set} and {task.gallery.set} share a group")
    out = {f"raw/{k}": v for k, v in gap.gap_statistics(raw_gallery.vectors[ig], query.vectors[iq]).items()}
    if task.query.bridge or task.gallery.bridge:
        out.update({f"bridged/{k}": v for k, v in gap.gap_statistics(g[ig], q[iq]).items()})
    return out


def _write(root: Path, name: str, kind: str, result: dict[str, float], plot: list[dict[str, object]]) -> None:
    """Metrics JSON and plot CSV (one folder per task kind, so dvc.yaml's plots give each kind its axes)."""
    layout = Layout(root)
    bad = sorted(k for k, v in result.items() if not np.isfinite(v))
    if bad:  # never publish a number computed from non-finite scores
        raise BridgeError(f"task {name}: metrics {bad} are not finite; nothing was written")
    for path in (layout.metrics(name), layout.plot(kind, name)):
        path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(layout.metrics(name), result)
    atomic_write(layout.plot(kind, name), lambda tmp: _write_csv(tmp, plot))


def _write_csv(path: Path, rows: list[dict[str, object]]) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["empty"])
        writer.writeheader()
        writer.writerows(rows)
