"""`artifacts/report/index.md`: the method-by-task table and the figures a person reads.

Built from what the eval stage wrote (metrics JSON, plot CSVs) plus, for the
2-D picture of the gap closing, the test vectors of each gap task before and
after its bridges. Preservation ratios follow METHODS.md: method / reference
x 100, the reference being the task named in ``eval.tasks.<task>.reference``.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from pipeline.config import Params, TaskSpec
from pipeline.core.layout import Layout
from pipeline.errors import BridgeError
from pipeline.evaluate.run import side_vectors

#: the number a task is judged by, per kind
HEADLINE = {"zeroshot": "top1", "retrieval": "q2g/recall@1", "gap": "raw/gap_length"}
GAP_STATS = ("gap_length", "centroid_proximity_text", "centroid_proximity_modal", "gap_direction_consistency",
             "instance_gap_consistency", "alignment_noise_mean", "gap_orthogonality")
PROJECTED_POINTS = 600


@dataclass
class Row:
    task: str
    spec: TaskSpec
    metrics: dict[str, float]

    @property
    def method(self) -> str:
        return self.spec.query.bridge or "none (encoder space)"

    @property
    def score(self) -> float:
        return self.metrics[HEADLINE[self.spec.kind]]


def summary_rows(params: Params, root: Path = Path(".")) -> list[Row]:
    rows = []
    for name, spec in params.eval.tasks.items():
        path = Layout(root).metrics(name)
        try:
            rows.append(Row(name, spec, json.loads(path.read_text())))
        except FileNotFoundError:
            raise BridgeError(f"{path}: missing (run `bridge eval {name}` first)") from None
    return rows


def preservation(row: Row, by_task: dict[str, Row]) -> float | None:
    """Row's headline metric as a percentage of its reference task's, or None."""
    ref = row.spec.reference
    if ref is None or by_task[ref].score == 0:
        return None
    return 100.0 * row.score / by_task[ref].score


def build_report(params: Params, root: Path = Path(".")) -> Path:
    """Write ``artifacts/report/index.md`` and its PNGs; returns the index path."""
    out = Layout(root).report()
    out.mkdir(parents=True, exist_ok=True)
    rows = summary_rows(params, root)
    by_task = {r.task: r for r in rows}
    lines = ["# bridge report", "", "## Method by task", "",
             "| task | kind | dataset | query -> gallery | bridge | metric | value | preservation |",
             "| --- | --- | --- | --- | --- | --- | ---: | ---: |"]
    for r in rows:
        kept = preservation(r, by_task)
        gallery = r.spec.gallery.set if r.spec.gallery else ""
        lines.append(f"| {r.task} | {r.spec.kind} | {r.spec.dataset} | {r.spec.query.set} -> {gallery} | "
                     f"{r.method} | {HEADLINE[r.spec.kind]} | {r.score:.4f} | "
                     f"{f'{kept:.1f}% of {r.spec.reference}' if kept is not None else ''} |")
    protocol = ("Metrics: zero-shot top-1 over class vectors from prompt templates (normalise, average, "
                "re-normalise); retrieval recall@1 query -> gallery with every same-group row a positive; "
                "exact FAISS inner-product search on L2-normalised vectors.")
    lines += ["", protocol, ""]
    lines += _recall_figure(params, root, out) + _per_class_figure(params, root, out) + _gap_section(params, root,
                                                                                                       rows, out)
    index = out / "index.md"
    index.write_text("\n".join(lines) + "\n")
    return index


def _read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _recall_figure(params: Params, root: Path, out: Path) -> list[str]:
    tasks = [n for n, t in params.eval.tasks.items() if t.kind == "retrieval"]
    if not tasks:
        return []
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for name in tasks:
        data = _read_csv(Layout(root).plot("retrieval", name))
        ks = [int(d["k"]) for d in data]
        ax.plot(ks, [float(d["recall_q2g"]) for d in data], marker="o", label=f"{name} (query->gallery)")
        ax.plot(ks, [float(d["recall_g2q"]) for d in data], marker="x", linestyle="--",
                label=f"{name} (gallery->query)")
    ax.set(xlabel="k", ylabel="recall@k", title="Retrieval recall@k", ylim=(0, 1.02))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    _save(fig, out / "recall_at_k.png")
    return ["## Retrieval", "", "![recall@k](recall_at_k.png)", ""]


def _per_class_figure(params: Params, root: Path, out: Path) -> list[str]:
    tasks = [n for n, t in params.eval.tasks.items() if t.kind == "zeroshot"]
    if not tasks:
        return []
    fig, axes = plt.subplots(len(tasks), 1, figsize=(8, 1.9 * len(tasks)), squeeze=False)
    for ax, name in zip(axes[:, 0], tasks):
        data = _read_csv(Layout(root).plot("zeroshot", name))
        ax.bar(range(len(data)), [float(d["accuracy"]) for d in data], color="tab:blue")
        ax.set_xticks(range(len(data)), [d["class"] for d in data], rotation=60, fontsize=6)
        ax.set(ylim=(0, 1), ylabel="accuracy")
        ax.set_title(name, fontsize=9)
    _save(fig, out / "per_class_accuracy.png")
    return ["## Zero-shot classification per class", "", "![per-class accuracy](per_class_accuracy.png)", ""]


def _gap_section(params: Params, root: Path, rows: list[Row], out: Path) -> list[str]:
    gaps = [r for r in rows if r.spec.kind == "gap"]
    if not gaps:
        return []
    lines = ["## Modality gap", "", "| task | statistic | raw | bridged |", "| --- | --- | ---: | ---: |"]
    for r in gaps:
        for stat in GAP_STATS:
            raw, bridged = r.metrics.get(f"raw/{stat}"), r.metrics.get(f"bridged/{stat}")
            lines.append(f"| {r.task} | {stat} | {raw:.4f} | {'' if bridged is None else f'{bridged:.4f}'} |")
        figure = f"gap_{r.task}.png"
        _projection_figure(root, r.spec, out / figure, r.task)
        lines += ["", f"![{r.task}: the two modalities before and after bridging]({figure})", ""]
    return lines


def _projection_figure(root: Path, spec: TaskSpec, path: Path, title: str) -> None:
    """2-D PCA of both sides, raw and bridged, each panel with its own axes."""
    query, q = side_vectors(root, spec, spec.query)
    gallery, g = side_vectors(root, spec, spec.gallery)
    rng = np.random.default_rng(0)
    iq = rng.permutation(len(q))[:PROJECTED_POINTS]
    ig = rng.permutation(len(g))[:PROJECTED_POINTS]
    panels = [("before (encoder space)", query.vectors[iq], gallery.vectors[ig])]
    if spec.query.bridge or spec.gallery.bridge:
        panels.append(("after bridging", q[iq], g[ig]))
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4.2), squeeze=False)
    for ax, (label, a, b) in zip(axes[0], panels):
        both = np.concatenate([a, b]).astype(np.float64)
        centred = both - both.mean(0)
        _, _, vt = np.linalg.svd(centred, full_matrices=False)
        xy = centred @ vt[:2].T
        ax.scatter(*xy[: len(a)].T, s=5, alpha=0.5, label=spec.query.set)
        ax.scatter(*xy[len(a):].T, s=5, alpha=0.5, label=spec.gallery.set)
        gap = np.linalg.norm(a.mean(0) - b.mean(0))
        ax.set_title(f"{label}\ncentroid gap {gap:.3f}", fontsize=9)
        ax.set(xlabel="PC 1", ylabel="PC 2")
        ax.legend(fontsize=7, markerscale=3)
    fig.suptitle(title, fontsize=10)
    _save(fig, path)


def _save(fig: plt.Figure, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
