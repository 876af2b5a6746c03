"""Source rows: what a dataset hands to extraction, one modality at a time.

A row is ``id`` + one payload (text, image path or array, audio path or
array, or a vector) + optional ``label``, ``split`` and ``group``. Rows that
are pairs of each other across modalities share a ``group`` (an image and its
five captions). Rows are columnar: one numpy array per field, so selecting a
shard or a split never loops in Python.
"""

from __future__ import annotations

import hashlib
import unicodedata
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np

from embridge.core.errors import BridgeError
from embridge.core.validation import StrictModel, validate
from embridge.core.vectors import PROMPT_SPLIT, group_uniform, name_hash
from embridge.sources.digests import FileDigests

#: modalities whose payloads may be file paths (fingerprinted by content)
MEDIA = ("image", "audio")


@dataclass
class Rows:
    """Columnar rows of one modality. ``payload`` is indexable by row."""

    modality: str
    ids: np.ndarray  # str [n], unique
    payload: Sequence[Any] | np.ndarray  # texts, paths, or a float array [n, d]
    labels: np.ndarray  # str [n] ("" when unlabelled; "a|b" for multi-label)
    splits: np.ndarray  # str [n]
    groups: np.ndarray  # str [n]
    origin: str = ""  # the file(s) the rows were read from, when messages should name them (imported vectors)

    def __len__(self) -> int:
        return len(self.ids)

    def take(self, index: np.ndarray | slice) -> Rows:
        """The rows at ``index`` (array of positions or a slice)."""
        payload = self.payload[index] if isinstance(self.payload, np.ndarray) or isinstance(index, slice) \
            else [self.payload[i] for i in np.asarray(index)]
        return Rows(self.modality, self.ids[index], payload, self.labels[index], self.splits[index],
                    self.groups[index], self.origin)

    def fingerprint(self, digests: Callable[[Sequence[str]], list[str]] | None = None) -> str:
        """sha256 over ids, metadata and payload: changes when any row does.

        Media rows whose payloads are file paths are fingerprinted by the
        files' *contents* through ``digests`` (``digests.FileDigests``), so an
        image rewritten in place under the same path changes the fingerprint.
        """
        h = hashlib.sha256(self.modality.encode())
        for column in (self.ids, self.labels, self.splits, self.groups):
            _hash_joined(h, column, str)
        if isinstance(self.payload, np.ndarray) and self.payload.dtype != object:
            h.update(np.ascontiguousarray(self.payload))  # the buffer itself: tobytes() copied a shard's vectors
        elif self.modality in MEDIA and len(self) and all(isinstance(p, str) for p in self.payload):
            contents = (digests or FileDigests())(list(self.payload))
            h.update("\x1f".join(f"{p}={c}" for p, c in zip(self.payload, contents, strict=True)).encode())
        else:  # texts; or references that name their own content (a tar member: its shard's sha256 + offset)
            _hash_joined(h, self.payload, _identity)
        return h.hexdigest()


#: rows joined into one string at a time by the fingerprint
HASH_BLOCK = 16384


def _hash_joined(h: Any, values: Sequence[Any], as_str: Callable[[Any], str]) -> None:
    """``h.update("\\x1f".join(map(as_str, values)).encode())``, the same digest, built ``HASH_BLOCK`` rows at a
    time: the whole join made a Python string per row of a shard at once."""
    for i, block in enumerate(_blocks(values)):
        h.update((("\x1f" if i else "") + "\x1f".join(map(as_str, block))).encode())


def _blocks(values: Sequence[Any]) -> Iterator[list[Any]]:
    if isinstance(values, np.ndarray):
        for lo in range(0, len(values), HASH_BLOCK):
            yield values[lo:lo + HASH_BLOCK].tolist()
    else:
        rest = iter(values)
        while block := list(islice(rest, HASH_BLOCK)):
            yield block


def _identity(payload: Any) -> str:
    """A payload as the fingerprint sees it: text as is, media bytes by their sha256, a reference by its own."""
    if isinstance(payload, (bytes, bytearray)):
        return hashlib.sha256(payload).hexdigest()
    return payload.identity() if hasattr(payload, "identity") else str(payload)


def _label_key(label: str) -> str:
    """A label as a reader sees it: Unicode NFC, runs of whitespace as one space, no space at the ends."""
    return " ".join(unicodedata.normalize("NFC", label).split())


