"""A bridge fitted over several seeds: one bridge per seed, tasks report the mean, the spread and each seed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from bridge_project import cli, run_stages, synthetic_lane, write_params

SEEDS = [0, 1, 2]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = tmp_path_factory.mktemp("seeds")
    params = synthetic_lane(tasks=["audio-zeroshot-textme"], groups=200)
    params["fit"]["bridges"]["textme-audio"]["params"] = {"epochs": 2, "batch_size": 64}
    params["fit"]["bridges"]["textme-audio"]["seeds"] = SEEDS
    return run_stages(project, params)


def test_one_bridge_per_seed_and_the_mean_and_spread_of_the_task(project: Path, tmp_path: Path) -> None:
    bridges = project / "artifacts/bridges/textme-audio"
    assert sorted(p.name for p in bridges.iterdir()) == [f"seed-{s}" for s in SEEDS]
    seeds = [json.loads((bridges / f"seed-{s}/bridge.json").read_text())["params"]["seed"] for s in SEEDS]
    assert seeds == SEEDS
    got = json.loads((project / "artifacts/metrics/audio-zeroshot-textme.json").read_text())
    per_seed = [got[f"top1/seed-{i}"] for i in range(len(SEEDS))]
    assert got["seeds"] == 3 and got["top1"] == pytest.approx(np.mean(per_seed))
    assert got["top1/std"] == pytest.approx(np.std(per_seed, ddof=1)) and got["top1/std"] > 0
    # seed i of the set is the bridge a plain fit with params.seed = i gives
    single = tmp_path / "single"
    shutil.copytree(project, single)
    params = __import__("yaml").safe_load((single / "params.yaml").read_text())
    params["fit"]["bridges"]["textme-audio"]["seeds"] = []
    params["fit"]["bridges"]["textme-audio"]["params"]["seed"] = SEEDS[1]
    write_params(single, params)
    for stage in ("fit", "eval"):
        assert cli(single, stage)[0] == 0
    alone = json.loads((single / "artifacts/metrics/audio-zeroshot-textme.json").read_text())
    assert alone["top1"] == got["top1/seed-1"]
    card = json.loads((project / "artifacts/protocols/audio-zeroshot-textme.json").read_text())
    assert card["seeds"]["bridges"] == {"textme-audio": SEEDS}


def test_the_report_prints_the_spread(project: Path) -> None:
    code, err = cli(project, "report")
    assert code == 0, err
    index = (project / "artifacts/report/index.md").read_text()
    assert "± " in index and "(3 seeds)" in index and "seed_spread.png" in index
    summary = json.loads((project / "artifacts/summary.json").read_text())
    assert summary["audio-zeroshot-textme"]["std"] > 0


@pytest.mark.parametrize("edit,expected", [
    (lambda p: p["fit"]["bridges"]["paired-audio"].update(seeds=[0, 1]),
     "eval.tasks.audio-zeroshot-paired: its bridges have different numbers of seeds"),
    (lambda p: p["fit"]["bridges"]["textme-audio"].update(seeds=[1, 1]), "seeds must be distinct"),
])
def test_bad_seeds_are_one_line(project: Path, tmp_path: Path, edit, expected: str) -> None:
    copy = tmp_path / "p"
    shutil.copytree(project, copy)
    params = __import__("yaml").safe_load((copy / "params.yaml").read_text())
    params["eval"]["tasks"]["audio-zeroshot-paired"] = {
        "kind": "zeroshot", "query": {"set": "synth-clap-audio", "bridge": "textme-audio"},
        "gallery": {"set": "synth-anchor-text", "bridge": "paired-audio"}}
    edit(params)
    write_params(copy, params)
    code, err = cli(copy, "eval", "audio-zeroshot-paired")
    assert code == 2 and err.count("\n") == 1 and expected in err, err


def test_seeds_on_a_method_without_a_seed_are_one_line(tmp_path: Path) -> None:
    params = synthetic_lane(tasks=["clip-zeroshot-linear"], groups=100)
    params["fit"]["bridges"]["clip-linear"]["seeds"] = [0, 1]
    write_params(tmp_path, params)
    assert cli(tmp_path, "extract")[0] == 0
    code, err = cli(tmp_path, "fit", "clip-linear")
    assert code == 2 and "fit.bridges.clip-linear.seeds: method 'linear' has no seed parameter" in err, err
