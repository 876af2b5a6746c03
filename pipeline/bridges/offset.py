"""Offset bridges: close the modality gap by moving centroids (no learning).

``center`` is TextME's centering: ``c(x) = n(x) - mu`` for each side, which
puts both modalities around the origin. ``shift`` is "Mind the Gap": move each
side by half the centroid gap towards the other. ``translate`` moves the
source onto the target's centroid and leaves the target alone. The paired
structure is never used: text and modal samples need not be pairs.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from embridge.bridges.base import Bridge, MethodParams
from embridge.core.vectors import Vectors, normalize


class OffsetParams(MethodParams):
    mode: Literal["center", "shift", "translate"] = "center"
    renormalize: bool = True
    max_samples: int = Field(5000, ge=1, le=100_000_000)
    seed: int = 42


def centroid(vectors: np.ndarray, max_samples: int, seed: int) -> np.ndarray:
    """Mean of normalised vectors over at most ``max_samples`` seeded random rows."""
    if len(vectors) > max_samples:
        vectors = vectors[np.random.default_rng(seed).choice(len(vectors), max_samples, replace=False)]
    return normalize(vectors.astype(np.float64)).mean(axis=0)


class OffsetBridge(Bridge):
    method = "offset"
    Params = OffsetParams
    roles = ("source", "target")
    same_dim = ("source", "target")  # it adds one space's centroid to the other's vectors

    def _fit(self, inputs: dict[str, Vectors]) -> None:
        p = self.params
        self.mu = {role: centroid(inputs[role].vectors, p.max_samples, p.seed) for role in self.roles}
        self.info.update(target=f"{self.spaces['target'].key}:{p.mode}",
                         gap_length=float(np.linalg.norm(self.mu["source"] - self.mu["target"])),
                         samples={r: min(len(inputs[r]), p.max_samples) for r in self.roles})

    def _shift(self, role: str) -> np.ndarray:
        mode, mu = self.params.mode, self.mu
        other = "target" if role == "source" else "source"
        if mode == "center":
            return -mu[role]
        if mode == "shift":
            return 0.5 * (mu[other] - mu[role])
        return mu["target"] - mu["source"] if role == "source" else np.zeros_like(mu[role])

    def _transform(self, role: str, vectors: np.ndarray) -> np.ndarray:
        out = normalize(vectors) + self._shift(role).astype(np.float32)
        return normalize(out) if self.params.renormalize else out

    def state(self) -> dict[str, np.ndarray]:
        return {f"mu_{r}": v for r, v in self.mu.items()}

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        self.mu = {r: state[f"mu_{r}"] for r in self.roles}
