"""A fit that replaces a bridge while evals read it: every metrics file is the one its card's bridge gives."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest
from bridge_project import command, env, run_stages, synthetic_lane

TASK, BRIDGE = "clip-zeroshot-linear", "clip-linear"
ALPHAS = (0.0, 3.0, 30.0, 300.0)  # each gives other weights, so each fit is another bridge
RACE_SECONDS = 45


def _bridge_hash(project: Path) -> str:
    return json.loads((project / "artifacts/bridges" / BRIDGE / "bridge.json").read_text())["content_sha256"]


@pytest.mark.slow
def test_a_fit_racing_evals_never_reports_one_bridges_numbers_under_anothers_hash(tmp_path: Path) -> None:
    project = run_stages(tmp_path / "p", synthetic_lane([TASK], groups=300))
    archive = tmp_path / "archive"
    archive.mkdir()
    shutil.copytree(project / "artifacts/bridges" / BRIDGE, archive / _bridge_hash(project))
    results: list[tuple[str, dict]] = []
    failures: list[str] = []
    fits = [0]
    deadline = time.monotonic() + RACE_SECONDS

    def fitter() -> None:
        i = 0
        while time.monotonic() < deadline:
            alpha = ALPHAS[i % len(ALPHAS)]
            done = subprocess.run(command("fit", BRIDGE, "--set", f"fit.bridges.{BRIDGE}.params.alpha={alpha}"),
                                  cwd=project, env=env(project), capture_output=True, text=True, check=False)
            assert done.returncode == 0, done.stderr
            digest = _bridge_hash(project)  # this thread is the only writer: the bridge it just fitted
            if not (archive / digest).exists():
                shutil.copytree(project / "artifacts/bridges" / BRIDGE, archive / digest)
            fits[0] += 1
            i += 1

    def evaluator() -> None:
        while time.monotonic() < deadline:
            done = subprocess.run(command("eval", TASK), cwd=project, env=env(project), capture_output=True,
                                  text=True, check=False)
            if done.returncode != 0:  # a refusal is allowed (replaced mid-run), and must be one line
                failures.append(done.stderr.strip())
                continue
            card = json.loads((project / "artifacts/protocols" / f"{TASK}.json").read_text())
            hashes = {s["bridge"]["content_sha256"] for s in card["sides"].values() if "bridge" in s}
            assert len(hashes) == 1, card["sides"]
            metrics = json.loads((project / "artifacts/metrics" / f"{TASK}.json").read_text())
            results.append((hashes.pop(), metrics))

    threads = [threading.Thread(target=fitter), threading.Thread(target=evaluator)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert fits[0] >= 3 and len(results) >= 3, (fits, len(results), failures)
    for message in failures:
        assert "\n" not in message and "Traceback" not in message and "replaced" in message, message
    # each number again, now with nothing racing: the bridge its card names must give exactly it
    expected: dict[str, dict] = {}
    for digest in {d for d, _ in results}:
        assert (archive / digest).exists(), f"the card names {digest}, a bridge no fit wrote"
        target = project / "artifacts/bridges" / BRIDGE
        shutil.rmtree(target)
        shutil.copytree(archive / digest, target)
        done = subprocess.run(command("eval", TASK), cwd=project, env=env(project), capture_output=True, text=True,
                              check=False)
        assert done.returncode == 0, done.stderr
        expected[digest] = json.loads((project / "artifacts/metrics" / f"{TASK}.json").read_text())
    for digest, metrics in results:
        assert metrics == expected[digest], digest
    assert len({d for d, _ in results}) >= 2, "the race must have scored more than one bridge"
