"""Every registered method: fits on the synthetic world, survives save/load with identical
outputs, refuses wrong-dim vectors with a clear BridgeError, and records its curve."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from methods_world import encode, encoder, single_thread, split  # noqa: F401 - fixture
from safetensors.numpy import load_file

from embridge.bridges.base import METHODS, Bridge, card_digest, method_class
from embridge.bridges.training import TorchBridge, plot_curve
from embridge.core.errors import BridgeError
from embridge.core.vectors import Vectors
from embridge.worlds.synthetic import World, WorldConfig

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
    bridge.fit({role: data[key] for role, key in roles.items()})
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
        before = bridge.transform(vecs.vectors[:50], space=space.key)
        after = loaded.transform(vecs.vectors[:50], space=space.key)
        assert before.dtype == np.float32 and np.all(np.isfinite(before))
        np.testing.assert_array_equal(before, after)
        wrong = np.zeros((3, space.dim + 1), dtype=np.float32)
        expected = rf"{space.encoder}/{space.tower} vectors must be \[n, {space.dim}\]"
        with pytest.raises(BridgeError, match=expected):
            loaded.transform(wrong, space=space.key)
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
        bridge.fit({r: (bad if r == role else data[k]) for r, k in roles.items()})


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


# -- torch-free inference: the graph ops written into bridge.json ---------------------------------------

TORCH_METHODS = sorted(m for m in CASES if METHODS.get(m).info["torch"])


@pytest.mark.parametrize("activation", ["gelu", "relu", "silu"])
@pytest.mark.parametrize("batchnorm", [False, True])
def test_graph_ops_equal_the_torch_mlp(activation: str, batchnorm: bool) -> None:
    """``MLP.ops`` run by numpy gives torch's forward (eval mode, trained BatchNorm statistics) to 1e-6."""
    import torch

    from embridge.bridges import graph
    from embridge.bridges.nets import MLP

    torch.manual_seed(0)
    mlp = MLP(24, 40, 16, activation, batchnorm)
    mlp.train()
    with torch.no_grad():
        for _ in range(5):  # move the running statistics away from (0, 1)
            mlp(3 * torch.randn(64, 24) + 1)
    mlp.eval()
    x = np.random.default_rng(0).normal(size=(200, 24)).astype(np.float32)
    state = {f"net.m.{k}": v.numpy() for k, v in mlp.state_dict().items()}
    with torch.no_grad():
        want = mlp(torch.from_numpy(x)).numpy()
    got = graph.run(mlp.ops("net.m"), state, x)
    np.testing.assert_allclose(got, want, atol=1e-6)


@pytest.mark.parametrize("method", TORCH_METHODS)
def test_a_frozen_load_transforms_as_the_fitted_bridge_without_its_code(method: str, data: dict[str, Vectors],
                                                                         tmp_path) -> None:
    bridge = fitted(method, data)
    bridge.save(tmp_path / method)
    frozen = Bridge.load(tmp_path / method, frozen=True)
    assert type(frozen).__name__ == "FrozenBridge" and frozen.method == method
    for key in CASES[method][1].values():
        space = data[key].space
        np.testing.assert_array_equal(frozen.transform(data[key].vectors[:50], space=space.key),
                                      bridge.transform(data[key].vectors[:50], space=space.key))
    with pytest.raises(BridgeError, match="loaded frozen"):
        frozen.fit({})


def test_the_graph_matches_the_torch_networks_of_each_method(data: dict[str, Vectors]) -> None:
    """The ops each method writes are its networks: TextME's centring + projector (BatchNorm on), the
    binding heads, EmergentBridge's head and the cycle's chain of hops, run in torch."""
    import torch

    from embridge.core.vectors import normalize

    def torch_forward(bridge: TorchBridge, role: str, x: np.ndarray) -> np.ndarray:
        x = normalize(x.astype(np.float32))
        if bridge.method == "textme":
            x = normalize(x - bridge.arrays[f"mu_{role}"])
            return bridge.apply(bridge.nets["projector"], x)
        if bridge.method == "cycle":
            start, end = bridge.chain.index(role), bridge.chain.index(bridge.target_role)
            return bridge.apply(lambda t: bridge.around(start, t, (end - start) % len(bridge.chain)), x)
        net = {"emergent": "head"}.get(bridge.method, role)
        return bridge.apply(bridge.nets[net], x) if net in bridge.nets else x

    checked = 0
    for method, role, key in [("textme", "modal", "clip_image"), ("centrobind", "audio", "aud_audio"),
                              ("fabind", "text", "llm_text"), ("emergent", "new", "aud_audio"),
                              ("cycle", "audio", "aud_audio")]:
        bridge = fitted(method, data)
        space = data[key].space
        with torch.no_grad():
            want = torch_forward(bridge, role, data[key].vectors[:100])
        got = bridge.transform(data[key].vectors[:100], space=space.key)
        np.testing.assert_allclose(got, want, atol=2e-6, err_msg=method)
        checked += 1
    assert checked == 5


