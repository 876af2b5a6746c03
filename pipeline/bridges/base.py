"""The common bridge interface, ``method_class`` (methods are declared in ``core/catalog.py``), and safe save/load.

A bridge maps vectors of one or more *spaces* (an encoder's tower, e.g.
``clap/audio``) into one shared target space. Each method declares the named
*roles* its inputs play (``source``/``target``, ``text``/``modal``/``anchor``)
and a pydantic ``Params`` model for its hyperparameters. On disk a bridge is a
directory with ``bridge.json`` (method, params, spaces, fingerprints of the
sets it was fitted on, training curve, sha256 of the weights, each array's
dtype and shape, and ``content_sha256`` over all of it) and
``weights.safetensors``; never a pickle. ``load`` reads both files through
one handle on the directory, so a fit that replaces the bridge meanwhile
cannot mix one bridge's card with another's weights, and verifies them as one
snapshot: the number a task reports is bound to ``content_sha256``.
"""

from __future__ import annotations

import hashlib
import json
import os
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from pydantic import ValidationError
from safetensors.numpy import load as load_safetensors
from safetensors.numpy import save_file

from embridge.bridges import graph
from embridge.core.blas import one_thread
from embridge.core.cards import BRIDGE_FORMAT, BridgeCard
from embridge.core.catalog import METHODS
from embridge.core.errors import BridgeError
from embridge.core.files import fsync_file, sha256_file, write_dir
from embridge.core.layout import Layout
from embridge.core.registry import USER_PREFIX, import_user
from embridge.core.validation import StrictModel, one_line, validate
from embridge.core.vectors import Space, Vectors, as_vectors, require_finite

if TYPE_CHECKING:
    from typing_extensions import Self

CONFIG_FILE = "bridge.json"
WEIGHTS_FILE = "weights.safetensors"



#: ``info`` keys that describe one run (wall-clock timings, where a fit resumed), not the bridge:
#: kept out of ``bridge.json`` so equal fits give equal bytes (``bridges/run.py`` logs them instead)
RUN_INFO = ("training",)


class MethodParams(StrictModel):
    """Base of every method's hyperparameters: unknown keys are errors."""


