"""Damaged embedding sets: every reader names the damaged file in one line, and `bridge extract` repairs
the set by redoing only what is bad (the intact shards are kept, as the same inodes), back to the bytes of
the original extraction."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from bridge_project import cli, cli_both, synthetic_lane, tree_digest, write_params

TEXT = Path("artifacts/embeddings/synth/syn-clip/text")


@pytest.fixture(scope="module")
def golden(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two synthetic sets of several shards each, and a bridge fitted on them."""
    fmt = getattr(request, "param", "parquet")
    project = tmp_path_factory.mktemp(f"golden-{fmt}")
    write_params(project, synthetic_lane(tasks=["clip-zeroshot-linear"], extract={"shard_rows": 150, "format": fmt}))
    for stage in ("extract", "fit"):
        code, err = cli(project, stage)
        assert code == 0, err
    return project


@pytest.fixture
def project(golden: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "project"
    shutil.copytree(golden, copy, symlinks=True)
    return copy


def _shard(project: Path, index: int) -> Path:
    return next((project / TEXT).glob(f"part-{index:05d}.*"))


def _edit_manifest(edit: Callable[[dict], None]) -> Callable[[Path], None]:
    def damage(project: Path) -> None:
        path = project / TEXT / "manifest.json"
        manifest = json.loads(path.read_text())
        edit(manifest)
        path.write_text(json.dumps(manifest, indent=2))
    return damage


def _truncate(project: Path) -> None:
    shard = _shard(project, 2)
    shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 2])


def _flip_bit(project: Path) -> None:
    shard = _shard(project, 2)
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0x10
    shard.write_bytes(bytes(data))


def _shift_rows(manifest: dict) -> None:
    """A row moves from shard 3's entry to shard 2's: the totals still agree, only the shards can tell."""
    manifest["shards"][2]["rows"] += 1
    manifest["shards"][3]["rows"] -= 1


def _shift_offset(manifest: dict) -> None:
    manifest["shards"][2]["embedding_offset"] += 2


SHARD = r"artifacts/embeddings/synth/syn-clip/text/part-00002\.(parquet|h5)"
MANIFEST = r"artifacts/embeddings/synth/syn-clip/text/manifest\.json"
CHECKSUM = SHARD + r": checksum mismatch with manifest \(shard is corrupt or truncated, \d+ bytes\); " \
                   r"rerun `bridge extract` to redo it"
# kind -> (damage, the reader's one line (regex), shards `bridge extract` encodes again: a shard whose
# manifest entry disagrees with its file is redone, since which of the two is wrong cannot be known)
DAMAGE: dict[str, tuple[Callable[[Path], None], str, set[int]]] = {
    "truncated shard": (_truncate, CHECKSUM, {2}),
    "bit-flipped shard": (_flip_bit, CHECKSUM, {2}),
    "deleted shard": (lambda p: _shard(p, 2).unlink(), SHARD + ": shard listed in the manifest is missing", {2}),
    "manifest rows of a shard": (
        _edit_manifest(_shift_rows),
        MANIFEST + r": lists 151 rows for part-00002\.(parquet|h5), the shard holds 150; "
                   r"rerun `bridge extract` to repair the set", {2, 3}),
    "manifest vector offset": (
        _edit_manifest(_shift_offset),
        MANIFEST + r": embedding_offset \d+ of part-00002\.(parquet|h5) does not match the shard \(\d+\); "
                   r"rerun `bridge extract` to repair the set", {2}),
    "manifest total rows": (
        _edit_manifest(lambda m: m.update(rows=m["rows"] - 7)),
        MANIFEST + r": says \d+ rows, its shards hold \d+; rerun `bridge extract` to repair the set", set()),
    "manifest entry dropped": (
        _edit_manifest(lambda m: m["shards"].pop(2)),
        MANIFEST + r": shard indices \[0, 1, 3, 4, 5\] are not 0\.\.4 \(an entry is missing or repeated\); "
                   r"rerun `bridge extract` to repair the set", {2}),
}


# every kind on Parquet; on HDF5 the two that depend on the format's layout
CASES = [("parquet", kind) for kind in DAMAGE] + [("hdf5", "bit-flipped shard"), ("hdf5", "manifest vector offset")]


@pytest.mark.parametrize("golden,kind", CASES, indirect=["golden"], ids=[f"{f}-{k}" for f, k in CASES])
def test_damage_is_named_on_read_and_repaired_by_redoing_only_the_bad_shard(project: Path, golden: Path,
                                                                            kind: str) -> None:
    damage, message, redone = DAMAGE[kind]
    inodes = {f.name: f.stat().st_ino for f in (project / TEXT).iterdir()}
    damage(project)
    before = tree_digest(project / "artifacts")

    code, err = cli(project, "fit", "clip-linear")
    assert code == 2 and err.count("\n") == 1, err
    assert re.fullmatch(f"error: {message}", err.strip()), err
    assert tree_digest(project / "artifacts") == before  # a failed read writes nothing

    code, err, said = cli_both(project, "extract", "synth-clip-text")
    assert code == 0, err
    assert tree_digest(project / TEXT) == tree_digest(golden / TEXT)  # the original bytes, manifest included
    rewritten = {int(f.name[5:10]) for f in (project / TEXT).glob("part-*") if f.stat().st_ino != inodes[f.name]}
    assert rewritten == redone
    assert f"redoing {len(redone)}" in said
    assert cli(project, "fit", "clip-linear")[0] == 0


def test_intact_set_is_left_alone(project: Path) -> None:
    """Rerunning `bridge extract` on an intact set touches nothing, not even the manifest."""
    stats = {f.name: (f.stat().st_ino, f.stat().st_mtime_ns) for f in (project / TEXT).iterdir()}
    assert cli(project, "extract", "synth-clip-text")[0] == 0
    assert {f.name: (f.stat().st_ino, f.stat().st_mtime_ns) for f in (project / TEXT).iterdir()} == stats


def test_manifest_paths_that_escape_are_refused_by_the_repairing_writer_too(project: Path, golden: Path) -> None:
    """A manifest entry pointing outside the set is never read, linked or deleted by `bridge extract`:
    the shard is encoded again instead."""
    outside = project / "precious.txt"
    outside.write_text("not a shard")
    _edit_manifest(lambda m: m["shards"][0].update(file="../../../../../precious.txt"))(project)
    code, err, said = cli_both(project, "extract", "synth-clip-text")
    assert code == 0 and "escapes the set directory" in said and "redoing 1" in said, (err, said)
    assert outside.read_text() == "not a shard"
    assert tree_digest(project / TEXT) == tree_digest(golden / TEXT)
