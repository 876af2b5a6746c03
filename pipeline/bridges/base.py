"""The common bridge interface, the method registry, and safe save/load.

A bridge maps vectors of one or more *spaces* (an encoder's tower, e.g.
``clap/audio``) into one shared target space. Each method declares the named
*roles* its inputs play (``source``/``target``, ``text``/``modal``/``anchor``)
and a pydantic ``Params`` model for its hyperparameters. On disk a bridge is a
directory with ``bridge.json`` (method, params, spaces, fingerprints of the
sets it was fitted on, training curve, sha256 of the weights) and
``weights.safetensors``; never a pickle.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import tempfile
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import ValidationError
from safetensors.numpy import load_file, save_file

from pipeline.errors import BridgeError
from pipeline.store.atomic import sha256_file
from pipeline.validation import StrictModel, one_line

FORMAT_VERSION = 1
CONFIG_FILE = "bridge.json"
WEIGHTS_FILE = "weights.safetensors"

#: method name -> "module:Class"; imported lazily so numpy-only methods never import torch
METHODS: dict[str, str] = {
    "offset": "pipeline.bridges.offset:OffsetBridge",
    "linear": "pipeline.bridges.linear:LinearBridge",
    "pca_naive": "pipeline.bridges.classical:PCANaiveBridge",
    "procrustes": "pipeline.bridges.classical:ProcrustesBridge",
    "cca": "pipeline.bridges.classical:CCABridge",
    "textme": "pipeline.bridges.textme:TextMEBridge",
    "paired_mlp": "pipeline.bridges.textme:PairedMLPBridge",
    "centrobind": "pipeline.bridges.binding:CentroBindBridge",
    "fabind": "pipeline.bridges.binding:FABindBridge",
    "emergent": "pipeline.bridges.emergent:EmergentBridge",
    "gaussian": "pipeline.bridges.gaussian:GaussianBridge",
    "cycle": "pipeline.bridges.cycle:CycleBridge",
}


class MethodParams(StrictModel):
    """Base of every method's hyperparameters: unknown keys are errors."""


@dataclass(frozen=True)
class Space:
    """An encoder tower's embedding space."""

    encoder: str
    tower: str
    dim: int

    @property
    def key(self) -> str:
        return f"{self.encoder}/{self.tower}"


@dataclass
class Vectors:
    """An embedding set (or a split of one) held in memory for fitting."""

    space: Space
    ids: np.ndarray
    labels: np.ndarray
    groups: np.ndarray
    splits: np.ndarray
    vectors: np.ndarray  # float32 [n, dim]
    fingerprint: str = ""

    def __len__(self) -> int:
        return len(self.ids)

    def take(self, index: np.ndarray) -> Vectors:
        return Vectors(self.space, self.ids[index], self.labels[index], self.groups[index],
                       self.splits[index], self.vectors[index], self.fingerprint)


def pair_by_group(a: Vectors, b: Vectors) -> tuple[np.ndarray, np.ndarray]:
    """Row indices ``(ia, ib)`` of every pair of rows of ``a`` and ``b`` that share a group.

    Many-to-many: an image with five captions gives five pairs. Vectorised
    (sort + searchsorted), order follows ``a``.
    """
    order = np.argsort(b.groups, kind="stable")
    sorted_groups = b.groups[order]
    lo = np.searchsorted(sorted_groups, a.groups, side="left")
    hi = np.searchsorted(sorted_groups, a.groups, side="right")
    counts = hi - lo
    ia = np.repeat(np.arange(len(a)), counts)
    starts = np.repeat(lo - np.cumsum(counts) + counts, counts)
    ib = order[starts + np.arange(counts.sum())]
    return ia, ib


