"""``synthetic:`` encoders: the world's bimodal and anchor encoders as towers."""

from __future__ import annotations

from typing import Any

import numpy as np

from embridge.encoders.base import Encoder, Tower
from embridge.worlds.synthetic import EncoderConfig, SyntheticEncoder, World, WorldConfig


class _SyntheticTower(Tower):
    def __init__(self, encoder: SyntheticEncoder, name: str) -> None:
        self._encoder, self.name, self.modality = encoder, name, name
        self.dim = encoder.config.dim

    def encode(self, prepared: Any) -> np.ndarray:
        return self._encoder.encode(self.name, np.asarray(prepared))


class SyntheticFamilyEncoder(Encoder):
    """``synthetic:bimodal`` or ``synthetic:anchor`` over a world config."""

    family = "synthetic"

    def __init__(self, kind: str, world: WorldConfig, options: dict[str, Any]) -> None:
        config = EncoderConfig(kind=kind, **{k: tuple(v) if k == "towers" else v for k, v in options.items()})
        self._config = config
        self._world = world
        encoder = SyntheticEncoder(World(world), config)
        self.towers = {name: _SyntheticTower(encoder, name) for name in config.towers}

    def identity(self) -> dict[str, Any]:
        return {"model": f"synthetic:{self._config.kind}", "revision": self._config.fingerprint()}


def load(model: str, options: dict[str, Any]) -> Encoder:
    """Build ``synthetic:<kind>``; ``options['world']`` is the resolved world config."""
    options = dict(options)
    world = options.pop("world")
    return SyntheticFamilyEncoder(model, WorldConfig(**{k: tuple(v) if k == "modalities" else v
                                                        for k, v in world.items()}), options)
