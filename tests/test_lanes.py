"""The real lanes' folders (``lanes/molecules``, ``lanes/migration``) and how their numbers are reported.

Each lane is a project of its own: ``params.yaml`` written by its ``write_params.py``, ``dvc.yaml`` written
by ``bridge dvc`` run in that folder (its code deps point at the repository's one ``pipeline/``), so CI
checks both are current, as ``bridge dvc --check`` does for the default pipeline. A lane's tasks run once
per dataset seed (``<task>-s<k>``); the report aggregates them and the real-data claims read their mean.
"""

from __future__ import annotations

import contextlib
import importlib.util

import numpy as np
import pytest
import yaml
from bridge_project import REPO

from embridge.core.config import TaskSpec, load_params
from embridge.dag import code_root, render
from embridge.papers import claim_rows
from embridge.report import Row, seed_table

LANES = ("molecules", "migration")


@pytest.mark.parametrize("lane", LANES)
def test_a_lane_s_params_and_dvc_yaml_are_what_its_scripts_write(lane: str) -> None:
    folder = REPO / "lanes" / lane
    spec = importlib.util.spec_from_file_location(f"write_params_{lane}", folder / "write_params.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert yaml.safe_load((folder / "params.yaml").read_text()) == module.params(), \
        f"lanes/{lane}/params.yaml is stale: run `python write_params.py` there"
    with contextlib.chdir(folder):
        assert code_root() == "../../"
        assert (folder / "dvc.yaml").read_text() == render(load_params(folder / "params.yaml")), \
            f"lanes/{lane}/dvc.yaml is stale: run `bridge dvc` there"
    stages = yaml.safe_load((folder / "dvc.yaml").read_text())["stages"]
    deps = {d for s in stages.values() for d in s["deps"] if "pipeline" in d}
    assert deps and all(d.startswith("../../pipeline/") and (folder / d).exists() for d in deps), deps
    with contextlib.chdir(REPO):
        assert code_root() == ""  # the default pipeline's dvc.yaml is as it was


def _row(task: str, kind: str, metrics: dict[str, float], reference: str | None = None) -> Row:
    spec = TaskSpec(kind=kind, query={"set": "q", "bridge": f"ridge-{task.rsplit('-', 1)[-1]}"},
                    gallery={"set": "g"}, reference=reference)
    return Row(task, spec, metrics)


def test_tasks_over_dataset_seeds_are_reported_as_mean_and_std() -> None:
    r1 = {0: 0.60, 1: 0.64, 2: 0.65}
    own = {0: 0.80, 1: 0.80, 2: 0.90}
    rows = [_row(f"t2m-s{s}", "retrieval", {"q2g/recall@1": r1[s], "q2g/recall@5": 0.9, "q2g/mrr": 0.7,
                                            "g2q/recall@1": 0.5}, reference=f"own-s{s}") for s in r1]
    rows += [_row(f"own-s{s}", "retrieval", {"q2g/recall@1": own[s]}) for s in own]
    rows.append(_row("lonely-s0", "retrieval", {"q2g/recall@1": 0.1}))  # one seed: not a group
    table = {r["task"]: r for r in seed_table(rows)}
    assert set(table) == {"t2m", "own"}
    values = list(r1.values())
    assert table["t2m"]["q2g/recall@1"] == f"{np.mean(values):.4f} ± {np.std(values, ddof=1):.4f}"
    kept = [100 * r1[s] / own[s] for s in r1]
    assert table["t2m"]["preservation"] == f"{np.mean(kept):.1f} ± {np.std(kept, ddof=1):.1f} %"
    assert table["t2m"]["bridge"] == "ridge" and table["t2m"]["seeds"] == "3"


def test_real_data_claims_read_the_lanes_metrics_over_seeds() -> None:
    assert all(r["ours"] == "" and r["verdict"].startswith("not measured") for r in claim_rows({}, "real"))
    mrr = [0.81, 0.85, 0.86]
    metrics = {f"cand-ridge-iupac-s{s}": {"q2g/T4/mrr": v} for s, v in enumerate(mrr)}
    metrics |= {f"t2m-{m}-iupac-s{s}": {"q2g/recall@1": v} for s in range(3)
                for m, v in (("ridge", 0.5), ("linear", 0.3 + s / 100), ("mlp", 0.45))}
    rows = {(r["claim"][:40]): r for r in claim_rows(metrics, "real")}
    drugbank = next(r for c, r in rows.items() if c.startswith("IUPAC name -> its molecule among 4"))
    assert drugbank["ours"] == f"{np.mean(mrr):.4f} ± {np.std(mrr, ddof=1):.4f} (3 seeds)"
    assert drugbank["paper says"] == "not comparable" and "MoleculeSTM" in drugbank["verdict"]
    ridge = next(r for c, r in rows.items() if c.startswith("a ridge penalty"))
    assert ridge["verdict"].startswith("reproduced") and ridge["ours"].startswith("19.0 ± 1.0")
    mlp = next(r for c, r in rows.items() if c.startswith("the paired MLP"))
    assert mlp["verdict"].startswith("not reproduced") and mlp["ours"].startswith("-5.0")
