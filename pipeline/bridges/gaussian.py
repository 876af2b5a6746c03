"""Perfect alignment and Gaussian transfer (Kamboj & Do, arXiv 2503.15352).

Under the linear generative model ``x_A = A z``, ``x_B = B z`` the stacked
paired data ``M = [X_A; X_B] = U S V^T`` has ``U = [U_A; U_B]`` spanning the
column space of ``[A; B]``, and the encoders ``E_A = pinv(U_A)``,
``E_B = pinv(U_B)`` give *identical* latents for the two modalities of a pair
whenever ``U_A`` and ``U_B`` have full column rank (the SVD is truncated to a
rank where they do). A Gaussian mixture (class means + covariances) fitted on
the labelled modality's latents then classifies the other modality's latents
by Bayes' rule with no labels of it: cross-modal transfer.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from embridge.bridges.base import MethodParams
from embridge.bridges.common import ArrayBridge, require_pairs
from embridge.core.errors import BridgeError
from embridge.core.mixture import fit_mixture, log_posterior
from embridge.core.vectors import Space, Vectors, pair_by_group

#: unit roundoff of the formats vectors arrive in: the coarsest that holds every value exactly is theirs
PRECISIONS = (("float16", np.float16, 2.0 ** -11), ("float32", np.float32, 2.0 ** -24), ("float64", np.float64, 2.0 ** -53))


def precision_of(*arrays: np.ndarray) -> tuple[str, float]:
    """The coarsest float format holding every value of ``arrays`` exactly, and its unit roundoff."""
    for name, dtype, unit in PRECISIONS:
        with np.errstate(over="ignore"):
            if all(np.array_equal(x.astype(dtype).astype(np.float64), x.astype(np.float64)) for x in arrays):
                return name, unit
    return "float64", 2.0 ** -53


def rank_rule(xa: np.ndarray, xb: np.ndarray, singular: np.ndarray, rank_tol: float,
              margin: float) -> dict[str, float | str]:
    """Where signal ends in the singular values of ``M = [X_A | X_B]``: the larger of ``rank_tol`` x the
    largest and ``margin`` x the rounding-noise floor of the vectors' precision.

    Why: vectors stored in float16 carry a rounding error of std ``u |x| / sqrt(3)`` per entry
    (``u = 2^-11``); an [N, D] matrix of such iid errors has largest singular value about
    ``sigma (sqrt(N) + sqrt(D))``. A fixed ``rank_tol`` of 1e-8 sits far below that, so every noise
    direction would count as signal, and the map would fit the rounding noise. The floor sits at the
    noise singular values of such vectors (``tests/test_methods_gaussian.py``: the default finds a
    noiseless float16 world's rank, ``rank_tol`` alone counts its rounding noise as signal).
    """
    name, unit = precision_of(xa, xb)
    n, d = len(xa), xa.shape[1] + xb.shape[1]
    rms = float(np.sqrt((np.mean(np.square(xa, dtype=np.float64)) * xa.shape[1]
                         + np.mean(np.square(xb, dtype=np.float64)) * xb.shape[1]) / d))
    floor = unit * rms / np.sqrt(3) * (np.sqrt(n) + np.sqrt(d))
    threshold = max(rank_tol * float(singular[0]), margin * floor)
    return {"precision": name, "unit_roundoff": unit, "noise_floor": float(floor), "threshold": float(threshold),
            "rule": f"singular values > max(rank_tol x largest, {margin:g} x the {name} rounding-noise floor)"}


class GaussianParams(MethodParams):
    rank: int = Field(0, ge=0, description="latent dim; 0 = numerical rank of M capped at min(dim A, dim B)")
    rank_tol: float = Field(1e-8, gt=0, description="singular values below tol x largest are noise (a floor "
                            "for float64 data; coarser inputs get the rounding-noise rule of noise_margin)")
    noise_margin: float = Field(4.0, gt=0, description="singular values below this x the rounding-noise floor "
                                "of the inputs' precision (float16 in the default store) are noise")
    center: bool = Field(False, description="subtract each side's mean first (the paper's model has none)")
    labelled: Literal["a", "b"] = Field("a", description="the role whose labels fit the mixture")
    covariance: Literal["full", "shared"] = "full"
    reg: float = Field(1e-6, ge=0, description="covariance ridge, relative to the mean variance")


class GaussianBridge(ArrayBridge):
    """SVD encoders from paired data; Gaussian Bayes transfer classification across modalities.

    Roles: ``a`` and ``b``, two modality spaces paired by group. Transform maps
    either side to the shared ``rank``-dim latent ``E (x - mean)`` (not
    normalised: the mixture lives there). ``info`` holds the training
    ``alignment_error = ||E_A x_A - E_B x_B||_F / ||E_A x_A||_F`` and the rank.
    If the ``labelled`` role's rows carry labels, a Gaussian mixture is fitted
    on its latents; then ``classify(space, tower, vectors)`` labels vectors of
    *either* space, and ``class_log_posterior`` gives the scores.
    """

    method = "gaussian"
    Params = GaussianParams
    params: GaussianParams
    roles = ("a", "b")
    paired = (("a", "b"),)

    def __init__(self, params: GaussianParams, spaces: dict[str, Space]) -> None:
        super().__init__(params, spaces)
        limit = min(spaces["a"].dim, spaces["b"].dim)
        if params.rank > limit:
            raise BridgeError(f"gaussian: rank={params.rank} exceeds min(dim a, dim b)={limit}; "
                              f"U_A and U_B would not have full column rank")

    # -- fitting ------------------------------------------------------------
    def _fit(self, inputs: dict[str, Vectors]) -> None:
        a, b = inputs["a"], inputs["b"]
        ia, ib = pair_by_group(a, b)
        require_pairs(ia, "gaussian", a, b)
        xa, xb = a.vectors[ia].astype(np.float64), b.vectors[ib].astype(np.float64)
        mean_a = xa.mean(0) if self.params.center else np.zeros(xa.shape[1])
        mean_b = xb.mean(0) if self.params.center else np.zeros(xb.shape[1])
        # left singular vectors of M = [X_A; X_B] (features x samples) from the R of a QR of M^T:
        # M^T = Q R and R = U_R S V_R^T give M = V_R S (Q U_R)^T, at O(d^2) memory for any N
        r_factor = np.linalg.qr(np.concatenate([xa - mean_a, xb - mean_b], axis=1), mode="r")
        _, s, vt = np.linalg.svd(r_factor, full_matrices=False)
        u = vt.T
        rule = rank_rule(a.vectors[ia], b.vectors[ib], s, self.params.rank_tol, self.params.noise_margin)
        numerical = int(np.sum(s > rule["threshold"])) if s[0] > 0 else 0
        rank = self.params.rank or min(numerical, xa.shape[1], xb.shape[1])
        rule["chosen"] = f"rank = {self.params.rank} (params)" if self.params.rank else \
            f"rank = {rank}: singular values above the threshold (capped at min(dim A, dim B))"
        if rank == 0:
            raise BridgeError("gaussian: paired data is all zeros; nothing to align")
        da = xa.shape[1]
        self.arrays = {"encoder_a": np.linalg.pinv(u[:da, :rank]), "encoder_b": np.linalg.pinv(u[da:, :rank]),
                       "mean_a": mean_a, "mean_b": mean_b}
        self.info.update(target=f"gaussian:latent{rank}", rank=rank, numerical_rank=numerical, rank_rule=rule,
                         singular_values=[float(v) for v in s[: rank + 1]], pairs=len(ia),
                         alignment_error=self.alignment_error(xa, xb))
        labelled = inputs[self.params.labelled]
        has_label = labelled.labels.astype(str) != ""
        if has_label.any():
            z = self.latent(self.params.labelled, labelled.vectors[has_label].astype(np.float64))
            self.fit_mixture(z, labelled.labels[has_label].astype(str))

    def fit_mixture(self, z: np.ndarray, labels: np.ndarray) -> None:
        names, mixture = fit_mixture(z, labels, self.params.covariance, self.params.reg)
        self.arrays.update({f"gmm_{k}": v for k, v in mixture.items()})
        self.info["classes"] = names

    # -- using it -------------------------------------------------------------
    def latent(self, role: str, x: np.ndarray) -> np.ndarray:
        return (x - self.arrays[f"mean_{role}"]) @ self.arrays[f"encoder_{role}"].T

    def alignment_error(self, xa: np.ndarray, xb: np.ndarray) -> float:
        """``||E_A x_A - E_B x_B||_F / ||E_A x_A||_F`` over paired rows, in float64."""
        za = self.latent("a", np.asarray(xa, dtype=np.float64))
        zb = self.latent("b", np.asarray(xb, dtype=np.float64))
        return float(np.linalg.norm(za - zb) / max(np.linalg.norm(za), 1e-300))

    def class_log_posterior(self, space: str, tower: str, vectors: np.ndarray,
                            batch: int = 8192) -> tuple[list[str], np.ndarray]:
        """``(class names, log p(class | x) [n, K])`` for vectors of either space, by Bayes' rule."""
        if "gmm_means" not in self.arrays:
            raise BridgeError(f"gaussian bridge has no class model: the {self.params.labelled!r} rows it was "
                              f"fitted on carried no labels")
        role = self.role_of(space, tower)
        want = self.spaces[role].dim
        vectors = np.asarray(vectors, dtype=np.float64)
        if vectors.ndim != 2 or vectors.shape[1] != want:
            raise BridgeError(f"bridge 'gaussian': {space}/{tower} vectors must be [n, {want}], "
                              f"got {list(vectors.shape)}")
        mixture = {k[4:]: v for k, v in self.arrays.items() if k.startswith("gmm_")}
        return list(self.info["classes"]), log_posterior(mixture, self.latent(role, vectors), batch)

    def classify(self, space: str, tower: str, vectors: np.ndarray) -> np.ndarray:
        """Most probable class name for each row (works on the unlabelled modality: the transfer)."""
        names, log_post = self.class_log_posterior(space, tower, vectors)
        return np.asarray(names)[np.argmax(log_post, axis=1)]

    def expected_arrays(self) -> tuple[str, ...]:
        return ("encoder_a", "encoder_b", "mean_a", "mean_b")

    def _transform(self, role: str, vectors: np.ndarray) -> np.ndarray:
        return self.latent(role, vectors.astype(np.float64))
