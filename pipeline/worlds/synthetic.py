"""The synthetic concept world: known ground truth for every method's claim.

A world has K concepts, a Gaussian mixture in a latent space. Every *group*
(one underlying thing) draws a latent from its concept and shows up in each
modality: ``captions_per_item`` text observations, one image, one audio, ...
An observation is ``[R_m z + noise ; private_m]``: a modality-specific rotation
of the shared latent plus modality-private dimensions that carry no concept
information (what the papers call modality-private information).

Encoders are deterministic functions of observations:

* a *bimodal* encoder (CLIP/CLAP-like) has a text tower and a modal tower that
  map the shared latent into one content subspace, add a mild nonlinearity and
  a deterministic "noise" term, and then put each tower in its own cone: a
  shared cone centre plus a constant per-tower offset along a gap direction
  orthogonal to the content subspace. This reproduces the modality gap that
  the papers measure on real encoders (consistent direction, orthogonal to
  intra-modal variation).
* an *anchor* encoder (the "LLM anchor") is a single high-fidelity text tower
  with no gap; ``weak`` removes a fraction of the latent dimensions from it.

Everything is seeded: the same config gives bit-identical arrays.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from functools import cached_property

import numpy as np
from pydantic import ConfigDict

from embridge.core.vectors import normalize
from embridge.sources.base import Rows  # the one row type a source yields: a world is a source's rows

TEXT = "text"


def _rng(*keys: object) -> np.random.Generator:
    """A generator seeded by a stable hash of ``keys`` (independent streams)."""
    digest = hashlib.sha256(json.dumps(keys, sort_keys=True).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


class _Normals:
    """Standard normals of one seeded stream, read at any position: ``take(start, count)`` equals
    ``standard_normal(total)[start:start + count]`` without drawing ``total`` values at once.

    numpy's Generator draws normals one after another from its bit stream, so
    a stream read in consecutive pieces gives the same values as one draw
    (checked in tests/test_sources_media.py). Reading forward costs only the
    values skipped; reading backward restarts the stream. That is how a world
    streams: a part of the rows draws its own noise, bit-identical to the
    world drawn whole, and memory is one part.
    """

    def __init__(self, *keys: object) -> None:
        self.keys = keys
        self._rng: np.random.Generator | None = None
        self._pos = 0

    def take(self, start: int, count: int) -> np.ndarray:
        if self._rng is None or self._pos > start:
            self._rng, self._pos = _rng(*self.keys), 0
        while self._pos < start:  # skip forward in bounded pieces
            step = min(start - self._pos, 1 << 22)
            self._rng.standard_normal(step)
            self._pos += step
        self._pos += count
        return self._rng.standard_normal(count)


def _orthonormal(rng: np.random.Generator, rows: int, cols: int) -> np.ndarray:
    q, _ = np.linalg.qr(rng.standard_normal((rows, cols)))
    return q[:, :cols]




@dataclass(frozen=True)
class WorldConfig:
    """Shape of a world. Defaults run in well under a second."""

    __pydantic_config__ = ConfigDict(extra="forbid", allow_inf_nan=False)  # params.yaml: unknown keys, NaN

    seed: int = 0
    concepts: int = 10
    latent_dim: int = 16
    private_dim: int = 8
    concept_scale: float = 1.0
    within_concept: float = 0.6
    obs_noise: float = 0.15
    groups: int = 2000
    captions_per_item: int = 1
    modalities: tuple[str, ...] = (TEXT, "image", "audio")
    test_fraction: float = 0.25
    prompt_templates: int = 4
    template_noise: float = 0.1
    #: fraction of groups that also carry a second concept: their latent is the two concepts' means
    #: mixed (over sqrt 2) and their label ``"a|b"`` (multi-label rows, for mAP); 0 keeps every draw as is
    second_concept: float = 0.0
    #: which draw of groups: another sample is another corpus of the same world (the same concepts, modality
    #: rotations and prompts, so the same encoders apply) with its own groups, named ``s<k>-g...`` so no id or
    #: group of one corpus meets one of another; 0 is the world as always drawn
    sample: int = 0

    def __post_init__(self) -> None:
        for name in ("concepts", "latent_dim", "groups", "captions_per_item", "prompt_templates"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.private_dim < 0 or not 0.0 <= self.test_fraction <= 1.0:
            raise ValueError("private_dim must be >= 0 and test_fraction in [0, 1]")
        if not 0.0 <= self.second_concept <= 1.0 or (self.second_concept and self.concepts < 2):
            raise ValueError(f"second_concept must be in [0, 1] (and needs >= 2 concepts), got {self.second_concept}")
        if TEXT not in self.modalities:
            raise ValueError(f"modalities must include 'text', got {list(self.modalities)}")
        if self.sample < 0:
            raise ValueError(f"sample must be >= 0, got {self.sample}")

    @property
    def obs_dim(self) -> int:
        return self.latent_dim + self.private_dim


class World:
    """A seeded world: concepts, groups, and per-modality observations."""

    def __init__(self, config: WorldConfig) -> None:
        self.config = config

    @property
    def _draws(self) -> object:
        """The seed of what a sample draws (groups' concepts, latents, splits, observation noise); the
        structure (concept means, rotations, prompt templates) and every encoder keep ``seed`` alone."""
        c = self.config
        return c.seed if c.sample == 0 else [c.seed, "sample", c.sample]

    # -- ground truth -------------------------------------------------------
    @cached_property
    def concept_means(self) -> np.ndarray:
        c = self.config
        return c.concept_scale * _rng(c.seed, "means").standard_normal((c.concepts, c.latent_dim))

    @cached_property
    def group_concepts(self) -> np.ndarray:
        c = self.config
        return _rng(self._draws, "concepts").integers(0, c.concepts, c.groups)

    @cached_property
    def group_second_concepts(self) -> np.ndarray:
        """Each group's second concept (another than its first), or -1: ``second_concept`` of them."""
        c = self.config
        if not c.second_concept:
            return np.full(c.groups, -1)
        rng = _rng(self._draws, "second")
        other = (self.group_concepts + rng.integers(1, c.concepts, c.groups)) % c.concepts
        return np.where(rng.random(c.groups) < c.second_concept, other, -1)

    @property
    def group_latents(self) -> np.ndarray:
        return self.latents(slice(0, self.config.groups))

    def latents(self, groups: slice) -> np.ndarray:
        """The latents of the groups ``groups`` (a contiguous slice), as the whole world draws them."""
        c = self.config
        g0, g1, _ = groups.indices(c.groups)
        eps = self._latent_noise.take(g0 * c.latent_dim, (g1 - g0) * c.latent_dim).reshape(g1 - g0, c.latent_dim)
        centre = self.concept_means[self.group_concepts[g0:g1]]
        second = self.group_second_concepts[g0:g1]
        if (second >= 0).any():
            mixed = (centre + self.concept_means[np.maximum(second, 0)]) / np.sqrt(2)
            centre = np.where((second >= 0)[:, None], mixed, centre)
        return centre + c.within_concept * eps

    @cached_property
    def group_labels(self) -> np.ndarray:
        """``concept-xx``, or ``concept-xx|concept-yy`` (sorted) for a group with a second concept."""
        names = np.asarray(self.label_names)
        first, second = self.group_concepts, self.group_second_concepts
        lo, hi = np.minimum(first, np.where(second >= 0, second, first)), np.maximum(first, second)
        pair = np.char.add(np.char.add(names[lo], "|"), names[np.maximum(hi, 0)])
        return np.where(second >= 0, pair, names[first])

    @cached_property
    def group_splits(self) -> np.ndarray:
        c = self.config
        test = _rng(self._draws, "splits").random(c.groups) < c.test_fraction
        return np.where(test, "test", "train")

    def rotation(self, modality: str) -> np.ndarray:
        """The modality's orthogonal map from latent to observation space."""
        return _orthonormal(_rng(self.config.seed, "rotation", modality), self.config.latent_dim,
                            self.config.latent_dim)

    @property
    def label_names(self) -> list[str]:
        return [f"concept-{k:02d}" for k in range(self.config.concepts)]

    # -- observations -------------------------------------------------------
    def _observe(self, modality: str, latents: np.ndarray, salt: str, draws: object, start: int = 0,
                 total: int | None = None) -> np.ndarray:
        """Observations of rows ``[start, start + len(latents))`` of ``total``: the stream draws every
        row's shared noise, then every row's private values, so a part reads both at its rows' places.
        ``draws`` seeds the noise: a sample's own for its rows, the world's for its prompts."""
        c = self.config
        n, total = len(latents), len(latents) if total is None else total
        streams = self._streams.setdefault((modality, salt), (_Normals(draws, "obs", modality, salt),
                                                              _Normals(draws, "obs", modality, salt)))
        shared = latents @ self.rotation(modality).T
        shared = shared + c.obs_noise * streams[0].take(start * c.latent_dim, n * c.latent_dim).reshape(shared.shape)
        private = streams[1].take(total * c.latent_dim + start * c.private_dim, n * c.private_dim)
        return np.concatenate([shared, private.reshape(n, c.private_dim)], axis=1).astype(np.float32)

    @cached_property
    def _latent_noise(self) -> _Normals:
        return _Normals(self._draws, "latents")

    @cached_property
    def _streams(self) -> dict[tuple[str, str], tuple[_Normals, _Normals]]:
        return {}

    def rows_per_group(self, modality: str) -> int:
        return self.config.captions_per_item if modality == TEXT else 1

    def observations(self, modality: str, groups: slice | None = None) -> Rows:
        """The rows of ``modality`` (of the groups ``groups``, a contiguous slice; all by default): text
        has ``captions_per_item`` per group. Parts read in any order equal the world drawn whole."""
        c = self.config
        if modality not in c.modalities:
            raise KeyError(f"modality {modality!r} not in world modalities {list(c.modalities)}")
        g0, g1, _ = (groups or slice(None)).indices(c.groups)
        repeat = self.rows_per_group(modality)
        group_index = np.repeat(np.arange(g0, g1), repeat)
        copy_index = np.tile(np.arange(repeat), g1 - g0)
        groups = np.char.add(f"s{c.sample}-g" if c.sample else "g", np.char.zfill(group_index.astype(str), 6))
        ids = np.char.add(np.char.add(f"{modality}-", groups), np.char.add("-", copy_index.astype(str)))
        vectors = self._observe(modality, np.repeat(self.latents(slice(g0, g1)), repeat, axis=0), "rows",
                                self._draws, g0 * repeat, c.groups * repeat)
        return Rows(modality, ids.astype(str), vectors, self.group_labels[group_index],
                    self.group_splits[group_index], groups.astype(str))

    def prompts(self) -> Rows:
        """Class prompts: ``prompt_templates`` text observations per concept.

        A template is a fixed small offset in latent space, the synthetic
        analogue of "a photo of a {}" versus "a sketch of a {}".
        """
        c = self.config
        rng = _rng(c.seed, "templates")
        offsets = c.template_noise * rng.standard_normal((c.prompt_templates, c.latent_dim))
        concepts = np.repeat(np.arange(c.concepts), c.prompt_templates)
        template = np.tile(np.arange(c.prompt_templates), c.concepts)
        latents = self.concept_means[concepts] + offsets[template]
        labels = np.asarray(self.label_names)[concepts]
        ids = np.char.add(np.char.add("prompt-", labels), np.char.add("-", template.astype(str)))
        obs = self._observe(TEXT, latents, "prompts", c.seed)  # structure: every sample has the same prompts
        obs[:, c.latent_dim:] = 0.0  # a prompt carries no private detail
        return Rows(TEXT, ids.astype(str), obs, labels, np.full(len(ids), "prompt"), labels)


@dataclass(frozen=True)
class EncoderConfig:
    """A synthetic encoder. ``kind`` is ``bimodal`` or ``anchor``.

    ``gap`` is the length of the constant offset between the two towers' cones
    (before normalisation), ``cone`` the weight of the shared cone centre,
    ``noise`` the deterministic per-item distortion, ``nonlinearity`` the tanh
    mixing weight, ``weak`` the fraction of latent dimensions the encoder
    cannot see, ``private_weight`` how much modality-private detail leaks in.

    ``modal_distortion`` gives each non-text tower of a bimodal encoder its own
    content map: the latent is turned by the orthogonal matrix nearest
    ``I + d G`` before the shared content basis. Real towers are trained
    jointly but not to one map, so a caption and its clip agree only roughly
    beyond the constant gap; with ``d = 0`` they agree exactly and a text-only
    projector (TextME) keeps all of the paired upper bound. The default 0.8
    puts TextME in the paper's range of the paired bound, PCA-naive near
    chance, and leaves the gap one direction, orthogonal to the content
    (tests/test_world_realism.py holds these over world seeds).
    """

    kind: str = "bimodal"
    towers: tuple[str, ...] = (TEXT, "image")
    dim: int = 64
    gap: float = 0.8
    cone: float = 0.6
    noise: float = 0.1
    nonlinearity: float = 0.3
    weak: float = 0.0
    private_weight: float = 0.3
    modal_distortion: float = 0.8
    seed: int = 1

    __pydantic_config__ = ConfigDict(extra="forbid", allow_inf_nan=False)

    def fingerprint(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:16]


class SyntheticEncoder:
    """Deterministic towers over a world's observations (see module doc)."""

    def __init__(self, world: World, config: EncoderConfig) -> None:
        wc = world.config
        if not 0.0 <= config.weak <= 1.0:
            raise ValueError(f"weak must be in [0, 1], got {config.weak}")
        if config.kind not in ("bimodal", "anchor"):
            raise ValueError(f"synthetic encoder kind must be 'bimodal' or 'anchor', got {config.kind!r}")
        if config.kind == "anchor" and tuple(config.towers) != (TEXT,):
            raise ValueError("an anchor encoder has exactly one tower: text")
        needed = wc.latent_dim + wc.private_dim + 2
        if config.dim < needed:
            raise ValueError(f"synthetic encoder dim must be >= {needed} for this world, got {config.dim}")
        for tower in config.towers:
            if tower not in wc.modalities:
                raise ValueError(f"tower {tower!r} is not a modality of the world {list(wc.modalities)}")
        self.world, self.config = world, config
        rng = _rng(wc.seed, "encoder", config.seed, config.kind)
        basis = _orthonormal(rng, config.dim, wc.latent_dim + wc.private_dim + 2)
        self._content = basis[:, : wc.latent_dim]  # [dim, latent]
        self._private = basis[:, wc.latent_dim: wc.latent_dim + wc.private_dim]
        self._cone_centre = basis[:, -2]
        self._gap_direction = basis[:, -1]
        visible = np.ones(wc.latent_dim)
        visible[: round(config.weak * wc.latent_dim)] = 0.0
        self._visible = visible
        self._distort = rng.standard_normal((wc.latent_dim, wc.latent_dim)) / np.sqrt(wc.latent_dim)
        self._modal_maps = {t: self._modal_map(t) for t in config.towers if t != TEXT}
        self._scale = 1.0 / (wc.concept_scale + wc.within_concept) / np.sqrt(wc.latent_dim) * 2.0

    def _modal_map(self, tower: str) -> np.ndarray:
        """The tower's own content distortion: the orthogonal matrix nearest ``I + d G`` (G Gaussian / sqrt L)."""
        wc, c = self.world.config, self.config
        g = _rng(wc.seed, "encoder", c.seed, "modal-map", tower).standard_normal((wc.latent_dim, wc.latent_dim))
        u, _, vt = np.linalg.svd(np.eye(wc.latent_dim) + c.modal_distortion * g / np.sqrt(wc.latent_dim))
        return u @ vt

    @property
    def towers(self) -> tuple[str, ...]:
        return tuple(self.config.towers)

    def tower_offset(self, tower: str) -> np.ndarray:
        """The constant offset that puts ``tower`` in its own cone."""
        c = self.config
        if c.kind == "anchor":
            return np.zeros(c.dim)
        sign = 1.0 if tower == TEXT else -1.0
        return c.cone * self._cone_centre + sign * 0.5 * c.gap * self._gap_direction

    def encode(self, tower: str, observations: np.ndarray) -> np.ndarray:
        """Embed observations of ``tower``'s modality: float32 [n, dim], unit norm."""
        c, wc = self.config, self.world.config
        if tower not in c.towers:
            raise KeyError(f"encoder has no tower {tower!r}; towers: {list(c.towers)}")
        obs = np.asarray(observations, dtype=np.float64)
        if obs.ndim != 2 or obs.shape[1] != wc.obs_dim:
            raise ValueError(f"expected observations of shape [n, {wc.obs_dim}], got {list(obs.shape)}")
        latent = obs[:, : wc.latent_dim] @ self.world.rotation(tower)  # undo the modality rotation
        if tower in self._modal_maps:
            latent = latent @ self._modal_maps[tower]
        latent = latent * self._visible * self._scale
        latent = (1 - c.nonlinearity) * latent + c.nonlinearity * np.tanh(2.0 * latent)
        phase = 3.0 * obs[:, wc.latent_dim:wc.latent_dim + 1] if wc.private_dim else 0.0  # a private coordinate
        latent = latent + c.noise * np.sin(7.0 * latent @ self._distort + phase)
        h = latent @ self._content.T + c.private_weight * self._scale * obs[:, wc.latent_dim:] @ self._private.T
        h = normalize(h) + self.tower_offset(tower)
        return normalize(h).astype(np.float32)
