"""``synthetic`` source: the rows of a synthetic world, plus its class prompts."""

from __future__ import annotations

from typing import Any

import numpy as np

from pipeline.sources.base import Rows, Source
from pipeline.worlds.synthetic import TEXT, World, WorldConfig


def world_config(options: dict[str, Any]) -> WorldConfig:
    return WorldConfig(**{k: tuple(v) if k == "modalities" else v for k, v in options.items()})


class SyntheticSource(Source):
    """Every modality of the world; text rows include the class prompts (split ``prompt``)."""

    def __init__(self, name: str, world: dict[str, Any]) -> None:
        self.name = name
        self.world = World(world_config(world))

    def modalities(self) -> list[str]:
        return list(self.world.config.modalities)

    def rows(self, modality: str) -> Rows:
        parts = [self.world.observations(modality)]
        if modality == TEXT:
            parts.append(self.world.prompts())
        return Rows(modality,
                    ids=np.concatenate([p.ids for p in parts]),
                    payload=np.concatenate([p.vectors for p in parts]),
                    labels=np.concatenate([p.labels for p in parts]),
                    splits=np.concatenate([p.splits for p in parts]),
                    groups=np.concatenate([p.groups for p in parts]))


def load(name: str, options: dict[str, Any], class_prompts: list[str]) -> Source:
    return SyntheticSource(name, options["world"])
