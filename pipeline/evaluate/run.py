"""Stage 3: run one evaluation task and write its metrics and plot data.

A task reads test rows of one or two embedding sets, maps each side into a
shared space through its bridge (or leaves it in its encoder's space), and
scores it with its kind's runner (``core/catalog.py`` lists the kinds,
``tasks.py`` declares them beside their runners).

Outputs: ``artifacts/metrics/<task>.json`` (flat numbers for ``dvc metrics``; the protocol card
records its sha256 as ``metrics_sha256``, and the task's ``definition`` from params.yaml),
``artifacts/plots/<kind>/<task>.csv`` (for ``dvc plots``) and, for kinds that
draw one, ``artifacts/projections/<task>.csv`` (the report's 2-D picture), so
the report reads only what eval wrote.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np

from embridge.core.config import Params, TaskSide
from embridge.core.errors import BridgeError
from embridge.core.files import atomic_write, atomic_write_json, sha256_file
from embridge.core.layout import Layout
from embridge.core.vectors import Vectors, collapsed, require_scoreable
from embridge.evaluate.protocol import protocol_card
from embridge.evaluate.tasks import Outcome, TaskContext, task_kind
from embridge.store.embedding_set import bridge_version
from embridge.store.loading import load_vectors


def side_vectors(root: Path, params: Params, side: TaskSide, split: str | None = None, where: str = "",
                 seed: int | None = None) -> tuple[Vectors, np.ndarray, Any]:
    """The side's rows of ``split``, their vectors mapped through its bridge (``where`` names the side in
    messages, e.g. ``eval.tasks.x.query``), and the bridge as loaded (None without one).

    Nothing degenerate is scored: zero or non-finite rows, before or after the
    bridge, are refused naming them, as is a bridge that is stale (its sets
    changed since the fit) or whose outputs collapse distinct rows together.
    """
    layout = Layout(root)
    rows = load_vectors(layout.embeddings(params.extract.sets[side.set].path), (split or side.split,))
    if side.subset is not None:
        kept = rows.take(np.flatnonzero(side.subset.keep(rows.groups, rows.labels)))
        if not len(kept):
            raise BridgeError(f"{where or side.set}.subset: keeps none of the {len(rows)} {split or side.split} rows "
                              f"of {side.set}")
        rows = kept
    label = f"{where or side.set} ({side.set}, {split or side.split} rows)"
    require_scoreable(rows.vectors, label, rows.ids)
    if side.bridge is None:
        return rows, rows.vectors, None
    from embridge.bridges.base import Bridge  # only tasks with a bridge import the bridges

    bridge = Bridge.load(layout.bridge(side.bridge, seed), frozen=True, fresh_in=root)
    try:
        bridge.role_of(rows.space.encoder, rows.space.tower)
    except BridgeError as e:
        raise BridgeError(f"{where}.bridge: {e}" if where else str(e)) from None
    mapped = bridge.transform(rows.vectors, space=rows.space.key)
    require_scoreable(mapped, f"{label} through bridge {side.bridge!r}", rows.ids)
    why = collapsed(rows.vectors, mapped)
    if why is not None:
        raise BridgeError(f"{where or side.set}: bridge {side.bridge!r} collapses its inputs ({why}); its scores "
                          "would come from ties, refusing them")
    return rows, mapped, bridge


def run_task(params: Params, name: str, root: Path = Path(".")) -> dict[str, float]:
    """Evaluate ``eval.tasks.<name>`` with its kind's runner; writes and returns its flat metrics."""
    if name not in params.eval.tasks:
        raise BridgeError(f"no task {name!r} in eval.tasks; defined: {', '.join(sorted(params.eval.tasks)) or 'none'}")
    task = params.eval.tasks[name]
    kind = task_kind(task.kind)
    seeds = task_seeds(params, name)
    outcomes, seen = [], []
    bridges_seen: dict[tuple, set[str]] = {}  # (bridge, seed) -> content hashes loaded: one, or refuse
    for index in range(max(len(s) for s in seeds.values()) if seeds else 1):
        chosen = {bridge: s[index] for bridge, s in seeds.items()}
        seen = []

        def load_side(side: TaskSide, split: str | None, where: str, chosen: dict = chosen, seen: list = seen
                      ) -> tuple[Vectors, np.ndarray]:  # this seed's choice and list, bound now
            rows, vectors, bridge = side_vectors(root, params, side, split, where, chosen.get(side.bridge or ""))
            label = where.removeprefix(f"eval.tasks.{name}.")
            if any(label == s[0] for s in seen):  # the same side at another split (probe, transfer: train rows)
                label = f"{label}/{split or side.split}"
            seen.append((label, side, rows, split or side.split, bridge))
            bridges_seen.setdefault((side.bridge, chosen.get(side.bridge or "")), set()).add(
                bridge.content_sha256 if bridge is not None else "")
            return rows, vectors

        query, q = load_side(task.query, None, f"eval.tasks.{name}.query")
        try:
            outcomes.append(kind.run(TaskContext(params, name, task, query, q, load_side, root)))
        except ValueError as e:  # the metrics' own checks of the data (no positive, unknown label, ...)
            raise BridgeError(f"eval.tasks.{name}: {e}") from None
        outcomes[-1].metrics = {k: float(v) for k, v in outcomes[-1].metrics.items() if np.isscalar(v)}
    replaced = [b for (b, _), hashes in bridges_seen.items() if len(hashes) > 1]
    if replaced:  # a fit replaced it between two loads of this run: the numbers mix two bridges
        raise BridgeError(f"eval.tasks.{name}: bridge {replaced[0]!r} was replaced while the task ran; "
                          "nothing was written, run it again")
    outcome = over_seeds(outcomes, kind.headline_of(task.options)) if seeds else outcomes[0]
    outcome.protocol = protocol_card(params, Layout(root), name, seen, bridge_version())
    # the task as params.yaml defined it for this run: a later edit of it makes these numbers another task's
    outcome.protocol["definition"] = task.model_dump(mode="json", exclude_defaults=True)
    if seeds:
        outcome.protocol["bridges_content_sha256"] = {f"{b}/seed-{s}": min(h)
                                                      for (b, s), h in bridges_seen.items() if b}
    if seeds:
        outcome.protocol["seeds"] = {"bridges": seeds, "aggregate": "mean over seeds; <metric>/std is the "
                                     "standard deviation (ddof 1); <headline>/seed-<i> each seed's headline"}
    _write(root, name, task.kind, outcome)
    return outcome.metrics


