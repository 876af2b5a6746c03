"""Synthetic-world data for the method tests: encoded observations as ``Vectors``, and metrics.

Metrics are the project's own (``embridge.evaluate.metrics``), reported in
percent so tolerances read as "points".
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import torch

from embridge.core.vectors import Space, Vectors
from embridge.evaluate import metrics
from embridge.worlds.synthetic import EncoderConfig, SyntheticEncoder, World


def encode(world: World, encoder: SyntheticEncoder, modality: str, name: str, tower: str | None = None,
           prompts: bool = False) -> Vectors:
    """Rows of ``modality`` (or the class prompts) embedded by ``encoder``'s ``tower`` as ``Vectors``."""
    obs = world.prompts() if prompts else world.observations(modality)
    tower = tower or modality
    vectors = encoder.encode(tower, obs.payload)
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
    """Zero-shot top-1 accuracy in percent (class vector = mean of normalised prompt vectors)."""
    names, classes = metrics.class_vectors(prompts, prompt_labels)
    return 100.0 * metrics.zeroshot_classification(queries, query_labels, classes, names)["top1"]


def recall_at_1(queries: np.ndarray, query_groups: np.ndarray, gallery: np.ndarray,
                gallery_groups: np.ndarray) -> float:
    """R@1 in percent: a gallery item of the query's group is the nearest by cosine."""
    return 100.0 * metrics.retrieval(queries, query_groups, gallery, gallery_groups, ks=(1,))["recall@1"]


def mean_std(values: list[float]) -> str:
    """``mean ± std`` (population std over seeds), 4 significant digits."""
    return f"{np.mean(values):.4g} ± {np.std(values):.2g}"


@pytest.fixture(autouse=True, scope="module")
def single_thread() -> Iterator[None]:
    """One torch thread per test module: the nets are tiny, and on a shared 2-core box
    several OpenMP threads contend (10x slower under load); results are deterministic per count."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
