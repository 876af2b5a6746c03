"""Gaussian classes and Bayes' rule (QDA): the classifier of Kamboj & Do's cross-modal transfer.

One implementation serves the Gaussian bridge (fitted on its labelled modality's latents) and the
``transfer`` task kind (fitted on any side's labelled rows), so the two are the same classifier.
"""

from __future__ import annotations

import numpy as np


def fit_mixture(z: np.ndarray, labels: np.ndarray, covariance: str = "full",
                reg: float = 1e-6) -> tuple[list[str], dict[str, np.ndarray]]:
    """Bayes' classifier of Gaussian classes (QDA): class means, covariances (``full`` per class or one
    ``shared``) with a ridge of ``reg`` x the mean variance, and priors; kept as whitening maps for scoring.
    """
    z = np.asarray(z, dtype=np.float64)
    names, inverse, counts = np.unique(np.asarray(labels).astype(str), return_inverse=True, return_counts=True)
    r, k = z.shape[1], len(names)
    onehot = np.eye(k)[inverse]
    means = (onehot.T @ z) / counts[:, None]
    centred = z - means[inverse]
    covs = np.einsum("nk,ni,nj->kij", onehot, centred, centred) / counts[:, None, None]
    if covariance == "shared":
        covs = np.broadcast_to((covs * counts[:, None, None]).sum(0) / counts.sum(), covs.shape).copy()
    ridge = reg * max(float(np.trace(centred.T @ centred)) / len(z) / r, 1e-12)
    chol = np.linalg.cholesky(covs + ridge * np.eye(r))
    return [str(n) for n in names], {"means": means, "whiten": np.linalg.inv(chol),
                                     "logdet": 2 * np.log(np.diagonal(chol, axis1=1, axis2=2)).sum(1),
                                     "log_prior": np.log(counts / counts.sum())}


def log_posterior(mixture: dict[str, np.ndarray], z: np.ndarray, batch: int = 8192) -> np.ndarray:
    """``log p(class | z)`` [n, K] under ``fit_mixture``'s model, in batches (memory bounded by ``batch``)."""
    z = np.asarray(z, dtype=np.float64)
    out = []
    for i in range(0, max(len(z), 1), batch):
        part = z[i:i + batch]
        white = np.einsum("kij,nkj->nki", mixture["whiten"], part[:, None, :] - mixture["means"][None])
        log_joint = (-0.5 * ((white ** 2).sum(-1) + mixture["logdet"] + z.shape[1] * np.log(2 * np.pi))
                     + mixture["log_prior"])
        out.append(log_joint - np.logaddexp.reduce(log_joint, axis=1, keepdims=True))
    return np.concatenate(out)
