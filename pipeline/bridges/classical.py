"""Closed-form baselines: naive PCA, orthogonal Procrustes after centring, CCA.

All numpy, fitted in float64, applied in float32. They are the post-hoc
baselines the papers compare against (docs/methods.md, "Closed-form baselines").
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from embridge.bridges.base import MethodParams
from embridge.bridges.common import ArrayBridge, PairedMoments, paired_moments, require_pairs
from embridge.bridges.offset import normalize
from embridge.core.errors import BridgeError
from embridge.core.vectors import Space, Vectors, pair_same_rows


def _moments(inputs: dict[str, Vectors], method: str, prepare=None) -> PairedMoments:
    """The (source, target) pairs' moments: all these closed forms need (memory of one block of pairs). Rows
    pair by id when the sets share ids (one text through two encoders), else by group."""
    src, tgt = inputs["source"], inputs["target"]
    i, j = pair_same_rows(src, tgt)
    require_pairs(i, method, src, tgt)
    return paired_moments(src.vectors, i, tgt.vectors, j, prepare)


class PCANaiveParams(MethodParams):
    standardize: bool = True
    max_samples: int = Field(50000, ge=2, description="rows used to fit each PCA (seeded)")
    seed: int = 42


class PCANaiveBridge(ArrayBridge):
    """TextME's naive baseline: each space reduced by its own PCA to the anchor dim, no alignment.

    Roles: ``modal`` (e.g. ``clap/audio``) and ``anchor`` (the anchor text space).
    Each side is standardised (z-scored per feature) and projected on its own
    top ``k = min(modal dim, anchor dim)`` principal axes; nothing ties the
    two bases together, which is the point: it measures what you get without
    learning an alignment. Outputs are L2-normalised ``k``-dim vectors.
    """

    method = "pca_naive"
    Params = PCANaiveParams
    params: PCANaiveParams
    roles = ("modal", "anchor")

    def _fit(self, inputs: dict[str, Vectors]) -> None:
        p = self.params
        k = min(self.spaces["modal"].dim, self.spaces["anchor"].dim)
        self.arrays = {}
        for role in self.roles:
            x = inputs[role].vectors
            if len(x) > p.max_samples:
                x = x[np.random.default_rng(p.seed).choice(len(x), p.max_samples, replace=False)]
            x = x.astype(np.float64)
            mean, std = x.mean(0), (x.std(0) + 1e-12 if p.standardize else np.ones(x.shape[1]))
            _, _, vt = np.linalg.svd((x - mean) / std, full_matrices=False)
            components = np.zeros((x.shape[1], k))
            components[:, : min(k, len(vt))] = vt[:k].T
            self.arrays.update({f"mean_{role}": mean, f"std_{role}": std, f"components_{role}": components})
        self.info.update(target=f"pca{k}", dim=k)

    def expected_arrays(self) -> tuple[str, ...]:
        return tuple(f"{a}_{r}" for r in self.roles for a in ("mean", "std", "components"))

    def _transform(self, role: str, vectors: np.ndarray) -> np.ndarray:
        a = self.arrays
        return normalize(((vectors - a[f"mean_{role}"]) / a[f"std_{role}"]) @ a[f"components_{role}"])


class ProcrustesParams(MethodParams):
    renormalize: bool = True


class ProcrustesBridge(ArrayBridge):
    """Orthogonal Procrustes after centring: rotate the centred source onto the centred target.

    Roles: ``source`` and ``target`` (paired by id, else by group). ``W = U V^T`` from the
    SVD of ``X_c^T Y_c`` (semi-orthogonal when the dims differ). Source maps to
    ``(n(x) - mu_s) W + mu_t``; target vectors pass through (``n(y)``), so the
    shared space is the target tower's own space, as for ``linear``.
    """

    method = "procrustes"
    Params = ProcrustesParams
    params: ProcrustesParams
    roles = ("source", "target")
    paired = (("source", "target"),)

    def _fit(self, inputs: dict[str, Vectors]) -> None:
        m = _moments(inputs, "procrustes", normalize)
        u, _, vt = np.linalg.svd(m.xy, full_matrices=False)
        weight = u @ vt
        self.arrays = {"weight": weight, "mu_source": m.mean_x, "mu_target": m.mean_y}
        error = np.sqrt(max(m.residual(weight), 0.0) / max(np.trace(m.yy), 1e-300))
        self.info.update(target=self.spaces["target"].key, pairs=m.n, train_relative_error=float(error))

    def expected_arrays(self) -> tuple[str, ...]:
        return ("weight", "mu_source", "mu_target")

    def _transform(self, role: str, vectors: np.ndarray) -> np.ndarray:
        if role == "target":
            return normalize(vectors)
        a = self.arrays
        out = (normalize(vectors) - a["mu_source"]) @ a["weight"] + a["mu_target"]
        return normalize(out) if self.params.renormalize else out


class CCAParams(MethodParams):
    components: int = Field(0, ge=0, description="shared dims; 0 means min(source dim, target dim)")
    reg: float = Field(1e-4, ge=0, description="ridge added to each covariance, relative to its trace")
    scale_by_correlation: bool = Field(False, description="weight canonical dims by their correlation")


class CCABridge(ArrayBridge):
    """Canonical correlation analysis: both sides map into a shared ``k``-dim canonical space.

    Roles: ``source`` and ``target`` (paired by id, else by group). Whitening each side with
    its regularised covariance and taking the SVD of the whitened
    cross-covariance gives the canonical directions; outputs are the
    L2-normalised canonical coordinates ``(x - mean) W``.
    """

    method = "cca"
    Params = CCAParams
    params: CCAParams
    roles = ("source", "target")
    paired = (("source", "target"),)

    def __init__(self, params: CCAParams, spaces: dict[str, Space]) -> None:
        super().__init__(params, spaces)
        limit = min(spaces["source"].dim, spaces["target"].dim)
        if params.components > limit:
            raise BridgeError(f"cca: components={params.components} exceeds min(source, target dim)={limit}")

    def _fit(self, inputs: dict[str, Vectors]) -> None:
        m = _moments(inputs, "cca")
        k = self.params.components or min(len(m.xx), len(m.yy))
        n = m.n - 1
        wx, wy = self._inv_sqrt(m.xx / n), self._inv_sqrt(m.yy / n)
        u, corr, vt = np.linalg.svd(wx @ (m.xy / n) @ wy)
        scale = corr[:k] if self.params.scale_by_correlation else np.ones(k)
        self.arrays = {"mean_source": m.mean_x, "mean_target": m.mean_y, "weight_source": wx @ u[:, :k] * scale,
                       "weight_target": wy @ vt[:k].T * scale, "correlations": corr[:k]}
        self.info.update(target=f"cca{k}", pairs=m.n,
                         top_correlations=[round(float(c), 4) for c in corr[:5]])

    def _inv_sqrt(self, cov: np.ndarray) -> np.ndarray:
        cov = cov + self.params.reg * np.trace(cov) / len(cov) * np.eye(len(cov))
        vals, vecs = np.linalg.eigh(cov)
        return vecs @ np.diag(1.0 / np.sqrt(np.maximum(vals, 1e-12))) @ vecs.T

    def expected_arrays(self) -> tuple[str, ...]:
        return ("mean_source", "mean_target", "weight_source", "weight_target")

    def _transform(self, role: str, vectors: np.ndarray) -> np.ndarray:
        return normalize((vectors - self.arrays[f"mean_{role}"]) @ self.arrays[f"weight_{role}"])
