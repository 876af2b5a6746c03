"""The default synthetic world is as hard as real encoders (issue 10 item 8), on held-out seeds.

The world, encoders and TextME settings are the shipped ``params.yaml``'s; only the world seed
changes, to seeds the default was not tuned on (it was tuned on 0-5 and 10-13: TextME / paired
73-89 %).
The paper's numbers: TextME keeps 74-88 % of the paired upper bound; PCA-naive is near chance;
the modality gap is one direction (consistency > 0.95) orthogonal to the content (< 0.05).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from methods_world import encode, encoder, single_thread, split, zeroshot_top1  # noqa: F401 - fixture

from embridge.bridges.classical import PCANaiveBridge, PCANaiveParams
from embridge.bridges.textme import PairedMLPBridge, ProjectorParams, TextMEBridge
from embridge.evaluate.gap import gap_statistics
from embridge.worlds.synthetic import EncoderConfig, SyntheticEncoder, World, WorldConfig

SEEDS = (20, 21, 22)
PARAMS = yaml.safe_load((Path(__file__).parents[1] / "params.yaml").read_text())


def _encoder(world: World, name: str) -> SyntheticEncoder:
    options = {k: v for k, v in PARAMS["encoders"][name]["options"].items() if k != "world"}
    return encoder(world, kind=PARAMS["encoders"][name]["model"].split(":")[1], **options)


def _first_caption(v):
    return v.take(np.flatnonzero(np.char.endswith(v.ids.astype(str), "-0")))


def run_seed(seed: int) -> dict[str, float]:
    world = World(WorldConfig(**{**PARAMS["worlds"]["default"], "seed": seed}))
    clap, clip, llm = _encoder(world, "syn-clap"), _encoder(world, "syn-clip"), _encoder(world, "syn-anchor")
    text, audio, anchor = encode(world, clap, "text", "clap"), encode(world, clap, "audio", "clap"), \
        encode(world, llm, "text", "llm")
    prompts = encode(world, llm, "text", "llm", prompts=True)
    test_audio = split(audio, "test")
    train = {"text": split(text, "train"), "modal": split(audio, "train"), "anchor": split(anchor, "train")}
    paired_inputs = {"modal": train["modal"], "anchor": _first_caption(train["anchor"])}
    params = ProjectorParams(**{k: v for k, v in PARAMS["fit"]["bridges"]["textme-audio"]["params"].items()
                                if k != "threads"})
    out = {}
    for name, bridge, inputs in (
            ("textme", TextMEBridge(params, {r: v.space for r, v in train.items()}), train),
            ("paired", PairedMLPBridge(params, {r: v.space for r, v in paired_inputs.items()}), paired_inputs),
            ("pca", PCANaiveBridge(PCANaiveParams(), {r: v.space for r, v in paired_inputs.items()}),
             paired_inputs)):
        bridge.fit(inputs)
        out[name] = zeroshot_top1(bridge.transform(test_audio.vectors, space="clap/audio"), test_audio.labels,
                                  bridge.transform(prompts.vectors, space="llm/text"), prompts.labels)
    for name, enc, modality in (("clap", clap, "audio"), ("clip", clip, "image")):
        t, x = _first_caption(encode(world, enc, "text", name)), encode(world, enc, modality, name)
        stats = gap_statistics(t.vectors, x.vectors)
        out[f"{name}_direction"] = stats["gap_direction_consistency"]
        out[f"{name}_orthogonality"] = stats["gap_orthogonality"]
    out["preservation"] = 100.0 * out["textme"] / out["paired"]
    return out


@pytest.fixture(scope="module")
def results() -> dict[str, np.ndarray]:
    runs = [run_seed(s) for s in SEEDS]
    table = {k: np.array([r[k] for r in runs]) for k in runs[0]}
    print("\ndefault world, held-out seeds", SEEDS)
    for key, values in table.items():
        print(f"  {key:20s} " + " ".join(f"{v:8.3f}" for v in values))
    return table


def test_textme_keeps_70_to_90_percent_of_paired(results) -> None:
    assert np.all((70.0 <= results["preservation"]) & (results["preservation"] <= 90.0)), results["preservation"]


def test_pca_naive_is_near_chance(results) -> None:
    """PCA bases agree only by the luck of each axis's sign: with 16 classes that luck moves top-1
    a lot (0.8-19 % on the seeds measured), so "near chance" is within 3x chance on average."""
    chance = 100.0 / PARAMS["worlds"]["default"]["concepts"]
    assert np.mean(results["pca"]) < 3 * chance, results["pca"]
    assert np.all(results["textme"] > 5 * chance)


def test_gap_statistics_meet_the_papers_thresholds(results) -> None:
    for name in ("clap", "clip"):
        assert np.all(results[f"{name}_direction"] > 0.95), (name, results[f"{name}_direction"])
        assert np.all(results[f"{name}_orthogonality"] < 0.05), (name, results[f"{name}_orthogonality"])


def test_distortion_is_what_costs_textme() -> None:
    """With ``modal_distortion: 0`` the towers share one content map and the modal tower's vectors
    are the text tower's up to the gap: centring alone then aligns them (TextME ~ paired)."""
    world = World(WorldConfig(seed=0, groups=400))
    same = SyntheticEncoder(world, EncoderConfig(modal_distortion=0.0, noise=0.0, gap=0.0, cone=0.0))
    own = SyntheticEncoder(world, EncoderConfig(noise=0.0, gap=0.0, cone=0.0))
    obs = world.observations("image").payload
    # the same observation through the text tower's map (undo the image rotation, apply text's)
    latent = obs[:, :world.config.latent_dim] @ world.rotation("image") @ world.rotation("text").T
    obs_text = np.concatenate([latent, obs[:, world.config.latent_dim:]], axis=1)
    assert np.allclose(same.encode("image", obs), same.encode("text", obs_text), atol=1e-5)
    cos = np.sum(own.encode("image", obs) * own.encode("text", obs_text), axis=1)
    assert 0.3 < cos.mean() < 0.95  # its own map: related to, not the same as, the text tower's


def test_a_world_without_private_dims_encodes() -> None:
    """``private_dim: 0`` (no modality-private detail) is a valid world, not an internal error."""
    world = World(WorldConfig(seed=0, groups=50, private_dim=0))
    enc = SyntheticEncoder(world, EncoderConfig(dim=20))
    vectors = enc.encode("image", world.observations("image").payload)
    assert vectors.shape == (50, 20) and np.all(np.isfinite(vectors))
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
