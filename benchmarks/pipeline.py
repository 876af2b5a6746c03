"""How long the default pipeline and one stage take from a fresh clone, against the machine's fixed costs.

Targets (issue 9): the default ``dvc repro`` within 150 s of pipeline time on 2 cores, and ``bridge eval``
of a task that needs no torch within 1.5 s. The baselines, measured in the same run: starting Python, and
importing torch (what every stage paid before stages imported only what their params name).

    python benchmarks/pipeline.py            # a fresh copy of the working tree, dvc repro, then stage timings
    python benchmarks/pipeline.py --quick    # the synthetic lane only

The per-stage column is the time between consecutive "Running stage" lines of ``dvc repro`` (so it
includes DVC's own hashing of that stage's deps and outs).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def run(cwd: Path, *argv: str) -> float:
    start = time.perf_counter()
    subprocess.run(argv, cwd=cwd, env=ENV, check=True, capture_output=True)
    return time.perf_counter() - start


def median_time(cwd: Path, argv: list[str], repeats: int = 5) -> float:
    return statistics.median(run(cwd, *argv) for _ in range(repeats))


def fresh_copy(dest: Path) -> Path:
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                           capture_output=True, text=True, check=True).stdout.split()
    for name in files:
        if (REPO / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, dest / name)
    for argv in (["git", "init", "-q"], ["git", "add", "-A"],
                 ["git", "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "copy"]):
        subprocess.run(argv, cwd=dest, check=True, capture_output=True)
    return dest


def quick_lane(project: Path) -> None:
    """Drop the real-model lane (MNIST with MiniLM and EfficientNet): the synthetic lane only."""
    params = yaml.safe_load((project / "params.yaml").read_text())
    real = {n for n, s in params["extract"]["sets"].items() if params["datasets"][s["dataset"]]["source"] != "synthetic"}
    params["extract"]["sets"] = {n: s for n, s in params["extract"]["sets"].items() if n not in real}
    params["fit"]["bridges"] = {n: b for n, b in params["fit"]["bridges"].items()
                                if not set(b["inputs"].values()) & real}
    params["eval"]["tasks"] = {n: t for n, t in params["eval"]["tasks"].items()
                               if not {t["query"]["set"], (t.get("gallery") or {}).get("set")} & real}
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    subprocess.run([str(BIN / "bridge"), "dvc"], cwd=project, env=ENV, check=True, capture_output=True)


def repro(project: Path, transcript: Path | None = None) -> tuple[float, list[tuple[str, float]]]:
    """Total wall time of ``dvc repro`` and the time of each stage (between its "Running stage" lines);
    the whole output goes to ``transcript`` when given."""
    start = time.perf_counter()
    job = subprocess.Popen([str(BIN / "dvc"), "repro"], cwd=project, env=ENV, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
    marks: list[tuple[str, float]] = []
    assert job.stdout is not None
    lines = []
    for line in job.stdout:
        lines.append(line)
        if line.startswith("Running stage"):
            marks.append((line.split("'")[1], time.perf_counter()))
    assert job.wait() == 0, "dvc repro failed:\n" + "".join(lines[-30:])
    if transcript is not None:
        transcript.write_text("".join(lines))
    total = time.perf_counter() - start
    ends = [t for _, t in marks[1:]] + [start + total]
    return total, [(name, end - t) for (name, t), end in zip(marks, ends, strict=True)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="the synthetic lane only")
    parser.add_argument("--transcript", type=Path, help="write the output of dvc repro here")
    parser.add_argument("--keep", type=Path, help="copy the project's artifacts/ here afterwards (to compare metrics)")
    args = parser.parse_args()
    python = median_time(REPO, [sys.executable, "-c", "pass"])
    torch = median_time(REPO, [sys.executable, "-c", "import torch"])
    with tempfile.TemporaryDirectory() as tmp:
        project = fresh_copy(Path(tmp) / "bridge")
        if args.quick:
            quick_lane(project)
        total, per_stage = repro(project, args.transcript)
        eval_raw = median_time(project, [str(BIN / "bridge"), "eval", "clip-zeroshot-raw"])
        eval_linear = median_time(project, [str(BIN / "bridge"), "eval", "clip-zeroshot-linear"])
        eval_torch = median_time(project, [str(BIN / "bridge"), "eval", "audio-zeroshot-textme"], 3)
        if args.keep:
            shutil.copytree(project / "artifacts", args.keep, dirs_exist_ok=True)
    load = os.getloadavg()[0]
    print(f"\n{'default' if not args.quick else 'synthetic-lane'} pipeline from a fresh copy, {len(per_stage)} stages, "
          f"{os.cpu_count()} cores, load average {load:.1f}\n")
    print("| what | seconds | target | vs target |")
    print("| --- | ---: | ---: | ---: |")
    target = 150.0 if not args.quick else float("nan")
    print(f"| dvc repro, whole pipeline | {total:.1f} | {target:.0f} | {total / target:.2f}x |")
    print(f"| bridge eval clip-zeroshot-raw (no bridge, no torch) | {eval_raw:.2f} | 1.5 | {eval_raw / 1.5:.2f}x |")
    print(f"| bridge eval clip-zeroshot-linear (numpy bridge, no torch) | {eval_linear:.2f} | 1.5 | "
          f"{eval_linear / 1.5:.2f}x |")
    print(f"| bridge eval audio-zeroshot-textme (torch bridge, frozen load) | {eval_torch:.2f} | | |")
    print(f"| baseline: python -c pass | {python:.2f} | | |")
    print(f"| baseline: python -c 'import torch' | {torch:.2f} | | |")
    print("\n| stage | seconds |\n| --- | ---: |")
    for name, seconds in sorted(per_stage, key=lambda x: -x[1]):
        print(f"| {name} | {seconds:.1f} |")


ENV = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "HF_HUB_OFFLINE": "1"}

if __name__ == "__main__":
    main()
