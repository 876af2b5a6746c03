"""Synthetic-world data for the method tests: encoded observations as ``Vectors``, and metrics.

The metrics come from ``pipeline.evaluate.metrics`` when it exists; until
then a local top-1 / R@1 with the same conventions (cosine on normalised
vectors, class vector = normalised mean of normalised prompt vectors).
"""

from __future__ import annotations

import numpy as np

from pipeline.bridges.base import Space, Vectors
from pipeline.bridges.offset import normalize
from pipeline.worlds.synthetic import EncoderConfig, SyntheticEncoder, World


def encode(world: World, encoder: SyntheticEncoder, modality: str, name: str, tower: str | None = None,
           prompts: bool = False) -> Vectors:
    """Rows of ``modality`` (or the class prompts) embedded by ``encoder``'s ``tower`` as ``Vectors``."""
    obs = world.prompts() if prompts else world.observations(modality)
    tower = tower or modality
    vectors = encoder.encode(tower, obs.vectors)
    return Vectors(Space(name, tower, vectors.shape[1]), obs.ids, obs.labels, obs.groups, obs.splits,
                   vectors, fingerprint=f"{name}/{tower}/{'prompts' if prompts else 'rows'}")


def encoder(world: World, **kwargs: object) -> SyntheticEncoder:
    return SyntheticEncoder(world, EncoderConfig(**kwargs))  # type: ignore[arg-type]


def split(v: Vectors, name: str) -> Vectors:
    return v.take(np.flatnonzero(v.splits == name))


def groups_subset(v: Vectors, groups: np.ndarray) -> Vectors:
    """Rows whose group is in ``groups`` (to build disjoint pair sets)."""
    return v.take(np.flatnonzero(np.isin(v.groups, groups)))


def zeroshot_top1(queries: np.ndarray, query_labels: np.ndarray, prompts: np.ndarray,
                  prompt_labels: np.ndarray) -> float:
    """Top-1 accuracy (%) of cosine to class vectors built from prompt vectors."""
    names = np.unique(prompt_labels)
    onehot = (prompt_labels[None, :] == names[:, None]).astype(np.float32)
    classes = normalize(onehot @ normalize(prompts))
    pred = names[np.argmax(normalize(queries) @ classes.T, axis=1)]
    return float(100.0 * np.mean(pred == query_labels))


def recall_at_1(queries: np.ndarray, query_groups: np.ndarray, gallery: np.ndarray,
                gallery_groups: np.ndarray) -> float:
    """R@1 (%): the nearest gallery item (cosine) shares the query's group."""
    best = np.argmax(normalize(queries) @ normalize(gallery).T, axis=1)
    return float(100.0 * np.mean(gallery_groups[best] == query_groups))


def mean_std(values: list[float]) -> str:
    return f"{np.mean(values):.2f} ± {np.std(values):.2f}"
