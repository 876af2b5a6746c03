"""The prepared GPU check: extract, fit and evaluate on CUDA and compare each with the CPU run.

    python benchmarks/gpu.py            # on a machine with CUDA and torch; no network needed

Two copies of a small project run the real CLI: one pinned to the CPU
(encoder ``device: cpu``, bridge ``device: cpu``, ``BRIDGE_DEVICE=cpu`` for
evaluation) and one left on ``auto`` (CUDA when present). The project is the
synthetic lane's TextME bridge plus EfficientNet-lite0 (packaged weights) over
64 scikit-learn digits. Compared:

* extraction: EfficientNet features under fp16 autocast on the GPU against fp32 on the CPU
  (cosine of each row; the stored vectors are float16 either way);
* fit: TextME trained with AMP on the GPU against fp32 on the CPU (zero-shot top-1 of each);
* evaluation: exact retrieval on the same stored vectors, ranks scored on the GPU against the CPU
  (``pipeline/evaluate/ranks.py``): the metrics must be identical.

Without CUDA both copies run on the CPU and the table says so (a dry run of the script itself).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "tests")]  # the tests' helpers (the package is installed: embridge)
from bridge_project import synthetic_lane  # noqa: E402  (the tests' project builder: the same params)

BIN = Path(sys.executable).parent


def project(root: Path, device: str) -> Path:
    params = synthetic_lane(tasks=["audio-zeroshot-textme", "clip-retrieval-raw"], groups=1000)
    params["datasets"]["digits"] = {"source": "digits", "options": {"loader": "sklearn", "limit": 64}}
    params["encoders"]["effnet"] = {"model": "efficientnet:efficientnet-lite0",
                                    "options": {"batch_size": 32, "device": device}}
    params["extract"]["sets"]["digits-effnet"] = {"dataset": "digits", "encoder": "effnet", "tower": "image"}
    for bridge in params["fit"]["bridges"].values():
        bridge.setdefault("params", {})["device"] = device
    root.mkdir(parents=True)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return root


def run(root: Path, device: str) -> dict[str, float]:
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "HF_HUB_OFFLINE": "1"}
    if device == "cpu":
        env["BRIDGE_DEVICE"] = "cpu"
    seconds = {}
    for stage in ("extract", "fit", "eval"):
        start = time.perf_counter()
        subprocess.run([str(BIN / "bridge"), stage], cwd=root, env=env, check=True, capture_output=True)
        seconds[stage] = time.perf_counter() - start
    return seconds


def vectors(root: Path) -> np.ndarray:
    from embridge.store.loading import load_vectors

    return load_vectors(root / "artifacts/embeddings/digits/effnet/image", ("train", "test")).vectors


def metrics(root: Path, task: str) -> dict[str, float]:
    return json.loads((root / f"artifacts/metrics/{task}.json").read_text())


def main() -> None:
    from embridge.evaluate.ranks import cuda_available

    cuda = cuda_available()
    with tempfile.TemporaryDirectory() as tmp:
        cpu, gpu = project(Path(tmp) / "cpu", "cpu"), project(Path(tmp) / "gpu", "auto")
        t_cpu, t_gpu = run(cpu, "cpu"), run(gpu, "auto")
        a, b = vectors(cpu), vectors(gpu)
        cos = np.sum(a * b, axis=1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
        zs_cpu, zs_gpu = metrics(cpu, "audio-zeroshot-textme")["top1"], metrics(gpu, "audio-zeroshot-textme")["top1"]
        shutil.copytree(cpu / "artifacts/embeddings", gpu / "artifacts/embeddings", dirs_exist_ok=True)
        env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"}
        subprocess.run([str(BIN / "bridge"), "eval", "clip-retrieval-raw"], cwd=gpu, env=env, check=True,
                       capture_output=True)
        r_cpu, r_gpu = metrics(cpu, "clip-retrieval-raw"), metrics(gpu, "clip-retrieval-raw")
    where = "CUDA" if cuda else "CPU (no CUDA here: a dry run)"
    print(f"\nGPU check: the auto copy ran on {where}\n")
    print("| check | CPU | auto | agreement | pass |\n| --- | ---: | ---: | --- | --- |")
    print(f"| extract: EfficientNet-lite0, 64 digits (fp16 autocast on GPU) | {t_cpu['extract']:.1f} s | "
          f"{t_gpu['extract']:.1f} s | min row cosine {cos.min():.5f} | {cos.min() > 0.999} |")
    print(f"| fit + zero-shot: TextME (AMP on GPU), top-1 | {zs_cpu:.4f} | {zs_gpu:.4f} | "
          f"{100 * (zs_gpu - zs_cpu):+.2f} points | {abs(zs_gpu - zs_cpu) <= 0.02} |")
    same = all(r_cpu[k] == r_gpu[k] for k in r_cpu)
    print(f"| eval: exact retrieval ranks on the same vectors, R@1 | {r_cpu['q2g/recall@1']:.4f} | "
          f"{r_gpu['q2g/recall@1']:.4f} | every metric identical: {same} | {same} |")
    print(f"\nstage seconds, CPU: {t_cpu}; auto: {t_gpu}")


if __name__ == "__main__":
    main()
