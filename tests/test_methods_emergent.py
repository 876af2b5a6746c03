"""EmergentBridge's claims on the synthetic world, over 3 seeds (METHODS.md section 2).

Unified space: a CLIP-like bimodal encoder (text = anchor ``a``, image = bound
``b``) with a large modality gap (``gap=1.6``: paired text/image cosine ~0.3,
as in real CLIP). New modality: audio, with its own encoder, paired with text
only. The (a, b) pairs that train the proxy synthesiser and the (m, a) pairs
that train the head come from disjoint halves of the training groups.
Retrieval R@1 is the mean of both directions on the test groups.

The fast suite uses the deterministic regressor proxy (the paper's cheaper
ablation); the diffusion proxy (the paper's method) runs the same claims
under ``-m slow``.
"""

from __future__ import annotations

import numpy as np
import pytest
from methods_world import (  # noqa: F401 - fixture
    encode,
    encoder,
    groups_subset,
    mean_std,
    recall_at_1,
    single_thread,
    split,
)

from embridge.bridges.emergent import EmergentBridge, EmergentParams
from embridge.core.vectors import Vectors
from embridge.worlds.synthetic import World, WorldConfig

SEEDS = (0, 1, 2)
HARD = {"groups": 3000, "concepts": 40, "within_concept": 1.0, "obs_noise": 0.5}
HEAD = {"epochs": 30, "batch_size": 128}
PROXIES = {"regressor": {"proxy": "regressor", "proxy_epochs": 100},
           "diffusion": {"proxy": "diffusion", "proxy_epochs": 300}}
VARIANTS = {"lambda0": {"proxy_weight": 0.0}, "orthogonal": {}, "full": {"orthogonal": False}}


def both_ways(x: Vectors, x_vecs: np.ndarray, y: Vectors, y_vecs: np.ndarray) -> float:
    return 0.5 * (recall_at_1(x_vecs, x.groups, y_vecs, y.groups)
                  + recall_at_1(y_vecs, y.groups, x_vecs, x.groups))


def run_seed(seed: int, proxy: str) -> dict[str, float]:
    world = World(WorldConfig(seed=seed, **HARD))
    clip = encoder(world, kind="bimodal", towers=("text", "image"), dim=48, seed=1, gap=1.6)
    audio_encoder = encoder(world, kind="bimodal", towers=("audio",), dim=40, seed=5)
    a, b, m = (encode(world, clip, "text", "clip"), encode(world, clip, "image", "clip"),
               encode(world, audio_encoder, "audio", "aud"))
    train_groups = np.unique(a.groups[a.splits == "train"])
    inputs = {"anchor": groups_subset(a, train_groups), "bound": groups_subset(b, train_groups[::2]),
              "new": groups_subset(m, train_groups[1::2])}
    ta, tb, tm = split(a, "test"), split(b, "test"), split(m, "test")
    out = {"paired_text_image_cosine": float(np.mean(np.sum(ta.vectors * tb.vectors, axis=1)))}
    for name, variant in VARIANTS.items():
        bridge = EmergentBridge(EmergentParams(**HEAD, **PROXIES[proxy], **variant),
                                {r: v.space for r, v in inputs.items()})
        bridge.fit(inputs)
        zm = bridge.transform(tm.vectors, space="aud/audio")
        out[f"anchor_R1_{name}"] = both_ways(tm, zm, ta, ta.vectors)
        out[f"emergent_R1_{name}"] = both_ways(tm, zm, tb, tb.vectors)
    return out


def claims(proxy: str) -> dict[str, np.ndarray]:
    runs = [run_seed(s, proxy) for s in SEEDS]
    table = {k: np.array([r[k] for r in runs]) for k in runs[0]}
    print(f"\nEmergentBridge ({proxy} proxy), R@1 (%) both directions, mean ± std over seeds")
    for key, values in table.items():
        print(f"  {key:28s} {mean_std(list(values))}")
    return table


@pytest.fixture(scope="module")
def regressor_results() -> dict[str, np.ndarray]:
    return claims("regressor")


