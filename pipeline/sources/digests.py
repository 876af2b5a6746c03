"""Content fingerprints of media files, hashed once and cached by a key that follows the bytes.

A source's fingerprint must change when an image is rewritten in place under
the same path, or its old vector is kept. Hashing every file on every run
would read the whole dataset each time, so each file's sha256 is cached
under ``(device, inode, size, mtime_ns, ctime_ns)``. The kernel sets
``ctime`` on every write and on every ``utime`` call, so a file rewritten
with its old mtime put back (``cp -p``, ``rsync -t``) still gets a new key;
no user-level tool can set ``ctime`` back. The cache is per dataset, inside
the project (``.bridge/cache/media/<dataset>.json``); losing it only costs a
re-hash.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from embridge.core.files import atomic_write_json, sha256_file


def _key(st: os.stat_result) -> str:
    return f"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}"


class FileDigests:
    """``digests(paths)`` -> sha256 of each file (``missing`` / ``unreadable`` when it cannot be read)."""

    def __init__(self, cache: Path | None = None) -> None:
        self.cache = cache
        self._known: dict[str, list[str]] = {}
        self._dirty = False
        if cache is not None:
            try:
                loaded = json.loads(cache.read_text())
                self._known = loaded if isinstance(loaded, dict) else {}
            except (OSError, ValueError):
                self._known = {}

    def __call__(self, paths: Sequence[str]) -> list[str]:
        out = []
        for path in paths:  # per file: a stat, and a read only when the file changed
            try:
                key = _key(os.stat(path))
            except OSError:
                out.append("missing")
                continue
            known = self._known.get(path)
            if known is not None and known[0] == key:
                out.append(known[1])
                continue
            try:
                digest = sha256_file(Path(path))
            except OSError:
                out.append("unreadable")
                continue
            self._known[path] = [key, digest]
            self._dirty = True
            out.append(digest)
        return out

    def save(self) -> None:
        if self.cache is not None and self._dirty:
            self.cache.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_json(self.cache, self._known)
            self._dirty = False
