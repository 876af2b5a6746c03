"""TextME's claims on the synthetic world, over 3 seeds (METHODS.md section 1).

Regime: 40 concepts with wide, noisy concepts (zero-shot well below 100%, so
differences show), a CLIP-like bimodal encoder with the default modality gap,
and a higher-dim anchor text encoder. TextME trains on the texts of one half
of the training groups; the modal centroid comes from the *other* half, so
no (modal, text) pair is ever seen. The paired upper bound trains the same
projector on (image, anchor-text) pairs of the first half.
"""

from __future__ import annotations

import numpy as np
import pytest
from methods_world import (  # noqa: F401 - fixture
    encode,
    encoder,
    groups_subset,
    mean_std,
    single_thread,
    split,
    zeroshot_top1,
)

from embridge.bridges.classical import PCANaiveBridge, PCANaiveParams
from embridge.bridges.textme import PairedMLPBridge, ProjectorParams, TextMEBridge
from embridge.worlds.synthetic import World, WorldConfig

SEEDS = (0, 1, 2)
HARD = {"groups": 3000, "concepts": 40, "within_concept": 1.0, "obs_noise": 0.5}


def run_seed(seed: int) -> dict[str, float]:
    world = World(WorldConfig(seed=seed, **HARD))
    clip = encoder(world, kind="bimodal", towers=("text", "image"), dim=48, seed=1)
    llm = encoder(world, kind="anchor", towers=("text",), dim=64, seed=2)
    text, image, anchor = (encode(world, clip, "text", "clip"), encode(world, clip, "image", "clip"),
                           encode(world, llm, "text", "llm"))
    prompts_llm, prompts_clip = (encode(world, llm, "text", "llm", prompts=True),
                                 encode(world, clip, "text", "clip", prompts=True))
    train_groups = np.unique(text.groups[text.splits == "train"])
    half1, half2 = train_groups[::2], train_groups[1::2]
    test_image = split(image, "test")

    def zeroshot(bridge: TextMEBridge | PairedMLPBridge | PCANaiveBridge) -> float:
        return zeroshot_top1(bridge.transform(test_image.vectors, space="clip/image"), test_image.labels,
                             bridge.transform(prompts_llm.vectors, space="llm/text"), prompts_llm.labels)

    out = {"clip_own": zeroshot_top1(test_image.vectors, test_image.labels, prompts_clip.vectors,
                                     prompts_clip.labels)}
    textme_inputs = {"text": groups_subset(text, half1), "modal": groups_subset(image, half2),
                     "anchor": groups_subset(anchor, half1)}
    for name, params in (("textme", ProjectorParams()), ("uncentered", ProjectorParams(centered=False))):
        bridge = TextMEBridge(params, {r: v.space for r, v in textme_inputs.items()})
        bridge.fit(textme_inputs)
        out[name] = zeroshot(bridge)
    paired_inputs = {"modal": groups_subset(image, half1), "anchor": groups_subset(anchor, half1)}
    paired = PairedMLPBridge(ProjectorParams(), {r: v.space for r, v in paired_inputs.items()})
    paired.fit(paired_inputs)
    out["paired"] = zeroshot(paired)
    naive = PCANaiveBridge(PCANaiveParams(), {r: v.space for r, v in paired_inputs.items()})
    naive.fit({"modal": groups_subset(image, half2), "anchor": groups_subset(anchor, half1)})
    out["pca_naive"] = zeroshot(naive)
    out["preservation_vs_paired"] = 100 * out["textme"] / out["paired"]
    out["preservation_vs_clip"] = 100 * out["textme"] / out["clip_own"]
    return out


@pytest.fixture(scope="module")
def results() -> dict[str, list[float]]:
    runs = [run_seed(s) for s in SEEDS]
    table = {k: [r[k] for r in runs] for k in runs[0]}
    print("\nTextME zero-shot top-1 (%) on test images, 40 classes, mean ± std over seeds")
    for key, values in table.items():
        print(f"  {key:24s} {mean_std(values)}")
    return table


def test_centering_beats_no_centering(results: dict[str, list[float]]) -> None:
    gain = np.subtract(results["textme"], results["uncentered"])
    assert np.all(gain > 2.0), f"centred - uncentred per seed: {gain}"


def test_textme_beats_naive_pca(results: dict[str, list[float]]) -> None:
    gain = np.subtract(results["textme"], results["pca_naive"])
    assert np.all(gain > 30.0), f"textme - pca_naive per seed: {gain}"


def test_textme_keeps_most_of_the_paired_upper_bound(results: dict[str, list[float]]) -> None:
    """The paper's Tables 1-2: the text-only projector keeps 74-88 % of the paired upper bound.
    The image tower's own content map (``modal_distortion``) is what a text-only projector cannot
    learn; with it at 0 the towers share one map and TextME matches paired (~100 %). This world
    (40 concepts, half the pairs) is harder than the default one (tests/test_world_realism.py
    holds that to 70-90 % per seed); measured here 68-81 % per seed, 73.6 % on average."""
    preservation = np.asarray(results["preservation_vs_paired"])
    assert 70.0 <= preservation.mean() <= 90.0 and np.all((60.0 <= preservation) & (preservation <= 95.0)), \
        f"TextME / paired per seed: {preservation}"
