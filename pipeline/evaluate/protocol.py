"""The protocol card of a result: what produced each number, written beside its metrics.

``artifacts/protocols/<task>.json`` says which rows were scored (set, bridge,
split, row count, the stored dtype and the encoder that made them), the
class labels and prompt templates (with their sha256), what counts as a
positive and as a hit, the tie rule (the words its kind declares:
``TaskKind.protocol`` in ``tasks.py``), the index, the seeds of the bridges
involved, and the code version. ``bridge report`` prints it under the results;
``dvc metrics show`` keeps only the numbers. Everything in it is
deterministic for given inputs (no clock, host or path), so it is a DVC output
like the metrics.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from typing import Any

import numpy as np

from embridge.core.cards import set_fingerprint
from embridge.core.config import Params, TaskSide
from embridge.core.errors import BridgeError
from embridge.core.layout import Layout
from embridge.core.vectors import Vectors
from embridge.evaluate.tasks import task_kind


def _sha(values: Any) -> str:
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()


def side_card(params: Params, layout: Layout, side: TaskSide, rows: Vectors, split: str, bridge: Any = None
              ) -> dict[str, Any]:
    """One side as it was scored: the set's content fingerprint and the bridge's content hash, seed and
    subsets from the objects that were loaded, never re-read from params.yaml or the disk afterwards."""
    ref = params.extract.sets[side.set]
    manifest = json.loads((layout.embeddings(ref.path) / "manifest.json").read_text())
    if set_fingerprint(manifest) != rows.fingerprint:
        raise BridgeError(f"{layout.embeddings(ref.path)}: the set was replaced while the task ran; nothing was "
                          "written, run it again")
    encoder = manifest.get("encoder", {})
    card: dict[str, Any] = {"set": side.set, "split": split, "rows": len(rows), "fingerprint": rows.fingerprint,
                            "dtype": manifest.get("dtype"),
                            "encoder": {k: encoder.get(k) for k in ("name", "model", "tower", "dim") if k in encoder}}
    if side.subset is not None:
        card["subset"] = side.subset.model_dump(exclude_defaults=True) or {"fraction": 1.0}
    if bridge is not None:
        seeds = params.fit.bridges[side.bridge].seeds if side.bridge in params.fit.bridges else []
        fitted = bridge.info.get("fitted") or {}
        card["bridge"] = {"name": side.bridge, "method": bridge.method,
                          "seed": list(seeds) or (getattr(bridge, "card_params", None)
                                                  or bridge.params.model_dump()).get("seed"),
                          "content_sha256": bridge.content_sha256,
                          "fitted_on": {role: {"set": f.get("set"), "fingerprint": bridge.fitted_on.get(role),
                                               "rows": f.get("rows"), **({"subset": f["subset"]} if "subset" in f
                                                                         else {})}
                                        for role, f in sorted(fitted.items())}}
    return card


def protocol_card(params: Params, layout: Layout, name: str, sides: list[tuple[str, TaskSide, Vectors, str, Any]],
                  code: str) -> dict[str, Any]:
    """Task ``name``'s card: its kind's words for what was scored, each side as it was scored (``sides``:
    label, side, rows, split, bridge, as the task loaded them), its labels, prompts, index and ``code``."""
    task = params.eval.tasks[name]
    words = task_kind(task.kind).protocol_of(task.options, f"eval.tasks.{name}.options")
    card: dict[str, Any] = {"task": name, "kind": task.kind, "options": dict(task.options), **asdict(words),
                            "sides": {label: side_card(params, layout, side, rows, split, bridge)
                                      for label, side, rows, split, bridge in sides}}
    labels = sorted({c for _, _, rows, split, _ in sides if split != "prompt" for label in np.unique(rows.labels)
                     for c in str(label).split("|") if c})
    card["labels"] = {"count": len(labels), "sha256": _sha(labels), "first": labels[:20]}
    prompts = next((rows for _, _, rows, split, _ in sides if split == "prompt"), None)
    if prompts is not None:
        dataset = params.datasets[params.extract.sets[task.gallery.set].dataset]
        templates = list(dataset.class_prompts) or ["(the synthetic world's prompt rows)"]
        card["prompts"] = {"templates": templates, "templates_sha256": _sha(templates), "rows": len(prompts),
                           "rows_sha256": _sha(sorted(prompts.ids.tolist()))}
    card["index"] = {"kind": params.eval.index, "ks": list(params.eval.ks)}
    if params.eval.index != "exact":
        card["index"]["note"] = ("approximate: index_recall@10 in the metrics is its k-recall@10 against exact search "
                                 "(at most 1000 seeded queries); cross_modal_index = 1 when it was built on another "
                                 "modality's vectors than the queries'")
    card["code"] = code
    return card
