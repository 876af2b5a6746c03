"""What extracting one set means: its source rows, encoder tower, header and per-shard fingerprints.

Built the same way by every process that runs any of it (a whole run, a
partition, a Ray actor), so they all agree on shards and header. Only the
modules the set's params name are imported: a synthetic set never imports
torch, a sentence-transformers set never imports the synthetic world.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from embridge.core.catalog import split_model
from embridge.core.config import ExtractSection, Params, SetRef, unknown_name
from embridge.core.errors import BridgeError
from embridge.core.layout import Layout
from embridge.core.memory import release_freed
from embridge.core.validation import validate
from embridge.encoders.base import Tower
from embridge.encoders.registry import load_encoder
from embridge.sources.base import Rows
from embridge.sources.digests import FileDigests
from embridge.sources.registry import load_source

Progress = Callable[[int, int], None]  # (rows done, rows total)
Notify = Callable[[str], None]  # a line for the person running the extraction


@dataclass
class SetPlan:
    """What extracting one set means: built the same way by every process that runs any of it
    (a whole run, a partition, a Ray actor), so they all agree on shards and header."""

    name: str
    ref: SetRef
    cfg: ExtractSection
    tower: Tower
    rows: Rows
    header: dict[str, Any]
    sources: list[str]  # fingerprint of each shard's source rows: a changed row redoes only its shard

    @property
    def shards(self) -> int:
        return max(1, -(-len(self.rows) // self.cfg.shard_rows))

    def shard(self, index: int) -> Rows:
        return self.rows.take(slice(index * self.cfg.shard_rows, (index + 1) * self.cfg.shard_rows))

    def shard_len(self, index: int) -> int:
        """Rows of shard ``index``, without reading them (a streamed source reads a part to take it)."""
        return max(0, min(self.cfg.shard_rows, len(self.rows) - index * self.cfg.shard_rows))


def resolve_world(params: Params, options: dict[str, Any]) -> dict[str, Any]:
    """Replace a ``world: <name>`` reference by that world's config."""
    if isinstance(options.get("world"), str):
        return {**options, "world": params.worlds[options["world"]]}
    return dict(options)


def check_worlds(params: Params, ref: SetRef) -> None:
    """The worlds a set's dataset and encoder name, and a synthetic encoder's fit to its world (dims,
    towers), checked before any work starts; only stages that build a world import its code."""
    dataset, spec = params.datasets[ref.dataset], params.encoders[ref.encoder]
    family, model = split_model(spec.model)
    uses = [("datasets", ref.dataset, dataset.options)] if dataset.source == "synthetic" else []
    uses += [("encoders", ref.encoder, spec.options)] if family == "synthetic" else []
    if not uses:
        return
    from embridge.worlds.synthetic import EncoderConfig, SyntheticEncoder, World, WorldConfig

    path = params.path
    configs = {}
    for section, name, options in uses:
        world = options.get("world")
        if world not in params.worlds:
            raise unknown_name("world", str(world), params.worlds, f"{section}.{name}.options.world", Path(path))
        config = configs[section] = validate(WorldConfig, params.worlds[world], ("worlds", world), path)
        if section == "encoders":
            where = ("encoders", name, "options")
            encoder = validate(EncoderConfig, {"kind": model, **{k: v for k, v in options.items() if k != "world"}},
                               where, path)
            try:
                SyntheticEncoder(World(config), encoder)
            except ValueError as e:
                raise BridgeError(f"{path}: {'.'.join(where)}: {e}") from None
    if len(configs) == 2 and (differ := [k for k in STRUCTURE if getattr(configs["datasets"], k) !=
                                         getattr(configs["encoders"], k)]):
        raise BridgeError(f"{path}: datasets.{ref.dataset}.options.world: {dataset.options['world']!r} is not "
                          f"the world of encoder {ref.encoder!r} ({spec.options['world']!r}): "
                          f"they differ in {', '.join(differ)} (another sample of one "
                          "world differs only in its draws: sample, groups, captions, splits, modalities)")


#: what a synthetic encoder and the prompts depend on: a dataset's world must agree with its encoder's on these
STRUCTURE = ("seed", "concepts", "latent_dim", "private_dim", "concept_scale", "within_concept",
             "prompt_templates", "template_noise")


def plan_set(params: Params, name: str, root: Path = Path(".")) -> SetPlan:
    """Load the source rows and the encoder tower of ``extract.sets.<name>`` and describe its set."""
    cfg = params.extract
    if name not in cfg.sets:
        raise BridgeError(f"no set {name!r} in extract.sets; defined: {', '.join(sorted(cfg.sets)) or 'none'}")
    ref = cfg.sets[name]
    check_worlds(params, ref)
    dataset = params.datasets[ref.dataset]
    source = load_source(ref.dataset, dataset.source, resolve_world(params, dataset.options),
                         dataset.class_prompts)
    spec = params.encoders[ref.encoder]
    encoder = load_encoder(spec.model, resolve_world(params, spec.options))
    tower = encoder.tower(ref.tower)
    if tower.modality not in source.modalities():
        raise BridgeError(f"dataset {ref.dataset!r} has no {tower.modality!r} rows for tower {ref.tower!r}; "
                          f"it has {source.modalities()}")
    rows = source.rows(tower.modality)
    if not len(rows):  # an empty or unreadable input: never replaces a set that holds rows
        raise BridgeError(f"dataset {ref.dataset!r} gives no {tower.modality} rows for set {name!r} (is its input "
                          "empty?); nothing was written")
    header = {
        "encoder": {"name": ref.encoder, "family": encoder.family, **encoder.identity(), "tower": ref.tower,
                    "dim": tower.dim, "normalized": cfg.normalize},
        "source": {"dataset": ref.dataset, "kind": dataset.source, "rows": len(rows),
                   **({"skipped": list(source.skipped)} if source.skipped else {})},
        "dtype": cfg.dtype,
        "format": cfg.format,
        "shard_rows": cfg.shard_rows,
    }
    plan = SetPlan(name, ref, cfg, tower, rows, header, sources=[])
    digests = FileDigests(Layout(root).cache("media", ref.dataset))
    plan.sources = [_fingerprint(plan, i, digests) for i in range(plan.shards)]
    digests.save()
    return plan


def _fingerprint(plan: SetPlan, index: int, digests: FileDigests) -> str:
    """Shard ``index``'s source fingerprint; what reading it freed goes back to the system (``release_freed``)."""
    fingerprint = plan.shard(index).fingerprint(digests)
    release_freed()
    return fingerprint


def shard_columns(shard: Rows, keep: np.ndarray) -> dict[str, np.ndarray]:
    """The metadata columns of the kept rows of a shard (the rows that were encoded: taking the shard again
    from a streamed source would read its parts again, from the start of the stream)."""
    kept = shard if len(keep) == len(shard) else shard.take(keep)  # every row kept: no copy
    return {"id": kept.ids, "label": kept.labels, "split": kept.splits, "group": kept.groups}
