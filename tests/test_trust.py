"""Trust: corruption is seen whatever the file's mtime says, a set is replaced safely across file systems,
a changed media file re-extracts its shard, and stale temp files of killed writers do not stay."""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from bridge_project import (
    REPO,
    cli,
    cli_with_project,
    env,
    pixel_project,
    synthetic_lane,
    tree_digest,
    write_params,
)

from embridge.core.files import aside, atomic_write, remove_leftovers, replace_dir

TEXT = Path("artifacts/embeddings/synth/syn-clip/text")
EMBEDDINGS = Path("artifacts/embeddings")


@pytest.fixture(scope="module")
def golden(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = tmp_path_factory.mktemp("golden-trust")
    write_params(project, synthetic_lane(tasks=["clip-zeroshot-linear"], groups=300, extract={"shard_rows": 200}))
    for stage in ("extract", "fit"):
        code, err = cli(project, stage)
        assert code == 0, err
    return project


def _copy(golden: Path, where: Path) -> Path:
    shutil.copytree(golden, where, symlinks=True)
    return where


def _corrupt(data: bytes, rng: random.Random) -> tuple[str, bytes]:
    """A random corruption that changes the bytes: bit flips, a zeroed range, or a truncation."""
    while True:
        kind = rng.choice(["flip", "zero", "truncate"])
        out = bytearray(data)
        if kind == "flip":
            for _ in range(rng.randint(1, 4)):
                out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
        elif kind == "zero":
            start = rng.randrange(len(out))
            end = min(len(out), start + rng.randint(1, 4096))
            out[start:end] = bytes(end - start)
        else:
            out = out[:rng.randrange(len(out))]
        if bytes(out) != data:
            return kind, bytes(out)


def test_random_corruption_with_the_mtime_put_back_is_seen_on_read_and_repaired(golden: Path,
                                                                                  tmp_path: Path) -> None:
    """What ``cp -p``, ``rsync -t`` or bit rot leave: new bytes, old mtime. Every trial is caught by the next
    read (one line naming the shard) and the next ``bridge extract`` gives back the clean bytes."""
    clean = tree_digest(golden / EMBEDDINGS)
    rng = random.Random(12)
    kinds = set()
    for trial in range(12):
        project = _copy(golden, tmp_path / f"p{trial}")
        shard = rng.choice(sorted((project / TEXT).glob("part-*")))
        before = shard.stat()
        kind, data = _corrupt(shard.read_bytes(), rng)
        kinds.add(kind)
        shard.write_bytes(data)
        os.utime(shard, ns=(before.st_atime_ns, before.st_mtime_ns))
        assert shard.stat().st_mtime_ns == before.st_mtime_ns
        code, err = cli(project, "eval", "clip-zeroshot-linear")
        assert code == 2 and err.count("\n") == 1, (kind, err)
        assert re.match(rf"error: {re.escape(str(TEXT / shard.name))}: (checksum mismatch|cannot read)", err), err
        code, err = cli(project, "extract")
        assert code == 0, err
        assert tree_digest(project / EMBEDDINGS) == clean, kind
        shutil.rmtree(project)
    assert kinds == {"flip", "zero", "truncate"}


def _image_project(tmp_path: Path, count: int, classes: int, size: int, shard_rows: int, seed: int,
                   batch_size: int | None = None) -> tuple[Path, Path]:
    """An image folder of ``count`` random PNGs in ``classes`` subfolders and a project extracting it with
    the tests' pixel encoder (``pixel_encoder.py``, copied next to params.yaml as a user's own would be)."""
    from PIL import Image

    images = tmp_path / "images"
    rng = np.random.default_rng(seed)
    for i in range(count):
        (images / str(i % classes)).mkdir(parents=True, exist_ok=True)
        pixels = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(images / str(i % classes) / f"{i:03d}.png")
    project = pixel_project(tmp_path / "project", {"source": "image_folder", "options": {
        "path": str(images), "test_fraction": 0.5}}, name="pics",
        encoder={"batch_size": batch_size} if batch_size else None, shard_rows=shard_rows)
    return images, project


def test_a_rewritten_media_file_re_extracts_only_its_shard(tmp_path: Path) -> None:
    """An image rewritten in place (same path, same size, old mtime put back) gets a new vector; the other
    shards keep their inodes, and renaming an image moves no other image between train and test."""
    from PIL import Image

    images, project = _image_project(tmp_path, count=12, classes=3, size=8, shard_rows=4, seed=0)
    sys.path.insert(0, str(project))
    try:
        assert cli(project, "extract")[0] == 0
        out = project / "artifacts/embeddings/pics/pix/image"
        inodes = {f.name: f.stat().st_ino for f in out.glob("part-*")}
        target = images / "1" / "004.png"  # row 4 of the sorted paths: shard 1
        before = target.stat()
        Image.fromarray(np.full((8, 8, 3), 255, dtype=np.uint8)).save(target)
        os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))
        code, err = cli(project, "extract")
        assert code == 0, err
        after = {f.name: f.stat().st_ino for f in out.glob("part-*")}
        assert [n for n in sorted(after) if after[n] != inodes[n]] == ["part-00001.parquet"]
    finally:
        sys.path.remove(str(project))


