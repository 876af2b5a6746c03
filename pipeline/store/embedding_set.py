"""Embedding sets on disk: shards + ``manifest.json``, a resumable writer and a reader.

Layout (``artifacts/embeddings/<dataset>/<encoder>/<tower>/``)::

    manifest.json        schema, encoder, source, dtype, format, shards [{file, rows, sha256}], skipped
    part-00000.parquet   (or .h5) rows [i * shard_rows, (i + 1) * shard_rows) of the source order

Every shard is written under a temp name, fsynced and renamed, then the
manifest is rewritten atomically: a kill at any moment leaves a set whose
manifest lists only complete, checksummed shards. Resuming keeps exactly the
shards the manifest lists with a matching checksum and redoes the rest.

A shard is trusted only when its file agrees with its manifest entry in
every way a reader relies on: sha256, row count and the byte offset of the
vectors (``verify_shard``). The same check serves the reader (one line
naming the file), the resuming writer (drop and redo the shard) and
``set_problems`` (is a finished set still intact, or what must be redone).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from embridge import __version__
from embridge.core.cards import MANIFEST_SCHEMA, Manifest, read_complete_manifest, set_fingerprint
from embridge.core.errors import BridgeError
from embridge.core.files import (
    atomic_write,
    atomic_write_json,
    fsync_dir,
    publish,
    sha256_file,
    write_beside,
)
from embridge.core.validation import one_line
from embridge.store.formats import FORMATS, META_COLUMNS, map_embedding

MANIFEST = "manifest.json"
DTYPES = {"float16": np.float16, "float32": np.float32}


def bridge_version() -> str:
    return f"bridge {__version__}"


def shard_file(index: int, fmt: str) -> str:
    return f"part-{index:05d}{FORMATS[fmt].suffix}"


def read_manifest(path: Path) -> dict[str, Any] | None:
    """The manifest of the set directory ``path``, or None when there is none or it is not JSON."""
    try:
        manifest = json.loads((Path(path) / MANIFEST).read_text())
    except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    return manifest if isinstance(manifest, dict) else None


def same_header(manifest: dict[str, Any], header: dict[str, Any]) -> bool:
    """Whether ``manifest`` was written for ``header`` (extra manifest keys, e.g. a partition, are ignored)."""
    return all(manifest.get(key) == value for key, value in header.items())


def _is_entry(shard: Any) -> bool:
    return isinstance(shard, dict) and isinstance(shard.get("index"), int) and isinstance(shard.get("rows"), int) \
        and isinstance(shard.get("file"), str) and isinstance(shard.get("sha256"), str)


def manifest_problem(manifest: dict[str, Any]) -> str | None:
    """Why a complete manifest contradicts itself or its source (entries, order, row totals), or None.

    Catches an entry that was dropped or edited even when every listed shard
    is intact: the shard rows must add up to the manifest's rows, and those
    plus the skipped rows to the source's rows.
    """
    try:
        Manifest.model_validate(manifest)  # the typed model first: every field of the right kind
    except ValidationError as e:
        return one_line(e, Manifest)
    shards = manifest["shards"]
    indices = [s["index"] for s in shards]
    if indices != list(range(len(shards))):
        return f"shard indices {indices} are not 0..{len(shards) - 1} (an entry is missing or repeated)"
    total = sum(s["rows"] for s in shards)
    if manifest.get("rows") != total:
        return f"says {manifest.get('rows')} rows, its shards hold {total}"
    source_rows = (manifest.get("source") or {}).get("rows")
    skipped = len(manifest.get("skipped") or [])
    if source_rows is not None and source_rows != total + skipped:
        return f"lists {total} rows + {skipped} skipped, its source has {source_rows}"
    return None


def shard_path(directory: Path, shard: dict[str, Any]) -> Path:
    """The file of a manifest entry; a name that is not a plain file name in ``directory`` is refused.

    Checked on the name, not the resolved path, so shards that are symlinks
    into a DVC cache (``cache.type symlink``) are fine.
    """
    name = shard.get("file")
    if not isinstance(name, str) or Path(name).name != name or name in ("", ".", ".."):
        raise BridgeError(f"{directory / MANIFEST}: shard path {name!r} escapes the set directory")
    return directory / name


def verify_shard(directory: Path, shard: dict[str, Any], fmt: str, keep_bytes: bool = False,
                 expect: dict[str, Any] | None = None) -> Path | bytes:
    """Check a manifest entry against its file; a disagreement is a BridgeError naming the file.

    Always hashes the bytes (they are read anyway; ``benchmarks/store.py``
    times reads with and without the check): a cached "verified" flag keyed on the file's stat was
    fooled by a shard rewritten with its old mtime put back (``cp -p``,
    ``rsync -t``) and can never see bit rot. ``expect`` holds the manifest's
    ``dim`` and ``dtype``, which the shard records too and must agree with.
    Returns the file, or with ``keep_bytes`` the bytes that were read for the
    check, so a reader parses them from memory instead of reading twice.
    """
    file = shard_path(directory, shard)
    if not file.exists():
        raise BridgeError(f"{file}: shard listed in the manifest is missing")
    data = file.read_bytes() if keep_bytes else None
    digest = hashlib.sha256(data).hexdigest() if data is not None else sha256_file(file)
    if digest != shard["sha256"]:
        raise BridgeError(f"{file}: checksum mismatch with manifest (shard is corrupt or truncated, "
                          f"{file.stat().st_size} bytes); rerun `bridge extract` to redo it")
    try:
        layout = FORMATS[fmt].layout(file if data is None else data)
    except Exception as e:  # noqa: BLE001 - any decoder failure means a bad shard
        raise BridgeError(f"{file}: cannot read shard ({type(e).__name__}: {e})") from None
    stated = {"rows": shard["rows"], **(expect or {})}
    found = {"rows": layout.rows, "dim": layout.dim, "dtype": layout.dtype}
    for key, value in stated.items():
        if found[key] != value:
            said = f"{value} rows" if key == "rows" else f"{key} {value!r}"
            held = found[key] if key == "rows" else f"{key} {found[key]!r}"
            raise BridgeError(f"{directory / MANIFEST}: lists {said} for {file.name}, the shard holds {held}; "
                              "rerun `bridge extract` to repair the set")
    if shard.get("embedding_offset") not in (None, layout.offset):
        raise BridgeError(f"{directory / MANIFEST}: embedding_offset {shard['embedding_offset']} of {file.name} "
                          f"does not match the shard ({layout.offset}); rerun `bridge extract` to repair the set")
    return file if data is None else data


def expected_layout(manifest: dict[str, Any]) -> dict[str, Any]:
    """The manifest (or set header) fields every one of its shards also records."""
    return {"dim": (manifest.get("encoder") or {}).get("dim"), "dtype": manifest.get("dtype")}


def set_problems(path: Path, header: dict[str, Any], sources: list[str] | None = None) -> list[str]:
    """Why ``path`` is not a complete, intact set made for ``header``; an empty list means it is.

    ``extract`` uses this to leave an intact set alone and to say what it repairs.
    """
    manifest = read_manifest(path)
    if manifest is None:
        return [f"{Path(path) / MANIFEST}: missing or not valid JSON"]
    if not same_header(manifest, header):
        return [f"{path}: made with other settings"]
    if not manifest.get("complete"):
        return [f"{Path(path) / MANIFEST}: set is incomplete"]
    problem = manifest_problem(manifest)
    if problem is not None:
        return [f"{Path(path) / MANIFEST}: {problem}"]
    problems = []
    for shard in manifest["shards"]:
        try:
            verify_shard(Path(path), shard, manifest["format"], expect=expected_layout(manifest))
        except BridgeError as e:
            problems.append(str(e))
            continue
        if not same_source(shard, sources):
            problems.append(f"{Path(path) / shard['file']}: its source rows changed since it was extracted")
    return problems


def same_source(shard: dict[str, Any], sources: list[str] | None) -> bool:
    """Whether the shard was encoded from the rows whose fingerprints are ``sources`` (None: not checked).

    Per shard, so a changed file re-encodes only the shard that holds it.
    """
    if sources is None:
        return True
    index = shard.get("index")
    return isinstance(index, int) and 0 <= index < len(sources) and shard.get("source_sha256") == sources[index]


class _Digest:
    """sha256 of ``data``, computed in a thread: hashing a shard costs about what writing and syncing it
    does, so the two overlap instead of adding up."""

    def __init__(self, data: memoryview) -> None:
        self._result: list[str] = []
        self._thread = threading.Thread(target=lambda: self._result.append(hashlib.sha256(data).hexdigest()))
        self._thread.start()

    def hexdigest(self) -> str:
        self._thread.join()
        if not self._result:
            raise BridgeError("hashing a shard failed")
        return self._result[0]


class SetWriter:
    """Writes one embedding set shard by shard; resumes a set interrupted earlier.

    ``header`` holds what identifies the set's content (encoder, source,
    dtype, format, shard_rows). A resumed run keeps finished shards only if
    the header is identical and the shard passes ``verify_shard``.

    A shard is encoded and written to its temp file by ``write_shard``; making
    it durable and listing it (fsync, rename, directory fsync, manifest
    rewrite: mostly waiting on the disk) runs in a thread while the
    caller reads and encodes the next shard. One shard is in flight at a time;
    ``flush`` waits for it and raises what it raised, and ``finish`` and
    ``adopt`` flush first. A kill at any moment still leaves a manifest that
    lists only durable, checksummed shards.
    """

    def __init__(self, path: Path, header: dict[str, Any], sources: list[str] | None = None) -> None:
        self.path = Path(path)
        self.header = header
        self.sources = sources  # per-shard fingerprints of the source rows (``same_source``)
        self.fmt, self.dtype = header["format"], DTYPES[header["dtype"]]
        self.manifest = {"schema_version": MANIFEST_SCHEMA, **header, "shards": [], "skipped": [],
                         "complete": False, "written_by": bridge_version()}
        previous = read_manifest(self.path)
        if previous is not None and same_header(previous, header):
            kept = {s["index"]: s for s in previous.get("shards") or [] if self._shard_ok(self.path, s)}
            self.manifest["shards"] = [kept[i] for i in sorted(kept)]
        elif self.path.exists():
            shutil.rmtree(self.path)
        self.path.mkdir(parents=True, exist_ok=True)
        self._remove_strays()
        self._pending: tuple[int, threading.Thread] | None = None  # (index, thread) of the shard in flight
        self._failed: BaseException | None = None

    def _shard_ok(self, directory: Path, shard: Any) -> bool:
        """A well-formed entry, named as this writer names shard ``index``, whose file checks out."""
        if not _is_entry(shard) or shard["file"] != shard_file(shard["index"], self.fmt) \
                or not same_source(shard, self.sources):
            return False
        try:
            verify_shard(directory, shard, self.fmt, expect=expected_layout(self.header))
        except BridgeError:
            return False
        return True

    def _remove_strays(self) -> None:
        """Delete temp files and shards the manifest does not vouch for."""
        keep = {s["file"] for s in self.manifest["shards"]} | {MANIFEST}
        for f in self.path.iterdir():
            if f.name not in keep:
                shutil.rmtree(f) if f.is_dir() else f.unlink()

    def done(self, index: int) -> bool:
        """Whether shard ``index`` is written (listed, or in flight: ``flush`` reports it if that fails)."""
        pending = self._pending
        return (pending is not None and pending[0] == index) or any(s["index"] == index for s in self.manifest["shards"])

    def flush(self) -> None:
        """Wait until the shard in flight is durable and listed; re-raise what stopped it."""
        if self._pending is not None:
            self._pending[1].join()
            self._pending = None
        if self._failed is not None:
            failed, self._failed = self._failed, None
            raise failed

    def adopt(self, source: Path) -> list[int]:
        """Take the intact shards this set still lacks from ``source``, a set directory with the same header.

        ``source`` is a partition's part (merging) or a damaged earlier copy
        of this set (repairing). Shards are hard-linked, so nothing is
        re-encoded or copied, and ``source`` stays valid until it is removed;
        a kill before the manifest is rewritten leaves only strays the next
        writer deletes. Returns the indices taken.
        """
        self.flush()
        previous = read_manifest(source)
        if previous is None or not same_header(previous, self.header):
            return []
        taken = []
        for shard in previous.get("shards") or []:
            if not self._shard_ok(source, shard) or self.done(shard["index"]):
                continue
            origin, target = source / shard["file"], self.path / shard["file"]
            target.unlink(missing_ok=True)
            try:
                os.link(origin, target)
            except OSError:  # another file system, or links not allowed: copy
                atomic_write(target, lambda tmp, origin=origin: shutil.copyfile(origin, tmp))
            self.manifest["shards"].append(shard)
            taken.append(shard["index"])
        if taken:
            fsync_dir(self.path)
            self.manifest["shards"].sort(key=lambda s: s["index"])
            atomic_write_json(self.path / MANIFEST, self.manifest)
        return taken

    def write_shard(self, index: int, columns: dict[str, np.ndarray], embedding: np.ndarray,
                    skipped: list[dict[str, str]] | None = None) -> None:
        """Write shard ``index`` to its temp file; it is made durable and listed in a thread (see the class)."""
        file = self.path / shard_file(index, self.fmt)
        embedding = np.ascontiguousarray(embedding, dtype=self.dtype)
        data, offset = FORMATS[self.fmt].encode(columns, embedding)  # in memory: hashed and written once
        self.flush()  # the previous shard's commit overlapped this one's encoding
        digest = _Digest(data)  # hashed in a thread while the bytes are written and synced (both release the GIL)
        tmp, _ = write_beside(file, lambda tmp: tmp.write_bytes(data))
        entry = {"index": index, "file": file.name, "rows": len(embedding), "sha256": "",
                 "embedding_offset": offset, "skipped": list(skipped or [])}
        if self.sources is not None:
            entry["source_sha256"] = self.sources[index]
        thread = threading.Thread(target=self._commit, args=(tmp, file, digest, entry), name=f"commit {file.name}")
        self._pending = (index, thread)
        thread.start()

    def _commit(self, tmp: Path, file: Path, digest: _Digest, entry: dict[str, Any]) -> None:
        """Make ``tmp`` the durable shard ``file`` and list ``entry`` in the manifest (in the writer's thread)."""
        try:
            publish(tmp, file)
            entry["sha256"] = digest.hexdigest()
            shards = [s for s in self.manifest["shards"] if s["index"] != entry["index"]] + [entry]
            manifest = {**self.manifest, "shards": sorted(shards, key=lambda s: s["index"])}
            atomic_write_json(self.path / MANIFEST, manifest)
            self.manifest = manifest
        except BaseException as e:  # noqa: BLE001 - handed to the caller by flush
            self._failed = e
        finally:
            tmp.unlink(missing_ok=True)

    def finish(self) -> dict[str, Any]:
        """Mark the set complete (every shard written); returns the manifest."""
        self.flush()
        self.manifest["skipped"] = [item for s in self.manifest["shards"] for item in s["skipped"]]
        self.manifest["rows"] = sum(s["rows"] for s in self.manifest["shards"])
        self.manifest["complete"] = True
        atomic_write_json(self.path / MANIFEST, self.manifest)
        return self.manifest


def _put(columns: dict[str, np.ndarray], name: str, values: np.ndarray, start: int, total: int) -> None:
    """Write a shard's ``values`` at row ``start`` of column ``name``, allocated for ``total`` rows.

    Filled in place, not concatenated from per-shard parts at the end, which would hold a set's strings
    twice. Allocated at the first shard's string width and widened when a later shard's strings are
    longer: numpy would truncate them silently.
    """
    column = columns.get(name)
    if column is None or column.dtype.itemsize < values.dtype.itemsize:
        wider = np.empty(total, dtype=values.dtype if column is None else np.promote_types(column.dtype, values.dtype))
        if column is not None:
            wider[:start] = column[:start]
        columns[name] = column = wider
    column[start:start + len(values)] = values


class EmbeddingSet:
    """Read side of a set: metadata columns on first use, vectors shard by shard.

    ``verify=True`` checks each shard against the manifest as it is read
    (``verify_shard``: one pass over the bytes, which are then parsed from
    memory), so a truncated or bit-flipped shard, or a manifest that disagrees
    with its shards, is reported by name.
    """

    def __init__(self, path: str | Path, verify: bool = True) -> None:
        self.path = Path(path)
        self.verify = verify
        manifest_file = self.path / MANIFEST
        self.manifest = read_complete_manifest(self.path)
        problem = manifest_problem(self.manifest)
        if problem is not None:
            raise BridgeError(f"{manifest_file}: {problem}; rerun `bridge extract` to repair the set")
        self.fmt = self.manifest["format"]
        self._meta: dict[str, np.ndarray] | None = None
        self._checked: set[int] = set()  # shards this reader has verified (metadata, then vectors)
        for shard in self.manifest["shards"]:
            shard_path(self.path, shard)

    @property
    def dim(self) -> int:
        return int(self.manifest["encoder"]["dim"])

    @property
    def rows(self) -> int:
        return int(self.manifest["rows"])

    @property
    def fingerprint(self) -> str:
        """Identity of the set's content: hash of its shard checksums."""
        return set_fingerprint(self.manifest)

    def _source(self, shard: dict[str, Any]) -> Path | bytes:
        """The shard's bytes after a check the first time this reader touches it, else its file."""
        if self.verify and shard["index"] not in self._checked:
            data = verify_shard(self.path, shard, self.fmt, keep_bytes=True, expect=expected_layout(self.manifest))
            self._checked.add(shard["index"])
            return data
        file = shard_path(self.path, shard)
        if not file.exists():
            raise BridgeError(f"{file}: shard listed in the manifest is missing")
        return file

    def _read(self, shard: dict[str, Any], what: str, columns: tuple[str, ...] = META_COLUMNS) -> Any:
        fmt = FORMATS[self.fmt]
        source = self._source(shard)
        offset = shard.get("embedding_offset")
        try:
            if what == "meta":
                return fmt.read_meta(source, columns)
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

    def column(self, name: str) -> np.ndarray:
        """One metadata column of every row, read from each shard alone (the others stay on disk)."""
        if self._meta is not None:
            return self._meta[name]
        parts = [self._read(s, "meta", (name,))[name] for s in self.manifest["shards"]]
        return np.concatenate(parts) if parts else np.array([], dtype=str)

    def select(self, splits: tuple[str, ...] | None = None, dtype: type = np.float32
               ) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """(metadata columns, vectors) of the rows whose split is in ``splits`` (every row if None).

        Memory is what the kept rows take plus one shard: the split column is
        read first (one column of each shard), then each shard's other
        columns and vectors are filtered before they are kept. Reading every
        row and indexing afterwards would hold the whole set twice
        (``benchmarks/scale.py`` measures a fit's peak against its vectors' bytes).
        """
        shards = self.manifest["shards"]
        keep = [None] * len(shards) if splits is None else \
            [np.flatnonzero(np.isin(self._read(s, "meta", ("split",))["split"], list(splits))) for s in shards]
        total = self.rows if splits is None else sum(len(k) for k in keep)
        out = np.empty((total, self.dim), dtype=dtype)
        columns: dict[str, np.ndarray] = {}
        start = 0
        for shard, rows in zip(shards, keep, strict=True):
            if rows is not None and not len(rows):
                continue
            meta, block = self._read(shard, "meta"), self._read(shard, "embedding")
            if rows is not None:
                meta, block = {c: v[rows] for c, v in meta.items()}, block[rows]
            if start + len(block) <= total:  # more rows than the manifest says are counted, named below
                out[start:start + len(block)] = block
                for c in META_COLUMNS:
                    _put(columns, c, meta[c], start, total)
            start += len(block)
        if start != total:
            raise BridgeError(f"{self.path / MANIFEST}: manifest says {total} rows, shards hold {start}")
        return {c: columns.get(c, np.array([], dtype=str)) for c in META_COLUMNS}, out

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
