"""Stage 2: fit one bridge on cached training vectors and save it."""

from __future__ import annotations

from pathlib import Path

from pipeline.bridges.base import Space, method_class
from pipeline.config import Params
from pipeline.errors import BridgeError
from pipeline.extract import EMBEDDINGS
from pipeline.store.vectors import load_vectors

BRIDGES = Path("artifacts/bridges")
TRAIN_SPLITS = ("train",)


def fit_bridge(params: Params, name: str, root: Path = Path(".")) -> Path:
    """Fit ``fit.bridges.<name>`` on the train split of its input sets; returns the bridge dir."""
    if name not in params.fit.bridges:
        raise BridgeError(f"no bridge {name!r} in fit.bridges; defined: "
                          f"{', '.join(sorted(params.fit.bridges)) or 'none'}")
    spec = params.fit.bridges[name]
    cls = method_class(spec.method)
    inputs = {role: load_vectors(root / EMBEDDINGS / spec.dataset / space, TRAIN_SPLITS)
              for role, space in spec.inputs.items()}
    spaces = {role: Space(v.space.encoder, v.space.tower, v.space.dim) for role, v in inputs.items()}
    bridge = cls(cls.Params.model_validate(spec.params), spaces)
    bridge.fit_inputs(inputs)
    out = root / BRIDGES / name
    bridge.save(out)
    return out