def _kill_at_switch(project: Path) -> subprocess.CompletedProcess[str]:
    """Run ``bridge extract`` and SIGKILL it inside ``replace_dir``, just before the new set is renamed
    into place: the old set is aside, the new one staged."""
    script = (
        "import os, signal, sys\n"
        "real = os.replace\n"
        "def replace(src, dst, *a, **k):\n"
        "    if '.incoming-' in str(src) or str(src).endswith('partial/synth/syn-clip/text'):\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
        "    return real(src, dst, *a, **k)\n"
        "os.replace = replace\n"
        "sys.argv = ['bridge', 'extract', 'synth-clip-text']\n"
        "from embridge.stages.cli import main\n"
        "main()\n")
    return subprocess.run([sys.executable, "-c", script], check=False, cwd=project, env={**env(project), "PYTHONPATH": str(REPO)},
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("where", ["same file system", "artifacts on another file system"])
def test_a_repaired_set_replaces_the_old_one_and_a_kill_during_the_switch_loses_nothing(
        golden: Path, tmp_path: Path, where: str) -> None:
    project = _copy(golden, tmp_path / "project")
    if where != "same file system":
        other = Path("/dev/shm")
        if not other.is_dir() or os.stat(other).st_dev == os.stat(tmp_path).st_dev:
            pytest.skip("no second file system (/dev/shm) on this machine")
        mount = Path(tempfile.mkdtemp(dir=other))
        shutil.move(str(project / "artifacts"), mount / "artifacts")
        (project / "artifacts").symlink_to(mount / "artifacts")
        assert os.stat(project / TEXT).st_dev != os.stat(project / ".bridge").st_dev if (project / ".bridge").exists() \
            else os.stat(project / TEXT).st_dev != os.stat(project).st_dev
    clean = tree_digest(golden / EMBEDDINGS)
    shard = project / TEXT / "part-00001.parquet"
    data = bytearray(shard.read_bytes())
    data[100] ^= 0xFF
    shard.write_bytes(bytes(data))
    damaged = tree_digest(project / EMBEDDINGS)

    done = _kill_at_switch(project)
    assert done.returncode == -signal.SIGKILL, done.stderr
    text = project / TEXT
    assert not text.exists() and aside(text).is_dir()  # killed between the two renames: the old set is aside
    assert tree_digest(aside(text)) == {k.removeprefix("synth/syn-clip/text/"): v for k, v in damaged.items()
                                        if k.startswith("synth/syn-clip/text/")}
    code, err = cli(project, "extract", "synth-clip-text")  # the next run puts things right: nothing lost
    assert code == 0, err
    assert tree_digest(project / EMBEDDINGS) == clean
    assert not aside(text).exists() and not list(text.parent.glob(".text.*"))
    assert cli(project, "eval", "clip-zeroshot-linear")[0] == 0
    if where != "same file system":
        shutil.rmtree(mount)


def test_replace_dir_across_devices_keeps_the_old_copy_until_the_new_one_is_in_place(tmp_path: Path) -> None:
    other = Path("/dev/shm")
    if not other.is_dir() or os.stat(other).st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("no second file system (/dev/shm) on this machine")
    new = Path(tempfile.mkdtemp(dir=other)) / "new"
    new.mkdir()
    (new / "a").write_text("new")
    final = tmp_path / "final"
    final.mkdir()
    (final / "a").write_text("old")
    replace_dir(new, final)
    assert (final / "a").read_text() == "new" and not new.exists() and not aside(final).exists()
    shutil.rmtree(new.parent)


def test_temp_files_of_a_killed_writer_are_removed_by_the_next_write(tmp_path: Path) -> None:
    target = tmp_path / "metrics.json"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], check=True, capture_output=True,
                          text=True)
    stale = tmp_path / f".metrics.json.tmp-{int(dead.stdout)}"
    stale.write_text("half")
    mine = tmp_path / f".metrics.json.tmp-{os.getpid()}-other"  # not a leftover name: left alone
    mine.write_text("x")
    atomic_write(target, lambda tmp: tmp.write_text("{}"))
    assert target.read_text() == "{}" and not stale.exists() and mine.exists()
    assert remove_leftovers(target) == []


def _children(pid: int) -> set[int]:
    """Pids of the live child processes of ``pid`` (from /proc)."""
    out = set()
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line)
        except OSError:
            continue
        if fields.get("PPid", "").strip() == str(pid):
            out.add(int(status.parent.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_stop_workers_keep_partial_work_and_leave_no_temp_files(tmp_path: Path,
                                                                                   signum: int) -> None:
    from bridge_project import command

    _, project = _image_project(tmp_path, count=400, classes=4, size=64, shard_rows=40, seed=1, batch_size=4)
    partial = project / ".bridge/partial/pics/pix/image"
    job = subprocess.Popen(command("extract"), cwd=project, env=env(project), stderr=subprocess.PIPE, text=True)
    workers: set[int] = set()
    while not (partial / "manifest.json").exists() or not workers:
        assert job.poll() is None, job.communicate()[1]
        workers |= _children(job.pid)
        time.sleep(0.01)
    job.send_signal(signum)
    _, err = job.communicate(timeout=60)
    assert job.returncode == 128 + signum, err
    assert "Traceback" not in err
    deadline = time.monotonic() + 10
    while any(_alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(w) for w in workers), "worker processes outlived the extraction"
    kept = json.loads((partial / "manifest.json").read_text())["shards"]
    assert kept and not list(partial.glob(".*.tmp-*"))  # finished shards kept, no temp file left
    assert cli_with_project(project, "extract")[0] == 0  # resumes from what was kept
    done = json.loads((project / "artifacts/embeddings/pics/pix/image/manifest.json").read_text())
    assert done["rows"] == 400 and [s["sha256"] for s in done["shards"][:len(kept)]] == [s["sha256"] for s in kept]