def task_seeds(params: Params, name: str) -> dict[str, list[int]]:
    """The seeds of the task's seeded bridges (``fit.bridges.<b>.seeds``); they must agree in number, since
    run i uses seed i of every one of them."""
    bridges = dict.fromkeys(s.bridge for _, s in params.eval.tasks[name].all_sides() if s.bridge)
    seeds = {b: list(params.fit.bridges[b].seeds) for b in bridges if params.fit.bridges[b].seeds}
    if len({len(s) for s in seeds.values()}) > 1:
        shown = ", ".join(f"{b} has {len(s)}" for b, s in seeds.items())
        raise BridgeError(f"eval.tasks.{name}: its bridges have different numbers of seeds ({shown}); run i uses "
                          "seed i of each, so give them equally many")
    return seeds


def over_seeds(outcomes: list[Outcome], headline_metric: str) -> Outcome:
    """Mean of every metric over the seeds' runs, its standard deviation (``/std``, ddof 1, from two seeds) and each seed's
    headline (``<headline>/seed-<i>``); plot rows averaged where their columns are numbers."""
    keys = list(outcomes[0].metrics)
    values = np.array([[o.metrics[k] for k in keys] for o in outcomes])
    metrics = dict(zip(keys, values.mean(0).tolist(), strict=True))
    if len(outcomes) > 1:  # one seed has no spread to report
        metrics |= {f"{k}/std": float(v) for k, v in zip(keys, values.std(0, ddof=1), strict=True)}
    metrics["seeds"] = float(len(outcomes))
    if headline_metric in outcomes[0].metrics:
        metrics |= {f"{headline_metric}/seed-{i}": o.metrics[headline_metric] for i, o in enumerate(outcomes)}
    plot = []
    for rows in zip(*(o.plot for o in outcomes), strict=True):
        plot.append({k: (float(np.mean([r[k] for r in rows])) if isinstance(v, int | float) and not isinstance(v, bool)
                         else v) for k, v in rows[0].items()})
    return Outcome(metrics, plot, outcomes[0].projection)


def _write(root: Path, name: str, kind: str, outcome: Outcome) -> None:
    """Metrics JSON, plot CSV (one folder per task kind, so dvc.yaml's plots give each kind its axes) and,
    for kinds that draw one, the projection CSV the report plots."""
    layout = Layout(root)
    bad = sorted(k for k, v in outcome.metrics.items() if not np.isfinite(v))
    if bad:  # never publish a number computed from non-finite scores
        raise BridgeError(f"eval.tasks.{name}: metrics {bad} are not finite; nothing was written")
    files = {layout.plot(kind, name): outcome.plot}
    if task_kind(kind).projection:
        files[layout.projection(name)] = outcome.projection
    for path in (layout.metrics(name), *files):
        path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(layout.metrics(name), outcome.metrics)
    # binds the card to these numbers: a metrics file edited (or rewritten by another run) no longer matches
    outcome.protocol["metrics_sha256"] = sha256_file(layout.metrics(name))
    layout.protocol(name).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(layout.protocol(name), outcome.protocol)
    for path, rows in files.items():
        atomic_write(path, lambda tmp, rows=rows: _write_csv(tmp, rows))


def _write_csv(path: Path, rows: list[dict[str, object]]) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["empty"])
        writer.writeheader()
        writer.writerows(rows)
