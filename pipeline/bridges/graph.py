"""A torch bridge's inference as a list of numpy ops, written into ``bridge.json``.

Why: a torch bridge needs torch to *train*, but applying it is a few matrix
products. Importing torch costs every process that loads one (an eval stage,
``bridge embed``) more than the work itself. So each torch method
describes its transform of each role as data, for example TextME's modal role::

    [["normalize"], ["subtract", "array.mu_modal"], ["normalize"],
     ["linear", "net.projector.layers.0"], ["gelu"], ["linear", "net.projector.layers.2"],
     ["normalize"]]

and ``run`` executes it on the weights of ``weights.safetensors``. The same
function serves the bridge right after fitting (``TorchBridge._transform``) and
the bridge loaded without its method's code (``FrozenBridge``), so there is one
inference path, and any tool that reads safetensors and JSON can apply a bridge.
Ops take their arrays by weights key; float32 throughout, as torch's CPU path.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from embridge.core.errors import BridgeError
from embridge.core.vectors import normalize

#: one op: its name, then its arguments (weights keys or numbers)
Op = list[Any]


def _linear(x: np.ndarray, w: Mapping[str, np.ndarray], prefix: str) -> np.ndarray:
    """``x W^T + b`` (torch's ``nn.Linear`` layout: weight is [out, in])."""
    return x @ w[f"{prefix}.weight"].T + w[f"{prefix}.bias"]


def _batchnorm(x: np.ndarray, w: Mapping[str, np.ndarray], prefix: str, eps: float) -> np.ndarray:
    """``nn.BatchNorm1d`` in eval mode: the running statistics, then the affine map."""
    scale = w[f"{prefix}.weight"] / np.sqrt(w[f"{prefix}.running_var"] + np.float32(eps))
    return (x - w[f"{prefix}.running_mean"]) * scale + w[f"{prefix}.bias"]


def _gelu(x: np.ndarray) -> np.ndarray:
    """The exact GELU, ``x Phi(x)``, as torch's default (not the tanh approximation)."""
    from scipy.special import erf  # only bridges with a GELU pay its import

    return 0.5 * x * (1.0 + erf(x * np.float32(1 / math.sqrt(2))))


def _silu(x: np.ndarray) -> np.ndarray:
    return x / (1.0 + np.exp(-x))


#: op name -> (number of arguments, function of (x, weights, *args))
OPS: dict[str, tuple[int, Any]] = {
    "normalize": (0, lambda x, w: normalize(x)),
    "subtract": (1, lambda x, w, key: x - w[key]),
    "linear": (1, _linear),
    "batchnorm": (2, _batchnorm),
    "gelu": (0, lambda x, w: _gelu(x)),
    "relu": (0, lambda x, w: np.maximum(x, 0)),
    "silu": (0, lambda x, w: _silu(x)),
}


def run(ops: list[Op], weights: Mapping[str, np.ndarray], x: np.ndarray, batch: int = 65536) -> np.ndarray:
    """Apply ``ops`` to the rows of ``x`` in batches of ``batch`` rows (memory bounded by the batch)."""
    x = np.asarray(x, dtype=np.float32)
    out = []
    for start in range(0, max(len(x), 1), batch):
        y = x[start:start + batch]
        for name, *args in ops:
            y = np.asarray(OPS[name][1](y, weights, *args), dtype=np.float32)
        out.append(y)
    return np.concatenate(out)


def check(ops: Any, weights: Mapping[str, np.ndarray], dim_in: int, where: str) -> int:
    """Refuse a graph that names an unknown op or weight, or whose shapes do not chain; return its out dim."""
    if not isinstance(ops, list) or not all(isinstance(op, list) and op for op in ops):
        raise BridgeError(f"{where}: inference graph must be a list of [op, args...] lists")
    for op in ops:
        name, *args = op
        if name not in OPS:
            raise BridgeError(f"{where}: unknown op {name!r} (known: {sorted(OPS)})")
        if len(args) != OPS[name][0]:
            raise BridgeError(f"{where}: op {name!r} takes {OPS[name][0]} arguments, got {args}")
        keys = [a for a in args if isinstance(a, str)]
        if name in ("linear", "batchnorm"):
            keys = [f"{keys[0]}.{s}" for s in (("weight", "bias") if name == "linear"
                                               else ("weight", "bias", "running_mean", "running_var"))]
        missing = [k for k in keys if k not in weights]
        if missing:
            raise BridgeError(f"{where}: op {name!r} needs weights {missing}, not in the weights file")
    try:
        return int(run(ops, weights, np.zeros((1, dim_in), dtype=np.float32)).shape[1])
    except ValueError as e:
        raise BridgeError(f"{where}: inference graph shapes do not chain ({e})") from None
