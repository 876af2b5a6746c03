"""Kamboj & Do's perfect alignment and Gaussian transfer, over 3 seeds (METHODS.md section 3).

The world is built here, straight from the paper's model: latents ``z`` from a
Gaussian mixture (one class per component, its own covariance), observed as
``x_A = A z`` and ``x_B = B z`` with random tall ``A``, ``B``. Only A's rows
carry labels. A contrastive baseline (two heads trained with symmetric
InfoNCE, i.e. CentroBind over two modalities) gets the same Bayes classifier
on its A outputs, applied to its B outputs.
"""

from __future__ import annotations

import numpy as np
import pytest
from methods_world import mean_std, single_thread  # noqa: F401 - fixture
from sklearn.discriminant_analysis import QuadraticDiscriminantAnalysis

from embridge.bridges.binding import CentroBindBridge, CentroBindParams
from embridge.bridges.gaussian import GaussianBridge, GaussianParams
from embridge.core.vectors import Space, Vectors

SEEDS = (0, 1, 2)
LATENT, CLASSES, DIM_A, DIM_B, N_TRAIN, N_TEST = 8, 6, 24, 32, 3000, 1000


def linear_world(seed: int, noise: float = 0.0, latent: int = LATENT, dims: tuple[int, int] = (DIM_A, DIM_B),
                 stored: type | None = None) -> tuple[dict[str, Vectors], dict[str, Vectors]]:
    """``stored``: round the vectors to this dtype, as the embedding store does (float16 by default)."""
    rng = np.random.default_rng(seed)
    n = N_TRAIN + N_TEST
    means = 0.3 * rng.standard_normal((CLASSES, latent))
    roots = rng.standard_normal((CLASSES, latent, latent)) / np.sqrt(latent)
    y = rng.integers(0, CLASSES, n)
    z = means[y] + np.einsum("nij,nj->ni", roots[y], rng.standard_normal((n, latent)))
    mix_a, mix_b = rng.standard_normal((dims[0], latent)), rng.standard_normal((dims[1], latent))
    x_a = z @ mix_a.T + noise * rng.standard_normal((n, dims[0]))
    x_b = z @ mix_b.T + noise * rng.standard_normal((n, dims[1]))
    if stored is not None:
        x_a, x_b = x_a.astype(stored).astype(np.float32), x_b.astype(stored).astype(np.float32)
    groups = np.char.add("g", np.arange(n).astype(str))
    labels = np.char.add("class-", y.astype(str))
    splits = np.where(np.arange(n) < N_TRAIN, "train", "test")
    sets = {"a": Vectors(Space("enc_a", "a", dims[0]), np.char.add("a", groups), labels, groups, splits, x_a),
            "b": Vectors(Space("enc_b", "b", dims[1]), np.char.add("b", groups), np.full(n, ""), groups, splits,
                         x_b)}
    train = {k: v.take(np.arange(N_TRAIN)) for k, v in sets.items()}
    test = {k: v.take(np.arange(N_TRAIN, n)) for k, v in sets.items()}
    test["b"].labels = test["a"].labels  # held-out truth, never shown to the bridge
    return train, test


def contrastive_transfer(train: dict[str, Vectors], test: dict[str, Vectors]) -> float:
    bridge = CentroBindBridge(CentroBindParams(epochs=30, batch_size=128, dim=LATENT),
                              {k: v.space for k, v in train.items()})
    bridge.fit(train)
    qda = QuadraticDiscriminantAnalysis(reg_param=1e-3)
    qda.fit(bridge.transform(train["a"].vectors, space="enc_a/a"), train["a"].labels)
    predicted = qda.predict(bridge.transform(test["b"].vectors, space="enc_b/b"))
    return 100 * float(np.mean(predicted == test["b"].labels))


