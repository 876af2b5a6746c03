"""Embedding store: round trips, crash-safe resume, checksum detection."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from embridge.core.errors import BridgeError
from embridge.store import embedding_set, formats
from embridge.store.embedding_set import MANIFEST, EmbeddingSet, SetWriter


def make_rows(n: int, dim: int, seed: int = 0) -> tuple[dict[str, np.ndarray], np.ndarray]:
    rng = np.random.default_rng(seed)
    columns = {
        "id": np.array([f"row-{i}" for i in range(n)]),
        "label": np.array([f"class-{i % 3}" if i % 4 else "" for i in range(n)]),
        "split": np.where(np.arange(n) % 5 == 0, "test", "train"),
        "group": np.array([f"g{i // 2}" for i in range(n)]),
    }
    return columns, rng.standard_normal((n, dim)).astype(np.float32)


def header(fmt: str, dtype: str, shard_rows: int, dim: int = 8) -> dict:
    return {"encoder": {"name": "e", "tower": "t", "dim": dim}, "source": {"dataset": "d", "kind": "test"},
            "dtype": dtype, "format": fmt, "shard_rows": shard_rows}


def write_all(path: Path, hdr: dict, columns: dict, vectors: np.ndarray, stop_after: int | None = None) -> None:
    writer = SetWriter(path, hdr)
    rows = hdr["shard_rows"]
    for index, start in enumerate(range(0, len(vectors), rows)):
        if stop_after is not None and index >= stop_after:
            writer.flush()  # what a process does before it exits: the shard in flight is listed
            return
        if writer.done(index):
            continue
        sl = slice(start, start + rows)
        writer.write_shard(index, {k: v[sl] for k, v in columns.items()}, vectors[sl])
    writer.finish()


@pytest.mark.parametrize("fmt", ["parquet", "hdf5"])
@pytest.mark.parametrize("dtype", ["float16", "float32"])
def test_round_trip(tmp_path: Path, fmt: str, dtype: str) -> None:
    columns, vectors = make_rows(103, 8)
    write_all(tmp_path / "set", header(fmt, dtype, 25), columns, vectors)
    eset = EmbeddingSet(tmp_path / "set")
    assert eset.rows == 103 and eset.dim == 8 and len(eset.manifest["shards"]) == 5
    for name, column in columns.items():
        assert eset.meta[name].tolist() == column.tolist()
    expected = vectors.astype(dtype).astype(np.float32)
    assert np.array_equal(eset.vectors(np.float32), expected)
    batches = list(eset.batches())
    assert [len(b) for b in batches] == [25, 25, 25, 25, 3] and batches[0].dtype == np.dtype(dtype)
    # the memory-mapped fast path and the format's own decoder agree
    manifest_file = tmp_path / "set" / MANIFEST
    manifest = json.loads(manifest_file.read_text())
    assert all(isinstance(s["embedding_offset"], int) for s in manifest["shards"])
    for shard in manifest["shards"]:
        del shard["embedding_offset"]
    manifest_file.write_text(json.dumps(manifest))
    assert np.array_equal(EmbeddingSet(tmp_path / "set").vectors(np.float32), expected)


@pytest.mark.parametrize("splits", [None, ("train",), ("test",)])
def test_select_keeps_whole_strings_when_a_later_shard_has_longer_ones(tmp_path: Path, splits) -> None:
    """``select`` fills each column in place at the first shard's string width: ids ``row-100``.. of the
    last shard are wider than those of the first, and must not come back cut to ``row-10``."""
    columns, vectors = make_rows(103, 8)
    write_all(tmp_path / "set", header("parquet", "float32", 25), columns, vectors)
    meta, got = EmbeddingSet(tmp_path / "set").select(splits)
    keep = np.ones(103, bool) if splits is None else np.isin(columns["split"], splits)
    for name, column in columns.items():
        assert meta[name].tolist() == column[keep].tolist()
    assert np.array_equal(got, vectors[keep])


def test_interrupted_write_resumes_without_loss_or_duplicates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                              ) -> None:
    columns, vectors = make_rows(100, 8)
    hdr = header("parquet", "float32", 30)
    path = tmp_path / "set"
    real_stage = embedding_set.write_beside
    calls = {"n": 0}

    def dies_in_third_shard(file, write):  # a kill half-way through writing shard 2's bytes
        calls["n"] += 1
        if calls["n"] == 3:
            real_stage(file, lambda tmp: tmp.write_bytes(b"PAR1 half a shard"))  # its temp file stays, as a
            raise KeyboardInterrupt                                                # SIGKILL would leave it
        return real_stage(file, write)

    monkeypatch.setattr(embedding_set, "write_beside", dies_in_third_shard)
    with pytest.raises(KeyboardInterrupt):
        write_all(path, hdr, columns, vectors)
    manifest = json.loads((path / MANIFEST).read_text())  # shard 1, in flight when 2 died, is listed
    assert [s["index"] for s in manifest["shards"]] == [0, 1] and not manifest["complete"]
    leftovers = sorted(p.name for p in path.iterdir())
    assert leftovers == [f".part-00002.parquet.tmp-{os.getpid()}", MANIFEST, "part-00000.parquet",
                         "part-00001.parquet"]

    monkeypatch.setattr(embedding_set, "write_beside", real_stage)
    before = (path / "part-00000.parquet").stat().st_mtime_ns
    write_all(path, hdr, columns, vectors)
    assert (path / "part-00000.parquet").stat().st_mtime_ns == before  # finished shards were kept
    assert sorted(p.name for p in path.iterdir()) == [MANIFEST] + [f"part-0000{i}.parquet" for i in range(4)]
    eset = EmbeddingSet(path)
    assert eset.ids.tolist() == columns["id"].tolist()
    assert np.array_equal(eset.vectors(), vectors)


def test_a_shard_that_cannot_be_made_durable_stops_the_writer_and_is_not_listed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The fsync / rename of a shard runs in the writer's thread: its failure reaches the caller, and the
    manifest never lists that shard (nor any written after it)."""
    columns, vectors = make_rows(100, 8)
    hdr = header("parquet", "float16", 30)
    real_publish = embedding_set.publish
    calls = {"n": 0}

    def disk_full_on_second(tmp: Path, path: Path) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(28, "No space left on device")
        real_publish(tmp, path)

    monkeypatch.setattr(embedding_set, "publish", disk_full_on_second)
    with pytest.raises(OSError, match="No space left"):
        write_all(tmp_path / "set", hdr, columns, vectors)
    manifest = json.loads((tmp_path / "set" / MANIFEST).read_text())
    assert [s["index"] for s in manifest["shards"]] == [0] and not manifest["complete"]
    assert sorted(p.name for p in (tmp_path / "set").iterdir()) == [MANIFEST, "part-00000.parquet"]
    monkeypatch.setattr(embedding_set, "publish", real_publish)
    write_all(tmp_path / "set", hdr, columns, vectors)
    assert np.array_equal(EmbeddingSet(tmp_path / "set").vectors(), vectors.astype(np.float16).astype(np.float32))


