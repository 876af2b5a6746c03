"""The fit step (`bridge fit`): fit one bridge on cached training vectors and save it.

A fit never leaves a half-written bridge: ``Bridge.save`` writes a temp
directory beside the bridge and publishes it with ``replace_dir`` (the
previous bridge is kept until the new one is in place; ``recover_dir`` puts
things right after a kill). Torch bridges checkpoint at the end of an epoch,
at most once per ``CHECKPOINT_SECONDS`` (the ``BRIDGE_CHECKPOINT_SECONDS``
environment variable overrides it; 0 is every epoch), into
``.bridge/checkpoints/<bridge>/`` (outside DVC outputs, like partial
extraction work), so a fit killed mid-training resumes from its last
checkpointed epoch to the same weights; the checkpoints are deleted once the bridge is saved. One lock per
bridge keeps two fits of it from sharing checkpoints.

A fit whose loss or weights are not finite stops with one line naming the
bridge and writes nothing: a diverged bridge would otherwise score perfectly
(NaN scores tie at rank 1). Wall-clock timings go to ``.bridge/logs/fit/``,
never into ``bridge.json``, so two fits with the same params give the same
bytes and DVC reruns nothing downstream.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np

from embridge.bridges.base import Bridge, MethodParams, method_class
from embridge.core.config import Params
from embridge.core.errors import BridgeError
from embridge.core.files import atomic_write_json, recover_dir, write_dir
from embridge.core.layout import Layout
from embridge.core.lock import hold
from embridge.core.validation import validate
from embridge.core.vectors import Space, Vectors
from embridge.store.loading import load_vectors

#: a kill loses at most this much training; a checkpoint waits for fsync, so one every epoch of a fit of
#: many short epochs would spend much of its time on the disk
CHECKPOINT_SECONDS = 1.0
TRAIN_SPLITS = ("train",)


def validate_method_params(params: Params, bridge: str) -> MethodParams:
    """``fit.bridges.<bridge>.params`` validated by its method's ``Params`` model (imports the method:
    that is why reading params.yaml does not do this, and the fit stage does, before any work)."""
    spec = params.fit.bridges[bridge]
    cls = method_class(spec.method)
    return validate(cls.Params, spec.params, ("fit", "bridges", bridge, "params"), params.path)


def fit_rows(params: Params, name: str, role: str, root: Path = Path(".")) -> Vectors:
    """The rows role ``role`` of bridge ``name`` fits on: its set's train split, or its subset's."""
    spec = params.fit.bridges[name]
    subset = spec.subsets.get(role)
    path = Layout(root).embeddings(params.extract.sets[spec.inputs[role]].path)
    rows = load_vectors(path, tuple(subset.split) if subset and subset.split else TRAIN_SPLITS)
    if subset is None:
        return rows
    kept = rows.take(np.flatnonzero(subset.keep(rows.groups, rows.labels)))
    if not len(kept):
        raise BridgeError(f"{params.path}: fit.bridges.{name}.subsets.{role}: keeps none of the {len(rows)} rows of "
                          f"{spec.inputs[role]}")
    return kept


def fit_bridge(params: Params, name: str, root: Path = Path(".")) -> Path:
    """Fit ``fit.bridges.<name>`` on the train split of its input sets; returns the bridge dir."""
    if name not in params.fit.bridges:
        raise BridgeError(f"no bridge {name!r} in fit.bridges; defined: "
                          f"{', '.join(sorted(params.fit.bridges)) or 'none'}")
    spec = params.fit.bridges[name]
    layout = Layout(root)
    out = layout.bridge(name)
    with hold(layout.lock("bridges", name), f"bridge {name}"):
        recover_dir(out)
        method_params = validate_method_params(params, name)
        if spec.seeds and "seed" not in type(method_params).model_fields:
            raise BridgeError(f"{params.path}: fit.bridges.{name}.seeds: method {spec.method!r} has no seed "
                              "parameter (its fit is deterministic); drop seeds")
        inputs = {role: fit_rows(params, name, role, root) for role in spec.inputs}
        fitted = {role: {"set": spec.inputs[role], "path": params.extract.sets[spec.inputs[role]].path,
                         "rows": len(rows), **({"subset": spec.subsets[role].model_dump(exclude_defaults=True)}
                                               if role in spec.subsets else {})}
                  for role, rows in inputs.items()}
        if not spec.seeds:
            bridge = _fit_one(spec.method, method_params, inputs, layout.checkpoints(name), name)
            bridge.info["fitted"] = fitted
            bridge.save(out)
            timings = bridge.info.get("training")
        else:  # every seed's bridge in one staging directory, published together: never a partial set
            def fit_seeds(staging: Path) -> dict:
                timings = {}
                for seed in spec.seeds:
                    seeded = method_params.model_copy(update={"seed": seed})
                    bridge = _fit_one(spec.method, seeded, inputs, layout.checkpoints(name) / f"seed-{seed}", name)
                    bridge.info["fitted"] = fitted
                    bridge.save(staging / f"seed-{seed}")
                    timings[f"seed-{seed}"] = bridge.info.get("training")
                return timings

            timings = write_dir(out, fit_seeds)
        if timings and any(timings.values()):  # wall-clock goes to a log, never into the card
            log = layout.logs("fit", name)
            log.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_json(log, {"bridge": name, "training": timings})
        shutil.rmtree(layout.checkpoints(name), ignore_errors=True)
    return out


def _fit_one(method: str, method_params: MethodParams, inputs: dict, checkpoints: Path, name: str) -> Bridge:
    """One fit of ``method`` (checkpointing torch training into ``checkpoints``), checked finite."""
    spaces = {role: Space(v.space.encoder, v.space.tower, v.space.dim) for role, v in inputs.items()}
    try:
        bridge = method_class(method)(method_params, spaces)
        hooks = getattr(bridge, "hooks", None)  # torch bridges: pipeline/bridges/training.py's TrainHooks
        if hooks is not None:
            hooks.checkpoint_dir = checkpoints
            hooks.min_seconds = float(os.environ.get("BRIDGE_CHECKPOINT_SECONDS", CHECKPOINT_SECONDS))
        bridge.fit(inputs)  # checks the weights are finite
    except BridgeError as e:
        raise BridgeError(f"fit.bridges.{name}: {e}") from None
    return bridge
