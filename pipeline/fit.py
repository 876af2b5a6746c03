"""Stage 2: fit one bridge on cached training vectors and save it.

A fit never leaves a half-written bridge: ``Bridge.save`` writes a temp
directory and renames it into place, a kill mid-save leaves only that temp
directory (or the previous bridge renamed aside), and the next fit of the
bridge deletes those leftovers before anything else. Torch bridges
checkpoint every epoch into ``.bridge/checkpoints/<bridge>/`` (outside DVC
outputs, like partial extraction work), so a fit killed mid-training resumes
from its last finished epoch; the checkpoints are deleted once the bridge is
saved. One lock per bridge keeps two fits of it from sharing checkpoints.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from pipeline.bridges.base import Space, method_class
from pipeline.config import Params
from pipeline.errors import BridgeError
from pipeline.extract import EMBEDDINGS
from pipeline.lock import LOCKS, hold
from pipeline.store.vectors import load_vectors

BRIDGES = Path("artifacts/bridges")
CHECKPOINTS = Path(".bridge/checkpoints")
TRAIN_SPLITS = ("train",)


def fit_bridge(params: Params, name: str, root: Path = Path(".")) -> Path:
    """Fit ``fit.bridges.<name>`` on the train split of its input sets; returns the bridge dir."""
    if name not in params.fit.bridges:
        raise BridgeError(f"no bridge {name!r} in fit.bridges; defined: "
                          f"{', '.join(sorted(params.fit.bridges)) or 'none'}")
    spec = params.fit.bridges[name]
    out = root / BRIDGES / name
    with hold(root / LOCKS / "bridges" / f"{name}.lock", f"bridge {name}"):
        remove_unfinished_saves(out)
        cls = method_class(spec.method)
        inputs = {role: load_vectors(root / EMBEDDINGS / spec.dataset / space, TRAIN_SPLITS)
                  for role, space in spec.inputs.items()}
        spaces = {role: Space(v.space.encoder, v.space.tower, v.space.dim) for role, v in inputs.items()}
        bridge = cls(cls.Params.model_validate(spec.params), spaces)
        checkpoints = root / CHECKPOINTS / name
        hooks = getattr(bridge, "hooks", None)  # torch bridges: pipeline/bridges/training.py's TrainHooks
        if hooks is not None:
            hooks.checkpoint_dir = checkpoints
        bridge.fit_inputs(inputs)
        bridge.save(out)
        shutil.rmtree(checkpoints, ignore_errors=True)
    return out


def remove_unfinished_saves(out: Path) -> None:
    """Delete what a save killed mid-way left beside ``out``: ``Bridge.save``'s ``.<name>.XXXXXXXX``
    temp directory and the ``.<name>.old`` previous bridge it renames aside.

    They must not linger: the eval stage depends on all of ``artifacts/bridges``.
    The pattern is ``tempfile.mkdtemp``'s (8 characters of ``[a-z0-9_]``), so
    another bridge whose name extends this one (``clip`` vs ``clip.v2``) is
    never matched.
    """
    pattern = re.compile(rf"\.{re.escape(out.name)}\.([a-z0-9_]{{8}}|old)")
    if out.parent.is_dir():
        for entry in out.parent.iterdir():
            if pattern.fullmatch(entry.name):
                shutil.rmtree(entry, ignore_errors=True)