def check_values(labels: Iterable[str], splits: Iterable[str], where: str) -> None:
    """Refuse data values the tool would read as its own, in one line naming the value.

    A split named ``prompt`` would make data rows class prompts; two labels
    equal after Unicode NFC and whitespace normalisation would be two classes
    that print alike. ``labels`` and ``splits`` are the distinct values seen.
    """
    for split in splits:
        if str(split) == PROMPT_SPLIT:
            raise BridgeError(f"{where}: split {PROMPT_SPLIT!r} is reserved for the class-prompt rows zero-shot "
                              "tasks build; rename that split in the data")
    first: dict[str, str] = {}
    for label in sorted(map(str, labels)):
        for part in str(label).split("|"):
            key = _label_key(part)
            if part and first.setdefault(key, part) != part:
                raise BridgeError(f"{where}: labels {first[key]!a} and {part!a} differ only in Unicode "
                                  "form or spaces: they would be two classes that print alike; make them one")


class Source(ABC):
    """A dataset. Subclasses read tables, folders, packaged data, or a world."""

    #: name of the dataset in params.yaml
    name: str
    #: rows the source itself left out under its own ``on_error: skip`` ({"id", "reason"}): extraction records
    #: them in the set's manifest and names them in a warning, as it does for items the encoder could not take
    skipped: Sequence[dict[str, str]] = ()

    @abstractmethod
    def modalities(self) -> list[str]:
        """The modalities this source has rows for."""

    @abstractmethod
    def rows(self, modality: str) -> Rows:
        """All rows of ``modality`` (payloads are cheap: text, paths or vectors)."""


class SourceOptions(StrictModel):
    """Base of each source kind's ``datasets.<name>.options``: unknown keys are errors."""


def parse_source_options(cls: type[SourceOptions], options: dict[str, Any], dataset: str) -> Any:
    """Validate ``options`` of ``datasets.<dataset>``; the first problem becomes one line naming the key."""
    return validate(cls, options, prefix=("datasets", dataset, "options"))


def assign_splits(groups: np.ndarray, test_fraction: float, seed: int) -> np.ndarray:
    """``train``/``test`` per row, drawn per *group* so an item and its captions never straddle splits.

    Each group's split is a seeded hash of the group's own name
    (``group_uniform``), not its place in a permutation: adding, removing or
    renaming one item moves no other item between train and test. The test
    share is ``test_fraction`` in expectation (a binomial draw, not exact).
    """
    test = group_uniform(groups, seed) < test_fraction  # per row: a group's rows hash alike, no sort needed
    return np.where(test, "test", "train")


def first_duplicate(parts: Callable[[], Iterator[tuple[Any, np.ndarray]]], hashes: np.ndarray | None = None
                    ) -> tuple[str, Any, Any] | None:
    """The first id that occurs twice across ``parts()`` (an iterable of (where, ids) read afresh per call),
    with where it was seen first and again; None when all are unique.

    8 bytes a row: ids are hashed (``name_hash``) as each part is read, and
    only the ids whose hashes collide are compared as strings, in a second
    read. Holding every id as a string grew a source's memory with its rows.
    ``hashes``: the ids' ``name_hash`` in order, when a first pass already
    computed them (the first read is then skipped).
    """
    if hashes is None:
        hashes = np.concatenate([name_hash(ids) for _, ids in parts()] or [np.zeros(0, dtype=np.uint64)])
    ordered = np.sort(hashes)
    suspects = ordered[1:][ordered[1:] == ordered[:-1]]
    if not len(suspects):
        return None
    seen: dict[str, Any] = {}
    for where, ids in parts():
        for value in ids[np.isin(name_hash(ids), suspects)].tolist():
            if value in seen:
                return value, seen[value], where
            seen[value] = where
    return None


def parquet_batches(file: Path, batch_size: int, columns: list[str] | None = None) -> Iterator[Any]:
    """The record batches of a Parquet file, read through a 4 MB buffer rather than a column chunk at a time:
    pyarrow's default pre-buffers a row group's chunks whole, so memory grew with the row group
    (``benchmarks/sources.py`` measures a source's peak memory)."""
    import pyarrow.parquet as pq

    yield from pq.ParquetFile(file, buffer_size=4 << 20, pre_buffer=False).iter_batches(batch_size=batch_size,
                                                                                        columns=columns)


def _natural(path: Path) -> tuple[str, str, int, str]:
    """Sort key: folder, then name with its trailing number compared as a number (emb_2 before emb_10)."""
    prefix = path.stem.rstrip("0123456789")
    return str(path.parent), prefix, int("0" + path.stem[len(prefix):]), path.name


