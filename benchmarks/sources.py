"""Sources at scale (issue 11): peak RSS and rows/s of `bridge extract` on the `vectors` source (a float-list
Parquet folder) and of the streamed `table` source over a Parquet folder of captions (read shard by shard, as
extraction's plan reads it, without encoding), each against one `pyarrow.parquet.read_table` of the same
files; and the store's shard write against `np.save` of the same array, all measured in this run.

    python benchmarks/sources.py                      # 200k, 1M, 2M rows of d=48
    python benchmarks/sources.py --rows 200000,1000000

Each measurement runs in its own process (peak RSS is the process's ru_maxrss), and so does writing the
data: Linux keeps a process's peak RSS across fork and exec, so a child of a parent that had built 2M rows
would report the parent's peak as its own.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

BIN = Path(sys.executable).parent
PER_FILE = 250_000


def write_parquet(folder: Path, rows: int, dim: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from embridge.store.export import float_list

    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for k, start in enumerate(range(0, rows, PER_FILE)):
        n = min(PER_FILE, rows - start)
        v = rng.standard_normal((n, dim)).astype(np.float32)
        ids = [f"row-{i:08d}" for i in range(start, start + n)]
        pq.write_table(pa.table({"id": ids, "label": [f"c{i % 100}" for i in range(start, start + n)],
                                 "embedding": float_list(v)}), folder / f"part-{k:05d}.parquet")


def write_captions(folder: Path, rows: int) -> None:
    """A Parquet folder of captions in Hugging Face's layout (``train-k-of-n.parquet``): id, text, label."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True)
    parts = -(-rows // PER_FILE)
    for k, start in enumerate(range(0, rows, PER_FILE)):
        n = min(PER_FILE, rows - start)
        pq.write_table(pa.table({"id": [f"cap-{i:08d}" for i in range(start, start + n)],
                                 "text": [f"a photo of thing number {i} in class {i % 100}" for i in range(start, start + n)],
                                 "label": [f"c{i % 100}" for i in range(start, start + n)]}),
                       folder / f"train-{k:05d}-of-{parts:05d}.parquet")


def child(kind: str, folder: Path, project: Path) -> dict:
    start = time.perf_counter()
    if kind == "table":  # the streamed table source, read shard by shard as extraction's plan reads it
        from embridge.core.memory import bound_allocator

        bound_allocator()
        from embridge.sources.registry import load_source

        texts = load_source("caps", "table", {"path": str(folder)}, []).rows("text")
        for lo in range(0, len(texts), PER_FILE):
            texts.take(slice(lo, lo + PER_FILE)).fingerprint()
        rows = len(texts)
    elif kind == "read_table":
        import pyarrow.parquet as pq

        rows = pq.read_table(folder).num_rows
    else:
        from embridge.core.memory import bound_allocator

        bound_allocator()  # what the CLI does first in every stage process
        from embridge.core.config import load_params
        from embridge.extract.run import extract_set

        rows = extract_set(load_params(project / "params.yaml"), "imported", root=project) and \
            json.loads((project / "artifacts/embeddings/data/vec/image/manifest.json").read_text())["rows"]
    return {"seconds": time.perf_counter() - start, "rows": rows,
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def measure(kind: str, folder: Path, project: Path) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", kind, str(folder), str(project)], capture_output=True,
                         text=True, check=True, cwd=project)
    return json.loads(out.stdout.strip().splitlines()[-1])


def write_ratio(dim: int, shards: int = 4) -> tuple[float, float]:
    """Best of 3: seconds to write ``shards`` x 250k vectors as a set (``SetWriter``: encode, hash, fsync,
    manifest, every shard durable at ``finish``) and to ``np.save`` the same array into one file + fsync."""
    from embridge.core.files import atomic_write
    from embridge.store.embedding_set import SetWriter

    n = PER_FILE * shards
    emb = np.random.default_rng(0).standard_normal((n, dim)).astype(np.float16)
    ids = np.array([f"row-{i:08d}" for i in range(n)])  # as a source reads them: U12, U3
    labels = np.array([f"c{i % 100}" for i in range(n)])
    cols = {"id": ids, "label": labels, "split": np.where(np.arange(n) % 5, "train", "test"), "group": ids}
    tmp = Path(tempfile.mkdtemp())

    def save(p: Path) -> None:
        with open(p, "wb") as f:
            np.save(f, emb)

    best_np = best_store = float("inf")
    for attempt in range(3):
        t = time.perf_counter()
        atomic_write(tmp / "a.npy", save)
        best_np = min(best_np, time.perf_counter() - t)
        t = time.perf_counter()
        writer = SetWriter(tmp / f"set{attempt}", {"format": "parquet", "dtype": "float16", "encoder": {},
                                                  "source": {}, "shard_rows": PER_FILE})
        for i in range(shards):
            part = slice(i * PER_FILE, (i + 1) * PER_FILE)
            writer.write_shard(i, {k: v[part] for k, v in cols.items()}, emb[part])
        writer.finish()
        best_store = min(best_store, time.perf_counter() - t)
    return best_np, best_store


def write(kind: str, folder: Path, rows: int, dim: int) -> None:
    """The benchmark's data, written by a child process (the parent's RSS must stay small: see above)."""
    subprocess.run([sys.executable, __file__, "--write", kind, str(folder), str(rows), "--dim", str(dim)], check=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", default="200000,1000000,2000000")
    ap.add_argument("--dim", type=int, default=48)
    ap.add_argument("--child", nargs=3)
    ap.add_argument("--write", nargs=3, metavar=("KIND", "FOLDER", "ROWS"))
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], Path(args.child[1]), Path(args.child[2]))))
        return
    if args.write:
        kind, folder, rows = args.write
        write_parquet(Path(folder), int(rows), args.dim) if kind == "vectors" else write_captions(Path(folder), int(rows))
        return
    print("| rows | read_table peak RSS (MB) | read_table rows/s | import peak RSS (MB) | import rows/s | "
          "vectors float32 (MB) | table source peak RSS (MB) | table source rows/s | captions read_table peak RSS (MB) |"
          "\n| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for rows in (int(r) for r in args.rows.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            folder, project = Path(tmp) / "vectors", Path(tmp) / "project"
            write("vectors", folder, rows, args.dim)
            project.mkdir()
            (project / "params.yaml").write_text(yaml.safe_dump({
                "datasets": {"data": {"source": "vectors", "options": {"path": str(folder)}}},
                "encoders": {"vec": {"model": "precomputed:vec", "options": {"dim": args.dim}}},
                "extract": {"sets": {"imported": {"dataset": "data", "encoder": "vec", "tower": "image"}}}}))
            base, imp = measure("read_table", folder, project), measure("import", folder, project)
            captions = Path(tmp) / "captions"
            write("captions", captions, rows, args.dim)
            tab, tab_base = measure("table", captions, project), measure("read_table", captions, project)
            print(f"| {rows:,} | {base['peak_mb']:.0f} | {rows / base['seconds']:,.0f} | {imp['peak_mb']:.0f} | "
                  f"{rows / imp['seconds']:,.0f} | {rows * args.dim * 4 / 2**20:.0f} | {tab['peak_mb']:.0f} | "
                  f"{rows / tab['seconds']:,.0f} | {tab_base['peak_mb']:.0f} |", flush=True)
    for dim in dict.fromkeys((args.dim, 512)):  # the metadata columns weigh most at small d
        np_s, store_s = write_ratio(dim)
        print(f"\nset write, 4 shards of {PER_FILE:,} x {dim} float16 (fsync included): np.save {np_s:.3f} s, "
              f"store {store_s:.3f} s: {np_s / store_s:.2f}x np.save (target 0.3x)")


if __name__ == "__main__":
    main()
