"""One writer per output: advisory ``flock`` locks under ``.bridge/locks/``.

Two ``bridge extract`` runs writing the same set would interleave shard and
manifest writes; two fits of one bridge would overwrite each other's
checkpoints. Each holder takes an exclusive ``flock`` on a lock file named
after what it writes. The kernel drops the lock when the holder's file
descriptor closes, including when the process is SIGKILLed, so a crashed run
never leaves a stale lock behind (a pid file would). The holder writes its
pid into the file only so the refusal can say who holds it.

``flock`` is local to one machine (and unreliable on some NFS setups):
partitions on separate machines write separate part directories instead.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from embridge.core.errors import BridgeError


@contextmanager
def hold(path: Path, what: str) -> Iterator[None]:
    """Hold the exclusive lock ``path`` for the block, or raise BridgeError saying ``what`` is busy."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise BridgeError(f"{what} is being written by another process (pid {holder}, lock {path}); "
                              "wait for it to finish or stop it") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)