#: other names of a shard kind in a folder of them: a source refuses them rather than skip their rows
COMPRESSED = {".tar": (".tgz", ".tbz2", ".txz", ".tzst")}


def data_files(pattern: str | Path, suffix: str, recursive: bool = False) -> list[Path]:
    """The files a source reads: every ``*suffix`` in a folder (and its subfolders with ``recursive``), or
    what a glob or a single path names, in natural order (clip-retrieval numbers its parts 0, 1, ... 10
    without padding). None is an error naming the pattern."""
    import glob

    path = Path(pattern)
    if path.is_dir():
        found = list(path.rglob(f"*{suffix}") if recursive else path.glob(f"*{suffix}"))
        every = path.rglob("*") if recursive else path.glob("*")
        unread = [f for f in every if f.is_file() and not f.name.startswith((".", "_"))
                  and f.suffix != suffix and (f"{suffix}." in f.name or f.suffix in COMPRESSED.get(suffix, ()))]
        if unread:  # a shard in a form this source does not read would silently be missing rows
            raise BridgeError(f"{min(unread)}: a {suffix} file in a form this source does not read "
                              f"(compressed or renamed), beside the {suffix} files it reads; decompress it or move "
                              "it out of the folder")
    else:
        found = [Path(p) for p in glob.glob(str(pattern), recursive=True)]
    if not found:
        raise BridgeError(f"{pattern}: no {suffix} files")
    return sorted(found, key=_natural)


def fill_template(template: str, names: np.ndarray) -> np.ndarray:
    """``template.format(name)`` for every name, vectorised (``{}`` marks the class name)."""
    if "{}" not in template:
        raise BridgeError(f"template {template!r} has no '{{}}' for the class name")
    before, _, after = template.partition("{}")
    return np.char.add(np.char.add(before, names.astype(str)), after).astype(object)


def display_names(labels: np.ndarray, class_names: dict[str, str]) -> np.ndarray:
    """Labels mapped through ``class_names`` (labels without an entry are shown as they are)."""
    keys = np.asarray(list(class_names), dtype=str)
    values = np.asarray(list(class_names.values()), dtype=object)
    if not len(keys):
        return labels.astype(object)
    order = np.argsort(keys)
    pos = np.clip(np.searchsorted(keys[order], labels), 0, len(keys) - 1)
    found = keys[order][pos] == labels
    return np.where(found, values[order][pos], labels.astype(object))


def prompt_rows(labels: np.ndarray, templates: list[str], class_names: dict[str, str]) -> Rows:
    """Class-prompt text rows (split ``prompt``): every template for every distinct label.

    Multi-label rows (``a|b``) contribute each of their labels. These are the
    rows zero-shot classification averages into class vectors.
    """
    classes = np.unique([c for label in np.unique(labels) for c in str(label).split("|") if c])
    names = display_names(classes, class_names)
    shown, first, inverse = np.unique(names.astype(str), return_index=True, return_inverse=True)
    if len(shown) < len(classes):  # two classes, one prompt text: their class vectors would coincide
        i = int(np.flatnonzero(first[inverse.ravel()] != np.arange(len(classes)))[0])
        raise BridgeError(f"classes {str(classes[first[inverse.ravel()[i]]])!r} and {str(classes[i])!r} are both "
                          f"shown as {str(names[i])!r} (class_names): give each class its own display name")
    texts = np.concatenate([fill_template(t, names) for t in templates]) if templates else np.array([], object)
    label_col = np.tile(classes, len(templates))
    ids = np.char.add(np.char.add("prompt-", label_col.astype(str)),
                      np.char.add("-", np.repeat(np.arange(len(templates)), len(classes)).astype(str)))
    return Rows("text", ids.astype(str), texts, label_col.astype(str), np.full(len(ids), PROMPT_SPLIT),
                label_col.astype(str))


def concat_rows(parts: list[Rows]) -> Rows:
    """Rows of one modality stacked in order (vector payloads stay one float array); one part as it is."""
    if len(parts) == 1:
        return parts[0]
    arrays = all(isinstance(p.payload, np.ndarray) and p.payload.dtype != object for p in parts)
    payload = np.concatenate([p.payload for p in parts]) if arrays else \
        np.concatenate([np.asarray(p.payload, dtype=object) for p in parts])
    return Rows(parts[0].modality, np.concatenate([p.ids for p in parts]), payload,
                np.concatenate([p.labels for p in parts]), np.concatenate([p.splits for p in parts]),
                np.concatenate([p.groups for p in parts]), " or ".join(dict.fromkeys(p.origin for p in parts if p.origin)))


