"""Subsets of a set per bridge role and per task side (issue 11 item 2): seeded group fractions, disjoint
group parts (the held-out protocol), label filters; validated like every other key."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from bridge_project import cli_with_edit, run_stages, synthetic_lane

from embridge.bridges.run import fit_rows
from embridge.core.config import Subset, load_params
from embridge.worlds.synthetic import EncoderConfig, SyntheticEncoder, World, WorldConfig


def test_parts_partition_groups_and_fraction_is_seeded() -> None:
    groups = np.repeat(np.char.add("g", np.arange(2000).astype(str)), 2)  # two rows (captions) per group
    labels = np.where(np.arange(4000) % 3 == 0, "a|b", "c")
    parts = [Subset(part=f"{i}/3").keep(groups, labels) for i in range(3)]
    assert np.array_equal(np.sum(parts, axis=0), np.ones(4000))  # every row in exactly one part
    assert all(abs(p.mean() - 1 / 3) < 0.04 for p in parts)
    half = Subset(fraction=0.5, seed=1).keep(groups, labels)
    assert abs(half.mean() - 0.5) < 0.04 and np.array_equal(half[::2], half[1::2])  # a group stays together
    assert not np.array_equal(half, Subset(fraction=0.5, seed=2).keep(groups, labels))
    both = Subset(fraction=0.5, part="0/2", seed=1).keep(groups, labels)  # independent streams: about a quarter
    assert abs(both.mean() - 0.25) < 0.04
    assert np.array_equal(Subset(labels=["b"]).keep(groups, labels), labels == "a|b")  # any label of a|b


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = tmp_path_factory.mktemp("subsets")
    params = synthetic_lane(tasks=["emergent-matrix", "clip-zeroshot-raw"], groups=400)
    bridge = params["fit"]["bridges"]["emergent-audio"]
    bridge["params"] = {"proxy": "regressor", "proxy_epochs": 5, "epochs": 3, "threads": 1}
    bridge["subsets"] = {"bound": {"part": "0/2"}, "new": {"part": "1/2"}}  # proxy and head pairs: disjoint groups
    params["eval"]["tasks"]["clip-zeroshot-raw"]["query"]["subset"] = {"labels": ["concept-00", "concept-03"]}
    return run_stages(project, params)


def test_held_out_protocol_in_params(project: Path) -> None:
    params = load_params(project / "params.yaml")
    bound, new, anchor = (fit_rows(params, "emergent-audio", r, project) for r in ("bound", "new", "anchor"))
    assert not set(bound.groups) & set(new.groups)
    assert set(bound.groups) | set(new.groups) == set(anchor.groups)
    info = json.loads((project / "artifacts/bridges/emergent-audio/bridge.json").read_text())["info"]
    assert info["head_groups"] == len(set(new.groups)) and info["proxy_groups"] == len(set(bound.groups))


def test_a_side_subset_filters_rows_and_is_in_the_protocol(project: Path) -> None:
    card = json.loads((project / "artifacts/protocols/clip-zeroshot-raw.json").read_text())
    params = load_params(project / "params.yaml")
    from embridge.core.layout import Layout
    from embridge.store.loading import load_vectors

    rows = load_vectors(Layout(project).embeddings(params.extract.sets["synth-clip-image"].path), ("test",))
    assert card["sides"]["query"]["rows"] == int(np.isin(rows.labels, ["concept-00", "concept-03"]).sum())
    assert card["sides"]["query"]["subset"] == {"labels": ["concept-00", "concept-03"]}
    matrix = json.loads((project / "artifacts/protocols/emergent-matrix.json").read_text())
    fitted = matrix["sides"]["query"]["bridge"]["fitted_on"]  # from the bridge that ran, not from params.yaml
    assert {role: f.get("subset") for role, f in fitted.items() if f.get("subset")} == \
        {"bound": {"part": "0/2"}, "new": {"part": "1/2"}}


@pytest.mark.parametrize("edit, message", [
    (lambda p: p["fit"]["bridges"]["emergent-audio"]["subsets"].update(head={"part": "0/2"}),
     "fit.bridges.emergent-audio.subsets: unknown role 'head'"),
    (lambda p: p["fit"]["bridges"]["emergent-audio"]["subsets"].update(new={"part": "2/2"}),
     "fit.bridges.emergent-audio.subsets.new.part"),
    (lambda p: p["eval"]["tasks"]["clip-zeroshot-raw"]["query"]["subset"].update(split=["train"]),
     "eval.tasks.clip-zeroshot-raw.query.subset"),
    (lambda p: p["eval"]["tasks"]["clip-zeroshot-raw"]["query"]["subset"].update(labels=["nope"]),
     "eval.tasks.clip-zeroshot-raw.query.subset: keeps none of the"),
])
def test_bad_subsets_are_one_line(project: Path, edit, message: str) -> None:
    code, err = cli_with_edit(project, edit, "eval", "clip-zeroshot-raw")
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err


def test_another_sample_is_another_corpus_of_the_same_world() -> None:
    """``sample: k`` draws other groups (own ids) from the same concepts, so one encoder serves every corpus:
    its per-concept audio means agree across samples as closely as within one (two halves of sample 0)."""
    config = WorldConfig(concepts=6, groups=1200, within_concept=1.3, obs_noise=0.6, modalities=("text", "audio"))
    worlds = [World(WorldConfig(**{**config.__dict__, "sample": k})) for k in (0, 1, 2)]
    obs = [w.observations("audio") for w in worlds]
    assert [o.ids[0] for o in obs] == ["audio-g000000-0", "audio-s1-g000000-0", "audio-s2-g000000-0"]
    assert not np.allclose(obs[0].payload, obs[1].payload) and not np.array_equal(obs[0].labels, obs[1].labels)
    assert np.array_equal(worlds[0].prompts().payload, worlds[2].prompts().payload)  # the same prompts
    encoder = SyntheticEncoder(worlds[0], EncoderConfig(towers=("text", "audio"), dim=40, seed=2))

    def means(o, rows=slice(None)) -> np.ndarray:
        v, c = encoder.encode("audio", o.payload[rows]), o.labels[rows]
        return np.stack([v[c == name].mean(0) for name in worlds[0].label_names])

    same = np.abs(means(obs[0]) - means(obs[1])).max()
    halves = np.abs(means(obs[0], slice(0, 600)) - means(obs[0], slice(600, None))).max()
    across = min(np.abs(means(obs[0])[i] - means(obs[0])[j]).max() for i in range(6) for j in range(i))
    assert same < 2 * halves < across, (same, halves, across)


@pytest.fixture(scope="module")
def corpora(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default pipeline's cross-corpus TextME: captions of synth, the audio centroid from clips (sample 1),
    scored on heldout (sample 2)."""
    project = tmp_path_factory.mktemp("corpora")
    return run_stages(project, synthetic_lane(tasks=["audio-zeroshot-clips", "audio-zeroshot-textme"], groups=600))