def check_anchor_kept_and_emergent_improved(t: dict[str, np.ndarray]) -> None:
    anchor_change = np.mean(t["anchor_R1_orthogonal"] - t["anchor_R1_lambda0"])
    assert abs(anchor_change) <= 1.0, f"anchor R@1 change with the orthogonal proxy term: {anchor_change:.2f}"
    gain = t["emergent_R1_orthogonal"] - t["emergent_R1_lambda0"]
    # measured at the default lambda 0.1: +15 points (regressor proxy), the anchor +0.2
    assert np.all(gain > 0) and np.mean(gain) > 5.0, f"emergent m<->b R@1 gain per seed: {gain}"


def check_projection_protects_the_anchor(t: dict[str, np.ndarray]) -> None:
    """"Degrades more" must exceed the seed noise of anchor R@1 (~0.5 point std here)."""
    drop_full = np.mean(t["anchor_R1_lambda0"] - t["anchor_R1_full"])
    drop_orth = np.mean(t["anchor_R1_lambda0"] - t["anchor_R1_orthogonal"])
    assert drop_full > drop_orth + 0.5, f"anchor R@1 drop: full {drop_full:.2f}, orthogonal {drop_orth:.2f}"


#: strict: if the claim starts to hold, the XPASS fails the run and this marker must go
NOT_REPRODUCED = pytest.mark.xfail(
    strict=True, reason="not reproduced on the synthetic world: with proxies sampled from p(b | a) the "
                        "full-space proxy term leaves the anchor pair as intact as the projected one")


def test_orthogonal_proxy_keeps_anchor_and_improves_emergent(regressor_results) -> None:
    check_anchor_kept_and_emergent_improved(regressor_results)


@NOT_REPRODUCED
def test_without_projection_the_anchor_degrades_more(regressor_results) -> None:
    check_projection_protects_the_anchor(regressor_results)


@pytest.fixture(scope="module")
def diffusion_results() -> dict[str, np.ndarray]:
    """Only the slow tests ask for it (about 4 minutes on 2 busy cores)."""
    return claims("diffusion")


@pytest.mark.slow
def test_claims_with_the_diffusion_proxy(diffusion_results) -> None:
    check_anchor_kept_and_emergent_improved(diffusion_results)


@pytest.mark.slow
@NOT_REPRODUCED
def test_without_projection_the_anchor_degrades_more_diffusion(diffusion_results) -> None:
    check_projection_protects_the_anchor(diffusion_results)


def test_diffusion_proxies_are_conditional_samples() -> None:
    """A small DDPM already samples image-like proxies *of the given text*: the proxy retrieves its
    own image far above chance, and sits in the image cone (closer to images than to texts)."""
    world = World(WorldConfig(seed=0, **HARD))
    clip = encoder(world, kind="bimodal", towers=("text", "image"), dim=48, seed=1, gap=1.6)
    a, b = encode(world, clip, "text", "clip"), encode(world, clip, "image", "clip")
    m = encode(world, encoder(world, kind="bimodal", towers=("audio",), dim=40, seed=5), "audio", "aud")
    bridge = EmergentBridge(EmergentParams(**HEAD, proxy_epochs=60),
                            {"anchor": a.space, "bound": b.space, "new": m.space})
    bridge.fit({"anchor": split(a, "train"), "bound": split(b, "train"), "new": split(m, "train")})
    ta, tb = split(a, "test"), split(b, "test")
    proxies = bridge.synthesize(ta.vectors)
    chance = 100.0 / len(tb)
    r1 = recall_at_1(proxies, ta.groups, tb.vectors, tb.groups)
    to_image = np.mean(proxies @ tb.vectors.mean(0))
    to_text = np.mean(proxies @ ta.vectors.mean(0))
    print(f"\nDDPM proxies: p->b R@1 {r1:.1f}% (chance {chance:.2f}%), "
          f"mean cos to image centroid {to_image:.3f}, to text centroid {to_text:.3f}")
    assert r1 > 20 * chance and to_image > to_text
    assert bridge.info["curves"]["proxy"][-1] < 0.5 * bridge.info["curves"]["proxy"][0]
