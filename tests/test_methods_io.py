"""Every registered method: fits on the synthetic world, survives save/load with identical
outputs, refuses wrong-dim vectors with a clear BridgeError, and records its curve."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from methods_world import encode, encoder, single_thread, split  # noqa: F401 - fixture
from safetensors.numpy import load_file

from pipeline.bridges.base import METHODS, Bridge, method_class
from pipeline.bridges.training import TorchBridge, plot_curve
from pipeline.core.errors import BridgeError
from pipeline.core.vectors import Vectors
from pipeline.worlds.synthetic import World, WorldConfig

FAST = {"epochs": 2, "batch_size": 64}

#: method -> (params, {role: dataset key}); dataset keys name the sets built in ``data``
CASES: dict[str, tuple[dict[str, Any], dict[str, str]]] = {
    "offset": ({"mode": "shift"}, {"source": "clip_image", "target": "clip_text"}),
    "linear": ({"alpha": 0.1}, {"source": "clip_image", "target": "llm_text"}),
    "pca_naive": ({}, {"modal": "clip_image", "anchor": "llm_text"}),
    "procrustes": ({}, {"source": "clip_image", "target": "llm_text"}),
    "cca": ({"components": 8}, {"source": "clip_image", "target": "llm_text"}),
    "textme": ({**FAST, "batchnorm": True, "noise_std": 0.05},
               {"text": "clip_text", "modal": "clip_image", "anchor": "llm_text"}),
    "paired_mlp": (FAST, {"modal": "clip_image", "anchor": "llm_text"}),
    "centrobind": ({**FAST, "dim": 32, "stop_gradient": True, "weights": {"audio": 2.0}},
                   {"text": "llm_text", "image": "clip_image", "audio": "aud_audio"}),
    "fabind": ({**FAST, "anchor": "image"},
               {"text": "llm_text", "image": "clip_image", "audio": "aud_audio"}),
    "emergent": ({**FAST, "proxy_epochs": 2, "diffusion_steps": 5},
                 {"anchor": "clip_text", "bound": "clip_image", "new": "aud_audio"}),
    "gaussian": ({"rank": 8, "center": True}, {"a": "clip_image", "b": "aud_audio"}),
    "cycle": ({**FAST, "target": "text"}, {"audio": "aud_audio", "text": "llm_text", "image": "clip_image"}),
}


@pytest.fixture(scope="module")
def data() -> dict[str, Vectors]:
    world = World(WorldConfig(seed=3, groups=300, concepts=5))
    clip = encoder(world, kind="bimodal", towers=("text", "image"), dim=48, seed=1)
    llm = encoder(world, kind="anchor", towers=("text",), dim=64, seed=2)
    aud = encoder(world, kind="bimodal", towers=("audio",), dim=40, seed=5)
    sets = {"clip_text": encode(world, clip, "text", "clip"),
            "clip_image": encode(world, clip, "image", "clip"),
            "llm_text": encode(world, llm, "text", "llm"), "aud_audio": encode(world, aud, "audio", "aud")}
    return {k: split(v, "train") for k, v in sets.items()}


def fitted(method: str, data: dict[str, Vectors]) -> Bridge:
    params, roles = CASES[method]
    cls = method_class(method)
    bridge = cls(cls.Params(**params), {role: data[key].space for role, key in roles.items()})
    bridge.fit_inputs({role: data[key] for role, key in roles.items()})
    return bridge


def test_every_registered_method_has_a_case() -> None:
    assert sorted(CASES) == sorted(METHODS)


@pytest.mark.parametrize("method", sorted(CASES))
def test_save_load_identical_and_wrong_dim_refused(method: str, data: dict[str, Vectors], tmp_path) -> None:
    bridge = fitted(method, data)
    bridge.save(tmp_path / method)
    loaded = Bridge.load(tmp_path / method)
    assert type(loaded) is type(bridge) and loaded.params == bridge.params
    for key in CASES[method][1].values():
        vecs = data[key]
        space = vecs.space
        before = bridge.transform(space.encoder, space.tower, vecs.vectors[:50])
        after = loaded.transform(space.encoder, space.tower, vecs.vectors[:50])
        assert before.dtype == np.float32 and np.all(np.isfinite(before))
        np.testing.assert_array_equal(before, after)
        wrong = np.zeros((3, space.dim + 1), dtype=np.float32)
        expected = rf"{space.encoder}/{space.tower} vectors must be \[n, {space.dim}\]"
        with pytest.raises(BridgeError, match=expected):
            loaded.transform(space.encoder, space.tower, wrong)
    meta = json.loads((tmp_path / method / "bridge.json").read_text())
    assert meta["method"] == method
    if isinstance(bridge, TorchBridge):
        assert len(meta["curve"]) == CASES[method][0]["epochs"]
        assert all(np.isfinite(meta["curve"]))


@pytest.mark.parametrize("method", ["textme", "gaussian", "centrobind"])
def test_fit_refuses_wrong_dim_inputs(method: str, data: dict[str, Vectors]) -> None:
    params, roles = CASES[method]
    cls = method_class(method)
    role, key = next(iter(roles.items()))
    bridge = cls(cls.Params(**params), {r: data[k].space for r, k in roles.items()})
    bad = data[key]
    bad = Vectors(bad.space, bad.ids, bad.labels, bad.groups, bad.splits, bad.vectors[:, :-1])
    with pytest.raises(BridgeError, match=rf"role {role!r}: expected dim {bad.space.dim}"):
        bridge.fit_inputs({r: (bad if r == role else data[k]) for r, k in roles.items()})


def test_truncated_weights_are_a_clear_error(data: dict[str, Vectors], tmp_path) -> None:
    bridge = fitted("textme", data)
    state = bridge.state()
    state.pop(next(k for k in state if k.startswith("net.")))
    with pytest.raises(BridgeError, match="weights do not match"):
        fitted("textme", data).load_state(state)
    gaussian = fitted("gaussian", data)
    with pytest.raises(BridgeError, match="lacks arrays"):
        gaussian.load_state({"encoder_a": gaussian.arrays["encoder_a"]})


def test_variadic_methods_need_enough_roles(data: dict[str, Vectors]) -> None:
    cls = method_class("cycle")
    with pytest.raises(BridgeError, match="at least 3 input spaces"):
        cls(cls.Params(), {"a": data["clip_text"].space, "b": data["llm_text"].space})
    fab = method_class("fabind")
    with pytest.raises(BridgeError, match="anchor 'video' is not one of the roles"):
        fab(fab.Params(anchor="video"), {"a": data["clip_text"].space, "b": data["llm_text"].space})


def test_curve_plot_is_a_png(data: dict[str, Vectors], tmp_path) -> None:
    bridge = fitted("emergent", data)
    path = plot_curve(bridge.info["curves"], tmp_path / "curve.png", title="emergent")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert set(bridge.info["curves"]) == {"proxy", "head"}


def test_weights_file_holds_only_tensors(data: dict[str, Vectors], tmp_path) -> None:
    fitted("centrobind", data).save(tmp_path / "cb")
    weights = load_file(str(tmp_path / "cb" / "weights.safetensors"))
    assert weights and all(isinstance(v, np.ndarray) for v in weights.values())
    assert any(k.startswith("net.audio.") for k in weights)