class Bridge(ABC):
    """Maps its input spaces into one shared space. Subclasses fill in the math (``_fit``, ``_transform``,
    ``state``, ``load_state``); users call ``fit``, ``transform``, ``save`` and ``Bridge.load``.

    The estimator contract is scikit-learn's: hyperparameters are the method's ``Params`` (``get_params``),
    ``fit`` returns the bridge, and ``transform`` refuses a bridge that was neither fitted nor loaded.

    >>> import numpy as np, embridge
    >>> x = np.random.default_rng(0).normal(size=(200, 8)).astype("float32")
    >>> b = embridge.fit("linear", {"source": x, "target": x @ np.eye(8, 4, dtype="float32")})
    >>> b.get_params()["alpha"], b.transform(x[:3], role="source").shape
    (0.0, (3, 4))
    """

    method: ClassVar[str]
    Params: ClassVar[type[MethodParams]] = MethodParams
    #: role names this method needs, in order; an empty tuple means the method is
    #: *variadic*: it takes any role names the user chooses (one per space, e.g. the M
    #: modalities of CentroBind or the chain of cycle heads), at least ``min_roles`` of them
    roles: ClassVar[tuple[str, ...]]
    min_roles: ClassVar[int] = 1
    #: roles whose spaces must have one dim (a method that adds or compares vectors across them)
    same_dim: ClassVar[tuple[str, ...]] = ()
    #: role pairs whose rows the fit consumes *as pairs* (written to ``info.paired``): an emergent-matrix task
    #: marks two sides "trained" when one of its bridges was fitted on pairs of their sets, else "emergent"
    paired: ClassVar[tuple[tuple[str, str], ...]] = ()

    def __init__(self, params: MethodParams, spaces: dict[str, Space]) -> None:
        missing = [r for r in self.roles if r not in spaces]
        if missing:
            raise BridgeError(f"method {self.method!r} needs inputs for roles {list(self.roles)}; "
                              f"missing {missing}")
        extra = sorted(set(spaces) - set(self.roles)) if self.roles else []
        if extra:
            raise BridgeError(f"method {self.method!r} has roles {list(self.roles)}; got inputs for {extra} too")
        if not self.roles and len(spaces) < self.min_roles:
            raise BridgeError(f"method {self.method!r} needs at least {self.min_roles} input spaces, "
                              f"got {len(spaces)} ({sorted(spaces)})")
        dims = {role: spaces[role].dim for role in self.same_dim if role in spaces}
        if len(set(dims.values())) > 1:
            shown = ", ".join(f"{role} {spaces[role].key} is {dim}-d" for role, dim in dims.items())
            raise BridgeError(f"method {self.method!r} needs inputs of one dim ({shown}); "
                              "use a method that maps between dims, e.g. linear or procrustes")
        self.params = params
        self.spaces = spaces
        self.curve: list[float] = []
        self.fitted_on: dict[str, str] = {}
        self.info: dict[str, Any] = {}
        self.path: Path | None = None  # where it was loaded from, to name it in errors
        self.content_sha256 = ""  # the snapshot it was loaded from (``card_digest``); empty until saved or loaded
        self.is_fitted = False

    def __repr__(self) -> str:
        roles = ", ".join(f"{role}={s.key} [{s.dim}]" for role, s in getattr(self, "spaces", {}).items())
        state = f"loaded from {str(self.path)!r}" if self.path else "fitted" if self.is_fitted else "not fitted"
        return f"<{type(self).__name__} {self.method!r}: {roles}; {state}>"

    # -- the math ----------------------------------------------------------
    @abstractmethod
    def _fit(self, inputs: dict[str, Vectors]) -> None:
        """Fit on in-memory training vectors keyed by role (``fit`` has checked their dims)."""

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
        raise BridgeError(f"bridge {self.label} does not map space {key!r}; "
                          f"it maps {sorted(s.key for s in self.spaces.values())}")

    @property
    def label(self) -> str:
        """How messages name this bridge: its directory name and method once loaded, else the method."""
        return f"{self.path.name!r} ({self.method})" if self.path else repr(self.method)

    def transform(self, vectors: np.ndarray, role: str | None = None, *, space: str | None = None) -> np.ndarray:
        """Map ``vectors`` ``[n, dim]`` of one input into the shared space, float32.

        Say which input by ``role`` (``"source"``, ``"text"``, ...) or by ``space``, the encoder tower the
        vectors came from (``"clap/audio"``); a bridge with one role needs neither.
        """
        if not self.is_fitted:
            raise BridgeError(f"bridge {self.label} is not fitted: call fit() first, or embridge.load() a saved one")
        role = self._role(role, space)
        vectors = np.asarray(vectors, dtype=np.float32)
        key, want = self.spaces[role].key, self.spaces[role].dim
        name = f"{self.method!r} ({self.path})" if self.path else repr(self.method)  # the folder: what to fix
        if vectors.ndim != 2 or vectors.shape[1] != want:
            raise BridgeError(f"bridge {name}: {key} vectors must be [n, {want}], got {list(vectors.shape)}")
        require_finite(vectors, f"bridge {name}: input {key} vectors")
        out = np.asarray(self._transform(role, vectors), dtype=np.float32)
        if out.ndim != 2 or len(out) != len(vectors):
            raise BridgeError(f"bridge {name}: its output for {key} is {list(out.shape)} for {len(vectors)} "
                              f"input rows; a method must return one row per input row")
        return require_finite(out, f"bridge {name}: its output for {key}")

    def _role(self, role: str | None, space: str | None) -> str:
        """The role ``transform`` was asked for, by name or by space key."""
        if role is not None and space is not None:
            raise BridgeError(f"bridge {self.label}: give role or space, not both")
        if space is not None:
            encoder, _, tower = space.partition("/")
            return self.role_of(encoder, tower)
        if role is None:
            if len(self.spaces) == 1:
                return next(iter(self.spaces))
            raise BridgeError(f"bridge {self.label} has roles {list(self.spaces)}: say which input, "
                              f"e.g. transform(x, role={next(iter(self.spaces))!r})")
        if role not in self.spaces:
            raise BridgeError(f"bridge {self.label} has no role {role!r}; its roles are {list(self.spaces)}")
        return role

    def fit(self, inputs: Mapping[str, Vectors | np.ndarray]) -> Self:
        """Fit on training vectors keyed by role; returns the bridge.

        A value is a ``Vectors`` (ids, labels, groups and splits beside the vectors) or a plain array
        ``[n, dim]``, whose row ``i`` is paired with row ``i`` of every other role's array. The fit runs on
        one BLAS thread (the weights' bits must not depend on the machine's core count: ``core/blas.py``)
        and records the fingerprint of what it saw; weights holding NaN or inf are refused.
        """
        unknown = sorted(set(inputs) - set(self.spaces))
        if unknown:
            raise BridgeError(f"bridge {self.label}: inputs for roles {unknown} it does not have; its roles are "
                              f"{list(self.spaces)}")
        arrays = {role: len(v) for role, v in inputs.items() if not isinstance(v, Vectors)}
        for a, b in self.paired_roles():
            if a in arrays and b in arrays and arrays[a] != arrays[b]:
                raise BridgeError(f"bridge {self.label}: arrays of paired roles {a!r} and {b!r} have {arrays[a]} "
                                  f"and {arrays[b]} rows; row i pairs with row i, so give them equal lengths (or "
                                  "Vectors, which pair by id and group)")
        inputs = {role: as_vectors(v, self.spaces.get(role), role) for role, v in inputs.items()}
        for role, vecs in inputs.items():
            if role in self.spaces and vecs.vectors.shape[1] != self.spaces[role].dim:
                raise BridgeError(f"role {role!r}: expected dim {self.spaces[role].dim}, "
                                  f"got {vecs.vectors.shape[1]}")
            require_finite(vecs.vectors, f"bridge {self.label}: fit input {role!r} ({vecs.space.key})")
            if len(vecs) > 1 and not (vecs.vectors != vecs.vectors[0]).any():
                raise BridgeError(f"bridge {self.label}: fit input {role!r} ({vecs.space.key}): all {len(vecs)} rows "
                                  "are one vector; nothing to fit")
        with one_thread():
            self._fit(inputs)
        self.fitted_on = {role: v.fingerprint for role, v in inputs.items()}
        self.info["paired"] = [list(pair) for pair in self.paired_roles()]
        self.check_finite()
        self.is_fitted = True
        return self

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The method's hyperparameters (its ``Params``) as a dict."""
        return self.params.model_dump()

    def set_params(self, **params: Any) -> Self:
        """Replace hyperparameters, validated by the method's ``Params``; refit to apply them."""
        try:
            self.params = type(self).Params(**{**self.params.model_dump(), **params})
        except ValidationError as e:
            raise BridgeError(f"method {self.method!r}: {one_line(e, type(self).Params, ('params',))}") from None
        self.is_fitted = False
        return self

    def stale(self, root: Path) -> str | None:
        """Why the bridge no longer matches the sets it was fitted on (in the project at ``root``), or None.

        ``info.fitted`` names each role's set (recorded by ``bridges/run.py``) and
        ``fitted_on`` its fingerprint then; a set re-extracted since (another
        encoder setting, other rows) has another fingerprint, and the bridge's
        numbers would describe data it never saw.
        """
        from embridge.store.embedding_set import EmbeddingSet  # the manifest checked as a reader checks it

        for role, fitted in (self.info.get("fitted") or {}).items():
            now = EmbeddingSet(Layout(root).embeddings(fitted["path"]), verify=False).fingerprint
            then = self.fitted_on.get(role)
            if now != then:
                return f"role {role!r} was fitted on set {fitted['set']!r}, which has changed since (fingerprint " \
                       f"{then} -> {now})"
        return None

    def paired_roles(self) -> list[tuple[str, str]]:
        """The role pairs the fit used as pairs (``paired``; variadic methods derive them from their roles)."""
        return list(self.paired)

    # -- persistence -------------------------------------------------------
    def to_json(self, weights_sha256: str, state: dict[str, np.ndarray] | None = None) -> dict[str, Any]:
        state = self.state() if state is None else state
        card = {
            "format_version": BRIDGE_FORMAT,
            "method": self.method,
            "params": self.params.model_dump(mode="json"),
            "spaces": {role: {"encoder": s.encoder, "tower": s.tower, "dim": s.dim}
                       for role, s in self.spaces.items()},
            "fitted_on": self.fitted_on,
            "curve": self.curve,
            "info": {k: v for k, v in self.info.items() if k not in RUN_INFO},
            **({"inference": self.inference()} if self.inference() is not None else {}),
            "weights_sha256": weights_sha256,
            "weights": {k: {"dtype": _SAFETENSORS_DTYPE.get(np.asarray(v).dtype.name, np.asarray(v).dtype.name),
                            "shape": list(np.shape(v))} for k, v in sorted(state.items())},
        }
        return {**card, "content_sha256": card_digest(card)}

    def inference(self) -> dict[str, list[list[Any]]] | None:
        """Per role, the transform as ``graph`` ops, for methods whose own code is costly to import
        (the torch ones); ``None`` for methods that load cheaply and transform themselves."""
        return None

    def check_finite(self) -> None:
        """Refuse to keep a bridge whose weights hold NaN or inf (a diverged fit): it would score perfectly."""
        for key, value in self.state().items():
            array = np.asarray(value)
            if array.dtype.kind == "f" and not np.isfinite(array).all():
                raise BridgeError(f"weights {key!r} hold NaN or inf after fitting (the fit diverged: "
                                  "lower lr, or check the input vectors); nothing was written")

    def save(self, path: str | Path) -> None:
        """Write ``bridge.json`` + ``weights.safetensors`` into a temp directory beside ``path``, fsync,
        and publish it whole (``write_dir``: the previous bridge stays until the new one is in place).

        Refused before anything is written: an unfitted bridge (or one whose params changed since its fit), a
        ``path`` that holds anything but a bridge (it would be replaced), weights that are not numeric arrays
        or that ``load_state`` cannot read back, and an inference graph that does not compute ``_transform``.
        """
        path = Path(path)
        if not self.is_fitted:
            raise BridgeError(f"bridge {self.label} is not fitted (or its params changed since): fit it before saving")
        if not path.name or path.name in (".", ".."):
            raise BridgeError(f"{str(path)!r}: name a folder for the bridge")
        if path.is_symlink() or path.exists() and not _bridge_folder(path):
            raise BridgeError(f"{path}: exists and is not a bridge folder; saving would replace it (choose another path)")
        state = self._checked_state()

        def write(tmp: Path) -> dict[str, Any]:
            weights = tmp / WEIGHTS_FILE
            save_file(state, str(weights))
            written = self.to_json(sha256_file(weights), state)
            (tmp / CONFIG_FILE).write_text(json.dumps(written, indent=2, allow_nan=False) + "\n")
            os.chmod(weights, (tmp / CONFIG_FILE).stat().st_mode & 0o777)  # readable as the card is (a shared cache)
            for f in (weights, tmp / CONFIG_FILE):
                fsync_file(f)
            return written

        try:
            self.content_sha256 = write_dir(path, write)["content_sha256"]
        except OSError as e:
            raise BridgeError(f"{path}: cannot write the bridge ({e.strerror or e})") from None

    def _checked_state(self) -> dict[str, np.ndarray]:
        """``state()`` as contiguous numeric arrays that ``load_state`` reads back and, where the method
        declares an inference graph, that the graph turns into ``_transform``'s outputs (a frozen load, an
        ONNX export and a published folder apply the graph, never the method's code)."""
        state = {}
        for key, value in self.state().items():
            array = np.asarray(value) if isinstance(value, np.ndarray | list | tuple | float | int) else None
            if array is None or array.dtype.name not in _SAFETENSORS_DTYPE:
                raise BridgeError(f"bridge {self.label}: state() array {key!r} is {type(value).__name__}"
                                  f"{'' if array is None else ' of ' + array.dtype.name}, not a numeric array")
            state[key] = np.ascontiguousarray(array)
        try:
            type(self)(self.params, self.spaces).load_state(dict(state))
        except Exception as e:  # noqa: BLE001 - a method whose saved state cannot be read back is refused
            raise BridgeError(f"bridge {self.label}: load_state() cannot read what state() returned "
                              f"({type(e).__name__}: {e})") from None
        graphs = self.inference()
        for role, space in self.spaces.items() if graphs is not None else ():
            where = f"bridge {self.label}: inference graph of role {role!r}"
            if role not in graphs:
                raise BridgeError(f"{where}: missing")
            graph.check(graphs[role], state, space.dim, where)
            x = np.random.default_rng(0).normal(size=(8, space.dim)).astype(np.float32)
            want = np.asarray(self._transform(role, x), np.float32)
            got = graph.run(graphs[role], state, x)
            if got.shape != want.shape or not np.allclose(got, want, rtol=1e-4, atol=1e-5):
                raise BridgeError(f"{where}: does not compute the method's transform (shapes {list(got.shape)} and "
                                  f"{list(want.shape)}); fix inference() or return None")
        return state

    @classmethod
    def load(cls, path: str | Path, frozen: bool = False, fresh_in: Path | None = None) -> Bridge:
        """Load any saved bridge; the card is validated, the weights checked against it and for NaN/inf.

        ``fresh_in``: the project root whose sets the bridge must still match
        (``stale``); a stale bridge is refused in one line that says to refit.

        ``frozen=True`` is for callers that only transform (eval, embed): a bridge whose card
        holds an inference graph (every torch method) loads as a ``FrozenBridge``, which applies
        that graph with numpy and never imports the method's code (nor torch).
        """
        path = Path(path)
        config_file, weights = path / CONFIG_FILE, path / WEIGHTS_FILE
        card_bytes, weight_bytes = _snapshot(path)
        try:
            raw = json.loads(card_bytes)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            where = f" ({e.msg} at line {e.lineno})" if isinstance(e, json.JSONDecodeError) else ""
            raise BridgeError(f"{config_file}: not valid JSON{where}") from None
        card: BridgeCard = validate(BridgeCard, raw, context=str(config_file))
        if card.content_sha256 is None or card.weights is None:
            raise BridgeError(f"{config_file}: written before bridges were sealed by a content hash; refit it "
                              "(`bridge fit`)")
        if card_digest(raw) != card.content_sha256:
            raise BridgeError(f"{config_file}: content_sha256 does not match the card (edited or corrupt); refit it")
        if hashlib.sha256(weight_bytes).hexdigest() != card.weights_sha256:
            raise BridgeError(f"{weights}: checksum does not match {config_file} (corrupt or replaced)")
        state = _read_weights(weights, weight_bytes, card)
        spaces = {r: Space(s.encoder, s.tower, s.dim) for r, s in card.spaces.items()}
        if frozen and card.inference is not None:
            bridge: Bridge = FrozenBridge(card, spaces, state, config_file)
        else:
            try:
                method_cls = method_class(card.method)
            except BridgeError as e:
                raise BridgeError(f"{config_file}: {e}") from None
            try:
                params = method_cls.Params(**card.params)
            except ValidationError as e:
                raise BridgeError(f"{config_file}: invalid bridge description "
                                  f"({one_line(e, method_cls.Params, ('params',))})") from None
            bridge = method_cls(params, spaces)
            bridge.load_state(state)
        bridge.is_fitted = True
        bridge.path = path
        bridge.content_sha256 = card.content_sha256
        bridge.curve = list(card.curve)
        bridge.fitted_on = dict(card.fitted_on)
        bridge.info = dict(card.info)
        if fresh_in is not None:
            why = bridge.stale(fresh_in)
            if why is not None:
                raise BridgeError(f"bridge {bridge.label} is stale: {why}; refit it (`bridge fit {path.name}`, "
                                  "or `dvc repro`)")
        return bridge


