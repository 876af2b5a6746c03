"""Memory of extract, fit and eval at scale (issue 11): peak RSS of each stage against the float32 bytes of
the vectors it uses, on a synthetic world of 200k, 1M and 2M caption rows (two captions per item, so half
as many images), d = 48.

    python benchmarks/scale.py                        # 200k, 1M, 2M caption rows
    python benchmarks/scale.py --rows 200000

Stages, each in its own process (peak RSS is that process's ru_maxrss, read with os.wait4):

- ``extract`` of the caption set (the bigger of the two) and of the image set;
- ``fit`` of a least-squares bridge image -> text on the train split (every caption pairs with its image);
- ``eval`` of zero-shot classification of the test images against the class prompts, through the bridge.

The bound the issue sets is ``2 x vector bytes + a fixed few hundred MB``: the last column is what is left
of the peak after ``2 x vector bytes``, which must stay a few hundred MB at every size. For reference, the
RSS of a process that imports the stage modules and touches no data is printed too.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

BIN = Path(sys.executable).parent
DIM = 48
#: what every stage process holds before it touches data: the CLI, the stage modules, numpy, pyarrow
BASELINE = ("import embridge.stages.cli, embridge.extract.run, embridge.fit, embridge.evaluate.run, embridge.bridges.linear, "
            "pyarrow.parquet")


def params(groups: int) -> dict:
    world = {"seed": 0, "concepts": 16, "latent_dim": 16, "private_dim": 8, "within_concept": 1.3,
             "obs_noise": 0.6, "groups": groups, "captions_per_item": 2, "modalities": ["text", "image"]}
    return {
        "worlds": {"big": world},
        "datasets": {"synth": {"source": "synthetic", "options": {"world": "big"}}},
        "encoders": {"clip": {"model": "synthetic:bimodal",
                              "options": {"world": "big", "towers": ["text", "image"], "dim": DIM, "gap": 0.8,
                                          "seed": 1}}},
        "extract": {"format": "parquet", "dtype": "float16", "shard_rows": 250_000, "batch_size": 8192,
                    "normalize": True, "sets": {"text": {"dataset": "synth", "encoder": "clip", "tower": "text"},
                                                "image": {"dataset": "synth", "encoder": "clip",
                                                          "tower": "image"}}},
        "fit": {"bridges": {"lstsq": {"method": "linear", "inputs": {"source": "image", "target": "text"},
                                      "params": {"alpha": 0.0}}}},
        "eval": {"index": "exact", "ks": [1, 5],
                 "tasks": {"zeroshot": {"kind": "zeroshot", "query": {"set": "image", "bridge": "lstsq"},
                                        "gallery": {"set": "text", "bridge": "lstsq"}}}},
    }


def run(cmd: list[str], cwd: Path) -> tuple[float, float]:
    """(seconds, peak RSS in MB) of one command, measured on that process alone."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr.read().decode()}")
    return seconds, usage.ru_maxrss / 1024


def vector_mb(project: Path, set_name: str, splits: tuple[str, ...] | None) -> float:
    """float32 MB of the rows of a set a stage uses (all rows, or those of ``splits``), counted in a child
    process: Linux keeps a process's peak RSS across fork and exec, so a parent that read 2M splits would
    raise every later child's measured peak to its own."""
    out = subprocess.run([sys.executable, __file__, "--count", str(project), set_name, ",".join(splits or ())],
                         capture_output=True, text=True, check=True)
    return float(out.stdout.strip())


def count_mb(project: Path, set_name: str, splits: tuple[str, ...] | None) -> float:
    from embridge.store.embedding_set import EmbeddingSet

    eset = EmbeddingSet(project / "artifacts/embeddings/synth/clip" / set_name, verify=False)
    if splits is None:
        rows = eset.rows
    else:
        import numpy as np

        rows = int(np.isin(eset.column("split"), list(splits)).sum())
    return rows * DIM * 4 / 2**20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", default="200000,1000000,2000000", help="caption rows per world, comma-separated")
    ap.add_argument("--count", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.count:
        project, set_name, splits = args.count
        print(count_mb(Path(project), set_name, tuple(splits.split(",")) if splits else None))
        return
    bridge = str(BIN / "bridge")
    print("| caption rows | stage | seconds | peak RSS (MB) | float32 vectors used (MB) | "
          "peak - 2 x vectors (MB) |\n| ---: | --- | ---: | ---: | ---: | ---: |")
    for rows in (int(r) for r in args.rows.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            project = Path(tmp)
            (project / "params.yaml").write_text(yaml.safe_dump(params(rows // 2), sort_keys=False))
            _, base = run([sys.executable, "-c", BASELINE], project)
            steps = [("extract text", ["extract", "text"], "text", None),
                     ("extract image", ["extract", "image"], "image", None),
                     ("fit lstsq", ["fit", "lstsq"], None, ("train",)),
                     ("eval zeroshot", ["eval", "zeroshot"], None, ("test", "prompt"))]
            for label, cmd, used, splits in steps:
                seconds, peak = run([bridge, *cmd], project)
                if used is not None:
                    mb = vector_mb(project, used, None)
                else:  # fit: train images + train captions; eval: test images + prompt texts
                    mb = vector_mb(project, "image", splits) + vector_mb(project, "text", splits)
                print(f"| {rows:,} | {label} | {seconds:.1f} | {peak:.0f} | {mb:.0f} | {peak - 2 * mb:.0f} |",
                      flush=True)
            print(f"| {rows:,} | a process that imports the stages, no data | | {base:.0f} | | |", flush=True)


if __name__ == "__main__":
    main()
