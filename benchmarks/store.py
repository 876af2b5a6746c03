"""Write/read throughput of the embedding store against raw numpy, in one run.

    python benchmarks/store.py                 # 1M x 512 float16 (the issue's size)
    python benchmarks/store.py --rows 200000   # quicker

Baseline: ``np.save`` for writing and ``np.load(mmap_mode="r")`` copied into
RAM for reading (a memory map alone reads nothing). Our reads are timed both
with per-shard sha256 verification (the default) and without. Every reader
produces the same thing: all vectors in one array of the stored dtype. The
page cache is warm for every reader alike (each file was just written).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from embridge.store.embedding_set import EmbeddingSet, SetWriter


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def write_set(path: Path, fmt: str, vectors: np.ndarray, ids: np.ndarray, shard_rows: int) -> None:
    header = {"encoder": {"name": "bench", "tower": "t", "dim": vectors.shape[1]},
              "source": {"dataset": "bench", "kind": "numpy", "rows": len(vectors)},
              "dtype": str(vectors.dtype), "format": fmt, "shard_rows": shard_rows}
    writer = SetWriter(path, header)
    empty = np.full(len(vectors), "", dtype=object)
    for i, start in enumerate(range(0, len(vectors), shard_rows)):
        sl = slice(start, start + shard_rows)
        writer.write_shard(i, {"id": ids[sl], "label": empty[sl], "split": empty[sl], "group": empty[sl]},
                           vectors[sl])
    writer.finish()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--shard-rows", type=int, default=250_000)
    parser.add_argument("--repeats", type=int, default=3, help="reads are timed as the best of N")
    args = parser.parse_args()

    vectors = np.random.default_rng(0).standard_normal((args.rows, args.dim), dtype=np.float32).astype(np.float16)
    ids = np.char.add("row-", np.arange(args.rows).astype(str)).astype(object)
    mb = vectors.nbytes / 2**20
    rows: list[tuple[str, float, float]] = []  # (name, write_s, read_s)

    with tempfile.TemporaryDirectory(dir=".") as tmp:
        tmp = Path(tmp)
        raw = tmp / "raw.npy"
        w_raw = timed(lambda: np.save(raw, vectors))
        r_raw = min(timed(lambda: np.array(np.load(raw, mmap_mode="r"))) for _ in range(args.repeats))
        rows.append(("numpy save / load(mmap) (baseline)", w_raw, r_raw))
        for fmt in ("parquet", "hdf5"):
            path = tmp / fmt
            w = timed(lambda path=path, fmt=fmt: write_set(path, fmt, vectors, ids, args.shard_rows))
            for verify in (True, False):
                r = min(timed(lambda path=path, verify=verify: EmbeddingSet(path, verify=verify).vectors(np.float16))
                        for _ in range(args.repeats))
                label = f"{fmt} ({'sha256-verified' if verify else 'unverified'} read)"
                rows.append((label, w, r))
            got = EmbeddingSet(path).vectors(np.float16)
            assert np.array_equal(got, vectors), f"{fmt} round trip changed the data"

    table = Table(title=f"Embedding store: {args.rows:,} x {args.dim} float16 ({mb:,.0f} MB), "
                        f"shards of {args.shard_rows:,} rows")
    for col in ("format", "write vec/s", "write MB/s", "write vs numpy", "read vec/s", "read MB/s",
                "read vs numpy"):
        table.add_column(col, justify="right" if col != "format" else "left")
    for name, w, r in rows:
        table.add_row(name, f"{args.rows / w:,.0f}", f"{mb / w:,.0f}", f"{w_raw / w:.2f}x",
                      f"{args.rows / r:,.0f}", f"{mb / r:,.0f}", f"{r_raw / r:.2f}x")
    Console().print(table)


if __name__ == "__main__":
    main()