def run_seed(seed: int, noise: float) -> dict[str, float]:
    train, test = linear_world(seed, noise)
    params = GaussianParams(rank=LATENT if noise else 0)  # noisy data is full rank: truncate to the latent
    bridge = GaussianBridge(params, {k: v.space for k, v in train.items()})
    bridge.fit(train)
    z_a = bridge.transform(test["a"].vectors, space="enc_a/a")
    z_b = bridge.transform(test["b"].vectors, space="enc_b/b")
    truth = test["a"].labels
    return {
        "rank": bridge.info["rank"],
        "train_alignment_error": bridge.info["alignment_error"],
        "test_alignment_error": bridge.alignment_error(test["a"].vectors, test["b"].vectors),
        "float32_alignment_error": float(np.linalg.norm(z_a - z_b) / np.linalg.norm(z_a)),
        "transfer_acc": 100 * float(np.mean(bridge.classify("enc_b", "b", test["b"].vectors) == truth)),
        "bayes_on_a_acc": 100 * float(np.mean(bridge.classify("enc_a", "a", test["a"].vectors) == truth)),
    }


@pytest.fixture(scope="module")
def results() -> dict[str, dict[str, list[float]]]:
    table = {}
    for regime, noise in (("noiseless", 0.0), ("noise_0.3", 0.3)):
        runs = [run_seed(s, noise) for s in SEEDS]
        table[regime] = {k: [r[k] for r in runs] for k in runs[0]}
    table["noiseless"]["contrastive_transfer_acc"] = [contrastive_transfer(*linear_world(s)) for s in SEEDS]
    print("\nGaussian perfect alignment, mean ± std over seeds")
    for regime, row in table.items():
        for key, values in row.items():
            print(f"  {regime:10s} {key:26s} {mean_std(values) if 'error' not in key else max(values):}")
    return table


def test_alignment_error_is_zero_on_a_noiseless_linear_world(results) -> None:
    row = results["noiseless"]
    assert row["rank"] == [LATENT] * len(SEEDS)
    assert max(row["train_alignment_error"]) < 1e-6
    assert max(row["test_alignment_error"]) < 1e-6
    assert max(row["float32_alignment_error"]) < 1e-6


def test_transfer_matches_the_bayes_classifier_of_the_labelled_modality(results) -> None:
    for regime in ("noiseless", "noise_0.3"):
        row = results[regime]
        gap = np.abs(np.subtract(row["transfer_acc"], row["bayes_on_a_acc"]))
        assert np.all(gap <= 2.0), f"{regime}: |transfer - bayes on A| per seed = {gap}"
    assert np.mean(results["noiseless"]["transfer_acc"]) > 100.0 / CLASSES + 30


def test_perfect_alignment_beats_the_contrastive_baseline(results) -> None:
    row = results["noiseless"]
    assert np.mean(row["transfer_acc"]) > np.mean(row["contrastive_transfer_acc"])


@pytest.mark.parametrize("seed", [10, 11, 12])
def test_default_params_on_float16_vectors_find_the_rank_and_transfer(seed: int) -> None:
    """A noiseless rank-10 world no other test uses (40-d and 56-d views), rounded to float16 as the store
    keeps it: the rank rule follows the vectors' precision, finds 10 and says why in ``info``, and the
    transfer lands within 2 points of the Bayes classifier on the labelled modality. The old fixed
    tolerance (``rank_tol`` alone) counts rounding noise as signal: rank 40, the cap."""
    train, test = linear_world(seed, latent=10, dims=(40, 56), stored=np.float16)
    truth = test["a"].labels

    def fit(params: GaussianParams) -> tuple[GaussianBridge, float, float]:
        bridge = GaussianBridge(params, {k: v.space for k, v in train.items()})
        bridge.fit(train)
        transfer = 100 * float(np.mean(bridge.classify("enc_b", "b", test["b"].vectors) == truth))
        bayes_a = 100 * float(np.mean(bridge.classify("enc_a", "a", test["a"].vectors) == truth))
        return bridge, transfer, bayes_a

    bridge, transfer, bayes_a = fit(GaussianParams())
    rule = bridge.info["rank_rule"]
    assert bridge.info["rank"] == 10 and rule["precision"] == "float16"
    assert bridge.info["singular_values"][9] > rule["threshold"] > bridge.info["singular_values"][10]
    assert abs(transfer - bayes_a) <= 2.0, (transfer, bayes_a)
    fixed, fixed_transfer, _ = fit(GaussianParams(noise_margin=1e-12))  # what rank_tol 1e-8 alone did
    assert fixed.info["rank"] == 40
    print(f"seed {seed}: rank {bridge.info['rank']}, transfer {transfer:.1f} %, Bayes on A {bayes_a:.1f} %; "
          f"rank_tol alone: rank {fixed.info['rank']}, transfer {fixed_transfer:.1f} %")
