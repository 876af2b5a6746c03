"""The default pipeline as a user runs it: `dvc repro` in a fresh clone, then again, then after a param change."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def sh(cwd: Path, *args: str) -> str:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh clone of the working tree (committed or not), as a new user gets it."""
    dest = tmp_path_factory.mktemp("clone") / "bridge"
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                           capture_output=True, text=True, check=True).stdout.split()
    for name in files:
        if (REPO / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, dest / name)
    sh(dest, "git", "init", "-q")
    sh(dest, "git", "add", "-A")
    sh(dest, "git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "clone")
    return dest


def test_repro_twice_and_a_fit_param_change(clone: Path) -> None:
    out = sh(clone, "dvc", "repro")
    assert "bridge eval" in out and "top1" in out  # the results table is printed
    tasks = yaml.safe_load((clone / "params.yaml").read_text())["eval"]["tasks"]
    for task in tasks:
        metrics = json.loads((clone / "artifacts" / "metrics" / f"{task}.json").read_text())
        assert metrics and all(isinstance(v, float) for v in metrics.values())
    raw = json.loads((clone / "artifacts/metrics/clip-zeroshot-raw.json").read_text())
    linear = json.loads((clone / "artifacts/metrics/clip-zeroshot-linear.json").read_text())
    assert 0.1 < raw["top1"] <= 1.0 and linear["top1"] > 0.1

    again = sh(clone, "dvc", "repro")
    assert "Running stage" not in again and "up to date" in again

    shown = sh(clone, "dvc", "metrics", "show")
    assert "summary.json" in shown and "clip-zeroshot-raw.top1" in shown  # one metrics file, a column per task

    sh(clone, "dvc", "repro", "--dry")  # nothing pending before the change
    lock = (clone / "dvc.lock").read_bytes()
    forced = sh(clone, "dvc", "repro", "--force", "--no-run-cache")  # a second fresh run of every stage
    assert forced.count("Running stage") == len(yaml.safe_load((clone / "dvc.yaml").read_text())["stages"])
    assert (clone / "dvc.lock").read_bytes() == lock  # same params, same machine: the same dvc.lock

    params = yaml.safe_load((clone / "params.yaml").read_text())
    params["fit"]["bridges"]["clip-offset"]["params"]["mode"] = "shift"
    (clone / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    rerun = sh(clone, "dvc", "repro")
    ran = {line.split("'")[1] for line in rerun.splitlines() if line.startswith("Running stage")}
    users = {f"eval-{name}" for name, task in tasks.items()
             if "clip-offset" in (task["query"].get("bridge"), (task.get("gallery") or {}).get("bridge"))}
    assert users == {"eval-clip-zeroshot-offset", "eval-clip-gap"}
    assert ran == {"fit-clip-offset", "report"} | users  # exactly the fit, the tasks that use it, the report


def test_a_fitted_bridge_embeds_and_searches_the_real_lane(clone: Path, tmp_path: Path) -> None:
    """`bridge search` finds each digit from its prompt through the MNIST bridge, and `bridge embed` gives the
    vectors eval used for the same prompts (to float16 rounding)."""
    from embridge.core.config import load_params
    from embridge.query import set_in_space

    sh(clone, "dvc", "repro")  # up to date after the test above; the whole pipeline when this test runs alone
    prompts = [f"a photo of the digit {d}" for d in range(10)]
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(["bridge", "search", "mnist-effnet-image", "--bridge", "mnist-linear", "-k", "1", "--json",
                           *[a for p in prompts for a in ("--text", p)]], cwd=clone, env=env, capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0, done.stderr
    top = [r["results"][0]["label"] for r in json.loads(done.stdout)]
    print("top-1 label per digit prompt:", dict(zip(range(10), top, strict=True)))
    assert top[7] == "7" and sum(t == str(d) for d, t in enumerate(top)) >= 8, top
    out = tmp_path / "v.npy"
    sh(clone, "bridge", "embed", "--encoder", "minilm", "--tower", "text", "--bridge", "mnist-linear", "--out", str(out),
       "a photo of the digit three", "a picture of the number five")  # the prompts as the set holds them
    rows, stored = set_in_space(load_params(clone / "params.yaml"), "mnist-minilm-text", "mnist-linear", clone)
    want = stored[[int(np.flatnonzero(rows.ids == i)[0]) for i in ("prompt-3-0", "prompt-5-1")]]
    assert np.abs(np.load(out) - want).max() < 5e-3