@dataclass
class PartedRows:
    """Rows of one modality stored in parts (a file each), read only when a slice touches them.

    Extraction asks a source's rows for their length and for one shard (a
    slice) at a time, so a source whose files can be counted without reading
    them (Parquet footers, npy headers) holds at most one part in memory,
    whatever the dataset's size. The last part read is kept: shards read in
    order touch each part once per pass. It is let go once a slice reaches its
    end, and before another part is read, so a shard's caller frees the part
    by dropping the shard and two parts are never held at once.
    """

    modality: str
    counts: np.ndarray  # rows per part
    read: Callable[[int], Rows]  # part index -> its rows

    def __post_init__(self) -> None:
        self._bounds = np.concatenate([[0], np.cumsum(self.counts)]).astype(np.int64)
        self._cached: tuple[int, Rows] | None = None

    def __len__(self) -> int:
        return int(self._bounds[-1])

    def _part(self, k: int) -> Rows:
        if self._cached is None or self._cached[0] != k:
            self._cached = None
            rows = self.read(k)
            if len(rows) != self.counts[k]:
                raise BridgeError(f"part {k}: {len(rows)} rows, its header said {self.counts[k]}")
            self._cached = (k, rows)
        return self._cached[1]

    def take(self, index: slice) -> Rows:
        if not isinstance(index, slice):
            raise TypeError("rows read in parts are taken by slice")
        start, stop, step = index.indices(len(self))
        if step != 1:
            raise TypeError("rows read in parts are taken by contiguous slice")
        first = int(np.searchsorted(self._bounds, start, side="right") - 1)
        parts = []
        for k in range(max(first, 0), len(self.counts)):
            lo, hi = self._bounds[k], self._bounds[k + 1]
            if lo >= stop:
                break
            if hi > start and hi > lo:  # an empty part adds nothing (and may have no vector width)
                parts.append(self._part(k).take(slice(max(start - lo, 0), min(stop, hi) - lo)))
                if stop >= hi:  # taken to its end: shards in order never come back to it
                    self._cached = None
        if parts:
            return concat_rows(parts)
        if not len(self.counts):  # no parts at all (a table with neither texts nor labels for prompts)
            empty = np.array([], dtype=str)
            return Rows(self.modality, empty, np.array([], dtype=object), empty, empty, empty)
        return self._part(0).take(slice(0, 0))


class ItemSource(Source):
    """Items of one media modality (images or audio clips) with labels, plus text rows.

    Text rows are captions built from ``captions`` templates (one per template
    per item, sharing the item's group, so a bridge can pair them) and class
    prompts from ``class_prompts`` (split ``prompt``, for zero-shot). Splits
    are drawn per item. Shared by image/audio folders and packaged datasets.
    """

    def __init__(self, name: str, modality: str, items: Rows, captions: list[str], class_prompts: list[str],
                 class_names: dict[str, str]) -> None:
        self.name, self._modality, self._items = name, modality, items
        self._captions, self._prompts, self._class_names = captions, class_prompts, class_names
        if isinstance(items, Rows):
            check_values(np.unique(items.labels).tolist(), np.unique(items.splits).tolist(), f"dataset {name!r}")

    def modalities(self) -> list[str]:
        return [self._modality] + (["text"] if self._captions or self._prompts else [])

    def rows(self, modality: str) -> Rows:
        if modality == self._modality:
            return self._items
        if modality != "text" or modality not in self.modalities():
            raise BridgeError(f"dataset {self.name!r} has no {modality!r} rows; it has {self.modalities()}")
        items, k = self._items, len(self._captions)
        parts = []
        if k:
            names = display_names(items.labels, self._class_names)
            suffixes = np.tile(np.asarray([f"#caption{i}" for i in range(k)], dtype=str), len(items))
            parts.append(Rows("text", np.char.add(np.repeat(items.ids, k), suffixes).astype(str),
                              np.stack([fill_template(t, names) for t in self._captions], axis=1).reshape(-1),
                              np.repeat(items.labels, k), np.repeat(items.splits, k), np.repeat(items.groups, k)))
        if self._prompts:
            parts.append(prompt_rows(items.labels, self._prompts, self._class_names))
        return concat_rows(parts)
