"""Team sharing through a DVC remote and the run-cache, as two teammates do it.

Clone A runs `dvc repro`, `dvc push --run-cache` to a shared remote (a local directory here; S3, SSH or
NFS for a team) and commits its dvc.lock. Two teammates then get the results without recomputing:

* B, a clone of A's commit (the flow of docs/guides/team-sharing.md): `dvc pull --run-cache` and
  `dvc repro` report the pipeline up to date;
* C, a clone made before A's run, so without A's dvc.lock (another branch, or the same params reached
  independently): only the run-cache knows the results, and `dvc repro --pull` restores every stage
  from it. (`dvc pull --run-cache` alone downloads the run records but not the outputs they name,
  since no dvc.lock entry points at them, so a plain `dvc repro` after it would run the stages.)

Before A's run, an extraction is SIGKILLed half-way: `dvc repro` resumes it from .bridge/partial (which
is outside DVC's outputs, so DVC does not delete it) and the run-cache records the stage as usual.

Neither B nor C runs a `bridge` command, neither leaves extraction work in .bridge/partial, and both end with
A's artifacts and metrics byte for byte.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
import test_pipeline_e2e
from bridge_project import command, env, synthetic_lane, tree_digest, write_params

pytestmark = pytest.mark.slow
clone = test_pipeline_e2e.clone  # the e2e test's fresh clone of the working tree, as a new user gets it
sh = test_pipeline_e2e.sh
TASKS = ["clip-zeroshot-raw", "clip-zeroshot-linear", "clip-gap"]
PARTIAL = Path(".bridge/partial/synth/syn-clip/text")
GIT = ("git", "-c", "user.name=a", "-c", "user.email=a@example.invalid")


def test_other_clones_get_every_result_from_the_remote_and_recompute_nothing(
        clone: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a, b, c, remote = clone, tmp_path / "b", tmp_path / "c", tmp_path / "remote"
    write_params(a, synthetic_lane(tasks=TASKS, groups=3000, extract={"shard_rows": 500}), dvc=True)
    (a / "dvc.lock").unlink(missing_ok=True)  # the repository commits no lock
    sh(a, "dvc", "remote", "add", "-d", "team", str(remote))
    sh(a, *GIT, "add", "-A")
    sh(a, *GIT, "commit", "-qm", "synthetic lane, team remote")
    sh(tmp_path, "git", "clone", "-q", str(a), str(c))

    half = subprocess.Popen(command("extract", "synth-clip-text"), cwd=a, env=env(a))
    while not (a / PARTIAL / "manifest.json").exists():
        assert half.poll() is None
        time.sleep(0.002)
    half.send_signal(signal.SIGKILL)
    half.wait()
    assert not json.loads((a / PARTIAL / "manifest.json").read_text())["complete"]
    ran = sh(a, "dvc", "repro")
    assert not (a / PARTIAL).exists()  # resumed and promoted inside the DVC stage
    stages = re.findall(r"Running stage '([^']+)'", ran)
    assert {f"eval-{t}" for t in TASKS} <= set(stages) and any(s.startswith("extract-") for s in stages)
    sh(a, "dvc", "push", "--run-cache")
    sh(a, *GIT, "add", "dvc.lock")
    sh(a, *GIT, "commit", "-qm", "results")
    sh(tmp_path, "git", "clone", "-q", str(a), str(b))

    transcript = {"B: dvc pull --run-cache": sh(b, "dvc", "pull", "--run-cache"),
                  "B: dvc repro": sh(b, "dvc", "repro"),
                  "C: dvc repro --pull": sh(c, "dvc", "repro", "--pull")}
    print("".join(f"\n--- clone {what}\n{out}" for what, out in transcript.items()))
    assert "Data and pipelines are up to date." in transcript["B: dvc repro"]
    for stage in stages:
        assert f"Stage '{stage}' is cached - skipping run, checking out outputs" in transcript["C: dvc repro --pull"]
    assert not any("Running stage" in out for out in transcript.values())
    for clone_dir in (b, c):
        assert not (clone_dir / ".bridge" / "partial").exists()  # no extraction ran, not even partially
        assert tree_digest(clone_dir / "artifacts" / "metrics") == tree_digest(a / "artifacts" / "metrics")
        assert tree_digest(clone_dir / "artifacts") == tree_digest(a / "artifacts")
    assert "clip-zeroshot-linear.top1" in sh(c, "dvc", "metrics", "show")