def test_textme_takes_its_centroid_from_another_corpus(corpora: Path) -> None:
    params = load_params(corpora / "params.yaml")
    text, modal = (fit_rows(params, "textme-audio-clips", r, corpora) for r in ("text", "modal"))
    assert all(g.startswith("g") for g in text.groups) and all(g.startswith("s1-g") for g in modal.groups)
    from safetensors.numpy import load_file

    weights = load_file(corpora / "artifacts/bridges/textme-audio-clips/weights.safetensors")
    assert np.allclose(weights["array.mu_modal"], modal.vectors.astype(np.float64).mean(0), atol=1e-3)
    card = json.loads((corpora / "artifacts/protocols/audio-zeroshot-clips.json").read_text())
    assert card["sides"]["query"]["rows"] == 600  # heldout: every group of the third corpus is a test row
    clips, same = (json.loads((corpora / f"artifacts/metrics/{t}.json").read_text())["top1"]
                   for t in ("audio-zeroshot-clips", "audio-zeroshot-textme"))
    assert clips > 3 / 16 and abs(clips - same) < 0.12, (clips, same)  # another corpus's centroid serves as well


def test_a_dataset_of_another_world_is_one_line(corpora: Path) -> None:
    code, err = cli_with_edit(corpora, lambda p: p["worlds"]["clips"].update(concepts=8), "extract", "clips-clap-audio")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "datasets.clips.options.world: 'clips' is not the world of encoder 'syn-clap'" in err and "concepts" in err