def test_resume_redoes_a_shard_whose_checksum_no_longer_matches(tmp_path: Path) -> None:
    columns, vectors = make_rows(60, 8)
    hdr = header("hdf5", "float32", 30)
    write_all(tmp_path / "set", hdr, columns, vectors, stop_after=2)
    shard = tmp_path / "set" / "part-00001.h5"
    shard.write_bytes(shard.read_bytes()[:-10])  # truncated behind the writer's back
    writer = SetWriter(tmp_path / "set", hdr)
    assert writer.done(0) and not writer.done(1)


def test_changed_header_starts_over(tmp_path: Path) -> None:
    columns, vectors = make_rows(60, 8)
    write_all(tmp_path / "set", header("parquet", "float32", 30), columns, vectors, stop_after=1)
    writer = SetWriter(tmp_path / "set", header("parquet", "float16", 30))
    assert not writer.done(0) and list((tmp_path / "set").iterdir()) == []


@pytest.mark.parametrize("fmt", ["parquet", "hdf5"])
def test_bit_flip_is_reported_naming_the_shard(tmp_path: Path, fmt: str) -> None:
    columns, vectors = make_rows(60, 8)
    write_all(tmp_path / "set", header(fmt, "float32", 30), columns, vectors)
    EmbeddingSet(tmp_path / "set").vectors()  # read once before the damage: every read hashes again
    shard = tmp_path / "set" / f"part-00001{formats.FORMATS[fmt].suffix}"
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0x01
    shard.write_bytes(bytes(data))
    with pytest.raises(BridgeError, match=r"part-00001.*checksum mismatch"):
        EmbeddingSet(tmp_path / "set").vectors()


