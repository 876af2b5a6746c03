"""docs/guides/add-a-task-kind.md, run as written: its module (runner and declaration, protocol words
included), its catalog line and its params.yaml task, through `bridge eval`, `bridge report` and `bridge dvc`;
the new kind's number against a computation by hand."""

from __future__ import annotations

import json
import re
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import yaml
from bridge_project import REPO, cli, synthetic_lane, write_params

from embridge.core.catalog import KINDS, _kind
from embridge.core.config import load_params

GUIDE = REPO / "docs/guides/add-a-task-kind.md"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", GUIDE.read_text(), re.DOTALL)


@pytest.fixture
def guide_kind(monkeypatch: pytest.MonkeyPatch) -> str:
    """The guide's module imported under the name its catalog line gives, and that line in ``KINDS``: the
    two edits the guide asks for, nothing else."""
    module_code, line = blocks("python")
    entry = eval(line.strip().rstrip(","), {"_kind": _kind})  # the line as the guide writes it into KINDS
    module = types.ModuleType(entry.module)
    exec(compile(module_code, str(GUIDE), "exec"), module.__dict__)  # noqa: S102 - the page's own code, run as written
    monkeypatch.setitem(sys.modules, entry.module, module)
    monkeypatch.setitem(KINDS._entries, entry.name, entry)
    return entry.name


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = tmp_path_factory.mktemp("guide-kind")
    write_params(project, synthetic_lane(tasks=["clip-zeroshot-linear"], groups=200))
    for stage in ("extract", "fit"):
        code, err = cli(project, stage)
        assert code == 0, err
    return project


def test_the_guide_s_kind_runs_through_eval_report_and_dvc(guide_kind: str, project: Path) -> None:
    params = yaml.safe_load((project / "params.yaml").read_text())
    task = yaml.safe_load(blocks("yaml")[0])["eval"]["tasks"]
    params["eval"]["tasks"] |= task
    write_params(project, params, dvc=True)
    code, err = cli(project, "eval")
    assert code == 0, err
    got = json.loads((project / "artifacts/metrics/clip-alignment.json").read_text())

    from embridge.core.vectors import normalize, pair_by_group
    from embridge.evaluate.run import side_vectors

    cfg = load_params(project / "params.yaml")
    spec = cfg.eval.tasks["clip-alignment"]
    query, q, _ = side_vectors(project, cfg, spec.query)
    gallery, g, _ = side_vectors(project, cfg, spec.gallery)
    iq, ig = pair_by_group(query, gallery)
    cosines = [float(np.dot(normalize(q[i], np.float64), normalize(g[j], np.float64))) for i, j in zip(iq, ig)]
    assert got["median_cosine"] == pytest.approx(np.median(cosines), abs=1e-12)
    assert got["pairs"] == len(cosines) > 100 and 0.3 < got["median_cosine"] <= 1.0  # a fitted map aligns pairs
    card = json.loads((project / "artifacts/protocols/clip-alignment.json").read_text())
    assert card["kind"] == "alignment" and card["positive"] == "the gallery rows of the query row's group"
    assert card["hit"] == "n/a (the cosine of each pair of rows, summarised by its mean or median)"
    assert card["ties"] == "n/a" and card["sides"]["query"]["set"] == "synth-clip-image"
    plot = (project / "artifacts/plots/alignment/clip-alignment.csv").read_text().splitlines()
    assert plot[0] == "class,cosine" and len(plot) == 1 + len(set(query.labels[iq]))

    code, err = cli(project, "report")
    assert code == 0, err
    assert json.loads((project / "artifacts/summary.json").read_text())["clip-alignment"] == {
        "median_cosine": got["median_cosine"]}
    index = (project / "artifacts/report/index.md").read_text()
    assert f"| clip-alignment | alignment | synth-clip-image -> synth-clip-text | clip-linear | median_cosine | " \
           f"{got['median_cosine']:.4f} |" in index
    dvc = yaml.safe_load((project / "dvc.yaml").read_text())
    assert dvc["stages"]["eval-clip-alignment"]["outs"][2] == "artifacts/plots/alignment/clip-alignment.csv"
    assert {"artifacts/plots/alignment": {"title": "Cosine of paired rows per class", "template": "bar_horizontal",
                                          "x": "cosine", "y": "class"}} in dvc["plots"]


def test_the_guide_s_kind_refuses_a_bad_option_in_one_line(guide_kind: str, project: Path) -> None:
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["eval"]["tasks"] |= yaml.safe_load(blocks("yaml")[0])["eval"]["tasks"]
    write_params(project, params)
    code, err = cli(project, "eval", "clip-alignment", "--set", "eval.tasks.clip-alignment.options.statistic=mode")
    assert code == 2 and err.count("\n") == 1, err
    assert "eval.tasks.clip-alignment.options.statistic: expected one of 'mean' or 'median', got 'mode'" in err