def _bridge_folder(path: Path) -> bool:
    """Whether ``path`` holds a bridge and nothing else (its card and weights, or ``seed-<k>`` bridges):
    what ``save`` may replace without losing a user's files."""
    if not path.is_dir():
        return False
    return all(p.name in (CONFIG_FILE, WEIGHTS_FILE) or p.name.startswith("seed-") and p.is_dir()
               and {q.name for q in p.iterdir()} <= {CONFIG_FILE, WEIGHTS_FILE} for p in path.iterdir())


#: numpy dtype names as safetensors' header spells them
_SAFETENSORS_DTYPE = {"float64": "F64", "float32": "F32", "float16": "F16", "int64": "I64", "int32": "I32",
                      "int16": "I16", "int8": "I8", "uint8": "U8", "bool": "BOOL"}


def card_digest(card: dict[str, Any]) -> str:
    """sha256 of a card's canonical JSON without its own ``content_sha256``: it covers the method, params,
    spaces, fingerprints, inference graph and (through ``weights_sha256``) the weights' bytes."""
    body = {k: v for k, v in card.items() if k != "content_sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()).hexdigest()


#: attempts to read a bridge whose directory a concurrent fit is replacing
SNAPSHOT_TRIES = 5


def _snapshot(path: Path) -> tuple[bytes, bytes]:
    """The bytes of ``bridge.json`` and ``weights.safetensors`` read through one open handle on the
    directory: ``replace_dir`` renames a whole directory, so both come from the same bridge. A directory
    removed between the two reads (the old one, after a concurrent fit) is read again from ``path``."""
    for attempt in range(SNAPSHOT_TRIES):
        try:
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        except FileNotFoundError:
            raise BridgeError(f"{path / CONFIG_FILE}: no such bridge (run `bridge fit` first)") from None
        except NotADirectoryError:
            raise BridgeError(f"{path}: not a bridge directory") from None
        try:
            parts = []
            for name in (CONFIG_FILE, WEIGHTS_FILE):
                try:
                    with open(os.open(name, os.O_RDONLY, dir_fd=fd), "rb") as f:
                        parts.append(f.read())
                except FileNotFoundError:
                    if attempt + 1 < SNAPSHOT_TRIES and os.stat(path).st_ino != os.fstat(fd).st_ino:
                        break  # replaced while reading: read the new one
                    what = "no such bridge (run `bridge fit` first)" if name == CONFIG_FILE else "missing weights file"
                    raise BridgeError(f"{path / name}: {what}") from None
                except IsADirectoryError:
                    raise BridgeError(f"{path / name}: is a directory, not a file") from None
            else:
                return parts[0], parts[1]
        except OSError as e:
            raise BridgeError(f"{path}: cannot read the bridge ({e.strerror or e})") from None
        finally:
            os.close(fd)
    raise BridgeError(f"{path}: replaced by another fit {SNAPSHOT_TRIES} times while reading it; try again")


def _read_weights(weights: Path, data: bytes, card: BridgeCard) -> dict[str, np.ndarray]:
    try:
        state = load_safetensors(data)
    except Exception as e:  # noqa: BLE001 - a weights file safetensors cannot parse is a bad file
        raise BridgeError(f"{weights}: cannot read weights ({type(e).__name__}: {e})") from None
    if sorted(state) != sorted(card.weights or {}):
        raise BridgeError(f"{weights}: holds arrays {sorted(state)[:5]}, the card lists {sorted(card.weights or {})[:5]}")
    for key, value in state.items():
        spec = (card.weights or {})[key]
        dtype = _SAFETENSORS_DTYPE.get(value.dtype.name, value.dtype.name)
        if dtype != spec.dtype or list(value.shape) != spec.shape:
            raise BridgeError(f"{weights}: array {key!r} is {dtype} {list(value.shape)}, the card says {spec.dtype} "
                              f"{spec.shape} (edited or corrupt); refit the bridge")
        if value.dtype.kind == "f" and not np.isfinite(value).all():
            raise BridgeError(f"{weights}: array {key!r} holds NaN or inf; refit the bridge")
    return state


class FrozenBridge(Bridge):
    """A saved bridge applied from its card's inference graph and its weights: numpy only, no training.

    Why: evaluation and embedding only transform, and the method's own module imports torch
    (seconds per process, more than the work). The graph was written by the method itself at save time, so
    this applies exactly the ops its ``_transform`` ran after fitting.
    """

    roles = ()
    Params = MethodParams

    def __init__(self, card: BridgeCard, spaces: dict[str, Space], weights: dict[str, np.ndarray],
                 config_file: Path) -> None:
        super().__init__(MethodParams(), spaces)
        self.method = card.method  # type: ignore[misc]  # an instance names the method it stands for
        self.card_params = dict(card.params)
        self.weights = weights
        self.graphs = card.inference or {}
        for role, space in spaces.items():
            if role not in self.graphs:
                raise BridgeError(f"{config_file}: inference graph has no entry for role {role!r}")
            graph.check(self.graphs[role], weights, space.dim, f"{config_file}: role {role!r}")

    def _fit(self, inputs: dict[str, Vectors]) -> None:
        raise BridgeError(f"bridge {self.label} was loaded frozen (to transform only); load it with "
                          "Bridge.load(path) to fit")

    def _transform(self, role: str, vectors: np.ndarray) -> np.ndarray:
        return graph.run(self.graphs[role], self.weights, vectors)

    def save(self, path: str | Path) -> None:
        """Refused: a frozen bridge holds its graph and weights but not its method's params, so a card written
        from it would not be the bridge it was loaded from."""
        raise BridgeError(f"bridge {self.label} was loaded frozen (to transform only): copy its folder, or "
                          "load it with frozen=False to save it")

    def state(self) -> dict[str, np.ndarray]:
        return self.weights

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        self.weights = state


#: how docs and messages show a user-defined method
USER_METHOD_EXAMPLE = "python:my_methods:Whitening"


def method_class(method: str) -> type[Bridge]:
    """The Bridge subclass registered as ``method``, or a user's own named ``python:<module>:<Class>``
    (checked against the contract by ``check_method``)."""
    if not method.startswith(USER_PREFIX):
        return METHODS.load(method)
    cls = import_user(method, "bridge method", USER_METHOD_EXAMPLE)
    check_method(cls, method)
    cls.method = method  # the card names the class as params.yaml does, so ``Bridge.load`` finds it again
    return cls


def check_method(cls: Any, name: str) -> None:
    """Refuse a method class that breaks the contract the fit, the card and ``load`` rely on, naming what
    is missing: a ``Bridge`` subclass, with ``roles`` (a tuple of role names; empty = variadic), a ``Params``
    model derived from ``MethodParams``, and ``_fit``, ``_transform``, ``state`` and ``load_state``."""
    where = f"bridge method {name!r}"
    if not isinstance(cls, type) or not issubclass(cls, Bridge):
        raise BridgeError(f"{where}: {cls!r} is not a subclass of embridge.Bridge")
    roles = getattr(cls, "roles", None)
    if not isinstance(roles, tuple) or not all(isinstance(r, str) and r for r in roles):
        raise BridgeError(f"{where}: class attribute roles must be a tuple of role names (empty for any "
                          f"roles), got {roles!r}")
    if not isinstance(cls.Params, type) or not issubclass(cls.Params, MethodParams):
        raise BridgeError(f"{where}: Params must be a subclass of embridge.MethodParams, got {cls.Params!r}")
    missing = sorted(getattr(cls, "__abstractmethods__", ()))
    if missing:
        raise BridgeError(f"{where}: does not implement {', '.join(missing)}")
