"""Modality-gap statistics: an exact constructed case and the synthetic world's encoders."""

from __future__ import annotations

import numpy as np
import pytest

from embridge.evaluate.gap import distance_ratio, gap_statistics
from embridge.worlds.synthetic import EncoderConfig, SyntheticEncoder, World, WorldConfig


@pytest.fixture(scope="module")
def world() -> World:
    return World(WorldConfig(groups=2000))


def _towers(world: World, config: EncoderConfig) -> tuple[np.ndarray, np.ndarray]:
    encoder = SyntheticEncoder(world, config)
    # captions_per_item = 1: text row k and image row k are the same group
    text, image = world.observations("text"), world.observations("image")
    assert (text.groups == image.groups).all()
    return encoder.encode("text", text.payload), encoder.encode("image", image.payload)


def test_a_pure_offset_gap_has_exact_statistics(rng: np.random.Generator) -> None:
    # t_k = [cos(a) u_k, +sin(a)], x_k = [cos(a) u_k, -sin(a)], u_k unit: both unit vectors,
    # every instance gap is exactly [0, ..., -2 sin(a)], orthogonal to every x_j - x_k
    a = 0.3
    u = rng.standard_normal((4000, 31))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    side = np.full((4000, 1), np.sin(a))
    text, modal = np.hstack([np.cos(a) * u, side]), np.hstack([np.cos(a) * u, -side])
    got = gap_statistics(text, modal, pairs=2000)
    assert got["gap_length"] == pytest.approx(2 * np.sin(a))
    assert got["gap_direction_consistency"] == pytest.approx(1.0)
    assert got["instance_gap_consistency"] == pytest.approx(1.0)
    assert got["alignment_noise_mean"] == pytest.approx(0.0, abs=1e-9)
    assert got["alignment_noise_std"] == pytest.approx(0.0, abs=1e-9)
    assert got["gap_orthogonality"] == pytest.approx(0.0, abs=1e-9)
    assert got["gap_orthogonality_text"] == pytest.approx(0.0, abs=1e-9)
    # for unit rows, mean_k cos(t_k, mu) = mean_k t_k . mu / |mu| = |mu|: the centroid's length,
    # here sqrt(sin^2 a + cos^2 a |mean u|^2) ~ sin(a) = .2955; both cones are mirror images
    assert got["centroid_proximity_text"] == pytest.approx(np.linalg.norm(text.mean(axis=0)))
    assert got["centroid_proximity_modal"] == pytest.approx(got["centroid_proximity_text"])
    assert got["centroid_proximity_text"] == pytest.approx(np.sin(a), abs=0.01)
    # input scale does not matter: vectors are normalised first
    assert gap_statistics(3 * text, 0.5 * modal, pairs=2000) == pytest.approx(got)


def test_alignment_noise_is_what_is_left_after_the_group_gap(rng: np.random.Generator) -> None:
    # t_k = [cos(a) u_k, sin(a), 0], x_k = [cos(a) u_k, -sin(a) cos(b_k), s_k sin(a) sin(b_k)], all unit;
    # b_k in {.3, .9} and s_k = +-1 in four equal blocks, so x_k - t_k = sin(a) [0, -(1 + cos b_k), s_k sin b_k],
    # g = sin(a) [0, -(1 + c), 0] with c = mean cos b, eps_k = sin(a) [0, c - cos b_k, s_k sin b_k]
    a, b, s = 0.4, np.repeat([0.3, 0.9, 0.3, 0.9], 1000), np.repeat([1.0, 1.0, -1.0, -1.0], 1000)
    u = rng.standard_normal((4000, 15))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    text = np.hstack([np.cos(a) * u, np.full((4000, 1), np.sin(a)), np.zeros((4000, 1))])
    modal = np.hstack([np.cos(a) * u, -np.sin(a) * np.cos(b)[:, None], (s * np.sin(a) * np.sin(b))[:, None]])
    got = gap_statistics(text, modal, pairs=1000)
    c = np.cos([0.3, 0.9]).mean()
    eps = np.sin(a) * np.sqrt((c - np.cos([0.3, 0.9])) ** 2 + np.sin([0.3, 0.9]) ** 2)  # the two values of |eps_k|
    assert got["gap_length"] == pytest.approx(np.sin(a) * (1 + c))
    assert got["alignment_noise_mean"] == pytest.approx(eps.mean())
    assert got["alignment_noise_std"] == pytest.approx(abs(eps[0] - eps[1]) / 2)  # two equal halves
    # cos(x_k - t_k, g) = (1 + cos b_k) / sqrt((1 + cos b_k)^2 + sin^2 b_k)
    inst = (1 + np.cos([0.3, 0.9])) / np.sqrt((1 + np.cos([0.3, 0.9])) ** 2 + np.sin([0.3, 0.9]) ** 2)
    assert got["instance_gap_consistency"] == pytest.approx(inst.mean())


def test_synthetic_encoder_gap_is_consistent_and_orthogonal(world: World) -> None:
    text, image = _towers(world, EncoderConfig())
    got = gap_statistics(text, image)
    print("gap statistics, default bimodal encoder:", {k: round(v, 4) for k, v in got.items()})
    assert got["gap_direction_consistency"] > 0.9
    assert got["gap_orthogonality"] < 0.1
    assert got["gap_orthogonality_text"] < 0.1
    assert got["instance_gap_consistency"] > 0.8
    assert got["gap_length"] > 0.5
    assert got["alignment_noise_mean"] < got["gap_length"]


def test_no_gap_encoder_has_a_short_gap_in_no_consistent_direction(world: World) -> None:
    # identical towers: no gap, no cone and no content distortion of the image tower (which alone
    # moves the image centroid 0.17 away from the text one, in the content subspace)
    text, image = _towers(world, EncoderConfig(gap=0.0, cone=0.0, modal_distortion=0.0))
    got = gap_statistics(text, image)
    print("gap statistics, gap=0 cone=0 encoder:", {k: round(v, 4) for k, v in got.items()})
    assert got["gap_length"] < 0.05
    # what is left is sampling noise: half-sample gaps do not agree, instance gaps do not align with it
    assert abs(got["gap_direction_consistency"]) < 0.5
    assert abs(got["instance_gap_consistency"]) < 0.1


def test_distance_ratio(world: World) -> None:
    text, image = _towers(world, EncoderConfig())
    # two halves of one corpus: as far apart as each is from itself
    assert distance_ratio(text[:1000], text[1000:]) == pytest.approx(1.0, abs=0.03)
    # text against image across a gap of ~0.65: inter-corpus distances are longer
    assert distance_ratio(text, image) < 0.9
    # two tight, distant clusters: within ~0.1 apart, across ~2 apart
    rng = np.random.default_rng(0)
    a = np.array([1.0, 0.0, 0.0]) + 0.05 * rng.standard_normal((500, 3))
    b = np.array([-1.0, 0.0, 0.0]) + 0.05 * rng.standard_normal((500, 3))
    assert distance_ratio(a, b) < 0.1
    with pytest.raises(ValueError, match="corpora"):
        distance_ratio(text, image[:, :10])
