"""Remember which shards were already checked, so a set is hashed once, not on every read.

Like DVC's state database: a file whose (device, inode, size, mtime) and
expected description (sha256, rows, layout) were verified before is trusted
without re-hashing; any rewrite, truncation or bit flip through the file
system changes the stat and forces a fresh check, and so does a manifest
edit, which changes the description. The path is not part of the key, so a
shard moved or hard-linked between a set, its partial copy and partition
parts (all renames and links on one file system) stays verified. The record
lives in the user's cache directory, outside DVC outputs; losing it only
costs a re-check.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from pipeline.store.atomic import atomic_write_json


def _state_file() -> Path:
    root = os.environ.get("BRIDGE_STATE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "bridge")
    return Path(root) / "verified.json"


def _key(path: Path, expected: str) -> str:
    st = path.stat()
    return f"{st.st_dev}|{st.st_ino}|{st.st_size}|{st.st_mtime_ns}|{expected}"


def is_verified(path: Path, expected: str) -> bool:
    try:
        return _key(path, expected) in json.loads(_state_file().read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return False


def mark_verified(paths_and_hashes: list[tuple[Path, str]]) -> None:
    state_file = _state_file()
    try:
        state = json.loads(state_file.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        state = {}
    state.update({_key(p, h): 1 for p, h in paths_and_hashes})
    state_file.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(state_file, state)
