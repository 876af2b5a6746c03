"""A fitted bridge in use: embed raw inputs into a shared space, and search an embedding set.

``BridgedEncoder`` is an encoder tower followed by a bridge's transform for
that tower's space: ``encode(inputs)`` turns texts (or image / audio paths)
into vectors of the shared space, the same two steps extraction and
evaluation apply (the tower, L2 normalisation, the bridge). ``search_set``
answers queries against an embedding set, optionally through a bridge, with a
FAISS index that is built once and saved beside a JSON card naming what it
indexes (``Layout.index``), so a later search, or a DVC stage that tracks the
file, reuses it until the set or the bridge changes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from embridge.core.config import Params
from embridge.core.errors import BridgeError
from embridge.core.files import atomic_write, atomic_write_json
from embridge.core.layout import Layout
from embridge.core.vectors import Vectors, normalize, require_scoreable

#: galleries up to this many rows are searched exactly (IndexFlatIP); above, HNSW
EXACT_MAX = 200_000


def _bridge_dir(params: Params, name: str, root: Path) -> Path:
    """A fitted bridge's directory (its first seed's, for a bridge fitted over seeds)."""
    if name not in params.fit.bridges:
        raise BridgeError(f"no bridge {name!r} in fit.bridges; bridges: {', '.join(sorted(params.fit.bridges))}")
    seeds = params.fit.bridges[name].seeds
    return Layout(root).bridge(name, seeds[0] if seeds else None)


#: frozen bridges loaded by this process, keyed by directory and card bytes: `bridge search --text` needs the
#: bridge for the query space, the encoder and the gallery, and loaded (and verified) it three times
_LOADED: dict[tuple[str, str], Any] = {}


def _bridge(params: Params, name: str | None, root: Path) -> Any:
    """The fitted bridge ``name``, frozen; loaded once per process while its card is unchanged (a refit
    rewrites the card, whose ``weights_sha256`` then differs)."""
    if name is None:
        return None
    from embridge.bridges.base import Bridge

    directory = _bridge_dir(params, name, root)
    card = directory / "bridge.json"
    try:
        key = (str(directory.resolve()), hashlib.sha256(card.read_bytes()).hexdigest())
    except OSError:
        return Bridge.load(directory, frozen=True, fresh_in=root)  # says what is missing, in one line
    if key not in _LOADED:
        _LOADED[key] = Bridge.load(directory, frozen=True, fresh_in=root)
    return _LOADED[key]


@dataclass
class BridgedEncoder:
    """An encoder tower (``encoders.<encoder>`` of params.yaml) and, optionally, a bridge for its space."""

    encoder: str
    tower: str
    params: Params
    bridge: str | None = None
    root: Path = Path(".")
    batch_size: int = 64

    @classmethod
    def from_project(cls, bridge: str, role: str, project: str | Path = ".", params: str = "params.yaml"
                     ) -> BridgedEncoder:
        """The encoder tower of ``role`` of bridge ``bridge`` in the project at ``project`` (its
        ``params.yaml`` and fitted ``artifacts/``), followed by that bridge: what ``bridge embed`` runs.

        >>> encode = embridge.BridgedEncoder.from_project("clip-linear", "source", project=tiny_project)
        >>> encode.encode(tiny_images).shape
        (2, 48)
        """
        from embridge.core.config import load_params

        root = Path(project)
        loaded = load_params(root / params)
        if bridge not in loaded.fit.bridges:
            raise BridgeError(f"{root / params}: no bridge {bridge!r} in fit.bridges; bridges: "
                              f"{', '.join(sorted(loaded.fit.bridges)) or 'none'}")
        inputs = loaded.fit.bridges[bridge].inputs
        if role not in inputs:
            raise BridgeError(f"bridge {bridge!r} has roles {sorted(inputs)}, not {role!r}")
        ref = loaded.extract.sets[inputs[role]]
        return cls(ref.encoder, ref.tower, loaded, bridge, root)

    def __post_init__(self) -> None:
        from embridge.encoders.registry import load_encoder
        from embridge.extract.plan import resolve_world

        if self.encoder not in self.params.encoders:
            raise BridgeError(f"no encoder {self.encoder!r} in encoders; encoders: "
                              f"{', '.join(sorted(self.params.encoders))}")
        spec = self.params.encoders[self.encoder]
        self._tower = load_encoder(spec.model, resolve_world(self.params, spec.options)).tower(self.tower)
        self._bridge = _bridge(self.params, self.bridge, self.root)

    def encode(self, inputs: list[Any] | np.ndarray) -> np.ndarray:
        """Vectors of ``inputs`` in the bridge's shared space (the tower's own space without a bridge)."""
        from embridge.extract.encode import encode_rows
        from embridge.sources.base import Rows

        n = len(inputs)
        ids = np.char.add("input-", np.arange(n).astype(str))
        payload = inputs if isinstance(inputs, np.ndarray) else np.array(list(inputs), dtype=object)
        rows = Rows(self.tower, ids, payload, np.full(n, ""), np.full(n, ""), ids)
        try:
            _, vectors, _ = encode_rows(self._tower, rows, self.batch_size, normalize=True, on_error="fail")
        except (ValueError, TypeError) as e:  # inputs this tower cannot take (free text for a synthetic world)
            raise BridgeError(f"encoder {self.encoder!r} ({self.tower} tower) cannot encode these inputs "
                              f"({type(e).__name__}: {str(e)[:120]})") from None
        if self._bridge is None:
            return vectors
        return require_scoreable(self._bridge.transform(vectors, space=f"{self.encoder}/{self.tower}"),
                                 f"bridge {self.bridge!r}: its output", ids)


def set_in_space(params: Params, set_name: str, bridge: str | None, root: Path = Path("."),
                 splits: tuple[str, ...] | None = None) -> tuple[Vectors, np.ndarray]:
    """The rows of ``set_name`` and their vectors mapped through ``bridge`` (or as stored)."""
    from embridge.store.loading import load_vectors

    if set_name not in params.extract.sets:
        raise BridgeError(f"no set {set_name!r} in extract.sets; sets: {', '.join(sorted(params.extract.sets))}")
    rows = load_vectors(Layout(root).embeddings(params.extract.sets[set_name].path), splits)
    require_scoreable(rows.vectors, f"set {set_name!r}", rows.ids)
    return rows, in_space(params, bridge, rows.space.encoder, rows.space.tower, root)(rows.vectors)


def in_space(params: Params, bridge: str | None, encoder: str, tower: str, root: Path = Path(".")
             ) -> Callable[[np.ndarray], np.ndarray]:
    """``f(vectors)``: vectors of ``encoder``'s ``tower`` as unit float32 rows of ``bridge``'s shared space
    (as stored, normalised, without a bridge); what eval, search and ``bridge export --bridge`` apply."""
    b = _bridge(params, bridge, root)

    def apply(vectors: np.ndarray) -> np.ndarray:
        mapped = vectors if b is None else b.transform(vectors, space=f"{encoder}/{tower}")
        if b is not None:
            require_scoreable(mapped, f"bridge {bridge!r}: its output for {encoder}/{tower}")
        return normalize(np.asarray(mapped, dtype=np.float32))

    return apply


def index_key(rows: Vectors, bridge: str | None, params: Params, root: Path) -> str:
    """What an index indexes: the set's content and the bridge's content hash (a changed one rebuilds it)."""
    content = "" if bridge is None else _bridge(params, bridge, root).content_sha256
    return hashlib.sha256(f"{rows.fingerprint}/{bridge}/{content}/{len(rows)}".encode()).hexdigest()[:16]


def gallery_index(vectors: np.ndarray, path: Path, key: str) -> Any:
    """The FAISS index of ``vectors`` saved at ``path`` (+ ``.json`` card), reused while its key matches.

    The card holds the key (the set's and the bridge's content) and the
    sha256 of the index file's own bytes, so an index replaced by another
    (even a valid index of the same rows in another order, whose ids would
    be wrong) is rebuilt, never used. Exact (``IndexFlatIP``) up to
    ``EXACT_MAX`` rows, HNSW32 above; written atomically, the file first and
    its card last, so a killed build leaves the previous index (or none).
    """
    import faiss

    card = path.with_suffix(".json")
    if path.is_file() and card.is_file():
        try:
            saved = json.loads(card.read_text())
            data = path.read_bytes()
            if isinstance(saved, dict) and saved.get("key") == key and \
                    saved.get("sha256") == hashlib.sha256(data).hexdigest():
                index = faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8))
                if index.ntotal == len(vectors) and index.d == vectors.shape[1]:
                    return index
        except (OSError, ValueError, RuntimeError):
            pass  # an unreadable index or card is rebuilt
    kind = "exact" if len(vectors) <= EXACT_MAX else "hnsw"
    index = faiss.IndexFlatIP(vectors.shape[1]) if kind == "exact" else \
        faiss.IndexHNSWFlat(vectors.shape[1], 32, faiss.METRIC_INNER_PRODUCT)
    index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    data = faiss.serialize_index(index).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: tmp.write_bytes(data))
    atomic_write_json(card, {"key": key, "kind": kind, "rows": int(index.ntotal), "dim": int(index.d),
                             "sha256": hashlib.sha256(data).hexdigest()})
    return index


def search_set(params: Params, set_name: str, queries: np.ndarray, k: int = 10, bridge: str | None = None,
               root: Path = Path(".")) -> list[list[dict[str, Any]]]:
    """Top-``k`` rows of ``set_name`` (through ``bridge``) for each query vector: id, label, split, score."""
    rows, vectors = set_in_space(params, set_name, bridge, root)
    queries = normalize(np.atleast_2d(np.asarray(queries, dtype=np.float32)))
    if queries.shape[1] != vectors.shape[1]:
        raise BridgeError(f"query vectors have dim {queries.shape[1]}, the set {set_name!r}"
                          f"{f' through {bridge!r}' if bridge else ''} has dim {vectors.shape[1]}")
    index = gallery_index(vectors, Layout(root).index(set_name, bridge), index_key(rows, bridge, params, root))
    scores, found = index.search(queries, min(k, len(rows)))
    return [[{"rank": r + 1, "id": str(rows.ids[i]), "label": str(rows.labels[i]), "split": str(rows.splits[i]),
              "score": float(s)} for r, (i, s) in enumerate(zip(found[q], scores[q], strict=True)) if i >= 0]
            for q in range(len(queries))]


def query_space(params: Params, set_name: str, bridge: str | None, tower: str, root: Path = Path(".")
                ) -> str:
    """The encoder whose ``tower`` embeds a query for ``set_name``: the set's own encoder without a bridge,
    else the one bridge space of that tower other than the set's."""
    own = params.extract.sets[set_name].encoder
    b = _bridge(params, bridge, root)
    if b is None:
        return own
    candidates = [s.encoder for s in b.spaces.values() if s.tower == tower
                  and (s.encoder, s.tower) != (own, params.extract.sets[set_name].tower)]
    if len(set(candidates)) != 1:
        raise BridgeError(f"bridge {bridge!r} has {len(set(candidates))} {tower} spaces besides {set_name!r}'s "
                          f"({', '.join(sorted(set(candidates))) or 'none'}): pass --encoder to choose one")
    return candidates[0]