def test_incomplete_and_missing_sets_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(BridgeError, match="no embedding set here"):
        EmbeddingSet(tmp_path / "nothing")
    columns, vectors = make_rows(60, 8)
    write_all(tmp_path / "set", header("parquet", "float32", 30), columns, vectors, stop_after=1)
    with pytest.raises(BridgeError, match="incomplete"):
        EmbeddingSet(tmp_path / "set")


def test_manifest_paths_cannot_escape_the_set(tmp_path: Path) -> None:
    columns, vectors = make_rows(30, 8)
    write_all(tmp_path / "set", header("parquet", "float32", 30), columns, vectors)
    manifest = json.loads((tmp_path / "set" / MANIFEST).read_text())
    manifest["shards"][0]["file"] = "../../etc/passwd"
    (tmp_path / "set" / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(BridgeError, match="escapes the set directory"):
        EmbeddingSet(tmp_path / "set")


@pytest.mark.parametrize("fmt", ["parquet", "hdf5"])
def test_large_shards_keep_one_contiguous_block(tmp_path: Path, fmt: str) -> None:
    """pyarrow splits pages every 20k rows unless told not to; a split block falls back to the slow decoder."""
    columns, vectors = make_rows(25_000, 4)
    write_all(tmp_path / "set", header(fmt, "float16", 25_000, dim=4), columns, vectors)
    manifest = json.loads((tmp_path / "set" / MANIFEST).read_text())
    assert isinstance(manifest["shards"][0]["embedding_offset"], int)
    assert np.array_equal(EmbeddingSet(tmp_path / "set").vectors(np.float16), vectors.astype(np.float16))


def test_string_columns_round_trip_through_their_buffers() -> None:
    """string_array / numpy_strings (the store's metadata path both ways) equal arrow's own conversion
    through Python strings: ASCII of one and of many lengths, non-ASCII, empty, nulls, slices, chunks."""
    import pyarrow as pa

    from embridge.core.columns import numpy_strings, string_array

    cases = [["row-000001", "row-000002"], ["a", "", "abc", "concept-07"], ["é", "日本", "x"], ["", ""], []]
    for values in cases:
        array = np.array(values, dtype=str)
        assert string_array(array).equals(pa.array(values, pa.string()))
        assert numpy_strings(pa.array(values, pa.string())).tolist() == values
    assert numpy_strings(pa.array(["a", None, "ccc"])).tolist() == ["a", "", "ccc"]
    assert numpy_strings(pa.array(["x", "yy", "zzz", "w"]).slice(1, 2)).tolist() == ["yy", "zzz"]
    assert numpy_strings(pa.chunked_array([pa.array(["a", "bb"]), pa.array(["ccc"])])).tolist() == ["a", "bb", "ccc"]
    ids = np.char.add("text-", np.arange(1000).astype(str))
    assert numpy_strings(string_array(ids)).tolist() == ids.tolist()


def test_the_cli_process_uses_bounded_allocators() -> None:
    """What `bridge` sets first in every stage process takes effect: arrow allocates from the system pool
    (mimalloc kept freed shard buffers as RSS), and a pool named in the environment is left alone."""
    import os
    import subprocess
    import sys

    probe = ("from embridge.core.memory import bound_allocator; bound_allocator(); import pyarrow as pa; "
             "pa.array([1, 2, 3]); print(pa.default_memory_pool().backend_name)")
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip() == "system"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                         env={**env, "ARROW_DEFAULT_MEMORY_POOL": "jemalloc"})
    assert out.stdout.strip() == "jemalloc"
