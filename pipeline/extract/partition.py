"""Scale-out extraction: ``--partition I/N`` parts of a set, and assembling them.

Partition ``I/N`` owns the shards whose index ``% N == I``: a pure function of
the shard index, so any scheduler (a job array, N machines, N processes) can
run the parts independently and in any order, and rerunning a part redoes
exactly the same shards. Each part is an ordinary resumable set directory,
``.bridge/parts/<dataset>/<encoder>/<tower>/<I>-of-<N>/``, whose manifest
header is the set's plus the partition, so it survives kills like any set.

Assembling hard-links every finished part's shards into the set's partial
directory (``SetWriter.adopt``): the shard files and their manifest entries
are the ones a single run writes, so the merged set is byte-identical to
one extraction. Parts run on other machines are copied into
``.bridge/parts/...`` first. Parts live outside DVC outputs, like all partial
work.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from embridge.core.errors import BridgeError
from embridge.core.layout import Layout, split_set
from embridge.core.lock import hold
from embridge.store.embedding_set import SetWriter, read_manifest, same_header

_PART_DIR = re.compile(r"(\d+)-of-(\d+)")


@dataclass(frozen=True)
class Partition:
    """Part ``index`` of ``count``."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Partition:
        """``"1/4"`` -> Partition(1, 4); anything else is a one-line user error."""
        index, sep, count = text.partition("/")
        if sep and index.strip().isdigit() and count.strip().isdigit():
            part = cls(int(index), int(count))
            if part.index < part.count:
                return part
        raise BridgeError(f"--partition {text!r}: expected I/N with 0 <= I < N, e.g. 0/4")

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    @property
    def dirname(self) -> str:
        return f"{self.index}-of-{self.count}"

    @property
    def header(self) -> dict[str, Any]:
        """What a part's manifest adds to its set's header."""
        return {"partition": {"index": self.index, "count": self.count}}

    def shards(self, total: int) -> range:
        """The shard indices of a set of ``total`` shards this part owns."""
        return range(self.index, total, self.count)


def part_dir(root: Path, set_path: str, partition: Partition) -> Path:
    return Layout(root).parts(set_path) / partition.dirname


def set_lock(root: Path, set_path: str) -> Path:
    """Lock of the set's own writer (its partial directory and its promotion)."""
    return Layout(root).lock("embeddings", *split_set(set_path))


def part_lock(root: Path, set_path: str, dirname: str) -> Path:
    return Layout(root).lock("parts", *split_set(set_path), dirname)


def part_dirs(root: Path, set_path: str) -> list[Path]:
    """The part directories of a set present on disk, in partition order."""
    base = Layout(root).parts(set_path)
    found = [p for p in base.iterdir() if p.is_dir() and _PART_DIR.fullmatch(p.name)] if base.is_dir() else []
    return sorted(found, key=lambda p: tuple(int(x) for x in _PART_DIR.fullmatch(p.name).groups()[::-1]))


def adopt_parts(writer: SetWriter, root: Path, set_path: str) -> list[Path]:
    """Take every shard ``writer`` lacks from the set's parts; returns the parts made for this set.

    Each part is locked while its shards are taken, so a partition still
    running is refused with a clear message rather than read half-way.
    Parts made for other settings (an older header) are left alone.
    """
    used = []
    for part in part_dirs(root, set_path):
        with hold(part_lock(root, set_path, part.name), f"partition {part.name} of embedding set {set_path}"):
            manifest = read_manifest(part)
            if manifest is None or not same_header(manifest, writer.header):
                continue
            writer.adopt(part)
        used.append(part)
    return used


def remove_parts(root: Path, set_path: str, parts: list[Path]) -> None:
    """Delete parts once their set is promoted, skipping any a new partition run is writing again."""
    for part in parts:
        try:
            with hold(part_lock(root, set_path, part.name), f"partition {part.name}"):
                shutil.rmtree(part, ignore_errors=True)
        except BridgeError:
            continue
