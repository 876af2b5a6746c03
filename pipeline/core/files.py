"""Crash-safe writes, one directory replace for every stage, and sha256.

Every file a stage writes goes through ``atomic_write`` (temp name beside the
target, fsync, rename, fsync of the directory), and every directory a stage
publishes (an embedding set, a bridge) goes through ``replace_dir``. A reader
sees the old version or the new one, never a mix, whatever moment the process
is killed at, and whatever file systems the pieces live on.

Temp names carry the writer's pid (``.<name>.tmp-<pid>``): a later writer of
the same target removes leftovers whose process is gone, so a SIGKILL between
write and rename leaves nothing for good.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
_LEFTOVER = re.compile(r"\.(?P<name>.+)\.(?:tmp|incoming)-(?P<pid>\d+)")


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_file(path: Path) -> None:
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


def temp_name(path: Path, kind: str = "tmp") -> Path:
    """``path``'s temp sibling for this process: ``.<name>.<kind>-<pid>``."""
    return path.with_name(f".{path.name}.{kind}-{os.getpid()}")


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_leftovers(path: Path) -> list[Path]:
    """Delete temp siblings of ``path`` (files or directories) whose writer process is gone."""
    removed = []
    if not path.parent.is_dir():
        return removed
    for entry in path.parent.glob(f".{glob_escape(path.name)}.*-*"):
        match = _LEFTOVER.fullmatch(entry.name)
        if match and match["name"] == path.name and not _alive(int(match["pid"])):
            remove_path(entry)
            removed.append(entry)
    return removed


def glob_escape(name: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", name)


def remove_path(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def atomic_write(path: Path, write: Callable[[Path], T]) -> T:
    """Call ``write(tmp_path)``, fsync it, rename it over ``path``; returns what ``write`` returned."""
    path = Path(path)
    tmp, result = write_beside(path, write)
    try:
        publish(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)  # gone after the rename; left only if syncing or renaming failed
    return result


def write_beside(path: Path, write: Callable[[Path], T]) -> tuple[Path, T]:
    """The first half of ``atomic_write``: ``write(tmp_path)`` into ``path``'s temp sibling, not yet synced,
    after removing dead writers' leftovers; nothing is left behind if ``write`` fails. Returns the temp path
    and what ``write`` returned, for ``publish`` now or later."""
    remove_leftovers(path)
    tmp = temp_name(path)
    try:
        return tmp, write(tmp)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        if e.filename is None:  # a write to an open file (a full disk): name the file it was for
            raise OSError(e.errno, e.strerror, str(path)) from e
        raise
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def publish(tmp: Path, path: Path) -> None:
    """fsync ``tmp``, rename it over ``path``, fsync the directory: the second half of ``atomic_write``, for
    a writer that writes the temp file itself and makes it durable later (``SetWriter`` does it in a thread)."""
    fsync_file(tmp)
    os.replace(tmp, path)
    fsync_dir(path.parent)


def atomic_write_json(path: Path, data: Any) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(json.dumps(data, indent=2, allow_nan=False) + "\n"))


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


def aside(final: Path) -> Path:
    """Where ``replace_dir`` keeps the previous ``final`` until the new one is in place."""
    return final.with_name(f".{final.name}.old")


def recover_dir(final: Path) -> None:
    """Finish what a ``replace_dir`` killed mid-way left: put the previous copy back if the new one
    never arrived, drop it if it did, and remove staged copies of dead writers."""
    old = aside(final)
    if old.exists() or old.is_symlink():
        if final.exists() or final.is_symlink():
            remove_path(old)
        else:
            os.replace(old, final)
            fsync_dir(final.parent)
    remove_leftovers(final)


def copy_tree_durably(source: Path, target: Path) -> None:
    """Copy the directory ``source`` to ``target`` (must not exist), every file and directory fsynced."""
    shutil.copytree(source, target, symlinks=False)
    for folder, _, files in os.walk(target):
        for name in files:
            fsync_file(Path(folder) / name)
        fsync_dir(Path(folder))


def replace_dir(new: Path, final: Path) -> None:
    """Publish the finished directory ``new`` as ``final``, replacing any previous ``final``.

    Works across file systems: when ``new`` is on another device than
    ``final``'s parent it is first copied (fsynced) next to ``final``, so the
    switch itself is two renames on one file system. The previous ``final`` is
    renamed aside, never deleted, until the new one is in place; a kill at any
    moment leaves the old copy, the new one, or both (``recover_dir``, which
    every writer calls first, puts things right). ``new`` is gone afterwards.
    """
    new, final = Path(new), Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    recover_dir(final)
    staged = new
    if os.stat(new).st_dev != os.stat(final.parent).st_dev:
        staged = temp_name(final, "incoming")
        remove_path(staged)
        copy_tree_durably(new, staged)
    old = aside(final)
    if final.exists() or final.is_symlink():
        os.replace(final, old)
    os.replace(staged, final)
    fsync_dir(final.parent)
    remove_path(old)
    if staged != new:
        remove_path(new)


def write_dir(final: Path, write: Callable[[Path], T]) -> T:
    """Call ``write(folder)`` on an empty temp folder beside ``final``, then publish it as ``final`` whole
    (``replace_dir``); returns what ``write`` returned. A failure or kill leaves the previous ``final``: an
    output folder (an export, a report) is never half old and half new."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = temp_name(final)
    remove_path(staging)
    staging.mkdir()
    try:
        result = write(staging)
        fsync_dir(staging)
        replace_dir(staging, final)
        return result
    finally:
        remove_path(staging)
