"""``webdataset`` source: tar shards whose members share a key (the LAION / clip-retrieval convention).

``000012.jpg`` (or ``.png``, ``.wav``, ``.flac``, ...) + ``000012.txt`` (a caption) and/or ``000012.json``
(``caption``: a text or a list of texts, ``label``, ``split``) + ``000012.cls`` (a label) are one item: an
image / audio row and one text row per caption, all in the item's group. The key is the member's path up
to the first dot of its file name, as in ``webdataset``.

Shards are scanned member by member, headers only, except for the small text members; a media row's
payload is a ``TarMember`` (shard, offset, size), read by the encoder's preprocessing when its batch is
encoded, so memory holds no image or audio bytes beyond one batch. A member's identity for the shard
fingerprints is the tar's sha256 (cached by size and mtime, ``FileDigests``) with its offset.

Bad input is named by shard and key: an unreadable or truncated tar, a ``.json`` that is not JSON, an item
with media but no caption while others have one, a caption with no media member.
"""

from __future__ import annotations

import io
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field

from embridge.core.errors import BridgeError
from embridge.sources.base import (
    ItemSource,
    Rows,
    SourceOptions,
    assign_splits,
    concat_rows,
    data_files,
    parse_source_options,
    prompt_rows,
)
from embridge.sources.digests import FileDigests
from embridge.sources.folder import EXTENSIONS


@dataclass(frozen=True)
class TarMember:
    """One member of an uncompressed tar, read on demand (picklable: worker processes read it too)."""

    shard: str
    name: str
    offset: int
    size: int
    digest: str  # the shard's sha256: what the member's bytes are, for fingerprints

    def open(self) -> Any:
        with open(self.shard, "rb") as f:
            f.seek(self.offset)
            data = f.read(self.size)
        if len(data) != self.size:
            raise OSError(f"{self.shard}: member {self.name} is truncated ({len(data)} of {self.size} bytes)")
        return io.BytesIO(data)

    def __str__(self) -> str:  # messages name shard and member; fingerprints also see the content digest
        return f"{self.shard}#{self.name}"

    def identity(self) -> str:
        return f"{self.digest}:{self.offset}:{self.size}"


class WebDatasetOptions(SourceOptions):
    path: str = Field(description="a .tar shard, a folder of them, or a glob")
    modality: str = Field("image", pattern="^(image|audio)$")
    class_names: dict[str, str] = Field(default_factory=dict)
    test_fraction: float = Field(0.2, ge=0.0, le=1.0)
    seed: int = 0


def _split_name(name: str) -> tuple[str, str]:
    folder, _, base = name.rpartition("/")
    stem, dot, ext = base.partition(".")
    return (f"{folder}/{stem}" if folder else stem), (ext.lower() if dot else "")


def _text(tar: tarfile.TarFile, member: tarfile.TarInfo, shard: Path) -> str:
    handle = tar.extractfile(member)
    assert handle is not None
    try:
        return handle.read().decode("utf-8").strip()
    except UnicodeDecodeError:
        raise BridgeError(f"{shard}: key {_split_name(member.name)[0]!r}: {member.name} is not UTF-8 text") from None


#: bytes of tar's end-of-archive marker that must follow the last member (POSIX writes two zero blocks; one
#: is what every reader needs to know the archive ended there and was not cut at a member boundary)
END_BLOCK = 512


def scan_shard(shard: Path, media: set[str], digest: str) -> dict[str, dict[str, Any]]:
    """Per key in shard order: the media ``TarMember`` and the captions, label and split its other members give.

    Complete or refused: a key given twice the same kind of member (two ``.jpg``, a ``.png`` and a
    ``.jpg``, two ``.cls``) names both members, and a shard that does not end with tar's end-of-archive
    block (cut at a member boundary) is refused rather than read as the rows before the cut.
    """
    items: dict[str, dict[str, Any]] = {}
    members: dict[tuple[str, str], str] = {}  # (key, kind) -> the member that gave it
    key = None
    try:
        with tarfile.open(shard, "r:") as tar:  # uncompressed tar only: members are read at their offset
            for member in tar:
                if not member.isfile():
                    continue
                key, ext = _split_name(member.name)
                kind = "media" if ext in media else ext
                if kind in ("media", "cls", "json", "txt"):
                    slot = (key, kind if kind != "txt" else member.name)  # several .txt captions are fine, not twice one
                    if slot in members:
                        raise BridgeError(f"{shard}: key {key!r} has two {kind} members ({members[slot]} and "
                                          f"{member.name}); keep one")
                    members[slot] = member.name
                item = items.setdefault(key, {"captions": [], "label": "", "split": "", "media": None})
                if ext in media:
                    item["media"] = TarMember(str(shard), member.name, member.offset_data, member.size, digest)
                elif ext == "txt":
                    item["captions"].append(_text(tar, member, shard))
                elif ext == "cls":
                    item["label"] = _text(tar, member, shard)
                elif ext == "json":
                    try:
                        record = json.loads(_text(tar, member, shard))
                    except json.JSONDecodeError as e:
                        raise BridgeError(f"{shard}: key {key!r}: {member.name} is not valid JSON ({e.msg})") from None
                    if not isinstance(record, dict):
                        raise BridgeError(f"{shard}: key {key!r}: {member.name} must hold a JSON object")
                    caption = record.get("caption", record.get("text"))
                    item["captions"] += caption if isinstance(caption, list) else [] if caption is None else [caption]
                    for field in ("label", "split"):  # a JSON null is no value, not the class "None"
                        if record.get(field) is not None:
                            item[field] = str(record[field])
            end = tar.offset
    except (tarfile.ReadError, EOFError) as e:
        where = f" after key {key!r}" if key else ""
        raise BridgeError(f"{shard}: not a readable tar{where} ({e})") from None
    with open(shard, "rb") as f:
        f.seek(end)
        tail = f.read(END_BLOCK)
    if len(tail) < END_BLOCK or tail.count(0) != END_BLOCK:
        raise BridgeError(f"{shard}: ends without tar's end-of-archive block after {end} bytes (cut at a member "
                          "boundary?); the rows after the cut would be missing: copy the shard again")
    return items


