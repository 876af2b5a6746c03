"""What a notebook needs, re-exported by ``embridge``: fit a bridge on arrays, load a saved one, read an
embedding set, list what params.yaml can name, and embed raw inputs through a project's bridge.

The CLI and the DVC pipeline run on the same objects; this module adds no behaviour of its own, only
the short paths to them (``embridge.fit`` is ``method_class(method)(params, spaces).fit(inputs)``).

>>> import numpy as np, embridge
>>> rng = np.random.default_rng(0)
>>> audio = rng.normal(size=(500, 32)).astype("float32")
>>> text = audio @ rng.normal(size=(32, 16)).astype("float32")
>>> bridge = embridge.fit("procrustes", {"source": audio, "target": text})
>>> bridge.transform(audio[:2], role="source").shape
(2, 16)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from embridge.bridges.base import Bridge, method_class
from embridge.core.catalog import FAMILIES, KINDS, METHODS, SOURCES
from embridge.core.errors import BridgeError
from embridge.core.validation import validate
from embridge.core.vectors import Space, Vectors, as_vectors
from embridge.store.embedding_set import EmbeddingSet
from embridge.store.loading import load_vectors


def fit(method: str, inputs: Mapping[str, np.ndarray | Vectors], *, spaces: Mapping[str, str] | None = None,
        **params: Any) -> Bridge:
    """Fit bridge ``method`` on vectors keyed by role and return it.

    ``method`` is a name of ``list_methods()`` or a class of your own, ``"python:<module>:<Class>"``.
    ``inputs`` maps each role to an array ``[n, dim]`` (row ``i`` of one role pairs with row ``i`` of
    the others) or to ``Vectors`` (pairs by id and group, as sets do). ``spaces`` names the encoder
    tower of a role's arrays (``{"source": "clap/audio"}``); the default is ``<role>/vectors``.
    ``params`` are the method's hyperparameters, checked by its ``Params`` model.

    >>> import numpy as np, embridge
    >>> x = np.random.default_rng(1).normal(size=(300, 8)).astype("float32")
    >>> b = embridge.fit("linear", {"source": x, "target": 2 * x}, spaces={"source": "clap/audio"}, alpha=0.1)
    >>> b.spaces["source"].key, b.get_params()["alpha"]
    ('clap/audio', 0.1)
    >>> embridge.fit("linear", {"source": x, "target": x}, alpha="x")
    Traceback (most recent call last):
    ...
    embridge.core.errors.BridgeError: method 'linear': params.alpha: expected a number, got 'x'
    """
    if not isinstance(method, str):
        raise BridgeError(f"method must be a name such as 'linear' or 'python:<module>:<Class>', got {method!r}")
    if not isinstance(inputs, Mapping) or not all(isinstance(role, str) for role in inputs):
        raise BridgeError(f"inputs must map role names to arrays, got {type(inputs).__name__}")
    if spaces is not None and (not isinstance(spaces, Mapping) or not all(isinstance(s, str) for s in spaces.values())):
        raise BridgeError("spaces must map role names to '<encoder>/<tower>' strings")
    cls = method_class(method)
    checked = validate(cls.Params, params, ("params",), f"method {method!r}")
    roles: dict[str, Space] = {}
    for role, value in inputs.items():
        if isinstance(value, Vectors):
            roles[role] = value.space
            continue
        dim = as_vectors(value, role=role).vectors.shape[1]
        encoder, _, tower = (spaces or {}).get(role, f"{role}/vectors").partition("/")
        if not encoder or not tower:
            raise BridgeError(f"spaces[{role!r}] must look like '<encoder>/<tower>', got {spaces[role]!r}")
        roles[role] = Space(encoder, tower, dim)
    unknown = sorted(set(spaces or {}) - set(inputs))
    if unknown:
        raise BridgeError(f"spaces names roles {unknown} that inputs do not have ({sorted(inputs)})")
    bridge = cls(checked, roles)
    return bridge.fit(inputs)


def load(path: str | Path, *, frozen: bool = False) -> Bridge:
    """The bridge saved in folder ``path`` (``bridge.save``, ``bridge fit`` or ``bridge publish``), verified
    against its card's content hash. ``frozen=True`` applies a torch method's stored inference graph with
    numpy alone (transform only, no torch import).

    >>> import tempfile, numpy as np, embridge
    >>> x = np.random.default_rng(2).normal(size=(300, 8)).astype("float32")
    >>> folder = tempfile.mkdtemp() + "/my-bridge"
    >>> embridge.fit("linear", {"source": x, "target": x[:, :4]}).save(folder)
    >>> b = embridge.load(folder)
    >>> b.is_fitted, b.transform(x[:5], role="source").shape, len(b.content_sha256)
    (True, (5, 4), 64)
    """
    folder = Path(path)
    if (folder / "publish.json").is_file():  # a published folder: its files as the publish recorded them
        from embridge.publish import verify_folder

        problem = verify_folder(folder)
        if problem is not None:
            raise BridgeError(f"{folder}: not the folder `bridge publish` wrote ({problem}); download or "
                              "publish it again")
    return Bridge.load(folder, frozen=frozen)


def open_set(path: str | Path) -> EmbeddingSet:
    """The embedding set in folder ``path`` (``artifacts/embeddings/<dataset>/<encoder>/<tower>``): its
    manifest is checked now, and each shard's checksum before any of its rows is read.

    >>> s = embridge.open_set(tiny_set)
    >>> s.rows, s.dim, s.manifest["encoder"]["tower"]
    (40, 48, 'image')
    """
    return EmbeddingSet(path)


def read_set(path: str | Path, splits: Iterable[str] | None = None) -> Vectors:
    """The rows of the set at ``path`` (those of ``splits``, or all) in memory: ids, labels, groups,
    splits and float32 vectors, fingerprinted as the set's manifest is.

    >>> v = embridge.read_set(tiny_set, splits=["train"])
    >>> v.vectors.dtype, v.vectors.shape[1], set(v.splits.tolist())
    (dtype('float32'), 48, {'train'})
    """
    splits = (splits,) if isinstance(splits, str) else splits
    return load_vectors(Path(path), tuple(splits) if splits is not None else None)


def list_methods() -> list[str]:
    """The bridge methods ``fit`` and params.yaml's ``fit.bridges.<name>.method`` accept by name.

    >>> {"linear", "procrustes", "textme"} <= set(embridge.list_methods())
    True
    """
    return list(METHODS)


def list_encoders() -> list[str]:
    """The encoder families params.yaml's ``encoders.<name>.model`` names (``<family>:<model>``).

    >>> "st" in embridge.list_encoders()
    True
    """
    return list(FAMILIES)


def list_sources() -> list[str]:
    """The source kinds params.yaml's ``datasets.<name>.source`` names.

    >>> "table" in embridge.list_sources()
    True
    """
    return list(SOURCES)


def list_task_kinds() -> list[str]:
    """The task kinds params.yaml's ``eval.tasks.<name>.kind`` names.

    >>> "zeroshot" in embridge.list_task_kinds()
    True
    """
    return list(KINDS)
