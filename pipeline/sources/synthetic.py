"""``synthetic`` source: the rows of a synthetic world, plus its class prompts."""

from __future__ import annotations

from typing import Any

import numpy as np

from embridge.sources.base import PartedRows, Rows, Source
from embridge.worlds.synthetic import TEXT, World, WorldConfig

#: groups per part of a streamed world: memory holds one part (16384 groups: tens of MB while it is drawn),
#: and worlds up to this size are drawn in one piece as before (bit-identical either way)
PART_GROUPS = 16384


def world_config(options: dict[str, Any]) -> WorldConfig:
    return WorldConfig(**{k: tuple(v) if k == "modalities" else v for k, v in options.items()})


class SyntheticSource(Source):
    """Every modality of the world, streamed in parts of ``PART_GROUPS`` groups (``PartedRows``, like a
    folder of Parquet files); text rows end with the class prompts (split ``prompt``)."""

    def __init__(self, name: str, world: dict[str, Any]) -> None:
        self.name = name
        self.world = World(world_config(world))

    def modalities(self) -> list[str]:
        return list(self.world.config.modalities)

    def rows(self, modality: str) -> PartedRows:
        world = self.world
        if modality not in world.config.modalities:  # here, not mid-extraction
            raise KeyError(f"modality {modality!r} not in world modalities {list(world.config.modalities)}")
        starts = list(range(0, world.config.groups, PART_GROUPS))
        counts = [(min(g + PART_GROUPS, world.config.groups) - g) * world.rows_per_group(modality) for g in starts]

        def read(k: int) -> Rows:
            if k == len(starts):
                return world.prompts()
            return world.observations(modality, slice(starts[k], starts[k] + PART_GROUPS))

        prompts = [world.config.concepts * world.config.prompt_templates] if modality == TEXT else []
        return PartedRows(modality, np.asarray(counts + prompts), read)


def load(name: str, options: dict[str, Any], class_prompts: list[str]) -> Source:
    return SyntheticSource(name, options["world"])