class WebDatasetSource(ItemSource):
    """Items from tar shards; text rows are the items' own captions (plus class prompts when configured)."""

    def __init__(self, name: str, opts: WebDatasetOptions, class_prompts: list[str], digests: FileDigests) -> None:
        media = {e.lstrip(".") for e in EXTENSIONS[opts.modality]}
        ids, payload, labels, splits = [], [], [], []
        cap_ids, cap_text, cap_of = [], [], []
        owner: dict[str, Path] = {}  # key -> the shard that holds it: a key is one sample across all shards
        for shard in data_files(opts.path, ".tar"):
            items = scan_shard(shard, media, digests([str(shard)])[0])
            with_caption = [k for k, v in items.items() if v["captions"]]
            for key, item in items.items():
                if owner.setdefault(key, shard) != shard:
                    raise BridgeError(f"{shard}: key {key!r} is also in {owner[key]}; a key names one sample "
                                      "across the shards")
                if item["label"].lstrip("-").isdigit() and item["label"].startswith("-"):
                    raise BridgeError(f"{shard}: key {key!r}: class {item['label']!r} is negative (-1 marks "
                                      "'no label' in most datasets); drop the .cls member or give a class")
                if item["media"] is None:
                    raise BridgeError(f"{shard}: key {key!r} has no {opts.modality} member "
                                      f"({', '.join(sorted(media))})")
                if with_caption and not item["captions"]:
                    raise BridgeError(f"{shard}: key {key!r} has no caption (.txt or .json 'caption'), "
                                      f"while {len(with_caption)} other keys have one")
                row = f"{shard.stem}/{key}"
                for k, text in enumerate(item["captions"]):
                    cap_ids.append(f"{row}#caption{k}")
                    cap_text.append(text)
                    cap_of.append(len(ids))
                ids.append(row)
                payload.append(item["media"])
                labels.append(item["label"])
                splits.append(item["split"])
        digests.save()
        ids_a = np.asarray(ids, dtype=str)
        if len(np.unique(ids_a)) != len(ids_a):
            raise BridgeError(f"datasets.{name}: two shards with one name hold the same key")
        split_a = np.asarray(splits, dtype=str)
        drawn = assign_splits(ids_a, opts.test_fraction, opts.seed)
        split_a = np.where(split_a == "", drawn, split_a)
        labels_a = np.asarray(labels, dtype=str)
        items_rows = Rows(opts.modality, ids_a, np.asarray(payload, dtype=object), labels_a, split_a, ids_a)
        super().__init__(name, opts.modality, items_rows, [], class_prompts, opts.class_names)
        of = np.asarray(cap_of, dtype=np.int64)
        self._captions_rows = Rows("text", np.asarray(cap_ids, dtype=str), np.asarray(cap_text, dtype=object),
                                   labels_a[of], split_a[of], ids_a[of])

    def modalities(self) -> list[str]:
        has_text = len(self._captions_rows) or self._prompts
        return [self._modality] + (["text"] if has_text else [])

    def rows(self, modality: str) -> Rows:
        if modality != "text":
            return super().rows(modality)
        parts = [self._captions_rows] if len(self._captions_rows) else []
        if self._prompts:
            parts.append(prompt_rows(self._items.labels, self._prompts, self._class_names))
        if not parts:
            raise BridgeError(f"dataset {self.name!r} has no captions and no class_prompts: no text rows")
        return concat_rows(parts)


def load(name: str, options: dict[str, Any], class_prompts: list[str]) -> WebDatasetSource:
    from embridge.core.layout import Layout

    opts = parse_source_options(WebDatasetOptions, options, name)
    return WebDatasetSource(name, opts, class_prompts, FileDigests(Layout().cache("media", name)))