def test_a_frozen_load_imports_no_torch(data: dict[str, Vectors], tmp_path) -> None:
    import subprocess
    import sys

    fitted("textme", data).save(tmp_path / "b")
    code = ("import sys; from embridge.bridges.base import Bridge; import numpy as np; "
            f"b = Bridge.load({str(tmp_path / 'b')!r}, frozen=True); "
            "print(b.transform(np.ones((2, 48), np.float32), space='clip/image').shape, 'torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["(2,", "64)", "False"]


def test_a_tampered_graph_is_one_line(data: dict[str, Vectors], tmp_path) -> None:
    fitted("paired_mlp", data).save(tmp_path / "b")
    card_file = tmp_path / "b" / "bridge.json"
    card = json.loads(card_file.read_text())
    for bad, message in [([["softmax"]], "unknown op 'softmax'"),
                         ([["linear", "net.nothing"]], r"needs weights \['net.nothing.weight'"),
                         ([["normalize"], ["linear", "net.projector.layers.2"]], "shapes do not chain")]:
        card["inference"]["modal"] = bad
        card_file.write_text(json.dumps(card))  # an edit: the content hash no longer matches
        with pytest.raises(BridgeError, match="content_sha256 does not match"):
            Bridge.load(tmp_path / "b", frozen=True)
        card["content_sha256"] = card_digest(card)  # sealed anew: the graph check itself still refuses it
        card_file.write_text(json.dumps(card))
        with pytest.raises(BridgeError, match=message):
            Bridge.load(tmp_path / "b", frozen=True)


def test_emergent_fit_is_bit_identical_on_every_core(data: dict[str, Vectors]) -> None:
    """threads: 0 (every core, as the default pipeline runs it) still gives the same weights twice. (The
    scatter-add this guards against showed only at the pipeline's size: the slow e2e test's dvc.lock check.)"""
    params, roles = CASES["emergent"]
    cls = method_class("emergent")
    states = []
    for _ in range(2):
        fast = {**params, "threads": 0, "proxy_epochs": 3, "batch_size": 512, "diffusion_steps": 100}
        bridge = cls(cls.Params(**fast), {role: data[key].space for role, key in roles.items()})
        bridge.fit({role: data[key] for role, key in roles.items()})
        states.append(bridge.state())
    for key, value in states[0].items():
        np.testing.assert_array_equal(value, states[1][key], err_msg=key)


def test_closed_forms_from_blocked_moments_equal_the_materialised_pairs(data: dict[str, Vectors], monkeypatch) -> None:
    """linear / procrustes / cca fit from ``paired_moments`` in blocks of 7 pairs: the same weights as the
    textbook formulas on the whole float64 pair matrices (what the methods computed before)."""
    from embridge.bridges import common
    from embridge.core.vectors import normalize, pair_by_group

    monkeypatch.setattr(common.paired_moments, "__defaults__", (None, 7))
    src, tgt = data["clip_image"], data["llm_text"]
    i, j = pair_by_group(src, tgt)
    x, y = src.vectors[i].astype(np.float64), tgt.vectors[j].astype(np.float64)
    xc, yc = x - x.mean(0), y - y.mean(0)
    linear = fitted("linear", data)
    expected = np.linalg.solve(xc.T @ xc + 0.1 * np.eye(x.shape[1]), xc.T @ yc)
    assert np.allclose(linear.weight, expected, atol=1e-9)
    r2 = 1 - ((yc - xc @ expected) ** 2).sum() / (yc ** 2).sum()
    assert abs(linear.info["train_r2"] - r2) < 1e-10 and 0.3 < r2 < 1.0
    nx, ny = normalize(x), normalize(y)
    u, _, vt = np.linalg.svd((nx - nx.mean(0)).T @ (ny - ny.mean(0)), full_matrices=False)
    procrustes = fitted("procrustes", data)
    # compared on the data: these encoders fill ~26 of 48 dims, so W is unique only on their span
    assert np.allclose((nx - nx.mean(0)) @ procrustes.arrays["weight"], (nx - nx.mean(0)) @ (u @ vt), atol=1e-8)
    error = np.linalg.norm((nx - nx.mean(0)) @ (u @ vt) - (ny - ny.mean(0))) / np.linalg.norm(ny - ny.mean(0))
    assert abs(procrustes.info["train_relative_error"] - error) < 1e-9
    cca = fitted("cca", data)
    n = len(x) - 1
    wx, wy = cca._inv_sqrt(xc.T @ xc / n), cca._inv_sqrt(yc.T @ yc / n)
    corr = np.linalg.svd(wx @ (xc.T @ yc / n) @ wy, compute_uv=False)[:8]
    assert np.allclose(cca.arrays["correlations"], corr, atol=1e-9) and corr[0] > 0.9
