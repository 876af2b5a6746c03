"""Subsets of a set per bridge role and per task side (issue 11 item 2): seeded group fractions, disjoint
group parts (the held-out protocol), label filters; validated like every other key."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from bridge_project import cli, synthetic_lane, write_params

from pipeline.core.config import Subset, load_params
from pipeline.fit import fit_rows


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
    write_params(project, params)
    for stage in ("extract", "fit", "eval"):
        code, err = cli(project, stage)
        assert code == 0, err
    return project


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
    from pipeline.core.layout import Layout
    from pipeline.store.vectors import load_vectors

    rows = load_vectors(Layout(project).embeddings(params.extract.sets["synth-clip-image"].path), ("test",))
    assert card["sides"]["query"]["rows"] == int(np.isin(rows.labels, ["concept-00", "concept-03"]).sum())
    assert card["sides"]["query"]["subset"] == {"labels": ["concept-00", "concept-03"]}
    matrix = json.loads((project / "artifacts/protocols/emergent-matrix.json").read_text())
    assert matrix["sides"]["query"]["bridge"]["subsets"] == {"bound": {"part": "0/2"}, "new": {"part": "1/2"}}


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
    path = project / "params.yaml"
    original = path.read_text()
    params = yaml.safe_load(original)
    edit(params)
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    try:
        code, err = cli(project, "eval", "clip-zeroshot-raw")
    finally:
        path.write_text(original)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