class Bridge(ABC):
    """Maps its input spaces into one shared space. Subclasses fill in the math."""

    method: ClassVar[str]
    Params: ClassVar[type[MethodParams]] = MethodParams
    #: role names this method needs, in order; an empty tuple means the method is
    #: *variadic*: it takes any role names the user chooses (one per space, e.g. the M
    #: modalities of CentroBind or the chain of cycle heads), at least ``min_roles`` of them
    roles: ClassVar[tuple[str, ...]]
    min_roles: ClassVar[int] = 1

    def __init__(self, params: MethodParams, spaces: dict[str, Space]) -> None:
        missing = [r for r in self.roles if r not in spaces]
        if missing:
            raise BridgeError(f"method {self.method!r} needs inputs for roles {list(self.roles)}; "
                              f"missing {missing}")
        if not self.roles and len(spaces) < self.min_roles:
            raise BridgeError(f"method {self.method!r} needs at least {self.min_roles} input spaces, "
                              f"got {len(spaces)} ({sorted(spaces)})")
        self.params = params
        self.spaces = spaces
        self.curve: list[float] = []
        self.fitted_on: dict[str, str] = {}
        self.info: dict[str, Any] = {}
        self.path: Path | None = None  # where it was loaded from, to name it in errors

    # -- the math ----------------------------------------------------------
    @abstractmethod
    def fit(self, inputs: dict[str, Vectors]) -> None:
        """Fit on in-memory training vectors keyed by role."""

    @abstractmethod
    def _transform(self, role: str, vectors: np.ndarray) -> np.ndarray:
        """Map vectors of ``role``'s space into the shared space."""

    @abstractmethod
    def state(self) -> dict[str, np.ndarray]:
        """Fitted weights as named arrays (saved to safetensors)."""

    @abstractmethod
    def load_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore fitted weights from ``state()``'s arrays."""

    @property
    def target(self) -> str:
        """Name of the shared space the outputs live in (e.g. ``anchor/text``)."""
        return self.info.get("target", "")

    # -- the interface -----------------------------------------------------
    def role_of(self, space: str, tower: str) -> str:
        key = f"{space}/{tower}"
        for role, s in self.spaces.items():
            if s.key == key:
                return role
        raise BridgeError(f"bridge {self.method!r} does not map space {key!r}; "
                          f"it maps {sorted(s.key for s in self.spaces.values())}")

    def transform(self, space: str, tower: str, vectors: np.ndarray) -> np.ndarray:
        """Map ``vectors`` of encoder ``space``'s ``tower`` into the shared space."""
        role = self.role_of(space, tower)
        vectors = np.asarray(vectors, dtype=np.float32)
        want = self.spaces[role].dim
        if vectors.ndim != 2 or vectors.shape[1] != want:
            name = f"{self.method!r} ({self.path})" if self.path else repr(self.method)
            raise BridgeError(f"bridge {name}: {space}/{tower} vectors must be [n, {want}], "
                              f"got {list(vectors.shape)}")
        return np.asarray(self._transform(role, vectors), dtype=np.float32)

    def fit_inputs(self, inputs: dict[str, Vectors]) -> None:
        """Check dims, fit, and remember what the fit saw."""
        for role, vecs in inputs.items():
            if role in self.spaces and vecs.vectors.shape[1] != self.spaces[role].dim:
                raise BridgeError(f"role {role!r}: expected dim {self.spaces[role].dim}, "
                                  f"got {vecs.vectors.shape[1]}")
        self.fit(inputs)
        self.fitted_on = {role: v.fingerprint for role, v in inputs.items()}

    # -- persistence -------------------------------------------------------
    def to_json(self, weights_sha256: str) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "method": self.method,
            "params": self.params.model_dump(mode="json"),
            "spaces": {role: {"encoder": s.encoder, "tower": s.tower, "dim": s.dim}
                       for role, s in self.spaces.items()},
            "fitted_on": self.fitted_on,
            "curve": self.curve,
            "info": self.info,
            "weights_sha256": weights_sha256,
        }

    def save(self, path: str | Path) -> None:
        """Write ``bridge.json`` + ``weights.safetensors`` atomically (temp dir, fsync, rename)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
        try:
            weights = tmp / WEIGHTS_FILE
            save_file({k: np.ascontiguousarray(v) for k, v in self.state().items()}, str(weights))
            digest = sha256_file(weights)
            (tmp / CONFIG_FILE).write_text(json.dumps(self.to_json(digest), indent=2) + "\n")
            for f in (weights, tmp / CONFIG_FILE):
                _fsync(f)
            old = None
            if path.exists():
                old = path.with_name(f".{path.name}.old")
                shutil.rmtree(old, ignore_errors=True)
                os.replace(path, old)
            os.replace(tmp, path)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    @classmethod
    def load(cls, path: str | Path) -> Bridge:
        """Load any saved bridge; checks the weights against ``bridge.json``."""
        path = Path(path)
        config_file = path / CONFIG_FILE
        try:
            meta = json.loads(config_file.read_text())
        except FileNotFoundError:
            raise BridgeError(f"{config_file}: no such bridge (run `bridge fit` first)") from None
        except json.JSONDecodeError as e:
            raise BridgeError(f"{config_file}: not valid JSON ({e.msg} at line {e.lineno})") from None
        weights = path / WEIGHTS_FILE
        if not weights.exists():
            raise BridgeError(f"{weights}: missing weights file")
        if sha256_file(weights) != meta.get("weights_sha256"):
            raise BridgeError(f"{weights}: checksum does not match {config_file} (corrupt or replaced)")
        try:
            method_cls = method_class(meta.get("method", ""))
        except BridgeError as e:
            raise BridgeError(f"{config_file}: {e}") from None
        try:
            params = method_cls.Params(**meta.get("params", {}))
            spaces = {r: Space(**s) for r, s in meta["spaces"].items()}
        except ValidationError as e:
            raise BridgeError(f"{config_file}: invalid bridge description "
                              f"({one_line(e, method_cls.Params, ('params',))})") from None
        except (KeyError, TypeError, AttributeError) as e:
            raise BridgeError(f"{config_file}: invalid bridge description ({type(e).__name__}: {e})") from None
        bridge = method_cls(params, spaces)
        bridge.path = path
        bridge.curve = list(meta.get("curve", []))
        bridge.fitted_on = dict(meta.get("fitted_on", {}))
        bridge.info = dict(meta.get("info", {}))
        bridge.load_state(load_file(str(weights)))
        return bridge


def method_class(method: str) -> type[Bridge]:
    """The Bridge subclass registered as ``method``."""
    if method not in METHODS:
        import difflib

        close = difflib.get_close_matches(method, METHODS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else f"; known: {', '.join(sorted(METHODS))}"
        raise BridgeError(f"unknown bridge method {method!r}{hint}")
    module, _, name = METHODS[method].partition(":")
    return getattr(importlib.import_module(module), name)


def _fsync(path: Path) -> None:
    with open(path, "rb+") as f:
        os.fsync(f.fileno())
