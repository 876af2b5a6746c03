"""A bridge method of your own: relative representations (Moschella et al., ICLR 2023).

Each vector is described by its cosine similarities to k anchors, and the anchors are *paired* rows (an
image and its caption), so the k-th coordinate means the same thing in both spaces: two encoders that
were never trained together meet in a shared k-dim space without fitting a map. ``bridge fit`` runs it
with ``method: python:my_methods:RelativeBridge`` in params.yaml (this file beside params.yaml).
"""

from __future__ import annotations

import numpy as np

from embridge import Bridge, BridgeError, MethodParams, Vectors
from embridge.core.vectors import normalize, pair_same_rows


class RelativeParams(MethodParams):
    anchors: int = 300  # k, the shared space's dim
    seed: int = 0  # which training pairs become anchors


class RelativeBridge(Bridge):
    """source and target -> cosine similarity to k paired anchors, L2-normalised."""

    Params = RelativeParams
    roles = ("source", "target")
    paired = (("source", "target"),)  # the fit reads rows of the two roles as pairs

    def _fit(self, inputs: dict[str, Vectors]) -> None:
        src, tgt = inputs["source"], inputs["target"]
        ia, ib = pair_same_rows(src, tgt)  # the same id, else the same group
        if len(ia) < self.params.anchors:
            raise BridgeError(f"relative: {self.params.anchors} anchors need as many pairs, found {len(ia)}")
        pick = np.sort(np.random.default_rng(self.params.seed).choice(len(ia), self.params.anchors, replace=False))
        self.anchors = {"source": normalize(src.vectors[ia[pick]]), "target": normalize(tgt.vectors[ib[pick]])}
        self.info.update(target=f"relative/{self.params.anchors}", pairs=len(ia))

    def _transform(self, role: str, vectors: np.ndarray) -> np.ndarray:
        return normalize(normalize(vectors) @ self.anchors[role].T)

    def state(self) -> dict[str, np.ndarray]:
        return {f"anchors.{role}.weight": a for role, a in self.anchors.items()} | \
            {f"anchors.{role}.bias": np.zeros(len(a), np.float32) for role, a in self.anchors.items()}

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        self.anchors = {role: state[f"anchors.{role}.weight"] for role in self.roles}

    def inference(self) -> dict[str, list[list]]:
        """The same transform as graph ops: a saved bridge then loads, evaluates and exports to ONNX
        without this module."""
        return {role: [["normalize"], ["linear", f"anchors.{role}"], ["normalize"]] for role in self.roles}
