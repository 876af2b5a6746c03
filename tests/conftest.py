"""Shared fixtures: a small synthetic world and its encoders, built once per session."""

from __future__ import annotations

import numpy as np
import pytest

from embridge.worlds.synthetic import EncoderConfig, SyntheticEncoder, World, WorldConfig


@pytest.fixture(scope="session")
def world() -> World:
    return World(WorldConfig(seed=0, groups=1200))


@pytest.fixture(scope="session")
def clip_encoder(world: World) -> SyntheticEncoder:
    return SyntheticEncoder(world, EncoderConfig(kind="bimodal", towers=("text", "image"), dim=48, seed=1))


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)
