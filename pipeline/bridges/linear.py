"""Paired linear map (least squares, or ridge with ``alpha > 0``) source -> target.

Fitted on every (source, target) pair: the same row when the two sets share ids (one text through
two text encoders, as when migrating an index between embedders), else every two rows that share a
group; both sides centred so the bias is the centroid difference, from the pairs' moments
(``paired_moments``: memory of one block of pairs, not of all of them). The target space is the
target tower's own space, so target vectors pass through unchanged.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from embridge.bridges.base import Bridge, MethodParams
from embridge.bridges.common import paired_moments
from embridge.bridges.offset import normalize
from embridge.core.errors import BridgeError
from embridge.core.vectors import Vectors, pair_same_rows


class LinearParams(MethodParams):
    alpha: float = Field(0.0, ge=0)  # ridge; a negative one is not a penalty
    renormalize: bool = True


class LinearBridge(Bridge):
    method = "linear"
    Params = LinearParams
    roles = ("source", "target")
    paired = (("source", "target"),)

    def _fit(self, inputs: dict[str, Vectors]) -> None:
        src, tgt = inputs["source"], inputs["target"]
        ia, ib = pair_same_rows(src, tgt)
        if len(ia) == 0:
            raise BridgeError(f"linear bridge: no (source, target) pairs (same id or group) between "
                              f"{src.space.key} and {tgt.space.key}")
        m = paired_moments(src.vectors, ia, tgt.vectors, ib)
        self.x_mean, self.y_mean = m.mean_x, m.mean_y
        gram = m.xx + self.params.alpha * np.eye(len(m.xx))
        self.weight = np.linalg.lstsq(gram, m.xy, rcond=None)[0]
        self.info.update(target=self.spaces["target"].key, pairs=len(ia),
                         train_r2=float(1 - m.residual(self.weight) / max(np.trace(m.yy), 1e-12)))

    def _transform(self, role: str, vectors: np.ndarray) -> np.ndarray:
        if role == "target":
            return vectors
        out = (vectors - self.x_mean) @ self.weight + self.y_mean
        return normalize(out) if self.params.renormalize else out

    def state(self) -> dict[str, np.ndarray]:
        return {"weight": self.weight, "x_mean": self.x_mean, "y_mean": self.y_mean}

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        self.weight, self.x_mean, self.y_mean = state["weight"], state["x_mean"], state["y_mean"]
