"""Classifiers fitted on one set of labelled vectors and applied to another: the probe and transfer kinds.

* ``gaussian``: Bayes' rule over Gaussian classes (QDA), the classifier of Kamboj & Do's
  transfer, the same code as the Gaussian bridge's (``core/mixture.py``);
* ``ncm``: nearest class mean (Euclidean), the parameter-free baseline;
* ``logistic``: multinomial logistic regression on standardised features (scikit-learn,
  lbfgs, on one BLAS thread), the linear probe of CentroBind and CLIP_benchmark.

Each is ``f(x_train, y_train, x_test, **its options) -> predicted labels``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from embridge.core.blas import one_thread
from embridge.core.mixture import fit_mixture, log_posterior


def gaussian(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, reg: float = 1e-6,
             covariance: str = "full") -> np.ndarray:
    names, mixture = fit_mixture(x_train, y_train, covariance, reg)
    return np.asarray(names)[np.argmax(log_posterior(mixture, x_test), axis=1)]


def ncm(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray) -> np.ndarray:
    names, inverse = np.unique(np.asarray(y_train).astype(str), return_inverse=True)
    x_train, x_test = np.asarray(x_train, np.float64), np.asarray(x_test, np.float64)
    means = np.zeros((len(names), x_train.shape[1]))
    np.add.at(means, inverse, x_train)
    means /= np.bincount(inverse)[:, None]
    # argmin ||x - m||^2 = argmax (x.m - |m|^2 / 2): one matmul, no [n, K, d] tensor
    return names[np.argmax(x_test @ means.T - 0.5 * (means ** 2).sum(1), axis=1)]


def logistic(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, c: float = 1.0) -> np.ndarray:
    """On one BLAS thread (``core/blas.py``): with two, a probe-centrobind side moved by 0.13 points."""
    from sklearn.linear_model import LogisticRegression  # only the kinds that probe pay its import

    mean, std = x_train.mean(0), x_train.std(0) + 1e-8
    model = LogisticRegression(C=c, max_iter=2000)
    with one_thread():
        model.fit((x_train - mean) / std, np.asarray(y_train).astype(str))
        return model.predict((x_test - mean) / std)


CLASSIFIERS: dict[str, Callable[..., np.ndarray]] = {"gaussian": gaussian, "ncm": ncm, "logistic": logistic}


def accuracy(predicted: np.ndarray, truth: np.ndarray) -> float:
    """Share of rows whose predicted label is the true one (in [0, 1])."""
    return float(np.mean(np.asarray(predicted).astype(str) == np.asarray(truth).astype(str))) if len(truth) else 0.0
