"""Paired linear map (least squares, or ridge with ``alpha > 0``) source -> target.

Fitted on every (source, target) pair that shares a group, with both sides
centred so the bias is the centroid difference. The target space is the
target tower's own space, so target vectors pass through unchanged.
"""

from __future__ import annotations

import numpy as np

from pipeline.bridges.base import Bridge, MethodParams
from pipeline.bridges.offset import normalize
from pipeline.core.errors import BridgeError
from pipeline.core.vectors import Vectors, pair_by_group


class LinearParams(MethodParams):
    alpha: float = 0.0
    renormalize: bool = True


class LinearBridge(Bridge):
    method = "linear"
    Params = LinearParams
    roles = ("source", "target")
    paired = (("source", "target"),)

    def fit(self, inputs: dict[str, Vectors]) -> None:
        src, tgt = inputs["source"], inputs["target"]
        ia, ib = pair_by_group(src, tgt)
        if len(ia) == 0:
            raise BridgeError(f"linear bridge: no (source, target) pairs share a group between "
                              f"{src.space.key} and {tgt.space.key}")
        x = src.vectors[ia].astype(np.float64)
        y = tgt.vectors[ib].astype(np.float64)
        self.x_mean, self.y_mean = x.mean(0), y.mean(0)
        xc, yc = x - self.x_mean, y - self.y_mean
        gram = xc.T @ xc + self.params.alpha * np.eye(x.shape[1])
        self.weight = np.linalg.lstsq(gram, xc.T @ yc, rcond=None)[0]
        residual = yc - xc @ self.weight
        self.info.update(target=self.spaces["target"].key, pairs=len(ia),
                         train_r2=float(1 - (residual ** 2).sum() / max((yc ** 2).sum(), 1e-12)))

    def _transform(self, role: str, vectors: np.ndarray) -> np.ndarray:
        if role == "target":
            return vectors
        out = (vectors - self.x_mean) @ self.weight + self.y_mean
        return normalize(out) if self.params.renormalize else out

    def state(self) -> dict[str, np.ndarray]:
        return {"weight": self.weight, "x_mean": self.x_mean, "y_mean": self.y_mean}

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        self.weight, self.x_mean, self.y_mean = state["weight"], state["x_mean"], state["y_mean"]
