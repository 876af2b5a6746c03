"""Embedding sets on disk: shards + ``manifest.json``, a resumable writer and a reader.

Layout (``artifacts/embeddings/<dataset>/<encoder>/<tower>/``)::

    manifest.json        schema, encoder, source, dtype, format, shards [{file, rows, sha256}], skipped
    part-00000.parquet   (or .h5) rows [i * shard_rows, (i + 1) * shard_rows) of the source order

Every shard is written under a temp name, fsynced and renamed, then the
manifest is rewritten atomically: a kill at any moment leaves a set whose
manifest lists only complete, checksummed shards. Resuming keeps exactly the
shards the manifest lists with a matching checksum and redoes the rest.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from pipeline.errors import BridgeError
from pipeline.store.atomic import atomic_write, atomic_write_json, sha256_file
from pipeline.store.formats import FORMATS, META_COLUMNS, map_embedding
from pipeline.store.verified import is_verified, mark_verified

SCHEMA_VERSION = 1
MANIFEST = "manifest.json"
DTYPES = {"float16": np.float16, "float32": np.float32}


def bridge_version() -> str:
    try:
        return f"bridge {version('bridge')}"
    except PackageNotFoundError:
        return "bridge (source tree)"


def shard_file(index: int, fmt: str) -> str:
    return f"part-{index:05d}{FORMATS[fmt].suffix}"


class SetWriter:
    """Writes one embedding set shard by shard; resumes a set interrupted earlier.

    ``header`` holds what identifies the set's content (encoder, source,
    dtype, format, shard_rows). A resumed run keeps finished shards only if
    the header is identical and the shard's sha256 matches the manifest.
    """

    def __init__(self, path: Path, header: dict[str, Any]) -> None:
        self.path = Path(path)
        self.fmt, self.dtype = header["format"], DTYPES[header["dtype"]]
        self.manifest = {"schema_version": SCHEMA_VERSION, **header, "shards": [], "skipped": [],
                         "complete": False, "written_by": bridge_version()}
        previous = self._previous_manifest()
        if previous is not None and all(previous.get(k) == v for k, v in header.items()):
            self.manifest["shards"] = [s for s in previous["shards"] if self._shard_ok(s)]
        elif self.path.exists():
            shutil.rmtree(self.path)
        self.path.mkdir(parents=True, exist_ok=True)
        self._remove_strays()

    def _previous_manifest(self) -> dict[str, Any] | None:
        try:
            return json.loads((self.path / MANIFEST).read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def _shard_ok(self, shard: dict[str, Any]) -> bool:
        file = self.path / shard["file"]
        return file.exists() and sha256_file(file) == shard["sha256"]

    def _remove_strays(self) -> None:
        """Delete temp files and shards the manifest does not vouch for."""
        keep = {s["file"] for s in self.manifest["shards"]} | {MANIFEST}
        for f in self.path.iterdir():
            if f.name not in keep:
                shutil.rmtree(f) if f.is_dir() else f.unlink()

    def done(self, index: int) -> bool:
        return any(s["index"] == index for s in self.manifest["shards"])

    def write_shard(self, index: int, columns: dict[str, np.ndarray], embedding: np.ndarray,
                    skipped: list[dict[str, str]] | None = None) -> None:
        """Atomically write shard ``index`` and record it in the manifest."""
        file = self.path / shard_file(index, self.fmt)
        embedding = np.ascontiguousarray(embedding, dtype=self.dtype)
        offset = atomic_write(file, lambda tmp: FORMATS[self.fmt].write(tmp, columns, embedding))
        entry = {"index": index, "file": file.name, "rows": int(len(embedding)), "sha256": sha256_file(file),
                 "embedding_offset": offset, "skipped": list(skipped or [])}
        shards = [s for s in self.manifest["shards"] if s["index"] != index] + [entry]
        self.manifest["shards"] = sorted(shards, key=lambda s: s["index"])
        atomic_write_json(self.path / MANIFEST, self.manifest)

    def finish(self) -> dict[str, Any]:
        """Mark the set complete (every shard written); returns the manifest."""
        self.manifest["skipped"] = [item for s in self.manifest["shards"] for item in s["skipped"]]
        self.manifest["rows"] = sum(s["rows"] for s in self.manifest["shards"])
        self.manifest["complete"] = True
        atomic_write_json(self.path / MANIFEST, self.manifest)
        return self.manifest


class EmbeddingSet:
    """Read side of a set: metadata columns on first use, vectors shard by shard.

    ``verify=True`` checks each shard's sha256 against the manifest the first
    time it is read (one pass over the bytes, which are then parsed from
    memory; see ``verified.py`` for why later reads skip the hash), so a
    truncated or bit-flipped shard is reported by name.
    """

    def __init__(self, path: str | Path, verify: bool = True) -> None:
        self.path = Path(path)
        self.verify = verify
        manifest_file = self.path / MANIFEST
        try:
            self.manifest = json.loads(manifest_file.read_text())
        except FileNotFoundError:
            raise BridgeError(f"{manifest_file}: no embedding set here (run `bridge extract` first)") from None
        except json.JSONDecodeError as e:
            raise BridgeError(f"{manifest_file}: not valid JSON ({e.msg} at line {e.lineno})") from None
        if not self.manifest.get("complete"):
            raise BridgeError(f"{manifest_file}: set is incomplete (extraction was interrupted; rerun it)")
        self.fmt = self.manifest["format"]
        self._meta: dict[str, np.ndarray] | None = None
        for shard in self.manifest["shards"]:
            file = (self.path / shard["file"]).resolve()
            if file.parent != self.path.resolve():
                raise BridgeError(f"{manifest_file}: shard path {shard['file']!r} escapes the set directory")

    @property
    def dim(self) -> int:
        return int(self.manifest["encoder"]["dim"])

    @property
    def rows(self) -> int:
        return int(self.manifest["rows"])

    @property
    def fingerprint(self) -> str:
        """Identity of the set's content: hash of its shard checksums."""
        return hashlib.sha256("".join(s["sha256"] for s in self.manifest["shards"]).encode()).hexdigest()[:16]

    def _source(self, shard: dict[str, Any]) -> Path | bytes:
        """The shard's file, or its bytes after a sha256 check when not verified before."""
        file = self.path / shard["file"]
        if not file.exists():
            raise BridgeError(f"{file}: shard listed in the manifest is missing")
        if not self.verify or is_verified(file, shard["sha256"]):
            return file
        data = file.read_bytes()
        if hashlib.sha256(data).hexdigest() != shard["sha256"]:
            raise BridgeError(f"{file}: checksum mismatch with manifest (shard is corrupt or truncated, "
                              f"{len(data)} bytes); rerun `bridge extract` to redo it")
        mark_verified([(file, shard["sha256"])])
        return data

    def _read(self, shard: dict[str, Any], what: str) -> Any:
        fmt = FORMATS[self.fmt]
        source = self._source(shard)
        offset = shard.get("embedding_offset")
        try:
            if what == "meta":
                return fmt.read_meta(source)
            if offset is not None:
                return map_embedding(source, offset, shard["rows"], self.dim, self.manifest["dtype"])
            return fmt.read_embedding(source)
        except BridgeError:
            raise
        except Exception as e:  # noqa: BLE001 - any decoder failure means a bad shard
            raise BridgeError(f"{self.path / shard['file']}: cannot read shard ({type(e).__name__}: {e})") from None

    @property
    def meta(self) -> dict[str, np.ndarray]:
        """id, label, split, group columns of every row, in set order."""
        if self._meta is None:
            parts = [self._read(s, "meta") for s in self.manifest["shards"]]
            self._meta = {c: np.concatenate([p[c] for p in parts]) if parts else np.array([], dtype=str)
                          for c in META_COLUMNS}
        return self._meta

    @property
    def ids(self) -> np.ndarray:
        return self.meta["id"]

    def batches(self) -> Iterator[np.ndarray]:
        """Vectors shard by shard in the stored dtype: memory bounded by one shard."""
        for shard in self.manifest["shards"]:
            yield self._read(shard, "embedding")

    def vectors(self, dtype: type = np.float32) -> np.ndarray:
        """All vectors as one ``[rows, dim]`` array of ``dtype``, filled shard by shard."""
        out = np.empty((self.rows, self.dim), dtype=dtype)
        start = 0
        for block in self.batches():
            out[start:start + len(block)] = block
            start += len(block)
        if start != self.rows:
            raise BridgeError(f"{self.path / MANIFEST}: manifest says {self.rows} rows, shards hold {start}")
        return out
